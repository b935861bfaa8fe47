"""Matching findings to truth (the rules in coach.evaluation's docstring), the per-category
tallies, and the printed report."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from rapidfuzz import fuzz

from coach.evaluation.model import (
    BUILTIN_GROUPS,
    EvalInputError,
    EvalOptions,
    Mismatch,
    Report,
    ResultCall,
    Span,
    Tally,
    TruthCall,
    macro_f1,
    micro,
)


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
             options: EvalOptions | None = None) -> Report:
    """Compare every result that has a truth file; count the rest."""
    options = options or EvalOptions()
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
