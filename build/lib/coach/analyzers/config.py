"""Thresholds of the call analyzers, loaded from `rules/analyzers.yaml`.

The numbers live in YAML so that a company can read and override them like any
rule; the dataclass defaults below mirror the shipped file (a test holds that),
so the analyzers also work when the file is not installed. Loading validates
every key and type and names the file and field of anything wrong, because a
typo in a threshold must not silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from coach.contract import Severity
from coach.errors import RuleError

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "rules" / "analyzers.yaml"
SEVERITIES = Severity.names()  # the same scale as rules
LANGUAGES = ("ru", "en")

# Placeholders each analyzer's message may use (the keys of its event details).
PLACEHOLDERS: dict[str, dict[str, float]] = {
    "interruption": {"overlap_s": 1.5},
    "raised_voice": {"db_above": 12.0, "level_dbfs": -14.0, "baseline_dbfs": -26.0},
    "speech_rate": {"syllables_per_s": 8.5, "threshold": 7.0, "duration_s": 3.0},
    "long_silence": {"silence_s": 8.0},
}


@dataclass(frozen=True)
class ActivityOptions:
    """Speech activity from frame energy: who is speaking, frame by frame."""

    frame_ms: int = 20
    min_dbfs: float = -50.0
    snr_db: float = 12.0
    noise_window_s: float = 5.0
    hangover_s: float = 0.3
    min_speech_s: float = 0.1


@dataclass(frozen=True)
class InterruptionOptions:
    enabled: bool = True
    severity: str = "major"
    min_overlap_s: float = 0.5
    simultaneous_start_s: float = 0.3
    word_tolerance_s: float = 0.3
    backchannels: tuple[str, ...] = (
        "угу", "ага", "да", "ну", "так", "мм", "ммм", "м", "хм", "ясно", "понятно",
        "хорошо", "конечно", "ок", "окей", "mm", "hmm", "mhm", "mm-hm", "uh-huh", "yeah",
        "yes", "right", "okay", "ok", "sure",
    )  # fmt: skip
    message: dict[str, str] = field(
        default_factory=lambda: {
            "ru": "Вы перебили клиента: {overlap_s:.1f} с говорили одновременно",
            "en": "You talked over the customer for {overlap_s:.1f} s",
        }
    )
    suggestion: dict[str, str] = field(
        default_factory=lambda: {
            "ru": "Дайте клиенту договорить, затем ответьте",
            "en": "Let the customer finish, then answer",
        }
    )


@dataclass(frozen=True)
class RaisedVoiceOptions:
    enabled: bool = True
    severity: str = "major"
    threshold_db: float = 8.0
    block_s: float = 1.0
    min_block_s: float = 0.5
    baseline_min_s: float = 4.0
    baseline_window_s: float = 120.0
    merge_gap_s: float = 1.0
    message: dict[str, str] = field(
        default_factory=lambda: {
            "ru": "Повышенный голос: на {db_above:.0f} дБ громче вашего обычного уровня",
            "en": "Raised voice: {db_above:.0f} dB above your usual level",
        }
    )
    suggestion: dict[str, str] = field(
        default_factory=lambda: {
            "ru": "Говорите спокойно и ровно, даже если клиент раздражён",
            "en": "Keep a calm, even voice, even if the customer is upset",
        }
    )


@dataclass(frozen=True)
class SpeechRateOptions:
    enabled: bool = True
    severity: str = "info"
    max_syllables_per_s: float = 7.0
    window_s: float = 4.0
    min_window_s: float = 1.5
    min_syllables: int = 8
    pause_s: float = 0.5
    message: dict[str, str] = field(
        default_factory=lambda: {
            "ru": "Слишком быстрая речь: {syllables_per_s:.1f} слога/с (норма до {threshold:.1f})",
            "en": "Speaking too fast: {syllables_per_s:.1f} syllables/s (up to {threshold:.1f})",
        }
    )
    suggestion: dict[str, str] = field(
        default_factory=lambda: {
            "ru": "Говорите медленнее и чётче, делайте паузы между фразами",
            "en": "Slow down and speak clearly, pause between sentences",
        }
    )


@dataclass(frozen=True)
class LongSilenceOptions:
    enabled: bool = True
    severity: str = "major"
    min_silence_s: float = 6.0
    message: dict[str, str] = field(
        default_factory=lambda: {
            "ru": "Тишина на линии {silence_s:.0f} с",
            "en": "Dead air: {silence_s:.0f} s of silence",
        }
    )
    suggestion: dict[str, str] = field(
        default_factory=lambda: {
            "ru": "Не оставляйте клиента в тишине: скажите, что вы делаете, или попросите подождать",
            "en": "Tell the customer what you are doing, or ask them to hold",
        }
    )


@dataclass(frozen=True)
class MetricsOptions:
    monologue_break_s: float = 2.0
    customer_turn_s: float = 1.0
    silence_min_s: float = 1.0


@dataclass(frozen=True)
class AnalyzerConfig:
    """Everything the call analyzers need; one instance per rulebook."""

    language: str = "ru"
    activity: ActivityOptions = field(default_factory=ActivityOptions)
    interruption: InterruptionOptions = field(default_factory=InterruptionOptions)
    raised_voice: RaisedVoiceOptions = field(default_factory=RaisedVoiceOptions)
    speech_rate: SpeechRateOptions = field(default_factory=SpeechRateOptions)
    long_silence: LongSilenceOptions = field(default_factory=LongSilenceOptions)
    metrics: MetricsOptions = field(default_factory=MetricsOptions)
    sources: tuple[str, ...] = ()


SECTIONS: dict[str, type] = {
    "activity": ActivityOptions,
    "interruption": InterruptionOptions,
    "raised_voice": RaisedVoiceOptions,
    "speech_rate": SpeechRateOptions,
    "long_silence": LongSilenceOptions,
    "metrics": MetricsOptions,
}


def load_analyzer_config(
    extra_paths: list[Path] | tuple[Path, ...] = (), base: Path | None = DEFAULT_PATH
) -> AnalyzerConfig:
    """Read the shipped thresholds, then each company file in order (later keys win).

    `base=None` starts from the built-in defaults only (used by tests).
    """
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}  # "section.key" -> file that set it, for error messages
    sources: list[str] = []
    paths = ([base] if base is not None and base.exists() else []) + [Path(p) for p in extra_paths]
    for path in paths:
        data = _read_yaml(path)
        _merge(merged, origin, data, str(path))
        sources.append(str(path))
    return _build(merged, origin, tuple(sources))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"{path}: cannot read analyzer config: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RuleError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def _merge(merged: dict[str, Any], origin: dict[str, str], data: dict[str, Any], src: str) -> None:
    for key, value in data.items():
        if key == "version":
            if value != 1:
                raise RuleError(f"{src}: version: only version 1 is supported, got {value!r}")
            continue
        if key == "language":
            merged[key] = value
            origin[key] = src
            continue
        if key not in SECTIONS:
            known = ", ".join(["version", "language", *SECTIONS])
            raise RuleError(f"{src}: {key}: unknown section (known: {known})")
        if value is None:
            continue
        if not isinstance(value, dict):
            raise RuleError(f"{src}: {key}: expected a mapping, got {type(value).__name__}")
        section = merged.setdefault(key, {})
        for name, item in value.items():
            if name in ("message", "suggestion") and isinstance(item, dict):
                # Per-language texts merge, so a company may override one language only.
                section.setdefault(name, {}).update(item)
            else:
                section[name] = item
            origin[f"{key}.{name}"] = src


def _build(merged: dict[str, Any], origin: dict[str, str], sources: tuple[str, ...]) -> AnalyzerConfig:
    def where(field_name: str) -> str:
        return origin.get(field_name, "<defaults>")

    language = merged.get("language", "ru")
    if language not in LANGUAGES:
        raise RuleError(
            f"{where('language')}: language: expected one of {', '.join(LANGUAGES)}, got {language!r}"
        )
    built: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        values = merged.get(section, {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        defaults = cls()
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            path = f"{section}.{name}"
            if name not in fields:
                raise RuleError(f"{where(path)}: {path}: unknown field (known: {', '.join(fields)})")
            kwargs[name] = _check(where(path), path, value, getattr(defaults, name), section)
        built[section] = dataclasses.replace(defaults, **kwargs)
        _check_texts(built[section], section, language, where)
    return AnalyzerConfig(language=language, sources=sources, **built)


def _check(src: str, path: str, value: Any, default: Any, section: str) -> Any:
    name = path.rsplit(".", 1)[1]
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise RuleError(f"{src}: {path}: expected true or false, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RuleError(f"{src}: {path}: expected a number, got {value!r}")
        if isinstance(default, int) and not isinstance(default, bool) and value != int(value):
            raise RuleError(f"{src}: {path}: expected a whole number, got {value!r}")
        if name not in ("min_dbfs",) and value < 0:
            raise RuleError(f"{src}: {path}: must not be negative, got {value!r}")
        if name in ("frame_ms", "block_s", "window_s") and value <= 0:
            raise RuleError(f"{src}: {path}: must be positive, got {value!r}")
        return type(default)(value)
    if name == "severity":
        if value not in SEVERITIES:
            raise RuleError(f"{src}: {path}: expected one of {', '.join(SEVERITIES)}, got {value!r}")
        return value
    if name == "backchannels":
        if not isinstance(value, list):
            raise RuleError(f"{src}: {path}: expected a list of words")
        for i, v in enumerate(value):
            if not isinstance(v, str) or not v.strip():
                hint = " (quote yes/no/on/off: YAML reads them as true/false)" * isinstance(v, bool)
                raise RuleError(f"{src}: {path}[{i}]: expected a word, got {v!r}{hint}")
        return tuple(v.lower().replace("ё", "е") for v in value)
    if name in ("message", "suggestion"):
        if not isinstance(value, dict):
            raise RuleError(f"{src}: {path}: expected a mapping language -> text")
        for lang, text in value.items():
            if lang not in LANGUAGES or not isinstance(text, str) or not text.strip():
                raise RuleError(
                    f"{src}: {path}.{lang}: expected non-empty text for a language in {', '.join(LANGUAGES)}"
                )
        return {**default, **value}
    raise RuleError(f"{src}: {path}: unsupported field")  # pragma: no cover


def _check_texts(options: Any, section: str, language: str, where: Any) -> None:
    """Every message must exist in the call language and format with its own details."""
    if section not in PLACEHOLDERS:
        return
    for name in ("message", "suggestion"):
        texts: dict[str, str] = getattr(options, name)
        path = f"{section}.{name}"
        if language not in texts:
            raise RuleError(f"{where(path)}: {path}: no text for language {language!r}")
        for lang, text in texts.items():
            try:
                text.format(**PLACEHOLDERS[section])
            except (KeyError, IndexError, ValueError) as exc:
                known = ", ".join("{" + k + "}" for k in PLACEHOLDERS[section])
                raise RuleError(
                    f"{where(path)}: {path}.{lang}: bad placeholder {exc} (known: {known})"
                ) from exc
