"""Turn per-call result documents into what the report page shows.

Everything the page needs is computed here, in plain Python, so that it can
be tested without a browser: which agent a call belongs to, where its audio
is relative to the HTML file, which words of the transcript each finding
covers, and the aggregates (totals, histogram, categories, agents).
"""

from __future__ import annotations

import csv
import json
import os
import re
import statistics
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from coach.errors import CoachError

# Severity order, worst first; unknown severities sort after these.
SEVERITY_ORDER = ("critical", "major", "warning", "minor", "info")
UNKNOWN_AGENT = "(unknown)"


@dataclass
class CallInput:
    """One per-call result plus where its files are (all optional but `result`)."""

    result: dict[str, Any]
    audio_path: Path | None = None
    json_path: Path | None = None


@dataclass
class AgentSource:
    """How to tell which agent handled a call.

    `manifest` is a CSV with at least the columns `call` and `agent` (more are
    ignored); its `call` may be the path as given to `coach score`, an absolute
    path, a file name or a stem. `pattern` is a regular expression searched in
    the file name (then the whole path); its group `agent`, else its first
    group, else the whole match is the agent id. The manifest wins when both
    name a call.
    """

    manifest: Path | None = None
    pattern: str | None = None
    _by_key: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.manifest is not None:
            self._by_key = _read_manifest(Path(self.manifest))
        if self.pattern:
            try:
                self._regex = re.compile(self.pattern)
            except re.error as exc:
                raise CoachError(f"--agent-pattern {self.pattern!r}: bad regular expression: {exc}") from exc

    def agent_for(self, call: str, audio_path: Path | None = None) -> str | None:
        for key in _call_keys(call, audio_path):
            if key in self._by_key:
                return self._by_key[key]
        if self._regex is not None:
            for text in (Path(call).name, call):
                match = self._regex.search(text)
                if match:
                    if "agent" in self._regex.groupindex:
                        return match.group("agent")
                    return match.group(1) if self._regex.groups else match.group(0)
        return None


def _call_keys(call: str, audio_path: Path | None = None) -> list[str]:
    """Ways a manifest may name a call, most specific first."""
    p = Path(call)
    keys = [call, p.as_posix()]
    if audio_path is not None:
        keys.append(str(audio_path))
    keys += [p.name, p.stem]
    return keys


def _read_manifest(path: Path) -> dict[str, str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip().lower() for c in (reader.fieldnames or [])]
            if "call" not in columns or "agent" not in columns:
                raise CoachError(
                    f"{path}: agent manifest needs a header with columns 'call' and 'agent' "
                    f"(found: {', '.join(columns) or 'none'})"
                )
            by_key: dict[str, str] = {}
            for row in reader:
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
                call, agent = row.get("call", ""), row.get("agent", "")
                if not call or not agent:
                    continue
                p = Path(call)
                by_key.setdefault(call, agent)
                by_key.setdefault(p.as_posix(), agent)
                if p.is_absolute():
                    by_key.setdefault(str(p), agent)
                else:
                    by_key.setdefault(str((path.parent / p).resolve()), agent)
                by_key.setdefault(p.name, agent)
                by_key.setdefault(p.stem, agent)
            return by_key
    except OSError as exc:
        raise CoachError(f"{path}: cannot read agent manifest: {exc.strerror}") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise CoachError(f"{path}: not a readable CSV file: {exc}") from exc


def is_call_result(doc: Any) -> bool:
    """True for a per-call result document (the contract), False for other JSON."""
    return isinstance(doc, dict) and isinstance(doc.get("call"), str) and "events" in doc


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
    by_call: dict[str, CallInput] = {}
    db = out_dir / DEFAULT_DB_NAME
    if db.is_file():
        for entry in load_entries(db):
            by_call[entry.result["call"]] = CallInput(entry.result, entry.audio_path, entry.json_path)
    for path in sorted(out_dir.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"coach: warning: {path}: skipped, not readable JSON ({exc})", file=sys.stderr)
            continue
        if not is_call_result(doc):
            continue
        known = by_call.get(doc["call"])
        audio = known.audio_path if known and known.audio_path else None
        if audio is None or not audio.exists():
            audio = resolve_audio(doc["call"], search)
        by_call[doc["call"]] = CallInput(doc, audio, path.resolve())
    return list(by_call.values()), read_errors(out_dir / "errors.jsonl")


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


def build_model(
    calls: list[CallInput],
    html_path: Path,
    agents: AgentSource | None = None,
    errors: list[dict[str, Any]] | None = None,
    title: str = "Call quality report",
) -> dict[str, Any]:
    """The whole page as one JSON-able dict: summary, aggregates and every call."""
    html_dir = html_path.resolve().parent
    agents = agents or AgentSource()
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
        agent = agents.agent_for(r["call"], audio)
        by_cat = Counter(e.get("category") or "?" for e in events)
        rows.append(
            {
                "call": r["call"],
                "name": Path(r["call"]).name,
                "agent": agent,
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
    return {
        "title": title,
        "summary": summarize(rows, errors or []),
        "categories": category_counts(rows),
        "agents": agent_aggregates(rows),
        "histogram": score_histogram([r["score"] for r in rows if r["score"] is not None]),
        "errors": [
            {
                "input": str(e.get("input") or e.get("call") or e.get("path") or ""),
                "reason": str(e.get("reason") or e.get("error") or ""),
            }
            for e in (errors or [])
        ],
        "calls": rows,
    }


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


def agent_aggregates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per agent: calls, mean/min score, findings per call, top category; worst mean first."""
    groups: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["agent"] or UNKNOWN_AGENT].append(r)
    out = []
    for agent, rs in groups.items():
        scores = [r["score"] for r in rs if r["score"] is not None]
        cats: Counter[str] = Counter()
        for r in rs:
            cats.update(r["categories"])
        out.append(
            {
                "agent": agent,
                "calls": len(rs),
                "mean_score": round(statistics.fmean(scores), 1) if scores else None,
                "min_score": min(scores) if scores else None,
                "findings_per_call": round(sum(r["n_events"] for r in rs) / len(rs), 2),
                "critical": sum(r["n_critical"] for r in rs),
                "top_category": cats.most_common(1)[0][0] if cats else None,
                "audio_minutes": round(sum(_duration(r) for r in rs) / 60.0, 1),
            }
        )
    out.sort(key=lambda a: (a["mean_score"] is None, a["mean_score"] or 0, a["agent"]))
    return out


def _duration(row: dict[str, Any]) -> float:
    d = row.get("duration_s")
    return float(d) if isinstance(d, (int, float)) else 0.0


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
