"""The files `coach score` leaves in OUT: atomic writes, stable names, summary.csv.

- `write_atomic` writes through a temporary sibling and a rename, so a
  reader (or a crash) never sees half a file, and the file gets the mode
  the umask gives (0644 usually). `tempfile.mkstemp` would create it 0600,
  which locked the QA lead's other accounts out of the results.
- `result_names` gives each recording its OUT/<stem>.json, stable across
  runs: a second recording with the same stem (day2/0001.wav after
  day1/0001.wav) gets `<stem>-<hash>.json` instead of overwriting the first.
- `rebuild_summary_csv` writes OUT/summary.csv from EVERY result JSON in
  OUT, not only this run's, so it always describes the folder; two batches
  finishing together take turns (a lock file), and whichever rebuilds last
  has seen both batches' files.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coach.errors import CoachError
from coach.metadata import KNOWN_FIELDS

__all__ = [
    "CSV_STYLES",
    "SUMMARY_FIELDS",
    "CsvStyle",
    "OutputError",
    "is_call_result",
    "read_result_files",
    "rebuild_summary_csv",
    "remove_stale_temps",
    "result_names",
    "summary_rows",
    "check_output_dir",
    "write_atomic",
]

SUMMARY_NAME = "summary.csv"
_LOCK_NAME = ".summary.lock"


class OutputError(CoachError):
    """A file in OUT cannot be written (disk full, permissions...)."""


def describe_os_error(exc: OSError, target: Path) -> str:
    """One line for a failed write; a full disk names the folder that is full."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on device" if exc.errno == errno.ENOSPC else "disk quota exceeded"
        return f"{target.parent}: {what} (writing {target.name})"
    return f"{target}: cannot write: {exc.strerror or exc}"


def check_output_dir(out_dir: Path) -> None:
    """Create OUT if needed and prove a file can be written in it, before any work: one line
    naming the folder otherwise (a file in the way, read-only, no permission, full)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: output path exists and is not a folder")
    probe = out_dir / f".coach-probe-{os.getpid()}.tmp"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        reason = {errno.ENOSPC: "no space left on device", errno.EROFS: "read-only file system",
                  errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                  errno.ENOTDIR: "a parent is not a folder"}.get(exc.errno, exc.strerror or str(exc))
        raise OutputError(f"{out_dir}: cannot write in the output folder: {reason}") from None


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *, encoding: str = "utf-8") -> None:
    """Replace `path` with `data` in one step; the new file follows the umask.

    The temporary name is unique per process and call, so concurrent writers
    into one folder never share one; it starts with '.' and ends '.tmp' (what
    `remove_stale_temps` cleans up after a kill).
    """
    path = Path(path)
    payload = data.encode(encoding) if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(describe_os_error(exc, path)) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); harmless where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temps(out_dir: str | os.PathLike[str], older_than_s: float = 600.0) -> int:
    """Delete temporary files a killed run left in OUT; returns how many.

    Only ones older than `older_than_s`: a younger one may belong to a batch
    writing into the same OUT right now (a write takes milliseconds).
    """
    removed = 0
    now = time.time()
    for tmp in Path(out_dir).glob(".*.tmp"):
        try:
            if now - tmp.stat().st_mtime >= older_than_s:
                tmp.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


# --- result file names -----------------------------------------------------------


def _path_tag(path: Path) -> str:
    return hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:8]


def _belongs_to(json_path: Path, audio: Path) -> bool | None:
    """Whether OUT/x.json is `audio`'s result: True/False, None when unreadable.

    Its `call` is the path as given then, relative to where that run started;
    read from here it is the same recording when it names the same file.
    """
    try:
        doc = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    call = doc.get("call") if isinstance(doc, dict) else None
    if not isinstance(call, str):
        return None
    if call == str(audio) or os.path.abspath(call) == os.path.abspath(audio):
        return True
    try:
        return os.path.samefile(call, audio)
    except OSError:
        return False


def result_names(paths: list[Path], out_dir: str | os.PathLike[str]) -> dict[Path, str]:
    """OUT file name per recording: `<stem>.json`, or `<stem>-<hash8>.json` when the stem is taken.

    Stable across runs, so resume finds its files: a recording keeps a name
    it already has in OUT (hashed or plain); it gets the plain name only when
    that file is free (or already its own) and no other recording of this run
    shares the stem; otherwise the hashed one (a hash of its absolute path).
    """
    out_dir = Path(out_dir)
    stems: dict[str, int] = {}
    for path in paths:
        stems[path.stem] = stems.get(path.stem, 0) + 1
    names: dict[Path, str] = {}
    for path in paths:
        plain, hashed = f"{path.stem}.json", f"{path.stem}-{_path_tag(path)}.json"
        if (out_dir / hashed).exists():
            names[path] = hashed
            continue
        owner = _belongs_to(out_dir / plain, path) if (out_dir / plain).exists() else None
        if owner is True or (stems[path.stem] == 1 and owner is None):
            names[path] = plain
        else:
            names[path] = hashed
    return names


# --- reading OUT -----------------------------------------------------------------------


def is_call_result(doc: Any) -> bool:
    """True for a per-call result document (the contract), False for other JSON."""
    return isinstance(doc, dict) and isinstance(doc.get("call"), str) and "events" in doc


def read_result_files(out_dir: str | os.PathLike[str]) -> tuple[list[tuple[Path, dict]], list[str]]:
    """Every per-call result in OUT (by file name) and a warning per unreadable JSON file.

    Other JSON (not a per-call result) is ignored without a word.
    """
    results: list[tuple[Path, dict]] = []
    problems: list[str] = []
    for path in sorted(Path(out_dir).glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:  # deleted between listing and reading
            continue
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: skipped, not readable JSON ({exc})")
            continue
        if is_call_result(doc):
            results.append((path, doc))
    return results, problems


# --- summary.csv -----------------------------------------------------------------------


@dataclass(frozen=True)
class CsvStyle:
    """How a CSV is spelled. `excel` is what Excel with Russian regional settings
    opens with a double click: UTF-8 with a BOM, ';' between fields, ',' in numbers."""

    name: str
    delimiter: str
    decimal: str
    bom: bool


CSV_STYLES = {
    "plain": CsvStyle("plain", ",", ".", False),
    "excel": CsvStyle("excel", ";", ",", True),
}

# The columns of earlier versions keep their order; metadata columns follow.
SUMMARY_FIELDS = [
    "call", "json", "duration_s", "language", "score", "events", "critical",
    "talk_ratio_agent", "agent_wpm", "interruptions", "customer_name", "categories",
    *KNOWN_FIELDS,
]


def _cell(value: Any, style: CsvStyle) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        text = repr(value) if value != int(value) or abs(value) >= 1e16 else str(int(value))
        return text.replace(".", style.decimal)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value


def summary_rows(results: list[tuple[str, dict]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and one row per (json name, result); extra metadata columns sorted by name."""
    extras = sorted(
        {k for _, r in results for k in (r.get("meta") or {}) if k not in SUMMARY_FIELDS}
    )
    rows = []
    for json_name, result in results:
        events = result.get("events") or []
        categories: dict[str, int] = {}
        for event in events:
            cat = event.get("category") or "?"
            categories[cat] = categories.get(cat, 0) + 1
        metrics = result.get("metrics") or {}
        meta = result.get("meta") or {}
        row = {
            "call": result.get("call"),
            "json": json_name,
            "duration_s": result.get("duration_s"),
            "language": result.get("language"),
            "score": (result.get("score") or {}).get("total"),
            "events": len(events),
            "critical": sum(1 for e in events if e.get("severity") == "critical"),
            "talk_ratio_agent": metrics.get("talk_ratio_agent"),
            "agent_wpm": metrics.get("agent_wpm"),
            "interruptions": metrics.get("interruptions"),
            "customer_name": result.get("customer_name") or "",
            "categories": ";".join(f"{k}={v}" for k, v in sorted(categories.items())),
        }
        for key in (*KNOWN_FIELDS, *extras):
            row[key] = meta.get(key)
        rows.append(row)
    return [*SUMMARY_FIELDS, *extras], rows


def summary_csv_text(results: list[tuple[str, dict]], style: str | CsvStyle = "plain") -> str:
    style = CSV_STYLES[style] if isinstance(style, str) else style
    fields, rows = summary_rows(results)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, delimiter=style.delimiter)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v, style) for k, v in row.items()})
    return ("\ufeff" if style.bom else "") + buffer.getvalue()


@contextlib.contextmanager
def _folder_lock(lock_path: Path) -> Iterator[None]:
    """An exclusive advisory lock (POSIX flock); a no-op where there is none."""
    try:
        import fcntl
    except ImportError:  # Windows: last writer wins without it
        yield
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def rebuild_summary_csv(
    out_dir: str | os.PathLike[str],
    style: str = "plain",
    *,
    path: str | os.PathLike[str] | None = None,
    warn=None,
) -> Path:
    """Write OUT/summary.csv (or `path`) from every result JSON in OUT; returns its path.

    `style`: "plain" (UTF-8, ',', '.') or "excel" (BOM, ';', decimal commas).
    `warn(message)` receives one line per unreadable JSON file (default: stderr).
    """
    if style not in CSV_STYLES:
        raise CoachError(f"--csv {style!r}: use one of {', '.join(CSV_STYLES)}")
    out_dir = Path(out_dir)
    target = Path(path) if path else out_dir / SUMMARY_NAME
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = _folder_lock(out_dir / _LOCK_NAME)
        lock.__enter__()
    except OSError as exc:
        raise OutputError(describe_os_error(exc, out_dir / _LOCK_NAME)) from exc
    try:
        found, problems = read_result_files(out_dir)
        for problem in problems:
            (warn or _stderr_warning)(problem)
        text = summary_csv_text([(p.name, doc) for p, doc in found], style)
        write_atomic(target, text, encoding="utf-8")
    finally:
        lock.__exit__(None, None, None)
    return target


def _stderr_warning(message: str) -> None:
    print(f"coach: warning: {message}", file=sys.stderr)
