"""`coach score` for many files: discovery, resume, output names, files that survive a crash.

Guarantees:
- each per-call JSON is written atomically (temp file + rename), so a kill
  never leaves half a file;
- a re-run skips calls whose JSON carries the same fingerprint (same audio
  content, model, rules, thresholds and options), so a batch killed with
  SIGKILL and re-run scores every call exactly once;
- no result overwrites another: `OUT/<stem>.json` belongs to one input; a
  different input with the same stem (in this run or an earlier one) gets
  `<stem>-<8 hex of its path>.json`;
- a bad input is one row in errors.jsonl (written as it happens) and the
  rest of the batch carries on;
- one batch at a time per OUT (a lock file), so summary.csv and the store are
  never written by two runs at once; summary.csv is rebuilt from every result
  in OUT, not just this run's.
Only this process writes files; engines (coach.engines) just score.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from coach.contract import CallResult, ErrorRow
from coach.engines import Engine, Job
from coach.errors import CoachError
from coach.outputs import OutputError, check_output_dir, write_atomic, write_summary_csv

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = {
    ".wav", ".wave", ".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac", ".wma",
    ".webm", ".mka", ".mp4",
}
LOCK_NAME = ".coach.lock"

OnSaved = Callable[[Path, CallResult], None]
Fingerprint = Callable[[Path], str | None]


@dataclass
class BatchSummary:
    scored: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    results: dict[str, CallResult] = field(default_factory=dict)  # json name -> this run's/resumed
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def discover(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, plus audio files found (recursively) in folders, in a stable order."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found.append(path)  # a missing file is reported as an error, not dropped
    unique, seen = [], set()
    for path in found:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def source_of(result: CallResult) -> str:
    """The absolute path of the recording a result belongs to (older results: from `call`)."""
    return str(result.get("source_path") or os.path.abspath(result.call))


def hashed_name(path: Path) -> str:
    tag = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:8]
    return f"{path.stem}-{tag}.json"


def output_names(paths: list[Path], out_dir: Path) -> dict[Path, str]:
    """OUT/<stem>.json as the contract says, unless another input owns that name: a stem
    shared by two inputs of this batch, or a file already in OUT from another recording."""
    stems: dict[str, int] = {}
    for path in paths:
        stems[path.stem] = stems.get(path.stem, 0) + 1
    names = {}
    for path in paths:
        plain = f"{path.stem}.json"
        owner = read_result(out_dir / plain)
        taken = owner is not None and source_of(owner) != os.path.abspath(path)
        names[path] = hashed_name(path) if stems[path.stem] > 1 or taken else plain
    return names


def read_result(path: Path) -> CallResult | None:
    try:
        return CallResult.load(path)
    except ValueError:
        return None


def results_in(out_dir: Path) -> dict[str, CallResult]:
    """Every per-call result in OUT (other JSON files are skipped)."""
    found = {}
    for path in sorted(out_dir.glob("*.json")):
        result = read_result(path)
        if result is not None:
            found[path.name] = result
    return found


@contextmanager
def batch_lock(out_dir: Path) -> Iterator[None]:
    """One batch per OUT at a time: a second one stops with a clear message."""
    path = out_dir / LOCK_NAME
    try:
        fh = path.open("a+")
    except OSError as exc:
        raise OutputError(f"{out_dir}: cannot write in the output folder ({exc.strerror})") from exc
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise CoachError(
                f"{out_dir}: another 'coach score' (pid {holder}) is writing to this folder; "
                "wait for it to finish or use another -o"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fh.close()


class _AboveBar(logging.Handler):
    """A stderr handler's messages, printed above the progress bar instead of into it."""

    def __init__(self, inner: logging.Handler):
        super().__init__(inner.level)
        self.setFormatter(inner.formatter)
        self.addFilter(lambda record: inner.filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record), file=sys.stderr)


@contextmanager
def log_above_bar() -> Iterator[None]:
    root = logging.getLogger()
    screens = [h for h in root.handlers
               if type(h) is logging.StreamHandler and getattr(h, "stream", None) is sys.stderr]
    swaps = [(h, _AboveBar(h)) for h in screens]
    for old, new in swaps:
        root.removeHandler(old)
        root.addHandler(new)
    try:
        yield
    finally:
        for old, new in swaps:
            root.removeHandler(new)
            root.addHandler(old)


def run_batch(
    inputs: Iterable[str | Path],
    out_dir: Path,
    engine: Engine,
    fingerprint: Fingerprint,
    *,
    force: bool = False,
    progress: bool = True,
    meta_for: Callable[[Path], dict[str, Any]] | None = None,
    on_saved: OnSaved | None = None,
    csv_dialect: str = "plain",
) -> BatchSummary:
    """Score what is new in `inputs` with `engine`; write OUT/<name>.json, errors.jsonl and
    summary.csv. `fingerprint(path)` decides what is already scored (coach.core.Fingerprints);
    `on_saved(json_path, result)` is called for every result in OUT after this run, scored
    or skipped (the store catches up from it)."""
    started = time.time()
    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    paths = discover(inputs)
    if not paths:
        raise CoachError("no audio files found in the given paths")
    summary = BatchSummary()
    with batch_lock(out_dir):
        for stale in out_dir.glob(".*.tmp"):  # left by a run killed mid-write
            stale.unlink(missing_ok=True)
        names = output_names(paths, out_dir)
        jobs: list[Job] = []
        for path in paths:
            fp = fingerprint(path)
            existing = read_result(out_dir / names[path])
            if fp and not force and existing is not None and existing.fingerprint == fp:
                summary.skipped.append(path)
                summary.results[names[path]] = existing
            else:
                meta = meta_for(path) if meta_for else {}
                jobs.append(Job(path, fp or "", meta))
        _score(jobs, out_dir, names, engine, summary, progress)
        everything = results_in(out_dir)
        write_summary_csv(out_dir / "summary.csv", everything, csv_dialect)
        if on_saved:
            for name, result in everything.items():
                on_saved(out_dir / name, result)
    summary.wall_s = time.time() - started
    return summary


def _score(jobs: list[Job], out_dir: Path, names: dict[Path, str], engine: Engine,
           summary: BatchSummary, progress: bool) -> None:
    errors_path = out_dir / "errors.jsonl"
    bar = tqdm(
        total=len(jobs) + len(summary.skipped), initial=len(summary.skipped), unit="call",
        disable=not progress, desc="scoring", file=sys.stderr, dynamic_ncols=True,
    )
    with errors_path.open("w", encoding="utf-8") as errors_file:

        def record(job: Job, result: CallResult | None, error: str | None) -> None:
            if result is not None:
                result.extra["source_path"] = os.path.abspath(job.path)
                target = out_dir / names[job.path]
                write_atomic(target, result.to_json())
                summary.scored.append(job.path)
                summary.results[names[job.path]] = result
            else:
                reason = error or f"{job.path}: unknown error"
                summary.failed.append((job.path, reason))
                row = ErrorRow(str(job.path), reason, time.strftime("%Y-%m-%dT%H:%M:%S%z"))
                errors_file.write(row.to_json() + "\n")
                errors_file.flush()
                bar.write(f"coach: {reason}", file=sys.stderr)
            bar.set_postfix_str(job.path.name[-30:])
            bar.update(1)

        try:
            with log_above_bar():
                engine.run(jobs, record)
        finally:
            bar.close()
