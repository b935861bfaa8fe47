"""`coach score` for many files: discovery, resume, output names, files that survive a crash.

Guarantees:
- each per-call JSON is written atomically (temp file + rename), so a kill
  never leaves half a file;
- a re-run skips calls whose JSON carries the same fingerprint (same audio
  content, model, rules, thresholds and options), so a batch killed with
  SIGKILL and re-run scores every call exactly once;
- no result overwrites another: `OUT/<stem>.json` belongs to one input; a
  different input with the same stem (in this run or an earlier one) gets
  `<stem>-<8 hex of its path>.json` (coach.outputs.result_names);
- a bad input is one row in errors.jsonl (written as it happens) and the
  rest of the batch carries on;
- one batch at a time per OUT (a lock file), so summary.csv and the store are
  never written by two runs at once; summary.csv is rebuilt from every result
  in OUT, not just this run's, and the store catches up with the files
  (coach.batch_outputs).
Only this process writes files; engines (coach.engines) just score.
"""

from __future__ import annotations

import fcntl
import json
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

from coach.batch_outputs import BatchOutputs
from coach.contract import CallResult, ErrorRow
from coach.engines import Engine, Job
from coach.errors import CoachError
from coach.metadata import MetadataSource
from coach.outputs import OutputError, check_output_dir

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = {
    ".wav", ".wave", ".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac", ".wma",
    ".webm", ".mka", ".mp4",
}
LOCK_NAME = ".coach.lock"

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


def read_result(path: Path) -> tuple[CallResult, dict[str, Any]] | None:
    """A result file as the typed contract and as written (None: missing or not a result)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return CallResult.from_dict(doc), doc
    except (OSError, ValueError, TypeError):
        return None


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
    metadata: MetadataSource | None = None,
    csv_style: str = "plain",
) -> BatchSummary:
    """Score what is new in `inputs` with `engine`; OUT gets a JSON per call (with its
    metadata), errors.jsonl, summary.csv over every result in OUT, and the store.
    `fingerprint(path)` decides what is already scored (coach.core.Fingerprints)."""
    started = time.time()
    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    paths = discover(inputs)
    if not paths:
        raise CoachError("no audio files found in the given paths")
    summary = BatchSummary()
    with batch_lock(out_dir):
        outputs = BatchOutputs(out_dir, csv_style=csv_style, metadata=metadata)
        outputs.prepare(paths)
        jobs: list[Job] = []
        for path in paths:
            fp = fingerprint(path)
            existing = read_result(outputs.json_path(path))
            if fp and not force and existing is not None and existing[0].fingerprint == fp:
                summary.skipped.append(path)
                outputs.refresh(path, existing[1])  # new metadata only; never a re-score
                summary.results[outputs.names[path]] = CallResult.from_dict(existing[1])
            else:
                jobs.append(Job(path, fp or ""))
        _score(jobs, out_dir, outputs, engine, summary, progress)
        outputs.finish()
    summary.wall_s = time.time() - started
    return summary


def _score(jobs: list[Job], out_dir: Path, outputs: BatchOutputs, engine: Engine,
           summary: BatchSummary, progress: bool) -> None:
    errors_path = out_dir / "errors.jsonl"
    bar = tqdm(
        total=len(jobs) + len(summary.skipped), initial=len(summary.skipped), unit="call",
        disable=not progress, desc="scoring", file=sys.stderr, dynamic_ncols=True,
    )
    outputs.warn = lambda message: bar.write(f"coach: warning: {message}", file=sys.stderr)
    with errors_path.open("w", encoding="utf-8") as errors_file:

        def record(job: Job, result: CallResult | None, error: str | None) -> None:
            if result is not None:
                doc = result.to_dict()
                outputs.write(job.path, doc)  # adds the metadata; the store follows
                summary.scored.append(job.path)
                summary.results[outputs.names[job.path]] = CallResult.from_dict(doc)
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
