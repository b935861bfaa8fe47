"""The analyzers' options and texts, loaded from `analyzers.yaml` in the rules folder.

One section per registered analyzer (plus the shared `activity` and
`metrics`), each validated against that analyzer's `Options` dataclass: the
loader knows nothing about any particular analyzer, it reads the fields'
types and the range metadata `opt` put on them. Thresholds have defaults in
the dataclasses (a test holds that the shipped file agrees); the texts
(`message`, `suggestion`) live only in YAML, in every language the file
declares under `languages:`, and each must format with its analyzer's
`details` keys. Anything wrong is an error naming the file and the field,
because a typo in a threshold must not silently fall back to a default.

The shipped file is found through `coach.paths.rules_root()`, so
COACH_RULES_DIR moves it together with the rule packs.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from coach.analyzers import registry
from coach.analyzers.base import ActivityOptions, FindingOptions, MetricsOptions
from coach.errors import CoachError, RuleError
from coach.paths import rules_root

FILE_NAME = "analyzers.yaml"
TEXT_FIELDS = ("message", "suggestion")
_SHIPPED: Any = object()  # load_analyzer_config's default base: the file in rules_root()


def text_fields(options: type) -> tuple[str, ...]:
    """The per-language texts of an options dataclass: `message`, `suggestion`, and any other an
    analyzer declares with `texts()` (a message for findings measured another way)."""
    return tuple(f.name for f in dataclasses.fields(options) if f.metadata.get("texts"))


def default_path() -> Path:
    """The shipped analyzers.yaml (moves with COACH_RULES_DIR)."""
    return rules_root() / FILE_NAME


def _default_analyzers() -> dict[str, FindingOptions]:
    return {cls.name: cls.Options() for cls in registry.registered()}


def _core_sections() -> dict[str, type]:
    return {"activity": ActivityOptions, "metrics": MetricsOptions}


def sections() -> dict[str, type]:
    """Every YAML section and its options dataclass, in file order."""
    return _core_sections() | {cls.name: cls.Options for cls in registry.registered()}


@dataclass(frozen=True)
class AnalyzerConfig:
    """Everything the call analyzers need; one instance per rulebook.

    `cfg.<analyzer name>` is that analyzer's options (with its texts).
    """

    language: str = "ru"
    activity: ActivityOptions = field(default_factory=ActivityOptions)
    metrics: MetricsOptions = field(default_factory=MetricsOptions)
    analyzers: Mapping[str, FindingOptions] = field(default_factory=_default_analyzers)
    sources: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> Any:
        analyzers = self.__dict__.get("analyzers")
        if analyzers is not None and name in analyzers:
            return analyzers[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or analyzer {name!r}")

    def options(self, name: str) -> FindingOptions:
        """The options of analyzer `name`; a clear error for one this config was not loaded with."""
        try:
            return self.analyzers[name]
        except KeyError:
            raise CoachError(
                f"analyzers: {name!r} was registered after this analyzer config was loaded; load it again"
            ) from None

    def languages(self) -> frozenset[str]:
        """Languages in which every analyzer has its message and suggestion.

        Callers refuse any other call language before loading a model: a call
        in it could be transcribed but its findings could not be worded.
        """
        langs: set[str] | None = None
        for opts in self.analyzers.values():
            have = set(opts.message) & set(opts.suggestion)
            langs = have if langs is None else langs & have
        return frozenset(langs or ())


def load_analyzer_config(
    extra_paths: Iterable[Path | str] = (), base: Path | None = _SHIPPED
) -> AnalyzerConfig:
    """Read the shipped file (or `base`), then each company file in order (later keys win).

    `base=None` reads only `extra_paths`; with no file at all the result has
    the dataclass defaults and no texts (no language is usable).
    """
    if base is _SHIPPED:
        base = default_path()
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}  # "section.key" -> file that set it, for error messages
    declared: dict[str, str] = {}  # language -> file that declared it
    sources: list[str] = []
    if base is not None and not Path(base).is_file():
        raise RuleError(f"{base}: analyzer config not found (COACH_RULES_DIR={rules_root()})")
    paths = ([Path(base)] if base is not None else []) + [Path(p) for p in extra_paths]
    for path in paths:
        data = _read_yaml(path)
        _merge(merged, origin, declared, data, str(path))
        sources.append(str(path))
    if not sources:
        return AnalyzerConfig()
    return _build(merged, origin, declared, tuple(sources))


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


def _merge(
    merged: dict[str, Any], origin: dict[str, str], declared: dict[str, str], data: dict[str, Any], src: str
) -> None:
    known = sections()
    for key, value in data.items():
        if key == "version":
            if value != 1:
                raise RuleError(f"{src}: version: only version 1 is supported, got {value!r}")
            continue
        if key == "language":
            merged[key] = value
            origin[key] = src
            continue
        if key == "languages":
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise RuleError(f"{src}: languages: expected a list of language codes, got {value!r}")
            for lang in value:
                declared.setdefault(lang, src)
            continue
        if key not in known:
            names = ", ".join(["version", "language", "languages", *known])
            raise RuleError(f"{src}: {key}: unknown section (known: {names})")
        if value is None:
            continue
        if not isinstance(value, dict):
            raise RuleError(f"{src}: {key}: expected a mapping, got {type(value).__name__}")
        section = merged.setdefault(key, {})
        origin.setdefault(key, src)
        per_language = {f.name for f in dataclasses.fields(known[key])
                        if f.metadata.get("per_language") or f.metadata.get("texts")}
        for name, item in value.items():
            if (name in TEXT_FIELDS or name in per_language) and isinstance(item, dict):
                # Per-language texts (and norms) merge, so a company may override one language only.
                section.setdefault(name, {}).update(item)
                for lang in item:
                    origin[f"{key}.{name}.{lang}"] = src
            else:
                section[name] = item
            origin[f"{key}.{name}"] = src


def _build(
    merged: dict[str, Any], origin: dict[str, str], declared: dict[str, str], sources: tuple[str, ...]
) -> AnalyzerConfig:
    def where(path: str) -> str:
        while path:
            if path in origin:
                return origin[path]
            path = path.rpartition(".")[0]
        return sources[0]

    langs = tuple(declared)
    language = merged.get("language", "ru")
    if language not in declared:
        raise RuleError(
            f"{where('language')}: language: expected one of {', '.join(langs) or '(none declared)'}, "
            f"got {language!r}"
        )
    built: dict[str, Any] = {}
    for section, cls in sections().items():
        values = merged.get(section, {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            path = f"{section}.{name}"
            if name not in fields:
                raise RuleError(f"{where(path)}: {path}: unknown field (known: {', '.join(fields)})")
            kwargs[name] = _check(where(path), path, value, fields[name], hints[name], declared, origin)
        options = cls(**kwargs)
        for problem in getattr(options, "problems", lambda: [])():
            name = problem.partition(":")[0]
            raise RuleError(f"{where(f'{section}.{name}')}: {section}.{problem}")
        built[section] = options
    analyzers = {}
    for cls in registry.registered():
        options = built[cls.name]
        _check_texts(cls, options, langs, declared, where)
        _check_per_language(cls, options, langs, declared)
        analyzers[cls.name] = options
    return AnalyzerConfig(
        language=language,
        activity=built["activity"],
        metrics=built["metrics"],
        analyzers=analyzers,
        sources=sources,
    )


def _check(
    src: str,
    path: str,
    value: Any,
    fld: dataclasses.Field,
    hint: Any,
    declared: dict[str, str],
    origin: dict[str, str],
) -> Any:
    meta = fld.metadata
    if meta.get("per_language"):
        if not isinstance(value, dict):
            raise RuleError(f"{src}: {path}: expected a mapping language -> number, e.g. {{ru: 7.0}}")
        out = {}
        for lang, number in value.items():
            at = origin.get(f"{path}.{lang}", src)
            if lang not in declared:
                raise RuleError(
                    f"{at}: {path}.{lang}: language {lang!r} is not declared "
                    f"(languages: {', '.join(declared)})"
                )
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise RuleError(f"{at}: {path}.{lang}: expected a number, got {number!r}")
            _check_range(at, f"{path}.{lang}", number, meta)
            out[lang] = float(number)
        return out
    if meta.get("texts"):
        if not isinstance(value, dict):
            raise RuleError(f"{src}: {path}: expected a mapping language -> text")
        for lang, text in value.items():
            at = origin.get(f"{path}.{lang}", src)
            if lang not in declared:
                raise RuleError(
                    f"{at}: {path}.{lang}: language {lang!r} is not declared "
                    f"(languages: {', '.join(declared)}; a file adds one with `languages: [{lang}]` "
                    "and gives every analyzer a text in it)"
                )
            if not isinstance(text, str) or not text.strip():
                raise RuleError(f"{at}: {path}.{lang}: expected non-empty text, got {text!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise RuleError(f"{src}: {path}: expected true or false, got {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RuleError(f"{src}: {path}: expected a number, got {value!r}")
        if hint is int and value != int(value):
            raise RuleError(f"{src}: {path}: expected a whole number, got {value!r}")
        _check_range(src, path, value, meta)
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise RuleError(f"{src}: {path}: expected text, got {value!r}")
        choices = meta.get("choices")
        if choices and value not in choices:
            raise RuleError(f"{src}: {path}: expected one of {', '.join(choices)}, got {value!r}")
        return value
    if typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, ...):
        if not isinstance(value, list):
            raise RuleError(f"{src}: {path}: expected a list of words")
        for i, v in enumerate(value):
            if not isinstance(v, str) or not v.strip():
                hint_text = " (quote yes/no/on/off: YAML reads them as true/false)" * isinstance(v, bool)
                raise RuleError(f"{src}: {path}[{i}]: expected a word, got {v!r}{hint_text}")
        return tuple(value)
    raise TypeError(f"analyzer option {path}: unsupported type {hint!r}")  # a programming error


def _check_range(src: str, path: str, value: float, meta: Mapping[str, Any]) -> None:
    ge, gt, le = meta.get("ge"), meta.get("gt"), meta.get("le")
    if gt is not None and not value > gt:
        why = "must be positive" if gt == 0 else f"must be above {gt}"
        raise RuleError(f"{src}: {path}: {why}, got {value!r}")
    if ge is not None and not value >= ge:
        why = "must not be negative" if ge == 0 else f"must be at least {ge}"
        raise RuleError(f"{src}: {path}: {why}, got {value!r}")
    if le is not None and not value <= le:
        raise RuleError(f"{src}: {path}: must be at most {le}, got {value!r}")


def _check_per_language(
    cls: type, options: FindingOptions, langs: tuple[str, ...], declared: dict[str, str]
) -> None:
    """Every per-language number has a value for every declared language."""
    for f in dataclasses.fields(options):
        if not f.metadata.get("per_language"):
            continue
        values: Mapping[str, float] = getattr(options, f.name)
        for lang in langs:
            if lang not in values:
                raise RuleError(
                    f"{declared[lang]}: {cls.name}.{f.name}: no value for language {lang!r} "
                    "(every language listed in `languages` needs one)"
                )


def _check_texts(
    cls: type, options: FindingOptions, langs: tuple[str, ...], declared: dict[str, str], where: Any
) -> None:
    """Every text exists in every declared language and formats with the analyzer's details."""
    sample = {**cls.details_example, "confidence": 0.75}
    for name in text_fields(cls.Options):
        texts: Mapping[str, str] = getattr(options, name)
        path = f"{cls.name}.{name}"
        for lang in langs:
            if lang not in texts:  # named where the language was declared: that file must add it
                raise RuleError(
                    f"{declared[lang]}: {path}: no text for language {lang!r} (every analyzer needs "
                    "its message and suggestion, and its other texts, in each language listed in `languages`)"
                )
        for lang, text in texts.items():
            try:
                text.format(**sample)
            except (KeyError, IndexError, ValueError, AttributeError) as exc:
                known = ", ".join("{" + k + "}" for k in sample)
                raise RuleError(
                    f"{where(f'{path}.{lang}')}: {path}.{lang}: bad placeholder {exc} (known: {known})"
                ) from exc
