"""The local engine: score in this process, or in a pool of `--jobs` worker processes.

In this process, with a model split into replicas (`decode_workers`, one per core), two
calls are scored at once on the one loaded Coach: a call spends much of its time in steps
that keep one core busy (voice activity and language detection on one channel, the
diarizer, the rules, a 30 s second reading with beam search), and the other call's
decoding fills the idle core. On 14 mono 8 kHz calls the machine was 60 % busy one call at
a time. Results do not change: each call's numbers do not depend on which replica ran
them (coach.numerics), and the rules phase takes turns (`Coach.rules_lock`).

Each worker loads its own Coach once (a spawned process: CTranslate2's threads
do not survive fork) and scores one call at a time with `cores // jobs`
threads; the numerical path is pinned (coach.numerics), so the split changes
speed, never results. Workers die with their parent (Linux parent-death
signal, plus a watchdog thread elsewhere), and `--jobs` is capped by cores and
memory: each worker holds a model (~450 MB), and more workers than cores only
fight over them.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

from coach.config import CoachConfig
from coach.engines import Job, OnResult, score_safely

log = logging.getLogger(__name__)

WORKER_MEMORY_BYTES = 450 * 2**20  # measured: 12 workers used about 5.2 GB


def available_memory() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else None (no cap by memory)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def plan_jobs(requested: int, n_calls: int) -> tuple[int, str | None]:
    """How many workers to start (capped by cores, free memory and calls), and a warning
    when the cap is below what was asked for."""
    cores = os.cpu_count() or 1
    memory = available_memory()
    by_memory = max(1, memory // WORKER_MEMORY_BYTES) if memory else requested
    allowed = max(1, min(requested, cores, by_memory))
    warning = None
    if allowed < requested:
        reasons = [f"{cores} cores"] if cores < requested else []
        if by_memory < requested:
            reasons.append(f"{(memory or 0) // 2**20} MB free memory")
        warning = (f"--jobs {requested}: using {allowed} worker(s) ({', '.join(reasons)}; "
                   "each worker loads its own model)")
    return max(1, min(allowed, n_calls)), warning


@dataclass
class LocalEngine:
    """`jobs` == 1: score inline with `coach` (loaded on first use); more: a process pool."""

    config: CoachConfig
    jobs: int = 1
    coach: object | None = None  # a loaded Coach to reuse inline (tests, the Python API)
    name: str = "local"
    # Calls scored at once inline (see the module docstring); 0: two when the model has
    # several replicas, else one. Never changes results, only the wall time.
    calls_at_once: int = 0

    def run(self, jobs: Sequence[Job], on_result: OnResult) -> None:
        if not jobs:
            return
        workers, warning = plan_jobs(self.jobs, len(jobs))
        if warning:
            log.warning(warning)
        if workers == 1:
            coach = self._inline_coach()
            at_once = min(len(jobs), self.calls_at_once or (2 if coach.transcriber.ops.workers > 1 else 1))
            if at_once == 1:
                for job in jobs:
                    on_result(job, *score_safely(coach, job))
            else:
                _run_threads(coach, jobs, at_once, on_result)
        else:
            threads = self.config.cpu_threads or max(1, (os.cpu_count() or 1) // workers)
            self._run_pool(jobs, self.config.with_threads(threads), workers, on_result)

    def _inline_coach(self):
        if self.coach is None:
            from coach.core import Coach

            self.coach = Coach.load(self.config)
        return self.coach

    @staticmethod
    def _run_pool(jobs: Sequence[Job], config: CoachConfig, workers: int, on_result: OnResult) -> None:
        context = multiprocessing.get_context("spawn")  # CTranslate2 threads do not survive fork
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                 initargs=(config, os.getpid())) as pool:
            pending: dict[Future, Job] = {}
            queue = list(jobs)
            while queue or pending:
                while queue and len(pending) < workers * 2:
                    job = queue.pop(0)
                    pending[pool.submit(_score_in_worker, job)] = job
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    job = pending.pop(future)
                    try:
                        result, error = future.result()
                    except Exception as exc:  # a worker died (e.g. killed for memory)
                        result, error = None, f"{job.path}: worker failed: {type(exc).__name__}: {exc}"
                    on_result(job, result, error)


def _run_threads(coach, jobs: Sequence[Job], at_once: int, on_result: OnResult) -> None:
    """Score `at_once` calls at a time on one Coach; results reported here, in this thread, as
    each finishes.

    Ctrl-C starts no more calls and finishes the ones in hand, whose results are reported as
    usual (nothing scored is lost; a second Ctrl-C quits at once). Python must not exit while a
    thread is inside CTranslate2 (the process aborts), so any other failure also waits for
    the calls in hand before it is raised."""
    todo: queue.SimpleQueue[Job] = queue.SimpleQueue()
    done: queue.SimpleQueue[tuple[Job, object, str | None]] = queue.SimpleQueue()
    for job in jobs:
        todo.put(job)

    def work() -> None:
        while True:
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((job, *score_safely(coach, job)))
            except BaseException as exc:  # never leave the reporting thread waiting for this call
                done.put((job, None, f"{job.path}: scoring thread failed: {type(exc).__name__}: {exc}"))

    threads = [threading.Thread(target=work, name=f"coach-call-{n}", daemon=True) for n in range(at_once)]
    for thread in threads:
        thread.start()
    try:
        for _ in jobs:
            on_result(*done.get())
    except KeyboardInterrupt:
        _drain(todo)
        busy = sum(t.is_alive() for t in threads)
        if busy:
            log.warning("interrupted: finishing the %d call(s) in hand; Ctrl-C again to quit now", busy)
        try:
            while any(t.is_alive() for t in threads) or not done.empty():
                try:
                    on_result(*done.get(timeout=0.2))
                except queue.Empty:
                    pass
        except KeyboardInterrupt:
            print("coach: interrupted", file=sys.stderr, flush=True)
            os._exit(130)
        raise
    except BaseException:
        _drain(todo)
        for thread in threads:
            thread.join()
        raise


def _drain(todo: queue.SimpleQueue) -> None:
    """Take every call not started yet off the queue."""
    while True:
        try:
            todo.get_nowait()
        except queue.Empty:
            return


# --- worker side ---------------------------------------------------------------------------
_WORKER = None


def _init_worker(config: CoachConfig, parent_pid: int) -> None:
    global _WORKER
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from coach.core import Coach

    _WORKER = Coach.load(config)


def _score_in_worker(job: Job):
    return score_safely(_WORKER, job)


def _die_with_parent(parent_pid: int) -> None:
    """A worker must not outlive a parent killed with SIGKILL (it would score for nobody)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(1.0)

    threading.Thread(target=watch, name="coach-parent-watch", daemon=True).start()
