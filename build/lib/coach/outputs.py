"""Writing batch outputs: the output folder checked up front, atomic files that follow the
umask, and summary.csv.

A QA lead must be able to trust that a batch either writes its results or
says, in one line, why it cannot (the folder is a file, read-only, full).
"""

from __future__ import annotations

import csv
import errno
import io
import os
import tempfile
from pathlib import Path

from coach.contract import CallResult, Severity
from coach.errors import CoachError


class OutputError(CoachError):
    """The output folder cannot take our files (not a folder, read-only, full)."""


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc)


def check_output_dir(out_dir: Path) -> None:
    """Create OUT if needed and prove we can write in it; OutputError naming it otherwise."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: output path exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".coach-probe-", dir=out_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot write in the output folder: {_reason(exc)}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temp file, fsync and rename: never half a file.

    The file gets the mode a plain open() would give it (0644 under the usual
    umask), not mkstemp's 0600, so colleagues can read the results.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path.parent}: cannot write {path.name}: {_reason(exc)}") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{path.parent}: cannot write {path.name}: {_reason(exc)}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


SUMMARY_FIELDS = [
    "call", "json", "duration_s", "language", "score", "events", "critical",
    "talk_ratio_agent", "agent_wpm", "interruptions", "customer_name", "categories",
]


def summary_row(json_name: str, result: CallResult) -> dict[str, object]:
    categories: dict[str, int] = {}
    for event in result.events:
        categories[event.category] = categories.get(event.category, 0) + 1
    return {
        "call": result.call,
        "json": json_name,
        "duration_s": result.duration_s,
        "language": result.language,
        "score": result.total_score,
        "events": len(result.events),
        "critical": sum(1 for e in result.events if e.severity == Severity.CRITICAL),
        "talk_ratio_agent": result.metrics.get("talk_ratio_agent"),
        "agent_wpm": result.metrics.get("agent_wpm"),
        "interruptions": result.metrics.get("interruptions"),
        "customer_name": result.get("customer_name") or "",
        "categories": ";".join(f"{k}={v}" for k, v in sorted(categories.items())),
    }


def write_summary_csv(path: Path, results: dict[str, CallResult], dialect: str = "plain") -> None:
    """One row per result (every result in OUT), written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_FIELDS)
    writer.writeheader()
    for json_name, result in sorted(results.items()):
        writer.writerow(summary_row(json_name, result))
    write_atomic(path, buffer.getvalue())
