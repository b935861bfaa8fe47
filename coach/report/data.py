"""Turn per-call result documents into what the report page shows.

Everything the page needs is computed here, in plain Python, so that it can
be tested without a browser: each call's metadata (agent, queue, start
time...), its date and week, where its audio is relative to the HTML file,
which words of the transcript each finding covers, the static aggregates
(totals, histogram, categories), and the labels in the calls' language.
Filtering, sorting, grouping and the weekly trend run in the page, on this
model, so that they follow what the QA lead picks.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from coach.errors import CoachError
from coach.metadata import KNOWN_FIELDS, MetadataSource, call_date
from coach.outputs import read_result_files
from coach.report.i18n import page_labels, pick_language

# Severity order, worst first; unknown severities sort after these.
SEVERITY_ORDER = ("critical", "major", "warning", "minor", "info")
# Metadata that identifies one call or one moment: shown, never grouped by.
UNGROUPABLE = ("call_id", "started_at")


@dataclass
class CallInput:
    """One per-call result plus where its files are (all optional but `result`)."""

    result: dict[str, Any]
    audio_path: Path | None = None
    json_path: Path | None = None


def resolve_audio(call: str, search_dirs: list[Path]) -> Path:
    """Where the recording of `call` is: absolute as is, else the first folder
    (of `search_dirs`) under which it exists, else under the first folder."""
    p = Path(call).expanduser()
    if p.is_absolute():
        return p
    for folder in search_dirs:
        candidate = folder / p
        if candidate.exists():
            return candidate.resolve()
    return (search_dirs[0] / p).resolve() if search_dirs else p.resolve()


def identity(c: CallInput) -> str:
    """One entry per result file; a stored call without a file, one per recording."""
    if c.json_path is not None:
        return "json:" + os.path.abspath(c.json_path)
    if c.audio_path is not None:
        return "audio:" + os.path.abspath(c.audio_path)
    return "call:" + c.result["call"]


def read_out_dir(out_dir: Path) -> tuple[list[CallInput], list[dict[str, Any]]]:
    """The results (OUT/*.json and OUT/coach.sqlite) and failures (errors.jsonl) of a run.

    A call in both the database and a JSON file is taken from the JSON file:
    that is the contract output, the database its copy. Relative call paths
    are looked for from the current folder (where `coach score` normally ran),
    then from OUT's parent, then OUT.
    """
    from coach.store import DEFAULT_DB_NAME, load_entries

    if not out_dir.is_dir():
        raise CoachError(f"{out_dir}: no such results folder")
    search = [Path.cwd(), out_dir.resolve().parent, out_dir.resolve()]
    by_id: dict[str, CallInput] = {}
    audio_of: dict[str, Path] = {}
    db = out_dir / DEFAULT_DB_NAME
    if db.is_file():
        for entry in load_entries(db):
            c = CallInput(entry.result, entry.audio_path, entry.json_path)
            by_id[identity(c)] = c
            if entry.json_path is not None and entry.audio_path is not None:
                audio_of[os.path.abspath(entry.json_path)] = entry.audio_path
    found, problems = read_result_files(out_dir)
    for problem in problems:
        print(f"coach: warning: {problem}", file=sys.stderr)
    for path, doc in found:
        audio = audio_of.get(os.path.abspath(path.resolve()))
        if audio is None or not audio.exists():
            audio = resolve_audio(doc["call"], search)
        c = CallInput(doc, audio, path.resolve())
        by_id[identity(c)] = c
    return list(by_id.values()), read_errors(out_dir / "errors.jsonl")


def read_errors(path: Path) -> list[dict[str, Any]]:
    """Rows of errors.jsonl (inputs that could not be scored); [] when absent."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


# --- the page model -------------------------------------------------------------


def _norm_char(ch: str) -> str:
    ch = ch.lower()
    return "е" if ch == "ё" else ch


def _normalize(text: str) -> tuple[str, list[int]]:
    """Lower-cased letters and digits of `text`, single spaces between words,
    with the index in `text` of each kept character."""
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if ch.isalnum() or unicodedata.category(ch).startswith("M"):
            out.append(_norm_char(ch))
            index.append(i)
        elif out and out[-1] != " ":
            out.append(" ")
            index.append(i)
    if out and out[-1] == " ":
        out.pop()
        index.pop()
    return "".join(out), index


def find_span(haystack: str, needle: str) -> tuple[int, int] | None:
    """Character span of `needle` in `haystack`, ignoring case, ё/е and punctuation."""
    if not needle or not haystack:
        return None
    h, h_index = _normalize(haystack)
    n, _ = _normalize(needle)
    if not n:
        return None
    # Prefer a whole-word hit; fall back to any substring.
    for m in re.finditer(re.escape(n), h):
        before_ok = m.start() == 0 or h[m.start() - 1] == " "
        after_ok = m.end() == len(h) or h[m.end()] == " "
        if before_ok and after_ok:
            return h_index[m.start()], h_index[m.end() - 1] + 1
    pos = h.find(n)
    if pos < 0:
        return None
    return h_index[pos], h_index[pos + len(n) - 1] + 1


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return min(a1, b1) - max(a0, b0)


def highlight_marks(
    transcript: list[dict[str, Any]], events: list[dict[str, Any]]
) -> dict[int, list[list[int]]]:
    """For each transcript line, the [start_char, end_char, event_index] it highlights.

    A timed finding goes on the lines of its speaker that overlap its time
    span (with half a second of slack for timestamp jitter); on those lines its
    `text` is looked up and only those words are marked. When the text is not
    found (a fuzzy match, a finding about loudness) the whole of the best
    overlapping line is marked, so no timed finding is left off the page.
    """
    marks: dict[int, list[list[int]]] = defaultdict(list)
    slack = 0.5
    for ei, ev in enumerate(events):
        start, end = ev.get("start"), ev.get("end")
        if start is None:
            continue
        end = start if end is None else end
        speaker = ev.get("speaker")
        candidates = []
        for ui, utt in enumerate(transcript):
            u0, u1 = utt.get("start"), utt.get("end")
            if u0 is None or u1 is None:
                continue
            ov = _overlap(start - slack, end + slack, u0, u1)
            if ov < 0:
                continue
            same = speaker not in ("agent", "customer") or utt.get("speaker") == speaker
            candidates.append((same, ov, ui))
        if not candidates:
            continue
        placed = False
        text = ev.get("text") or ""
        for same, _, ui in sorted(candidates, key=lambda c: (not c[0], -c[1])):
            if not same:
                continue
            span = find_span(transcript[ui].get("text") or "", text)
            if span:
                marks[ui].append([span[0], span[1], ei])
                placed = True
        if not placed:
            same_first = sorted(candidates, key=lambda c: (not c[0], -c[1]))
            ui = same_first[0][2]
            marks[ui].append([0, len(transcript[ui].get("text") or ""), ei])
    return marks


def severity_rank(severity: str | None) -> int:
    try:
        return SEVERITY_ORDER.index((severity or "").lower())
    except ValueError:
        return len(SEVERITY_ORDER)


def _rel_url(target: Path | None, html_dir: Path) -> str | None:
    """`target` as a URL relative to the HTML file's folder (a plain file link)."""
    if target is None:
        return None
    try:
        rel = os.path.relpath(target, html_dir)
    except ValueError:  # another drive on Windows: only an absolute link works
        return Path(target).resolve().as_uri()
    return quote(Path(rel).as_posix())


def _score_of(result: dict[str, Any]) -> float | None:
    total = (result.get("score") or {}).get("total")
    return float(total) if isinstance(total, (int, float)) else None


def week_start(day: str | None) -> str | None:
    """The Monday (YYYY-MM-DD) of the ISO week `day` is in."""
    if not day:
        return None
    try:
        d = date.fromisoformat(day)
    except ValueError:
        return None
    return (d - timedelta(days=d.weekday())).isoformat()


def call_meta(c: CallInput, source: MetadataSource | None) -> dict[str, Any]:
    """The result's own `meta`, overridden field by field by what `source` says now
    (a manifest given to `coach report` enriches or corrects older results)."""
    meta = dict(c.result.get("meta") or {})
    if source is not None:
        path = c.audio_path or Path(c.result["call"])
        meta.update(source.for_call(path, aliases=[c.result["call"]]))
    return meta


def _mono_info(r: dict[str, Any]) -> dict[str, Any]:
    diar = r.get("diarization") if isinstance(r.get("diarization"), dict) else None
    diarized = bool(r.get("diarized")) or diar is not None
    conf = diar.get("confidence") if diar else None
    return {
        "mono": bool(r.get("mono")) or diarized,
        "diarized": diarized,
        "diarization_confidence": float(conf) if isinstance(conf, (int, float)) else None,
    }


def build_model(
    calls: list[CallInput],
    html_path: Path,
    metadata: MetadataSource | None = None,
    errors: list[dict[str, Any]] | None = None,
    title: str | None = None,
    lang: str | None = None,
) -> dict[str, Any]:
    """The whole page as one JSON-able dict: summary, aggregates, labels and every call."""
    html_dir = html_path.resolve().parent
    rows = []
    for c in calls:
        r = c.result
        events = [dict(e) for e in (r.get("events") or [])]
        transcript = [dict(u) for u in (r.get("transcript") or [])]
        marks = highlight_marks(transcript, events)
        for ui, utt in enumerate(transcript):
            utt["marks"] = sorted(marks.get(ui, []))
        audio = c.audio_path
        if audio is None:
            audio = resolve_audio(r["call"], [Path.cwd()])
        meta = call_meta(CallInput(r, audio, c.json_path), metadata)
        started = meta.get("started_at") if isinstance(meta.get("started_at"), str) else None
        when = started or (r.get("scored_at") if isinstance(r.get("scored_at"), str) else None)
        day = call_date(when)
        by_cat = Counter(e.get("category") or "?" for e in events)
        rows.append(
            {
                "call": r["call"],
                "name": Path(r["call"]).name,
                "meta": {k: v for k, v in meta.items() if v is not None and v != ""},
                "agent": str(meta["agent"]) if meta.get("agent") not in (None, "") else None,
                "score": _score_of(r),
                "by_category": (r.get("score") or {}).get("by_category") or {},
                "duration_s": r.get("duration_s"),
                "language": r.get("language"),
                "model": (r.get("model") or {}).get("name"),
                "metrics": r.get("metrics") or {},
                "n_events": len(events),
                "n_critical": sum(1 for e in events if severity_rank(e.get("severity")) == 0),
                "categories": dict(by_cat.most_common()),
                "events": events,
                "transcript": transcript,
                "audio": _rel_url(audio, html_dir),
                "audio_found": bool(audio and audio.exists()),
                "json": _rel_url(c.json_path, html_dir) if c.json_path else None,
                "when": when,
                "date": day,
                "week": week_start(day),
                "date_from": "started_at" if started else ("scored_at" if when else None),
                **_mono_info(r),
            }
        )
    # Worst first: lowest score, then most critical findings, then most findings.
    rows.sort(
        key=lambda row: (
            row["score"] is None,
            row["score"] if row["score"] is not None else 0.0,
            -row["n_critical"],
            -row["n_events"],
            row["call"],
        )
    )
    for i, row in enumerate(rows):
        row["id"] = i
    language = pick_language([r["language"] for r in rows], lang)
    meta_columns = _meta_columns(rows)
    categories = category_counts(rows)
    all_cats = sorted({c["category"] for c in categories} | {k for r in rows for k in r["by_category"]})
    metric_names = sorted({m for r in rows for m in r["metrics"]})
    labels = page_labels(language, all_cats, metric_names, [*meta_columns, "language"])
    dates = sorted(r["date"] for r in rows if r["date"])
    return {
        "title": title or labels["ui"]["title"],
        "lang": language,
        "labels": labels,
        "summary": summarize(rows, errors or []),
        "categories": categories,
        "histogram": score_histogram([r["score"] for r in rows if r["score"] is not None]),
        "meta_columns": meta_columns,
        "group_columns": [c for c in meta_columns if c not in UNGROUPABLE] + ["language"],
        "date_range": {"min": dates[0], "max": dates[-1]} if dates else None,
        "errors": [
            {
                "input": str(e.get("input") or e.get("call") or e.get("path") or ""),
                "reason": str(e.get("reason") or e.get("error") or ""),
            }
            for e in (errors or [])
        ],
        "calls": rows,
    }


def _meta_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Metadata keys any call has: the known ones in their order, then the rest by name."""
    present = {k for r in rows for k in r["meta"]}
    return [k for k in KNOWN_FIELDS if k in present] + sorted(present - set(KNOWN_FIELDS))


def summarize(rows: list[dict[str, Any]], errors: list[dict[str, Any]]) -> dict[str, Any]:
    scores = [r["score"] for r in rows if r["score"] is not None]
    durations = [r["duration_s"] for r in rows if isinstance(r["duration_s"], (int, float))]
    return {
        "calls": len(rows),
        "failed": len(errors),
        "audio_hours": round(sum(durations) / 3600.0, 2),
        "mean_score": round(statistics.fmean(scores), 1) if scores else None,
        "median_score": round(statistics.median(scores), 1) if scores else None,
        "findings": sum(r["n_events"] for r in rows),
        "calls_with_critical": sum(1 for r in rows if r["n_critical"]),
        "agents": len({r["agent"] for r in rows if r["agent"]}),
    }


def category_counts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per category: findings, calls with at least one, points lost; most findings first."""
    findings: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    points: defaultdict[str, float] = defaultdict(float)
    for r in rows:
        for cat, n in r["categories"].items():
            findings[cat] += n
            calls[cat] += 1
        for cat, pts in r["by_category"].items():
            if isinstance(pts, (int, float)):
                points[cat] += float(pts)
    cats = set(findings) | set(points)
    out = [
        {"category": c, "findings": findings[c], "calls": calls[c], "points": round(points[c], 1)}
        for c in cats
    ]
    out.sort(key=lambda d: (-d["findings"], d["points"], d["category"]))
    return out


def score_histogram(scores: list[float], bins: int = 10) -> list[dict[str, Any]]:
    """Counts of calls per score band. Bands cover 0-100 (the usual score range)
    widened to include any score outside it."""
    lo = min([0.0, *scores])
    hi = max([100.0, *scores])
    width = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for s in scores:
        counts[min(int((s - lo) / width), bins - 1)] += 1
    return [
        {"lo": round(lo + i * width, 1), "hi": round(lo + (i + 1) * width, 1), "count": n}
        for i, n in enumerate(counts)
    ]
