"""Reading truth files and per-call results (plain dicts: the contract and docs/eval.md's truth format),
with one-line errors naming the file and the problem."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from coach.evaluation.model import (
    CALL_CATEGORIES,
    LINE_CATEGORIES,
    TRUTH_SUFFIXES,
    EvalInputError,
    ResultCall,
    Span,
    TruthCall,
)


def _fail(path: Path, problem: str) -> EvalInputError:
    return EvalInputError(f"{path}: {problem}")


def _number(path: Path, where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, f"{where} must be a number of seconds, got {value!r}")
    return float(value)


def _files(paths: Iterable[Path], suffixes: tuple[str, ...], recursive: bool, what: str) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found += sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in suffixes)
        elif path.is_file():
            found.append(path)
        else:
            raise _fail(path, f"no such {what} file or folder")
    return found


def _load_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot read ({exc})") from None
    try:
        data = yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _fail(path, f"not valid {path.suffix.lstrip('.').upper()} ({first})") from None
    if not isinstance(data, dict):
        raise _fail(path, "expected an object at the top level")
    return data


def load_truth_file(path: Path) -> TruthCall:
    """One truth file (JSON or YAML, format in docs/eval.md), checked field by field."""
    data = _load_mapping(path)
    audio = data.get("audio")
    if not isinstance(audio, str) or not audio.strip():
        raise _fail(path, "'audio' (the recording's file name) is missing")
    language = data.get("language")
    if not isinstance(language, str) or not language:
        raise _fail(path, "'language' is missing (e.g. \"ru\", \"en\")")
    tags = data.get("tags", {}) or {}
    if not isinstance(tags, dict):
        raise _fail(path, "'tags' must be an object of name: value")
    call = data.get("call", {}) or {}
    if not isinstance(call, dict):
        raise _fail(path, "'call' must be an object of category: true/false")
    for name, value in call.items():
        if name in LINE_CATEGORIES:
            raise _fail(path, f"call.{name}: {name} is a line-level category; list it under 'events'")
        if not isinstance(value, bool):
            raise _fail(path, f"call.{name} must be true or false, got {value!r}")
    labelled_raw = data.get("labelled")
    if labelled_raw is None:
        labelled = frozenset(LINE_CATEGORIES)
    elif isinstance(labelled_raw, list) and all(isinstance(c, str) for c in labelled_raw):
        labelled = frozenset(c for c in labelled_raw if c not in call)
        unset = [c for c in labelled if c in CALL_CATEGORIES]
        if unset:
            raise _fail(path, f"labelled: {unset[0]} is call-level: give its value in 'call' instead")
    else:
        raise _fail(path, "'labelled' must be a list of category names")
    events: list[Span] = []
    raw_events = data.get("events", []) or []
    if not isinstance(raw_events, list):
        raise _fail(path, "'events' must be a list")
    for i, ev in enumerate(raw_events):
        where = f"events[{i}]"
        if not isinstance(ev, dict):
            raise _fail(path, f"{where} must be an object")
        category = ev.get("category")
        if not isinstance(category, str) or not category:
            raise _fail(path, f"{where}.category is missing")
        if category in CALL_CATEGORIES or category in call:
            raise _fail(path, f"{where}: {category} is call-level; give it under 'call' as true/false")
        if category not in labelled:
            raise _fail(path, f"{where}: category {category} is not in 'labelled'")
        speaker = ev.get("speaker")
        if speaker is not None and speaker not in ("agent", "customer"):
            raise _fail(path, f"{where}.speaker must be agent, customer or null, got {speaker!r}")
        start = _number(path, f"{where}.start", ev.get("start"))
        end = _number(path, f"{where}.end", ev.get("end"))
        if end < start:
            raise _fail(path, f"{where}: end {end} is before start {start}")
        events.append(Span(category, speaker, start, end, str(ev.get("text") or "")))
    return TruthCall(
        path=path,
        stem=Path(audio).stem,
        language=language,
        tags={str(k): str(v) for k, v in tags.items()},
        labelled=labelled,
        call=dict(call),
        events=events,
    )


def load_truth(paths: Sequence[Path]) -> dict[str, TruthCall]:
    """Truth files under `paths` (folders searched recursively), keyed by the audio's stem."""
    truths: dict[str, TruthCall] = {}
    for path in _files(paths, TRUTH_SUFFIXES, recursive=True, what="truth"):
        truth = load_truth_file(path)
        if truth.stem in truths:
            raise _fail(path, f"audio '{truth.stem}' is already labelled in {truths[truth.stem].path}")
        truths[truth.stem] = truth
    if not truths:
        raise EvalInputError(f"{', '.join(map(str, paths))}: no truth files (*.json, *.yaml)")
    return truths


def load_result_file(path: Path, results: str) -> ResultCall:
    """One per-call JSON of `coach score` (docs/contracts.md)."""
    data = _load_mapping(path)
    call = data.get("call")
    events = data.get("events")
    if not isinstance(call, str) or not isinstance(events, list):
        raise _fail(path, "not a per-call result of 'coach score' (needs 'call' and 'events')")
    line_events: list[Span] = []
    call_found: set[str] = set()
    for i, ev in enumerate(events):
        if not isinstance(ev, dict) or not isinstance(ev.get("category"), str):
            raise _fail(path, f"events[{i}] has no category")
        category = ev["category"]
        start, end = ev.get("start"), ev.get("end")
        if category in CALL_CATEGORIES or start is None or end is None:
            call_found.add(category)
            continue
        line_events.append(Span(
            category, ev.get("speaker"),
            _number(path, f"events[{i}].start", start), _number(path, f"events[{i}].end", end),
            str(ev.get("text") or ""),
        ))
    transcript = data.get("transcript") or []
    return ResultCall(
        path=path,
        call=call,
        stem=Path(call).stem,
        folder=Path(call).parent.name,
        results=results,
        language=data.get("language") if isinstance(data.get("language"), str) else None,
        line_events=line_events,
        call_found=call_found,
        transcript=transcript if isinstance(transcript, list) else [],
    )


def load_results(paths: Sequence[Path]) -> list[ResultCall]:
    """Per-call JSONs in the results folders (top level only, as `coach score` writes them)."""
    out: list[ResultCall] = []
    for root in paths:
        label = root.name if root.is_dir() else root.parent.name
        for path in _files([root], (".json",), recursive=False, what="results"):
            out.append(load_result_file(path, label))
    if not out:
        raise EvalInputError(f"{', '.join(map(str, paths))}: no per-call result JSON files")
    return out


# --------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------


