"""Scoring one call: audio -> transcripts -> Session -> the per-call result (design.md contract).

`CallScorer` loads the model, rulebook, analyzer thresholds and scorecard once
and scores any number of calls; the local and Ray engines both use it, so a
call gets the same result whichever engine scored it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from coach import __version__
from coach.analyzers import CallAnalyzers, load_analyzer_config
from coach.asr import Transcriber, TranscriberOptions, load_whisper
from coach.audio import load_call
from coach.contract import AGENT, CUSTOMER
from coach.models import resolve
from coach.rules import Rulebook
from coach.scoring import load_scorecard
from coach.session import Session


@dataclass
class ScoreOptions:
    """Everything that decides a call's result (and so goes into its fingerprint)."""

    model: str | None = None  # manifest name, local CTranslate2 dir or HF repo id
    language: str = "ru"  # or "auto": detected once per call, then pinned
    channels: tuple[str, str] = (AGENT, CUSTOMER)  # left, right
    rules_dirs: list[str] = field(default_factory=list)
    scorecard: str | None = None
    beam_size: int = 1
    asr_mode: str = "fast"
    cpu_threads: int = 0  # per scorer; 0 = all cores

    def transcriber_options(self) -> TranscriberOptions:
        return TranscriberOptions(
            language=self.language,
            beam_size=self.beam_size,
            mode=self.asr_mode,
            cpu_threads=self.cpu_threads,
        )


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def analyzer_config_for(rules_dirs: list[str]):
    """The acoustic analyzers' thresholds: rules/analyzers.yaml plus company overrides."""

    extra = [Path(d) / "analyzers.yaml" for d in rules_dirs if (Path(d) / "analyzers.yaml").is_file()]
    return load_analyzer_config(extra)


class CallScorer:
    """Holds the loaded model and rules; `score(path)` returns the per-call result dict."""

    def __init__(self, options: ScoreOptions):
        self.options = options
        self.model = resolve(options.model)
        topts = options.transcriber_options()
        self.transcriber = Transcriber(load_whisper(self.model, topts), topts)
        self.scorecard = load_scorecard(Path(options.scorecard) if options.scorecard else None)
        self.analyzer_config = analyzer_config_for(options.rules_dirs)
        self._rulebooks: dict[str, Rulebook] = {}
        self._config_fp: str | None = None
        if options.language != "auto":
            self.rulebook(options.language)  # fail fast on a broken rule file

    def rulebook(self, language: str) -> Rulebook:
        if language not in self._rulebooks:
            self._rulebooks[language] = Rulebook.load(
                language, [Path(d) for d in self.options.rules_dirs]
            )
        return self._rulebooks[language]

    def config_fingerprint(self) -> str:
        """What, besides the audio, decides a result: model, rules, thresholds, options."""
        if self._config_fp is None:
            self._config_fp = self._compute_config_fingerprint()
        return self._config_fp

    def _compute_config_fingerprint(self) -> str:
        language = self.options.language
        rules = self.rulebook(language).fingerprint if language != "auto" else "auto"
        parts = {
            "coach": __version__,
            "model": self.model.sha256 or self.model.path,
            "rules": rules,
            "rules_dirs": self.options.rules_dirs,
            "scorecard": self.scorecard.fingerprint,
            "analyzers": repr(self.analyzer_config),
            "options": asdict(self.options) | {"cpu_threads": None},
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def fingerprint_for(self, path: Path) -> str | None:
        """Config + audio content; None when the file cannot be read (it will fail to score)."""
        try:
            digest = file_digest(path)
        except OSError:
            return None
        return hashlib.sha256((self.config_fingerprint() + digest).encode()).hexdigest()

    def score(self, path: str | Path, fingerprint: str | None = None) -> dict[str, Any]:
        """Score one recording; raises AudioError for unusable input."""
        started = time.time()
        path_given = str(path)
        call = load_call(Path(path), self.options.channels)
        language = self.options.language
        if language == "auto":
            language = self.transcriber.detect_language(call.channels[AGENT])
        speakers = tuple(call.channels)
        utterances = []
        for speaker, samples in call.channels.items():
            utterances += self.transcriber.transcribe(samples, speaker, language)
        utterances.sort(key=lambda u: (u.start, u.speaker))

        analyzers = CallAnalyzers(self.analyzer_config, speakers=speakers, language=language)
        session = Session(self.rulebook(language), speakers, analyzers)
        for speaker, samples in call.channels.items():
            session.feed_audio(speaker, samples, 0.0)
        for utt in utterances:
            session.add_utterance(utt)
        session.finish(call.duration_s)
        events = session.sorted_events()
        notes = list(call.notes)
        for name, why in session.skipped().items():
            notes.append(f"{name} skipped: {why}")
        channel_index = {name: i for i, name in enumerate(self.options.channels)}
        return {
            "call": path_given,
            "duration_s": round(call.duration_s, 2),
            "language": language,
            "channels": {s: channel_index[s] if not call.mono else 0 for s in speakers},
            "model": {"name": self.model.name, "sha256": self.model.sha256},
            "transcript": [u.to_dict() for u in utterances],
            "events": [e.to_dict() for e in events],
            "metrics": session.metrics(call.duration_s),
            "activity": analyzers.activity(),
            "score": self.scorecard.score(events),
            "mono": call.mono,
            "notes": notes,
            "skipped_analyzers": session.skipped(),
            "customer_name": session.customer_name,
            "fingerprint": fingerprint or self.fingerprint_for(Path(path)),
            "coach_version": __version__,
            "scored_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "scoring_seconds": round(time.time() - started, 2),
            "pid": os.getpid(),
        }


def score_file(path: Path, options: ScoreOptions, scorer: CallScorer | None = None) -> dict:
    """Convenience: score one file, loading a scorer if none is given."""
    return (scorer or CallScorer(options)).score(path)
