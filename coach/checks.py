"""What judges a call, loaded before any model: rulebooks, analyzer thresholds, scorecard.

Loading these first is what lets a typo fail in seconds: an unknown language,
a broken rule file or a bad threshold is reported before Whisper loads. It is
also all the batch runner needs to decide which calls are already scored (the
fingerprint), so a resumed batch of scored calls never loads a model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from coach import __version__, numerics
from coach.analyzers import AnalyzerConfig, load_analyzer_config
from coach.config import AUTO, CoachConfig
from coach.errors import CoachError
from coach.paths import rules_root
from coach.rules import Rulebook
from coach.scorecard import Scorecard, load_scorecard


def rule_packs() -> frozenset[str]:
    """Languages with a built-in rule pack (a folder rules/<lang>/)."""
    root = rules_root()
    if not root.is_dir():
        raise CoachError(f"{root}: the built-in rules folder is missing (broken installation?)")
    return frozenset(p.name for p in root.iterdir() if p.is_dir() and p.name.isalpha() and len(p.name) <= 3)


def supported_languages(cfg: AnalyzerConfig) -> frozenset[str]:
    """The languages coach can judge: a rule pack and analyzer texts in that language."""
    return rule_packs() & cfg.languages()


def analyzer_config_for(rules_dirs: list[str]) -> AnalyzerConfig:
    """The shipped thresholds plus each company folder's analyzers.yaml, in order."""
    extra = [Path(d) / "analyzers.yaml" for d in rules_dirs if (Path(d) / "analyzers.yaml").is_file()]
    return load_analyzer_config(extra)


@dataclass
class CallChecks:
    """Rulebooks (one per language a call may be in), thresholds and scorecard."""

    config: CoachConfig
    rulebooks: dict[str, Rulebook]
    analyzer_config: AnalyzerConfig
    scorecard: Scorecard
    languages: frozenset[str]

    @classmethod
    def load(cls, config: CoachConfig) -> CallChecks:
        """Validate the config and load everything a call is judged by; CoachError on problems."""
        config.validate()
        analyzer_config = analyzer_config_for(config.rules_dirs)
        languages = supported_languages(analyzer_config)
        config.validate(languages)
        wanted = sorted(languages) if config.language == AUTO else [config.language]
        extra = [Path(d) for d in config.rules_dirs]
        rulebooks = {lang: Rulebook.load(lang, extra) for lang in wanted}
        scorecard = load_scorecard(Path(config.scorecard) if config.scorecard else None)
        return cls(config, rulebooks, analyzer_config, scorecard, languages)

    def rulebook(self, language: str) -> Rulebook:
        try:
            return self.rulebooks[language]
        except KeyError:
            raise CoachError(f"no rulebook loaded for language '{language}'") from None

    @cached_property
    def fingerprint(self) -> str:
        """Contents of everything that judges a call, and the options that decide a result."""
        parts = {
            "rules": {lang: book.fingerprint for lang, book in sorted(self.rulebooks.items())},
            "analyzers": _content(self.analyzer_config),
            "scorecard": self.scorecard.fingerprint,
            "options": self.config.result_options(),
        }
        return _digest(parts)


def _content(cfg: Any) -> Any:
    """An analyzer config as plain data, without the file paths it was read from."""
    data = dataclasses.asdict(cfg)
    data.pop("sources", None)
    return data


def _digest(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def call_fingerprint(checks_fp: str, model_id: str, audio_sha256: str) -> str:
    """One call's fingerprint: what judged it, which model heard it, its audio, and the
    numerical path (library versions, pinned backend); not the thread count."""
    return _digest({
        "coach": __version__,
        "checks": checks_fp,
        "model": model_id,
        "numerics": numerics.profile(),
        "audio": audio_sha256,
    })


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
