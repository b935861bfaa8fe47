"""Measure findings against labelled truth: per-category precision, recall and F1.

A QA team labels some calls (one truth file per call, see docs/eval.md), scores
them with `coach score`, and compares. This module reads both sides as plain
dicts (the per-call JSON contract and the truth format), so it depends on no
internal class of the scorer and keeps working while the core moves.

Matching, in one place so the docs and tests can pin it:

* line-level findings match a truth event of the same category and speaker
  (a truth event without a speaker takes any) whose span overlaps theirs once
  both are widened by the tolerance; each truth event takes at most one
  prediction (the most overlapping, without stealing another event's only
  match); a further prediction that could have matched an already taken event
  is a duplicate and counts as a false positive;
* call-level categories compare as booleans per call (any event of the
  category = found); a category missing from the truth's `call` object is not
  judged;
* a line-level category is judged in a call when the truth's `labelled` lists
  it, or when `labelled` is absent and the category is one of the contract's
  line-level categories; predictions of categories not judged are ignored.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rapidfuzz import fuzz

from coach.errors import CoachError

LINE_CATEGORIES = (
    "forbidden_phrase",
    "negative_phrasing",
    "diminutive",
    "filler_words",
    "interruption",
    "raised_voice",
    "speech_rate",
    "long_silence",
)
"""Line-level categories of the contract: findings with a time span."""
CALL_CATEGORIES = ("name_not_asked", "name_not_used", "no_greeting", "no_closing")
"""Call-level categories of the contract: a finding is there or not."""
CATEGORY_ORDER = LINE_CATEGORIES[:4] + CALL_CATEGORIES + LINE_CATEGORIES[4:]
"""Order of the rows in the tables (rules first, then analyzers)."""
TRUTH_SUFFIXES = (".json", ".yaml", ".yml")
BUILTIN_GROUPS = ("language", "folder", "results")
"""Grouping keys that need no tag: truth language, the audio's folder, the results folder."""


class EvalInputError(CoachError):
    """A truth or result file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class EvalOptions:
    """How findings are matched and grouped.

    `tolerance_s` widens both spans before the overlap test: ASR word times are
    often 0.5-1 s early after a pause, and a labeller's marks are not exact
    either, so exact overlap would count good findings as misses.
    """

    tolerance_s: float = 1.5
    group_by: tuple[str, ...] = ("language",)


@dataclass(frozen=True)
class Span:
    """A line-level event (truth or prediction) reduced to what matching needs."""

    category: str
    speaker: str | None
    start: float
    end: float
    text: str = ""


@dataclass
class TruthCall:
    """One labelled call."""

    path: Path
    stem: str
    language: str
    tags: dict[str, str]
    labelled: frozenset[str]
    call: dict[str, bool]
    events: list[Span]


@dataclass
class ResultCall:
    """One per-call result of `coach score`."""

    path: Path
    call: str
    stem: str
    folder: str
    results: str
    language: str | None
    line_events: list[Span]
    call_found: set[str]
    transcript: list[dict[str, Any]]


@dataclass
class Tally:
    """Counts for one category (or one total): duplicates are already inside `fp`."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    dup: int = 0

    def add(self, other: Tally) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.dup += other.dup

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        """2tp / (2tp + fp + fn): 0 when nothing was found right, None when there was nothing to find."""
        denom = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denom if denom else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp, "fp": self.fp, "fn": self.fn, "dup": self.dup,
            "precision": _round(self.precision), "recall": _round(self.recall), "f1": _round(self.f1),
        }


@dataclass
class Mismatch:
    """One false positive, duplicate or miss, for the `--errors` listing."""

    kind: str  # "fp", "dup" or "fn"
    call: str
    category: str
    speaker: str | None
    start: float | None
    end: float | None
    text: str
    heard: str


@dataclass
class Report:
    """Everything `coach eval` prints; `as_dict` is the `--json` output."""

    options: EvalOptions
    groups: dict[str, dict[str, dict[str, Tally]]]  # key -> value -> category -> tally
    overall: dict[str, Tally]
    calls: int
    languages: Counter
    missing_results: list[str]
    unlabelled_results: list[str]
    language_mismatch: list[tuple[str, str, str | None]]
    mismatches: list[Mismatch] = field(default_factory=list)

    def categories(self) -> list[str]:
        seen = set(self.overall)
        return [c for c in CATEGORY_ORDER if c in seen] + sorted(seen - set(CATEGORY_ORDER))

    def as_dict(self) -> dict[str, Any]:
        return {
            "tolerance_s": self.options.tolerance_s,
            "calls": self.calls,
            "languages": dict(self.languages),
            "missing_results": self.missing_results,
            "unlabelled_results": self.unlabelled_results,
            "language_mismatch": [
                {"call": c, "truth": t, "result": r} for c, t, r in self.language_mismatch
            ],
            "overall": summary_dict(self.overall),
            "groups": {
                key: {value: summary_dict(tallies) for value, tallies in sorted(values.items())}
                for key, values in self.groups.items()
            },
            "errors": [m.__dict__ for m in self.mismatches],
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def micro(tallies: dict[str, Tally]) -> Tally:
    """All categories' counts summed: dominated by the frequent categories."""
    total = Tally()
    for t in tallies.values():
        total.add(t)
    return total


def macro_f1(tallies: dict[str, Tally]) -> float | None:
    """Mean F1 of the categories that had something to find or were predicted."""
    values = [t.f1 for t in tallies.values() if t.f1 is not None]
    return sum(values) / len(values) if values else None


def summary_dict(tallies: dict[str, Tally]) -> dict[str, Any]:
    total = micro(tallies)
    return {
        "categories": {c: t.as_dict() for c, t in sorted(tallies.items())},
        "micro": total.as_dict(),
        "macro_f1": _round(macro_f1(tallies)),
    }


# --------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------


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


def _closeness(a: Span, b: Span, tolerance: float) -> float | None:
    """How well two spans fit (overlap in seconds, negative = gap), or None beyond the tolerance."""
    overlap = min(a.end, b.end) - max(a.start, b.start)
    return overlap if overlap >= -tolerance else None


def _text_fit(a: Span, b: Span) -> float:
    """How alike two events' words are (0-100); 0 when either has none."""
    if not a.text or not b.text:
        return 0.0
    return fuzz.partial_ratio(a.text.lower(), b.text.lower())


def match_spans(truth: Sequence[Span], predicted: Sequence[Span], tolerance: float
                ) -> tuple[list[tuple[int, int]], list[int], list[int], list[int]]:
    """Match one category's events of one call.

    Returns (pairs of (truth index, prediction index), unmatched predictions
    that could have matched a taken truth event (duplicates), other unmatched
    predictions, unmatched truth indexes). Pairs are first taken greedily,
    best first (more overlap, then more alike words, so "заявочку" pairs with
    the truth event "заявочку" when a line holds two diminutives), then
    augmenting paths make the matching maximum, so a prediction lying
    between two events never leaves one of them unmatched.
    """
    candidates: list[list[int]] = []
    ranked: list[tuple[float, float, int, int]] = []
    for i, t in enumerate(truth):
        scored = []
        for j, p in enumerate(predicted):
            if t.speaker is not None and p.speaker != t.speaker:
                continue
            fit = _closeness(t, p, tolerance)
            if fit is not None:
                key = (-round(fit, 1), -_text_fit(t, p))
                scored.append((key, j))
                ranked.append((*key, i, j))
        candidates.append([j for _, j in sorted(scored)])
    owner: dict[int, int] = {}  # prediction -> truth
    taken: set[int] = set()
    for _, _, i, j in sorted(ranked):
        if i not in taken and j not in owner:
            owner[j] = i
            taken.add(i)

    def augment(i: int, seen: set[int]) -> bool:
        for j in candidates[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(truth)):
        if i not in taken:
            augment(i, set())
    pairs = sorted((i, j) for j, i in owner.items())
    matched_truth = {i for i, _ in pairs}
    reachable = {j for cands in candidates for j in cands}
    dups = [j for j in range(len(predicted)) if j not in owner and j in reachable]
    fps = [j for j in range(len(predicted)) if j not in owner and j not in reachable]
    fns = [i for i in range(len(truth)) if i not in matched_truth]
    return pairs, dups, fps, fns


def _heard(result: ResultCall, speaker: str | None, start: float, end: float, tolerance: float) -> str:
    """What the ASR wrote for that speaker around a span (to tell ASR misses from rule misses)."""
    parts = []
    for utt in result.transcript:
        if not isinstance(utt, dict) or utt.get("start") is None or utt.get("end") is None:
            continue
        if speaker is not None and utt.get("speaker") != speaker:
            continue
        if utt["start"] <= end + tolerance and utt["end"] >= start - tolerance:
            parts.append(str(utt.get("text", "")).strip())
    return " / ".join(p for p in parts if p)


def compare_call(truth: TruthCall, result: ResultCall, options: EvalOptions
                 ) -> tuple[dict[str, Tally], list[Mismatch]]:
    """Per-category counts and the mismatches of one scored call against its truth."""
    tallies: dict[str, Tally] = {}
    mismatches: list[Mismatch] = []
    tol = options.tolerance_s
    for category in sorted(truth.labelled):
        want = [e for e in truth.events if e.category == category]
        got = [e for e in result.line_events if e.category == category]
        pairs, dups, fps, fns = match_spans(want, got, tol)
        tallies[category] = Tally(tp=len(pairs), fp=len(dups) + len(fps), fn=len(fns), dup=len(dups))
        for kind, idx in (("dup", dups), ("fp", fps)):
            for j in idx:
                p = got[j]
                mismatches.append(Mismatch(kind, result.call, category, p.speaker, p.start, p.end, p.text,
                                           _heard(result, p.speaker, p.start, p.end, 0.0)))
        for i in fns:
            t = want[i]
            mismatches.append(Mismatch("fn", result.call, category, t.speaker, t.start, t.end, t.text,
                                       _heard(result, t.speaker, t.start, t.end, 0.5)))
    for category, expected in sorted(truth.call.items()):
        found = category in result.call_found or any(e.category == category for e in result.line_events)
        tally = Tally(tp=int(expected and found), fp=int(found and not expected),
                      fn=int(expected and not found))
        tallies[category] = tally
        if tally.fp or tally.fn:
            mismatches.append(Mismatch("fp" if tally.fp else "fn", result.call, category, "agent",
                                       None, None, "", ""))
    return tallies, mismatches


def evaluate(results: Sequence[ResultCall], truths: dict[str, TruthCall],
             options: EvalOptions = EvalOptions()) -> Report:
    """Compare every result that has a truth file; count the rest."""
    for key in options.group_by:
        if key not in BUILTIN_GROUPS and not any(key in t.tags for t in truths.values()):
            raise EvalInputError(f"--by {key}: no truth file has a tag '{key}' "
                                 f"(built in: {', '.join(BUILTIN_GROUPS)})")
    overall: dict[str, Tally] = defaultdict(Tally)
    groups: dict[str, dict[str, dict[str, Tally]]] = {
        key: defaultdict(lambda: defaultdict(Tally)) for key in options.group_by
    }
    mismatches: list[Mismatch] = []
    languages: Counter = Counter()
    unlabelled: list[str] = []
    mismatch_lang: list[tuple[str, str, str | None]] = []
    seen: set[str] = set()
    for result in sorted(results, key=lambda r: (r.results, r.call)):
        truth = truths.get(result.stem)
        if truth is None:
            unlabelled.append(result.call)
            continue
        seen.add(result.stem)
        languages[truth.language] += 1
        if result.language != truth.language:
            mismatch_lang.append((result.call, truth.language, result.language))
        tallies, found = compare_call(truth, result, options)
        mismatches += found
        values = {"language": truth.language, "folder": result.folder, "results": result.results}
        values.update(truth.tags)
        for category, tally in tallies.items():
            overall[category].add(tally)
            for key in options.group_by:
                groups[key][values.get(key, "-")][category].add(tally)
    if not seen:
        raise EvalInputError("no result matches a truth file: results are matched by the stem of "
                             "their 'call' path to the truth's 'audio' stem")
    missing = sorted(str(t.path) for stem, t in truths.items() if stem not in seen)
    return Report(
        options=options,
        groups={k: {v: dict(c) for v, c in g.items()} for k, g in groups.items()},
        overall=dict(overall),
        calls=sum(languages.values()),
        languages=languages,
        missing_results=missing,
        unlabelled_results=unlabelled,
        language_mismatch=mismatch_lang,
        mismatches=mismatches,
    )


# --------------------------------------------------------------------------
# Text output
# --------------------------------------------------------------------------


def _fmt(x: float | None) -> str:
    return "   -" if x is None else f"{x:4.2f}"


def format_report(report: Report, errors: bool = False) -> str:
    """The tables a QA lead reads: per category, then F1 per group, then (optionally) each error."""
    cats = report.categories()
    langs = ", ".join(f"{n} {lang}" for lang, n in sorted(report.languages.items()))
    tol = report.options.tolerance_s
    lines = [f"{report.calls} scored call(s) with truth ({langs}); tolerance {tol:g} s"]
    width = max([len(c) for c in cats] + [8])
    lines.append(f"{'category':<{width}}  {'tp':>4} {'fp':>4} {'dup':>4} {'fn':>4}     P     R    F1")
    for c in cats:
        t = report.overall[c]
        lines.append(f"{c:<{width}}  {t.tp:4d} {t.fp:4d} {t.dup:4d} {t.fn:4d}  {_fmt(t.precision)}  "
                     f"{_fmt(t.recall)}  {_fmt(t.f1)}")
    total = micro(report.overall)
    lines.append(f"{'micro':<{width}}  {total.tp:4d} {total.fp:4d} {total.dup:4d} {total.fn:4d}  "
                 f"{_fmt(total.precision)}  {_fmt(total.recall)}  {_fmt(total.f1)}")
    lines.append(f"{'macro F1':<{width}}  {'':>4} {'':>4} {'':>4} {'':>4}  {'':>4}  {'':>4}  "
                 f"{_fmt(macro_f1(report.overall))}")
    for key, values in report.groups.items():
        names = sorted(values)
        colw = max([len(n) for n in names] + [4])
        lines.append("")
        lines.append(f"F1 by {key}")
        lines.append(f"{'category':<{width}}  {'all':>{colw}}  " + "  ".join(f"{n:>{colw}}" for n in names))
        for c in cats:
            row = [_fmt(report.overall[c].f1)] + [
                _fmt(values[n][c].f1) if c in values[n] else "   -" for n in names
            ]
            lines.append(f"{c:<{width}}  " + "  ".join(f"{v:>{colw}}" for v in row))
        row = [_fmt(total.f1)] + [_fmt(micro(values[n]).f1) for n in names]
        lines.append(f"{'micro':<{width}}  " + "  ".join(f"{v:>{colw}}" for v in row))
        row = [_fmt(macro_f1(report.overall))] + [_fmt(macro_f1(values[n])) for n in names]
        lines.append(f"{'macro F1':<{width}}  " + "  ".join(f"{v:>{colw}}" for v in row))
    notes = []
    if report.missing_results:
        notes.append(f"{len(report.missing_results)} truth file(s) without a result (not counted): "
                     + ", ".join(Path(p).name for p in report.missing_results[:5])
                     + (" ..." if len(report.missing_results) > 5 else ""))
    if report.unlabelled_results:
        notes.append(f"{len(report.unlabelled_results)} result(s) without a truth file (not counted)")
    if report.language_mismatch:
        notes.append(f"{len(report.language_mismatch)} result(s) in another language than the truth: "
                     + ", ".join(f"{Path(c).stem} ({r} for {t})" for c, t, r in report.language_mismatch[:5])
                     + (" ..." if len(report.language_mismatch) > 5 else ""))
    if notes:
        lines.append("")
        lines += [f"note: {n}" for n in notes]
    if errors and report.mismatches:
        lines.append("")
        lines.append("errors (fp = found but not in the truth, dup = a second finding for one truth event, "
                     "fn = missed):")
        for m in sorted(report.mismatches, key=lambda m: (m.category, m.kind, m.call, m.start or -1)):
            when = "call" if m.start is None else f"{m.start:6.2f}-{m.end:6.2f}"
            line = f"  {m.kind:<3} {m.category:<17} {Path(m.call).stem:<28} {when}"
            if m.text:
                line += f"  «{m.text}»"
            if m.heard and m.heard != m.text:
                line += f"  heard: «{m.heard}»"
            lines.append(line)
    return "\n".join(lines)
