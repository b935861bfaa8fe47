"""`coach score` for many files: discovery, resume, parallel jobs, outputs that survive a crash.

Guarantees:
- each per-call JSON is written atomically (temp file + rename), so a kill
  never leaves half a file;
- a re-run skips calls whose JSON carries the same fingerprint (same audio,
  model, rules, thresholds and options), so a batch killed with SIGKILL and
  re-run scores every call exactly once;
- a bad input is one row in errors.jsonl (written as it happens) and the
  rest of the batch carries on.
Only the parent process writes files; workers just score.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from coach.errors import AudioError, CoachError
from coach.scorer import CallScorer, ScoreOptions, score_file

__all__ = ["BatchSummary", "CallScorer", "ScoreOptions", "run_batch", "score_file"]

AUDIO_EXTENSIONS = {
    ".wav", ".wave", ".mp3", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac", ".wma",
    ".webm", ".mka", ".mp4",
}


@dataclass
class BatchSummary:
    scored: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    results: dict[str, dict] = field(default_factory=dict)  # json path -> result
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


def output_names(paths: list[Path]) -> dict[Path, str]:
    """OUT/<stem>.json as the contract says; a stem shared by two inputs gets a path hash."""
    stems: dict[str, int] = {}
    for path in paths:
        stems[path.stem] = stems.get(path.stem, 0) + 1
    names = {}
    for path in paths:
        if stems[path.stem] == 1:
            names[path] = f"{path.stem}.json"
        else:
            tag = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:8]
            names[path] = f"{path.stem}-{tag}.json"
    return names


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_result(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --- worker side ---------------------------------------------------------------------------
_WORKER: CallScorer | None = None


def _init_worker(options: ScoreOptions) -> None:
    global _WORKER
    _WORKER = CallScorer(options)


def _score_in_worker(path: Path, fingerprint: str) -> tuple[dict | None, str | None]:
    assert _WORKER is not None
    return score_safely(_WORKER, path, fingerprint)


def score_safely(scorer: CallScorer, path: Path, fingerprint: str):
    try:
        return scorer.score(path, fingerprint), None
    except AudioError as exc:
        return None, str(exc)
    except CoachError as exc:
        return None, f"{path}: {exc}"
    except Exception as exc:  # one broken call must not stop the batch
        return None, f"{path}: unexpected {type(exc).__name__}: {exc}"


# --- the batch -----------------------------------------------------------------------------
def run_batch(
    inputs: Iterable[str | Path],
    out_dir: Path,
    options: ScoreOptions,
    jobs: int = 1,
    force: bool = False,
    progress: bool = True,
    engine: str = "local",
    ray_address: str | None = None,
    on_result: Callable[[Path, dict], None] | None = None,
) -> BatchSummary:
    started = time.time()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(".*.tmp"):  # left by a run killed mid-write
        stale.unlink(missing_ok=True)
    paths = discover(inputs)
    if not paths:
        raise CoachError("no audio files found in the given paths")
    names = output_names(paths)
    summary = BatchSummary()
    cores = os.cpu_count() or 1
    jobs = max(1, min(jobs, len(paths)))
    per_job = replace(options, cpu_threads=options.cpu_threads or max(1, cores // jobs))

    # The parent needs the config fingerprint (model hash, rules) to decide what to skip;
    # with one job it also does the scoring, so it loads the full scorer once.
    scorer = CallScorer(per_job)
    errors_path = out_dir / "errors.jsonl"
    errors_file = errors_path.open("w", encoding="utf-8")

    todo: list[tuple[Path, str]] = []
    for path in paths:
        fp = scorer.fingerprint_for(path)
        existing = read_result(out_dir / names[path])
        if fp and not force and existing and existing.get("fingerprint") == fp:
            summary.skipped.append(path)
            summary.results[names[path]] = existing
        else:
            todo.append((path, fp or ""))

    bar = tqdm(
        total=len(paths), initial=len(summary.skipped), unit="call", disable=not progress,
        desc="scoring", file=sys.stderr, dynamic_ncols=True,
    )

    def record(path: Path, result: dict | None, error: str | None) -> None:
        if result is not None:
            target = out_dir / names[path]
            write_atomic(target, json.dumps(result, ensure_ascii=False, indent=2) + "\n")
            summary.scored.append(path)
            summary.results[names[path]] = result
            if on_result:
                on_result(target, result)
        else:
            reason = error or "unknown error"
            summary.failed.append((path, reason))
            row = {"call": str(path), "error": reason,
                   "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            errors_file.write(json.dumps(row, ensure_ascii=False) + "\n")
            errors_file.flush()
            bar.write(f"coach: {reason}", file=sys.stderr)
        bar.update(1)

    try:
        if engine == "ray":
            from coach.engines.ray_engine import run_ray

            fps = dict(todo)
            run_ray([p for p, _ in todo], per_job, ray_address,
                    lambda p, r, e: record(p, _with_fp(r, fps.get(p)), e))
        elif jobs == 1:
            for path, fp in todo:
                bar.set_postfix_str(path.name[-30:])
                record(path, *score_safely(scorer, path, fp))
        else:
            del scorer  # free its memory: the workers load their own
            _run_parallel(todo, per_job, jobs, record)
    finally:
        bar.close()
        errors_file.close()
        write_summary_csv(out_dir / "summary.csv", summary.results)
    summary.wall_s = time.time() - started
    return summary


def _with_fp(result: dict | None, fp: str | None) -> dict | None:
    if result is not None and fp:
        result["fingerprint"] = fp
    return result


def _run_parallel(todo, options: ScoreOptions, jobs: int, record) -> None:
    context = multiprocessing.get_context("spawn")  # CTranslate2 threads do not survive fork
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                             initargs=(options,)) as pool:
        pending: dict[Future, Path] = {}
        queue = list(todo)
        while queue or pending:
            while queue and len(pending) < jobs * 2:
                path, fp = queue.pop(0)
                pending[pool.submit(_score_in_worker, path, fp)] = path
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                path = pending.pop(future)
                try:
                    result, error = future.result()
                except Exception as exc:  # a worker died (e.g. out of memory)
                    result, error = None, f"{path}: worker failed: {type(exc).__name__}: {exc}"
                record(path, result, error)


SUMMARY_FIELDS = [
    "call", "json", "duration_s", "language", "score", "events", "critical",
    "talk_ratio_agent", "agent_wpm", "interruptions", "customer_name", "categories",
]


def write_summary_csv(path: Path, results: dict[str, dict]) -> None:
    """One row per scored call (this run's and resumed ones), written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_FIELDS)
    writer.writeheader()
    for json_name, result in sorted(results.items()):
        events = result.get("events", [])
        categories: dict[str, int] = {}
        for event in events:
            categories[event["category"]] = categories.get(event["category"], 0) + 1
        metrics = result.get("metrics", {})
        writer.writerow({
            "call": result.get("call"),
            "json": json_name,
            "duration_s": result.get("duration_s"),
            "language": result.get("language"),
            "score": result.get("score", {}).get("total"),
            "events": len(events),
            "critical": sum(1 for e in events if e.get("severity") == "critical"),
            "talk_ratio_agent": metrics.get("talk_ratio_agent"),
            "agent_wpm": metrics.get("agent_wpm"),
            "interruptions": metrics.get("interruptions"),
            "customer_name": result.get("customer_name") or "",
            "categories": ";".join(f"{k}={v}" for k, v in sorted(categories.items())),
        })
    write_atomic(path, buffer.getvalue())
