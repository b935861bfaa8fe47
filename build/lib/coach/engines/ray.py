"""`coach score --engine ray`: the same per-call scoring, spread over a Ray cluster.

Each Ray actor holds one `Coach`, so the Whisper model and the rulebooks are
loaded once per actor and reused for every call it scores. The driver keeps a
couple of calls in flight per actor and hands each result back through
`on_result` as soon as it is done (`ray.wait`), so the batch runner's progress
bar, atomic writes, errors.jsonl and resume work exactly as with the local
engine; only the place where `Coach.score` runs changes. The actors import
`coach`, which pins the numerical path (coach.numerics): a Ray worker's
OMP_NUM_THREADS=1 changes nothing.

Without an address a private local Ray instance is started (and stopped at
the end). With an address (`ray://head:10001`, `head:6379`, `auto`) coach
connects to that cluster; then, because the workers may be other machines,
it ships what they cannot see: company rule folders and the scorecard (as
bytes, unpacked per actor) and each recording (as bytes, through the object
store). coach itself, with its built-in rules, must be installed on every node
(`pip install 'coach[ray]'`); docs/report.md ("Scoring on a Ray cluster") has
the recipe.

Ray is optional (`pip install 'coach[ray]'`); it is imported only here.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from coach.config import CoachConfig
from coach.engines import Job, OnResult, score_safely
from coach.errors import CoachError

INSTALL_HINT = (
    "the Ray engine needs the 'ray' package, which is not installed: "
    "pip install 'coach[ray]' (or pip install 'ray>=2.9'), or use --engine local"
)

@dataclass
class RayOptions:
    """How the calls are spread over the cluster; every field has a sensible default.

    actors: how many scorer actors (default: as many as the cluster's CPUs, or
      GPUs, allow at `cpus_per_actor` / `gpus_per_actor` each, capped by the
      number of calls).
    cpus_per_actor: CPU threads each actor's Whisper uses and reserves
      (default 1: several single-threaded models beat one multi-threaded one
      on batch throughput).
    gpus_per_actor: GPUs each actor reserves (default: 1 with `--device cuda`,
      else 0; the device is an option because it changes the numbers).
    ship_audio: send recordings as bytes instead of paths (default: only when
      connecting to a cluster by address, whose nodes may not see our files).
    in_flight: calls queued per actor, so an actor never waits for the driver.

    The COACH_RAY_ACTORS, COACH_RAY_CPUS_PER_ACTOR, COACH_RAY_GPUS_PER_ACTOR and
    COACH_RAY_SHIP_AUDIO (0/1) environment variables set the same from outside.
    """

    actors: int | None = None
    cpus_per_actor: float | None = None
    gpus_per_actor: float | None = None
    ship_audio: bool | None = None
    in_flight: int = 2

    @classmethod
    def from_env(cls) -> RayOptions:
        def num(name: str) -> float | None:
            value = os.environ.get(name)
            if value in (None, ""):
                return None
            try:
                return float(value)
            except ValueError:
                raise CoachError(f"{name}={value!r}: expected a number") from None

        actors = num("COACH_RAY_ACTORS")
        ship = os.environ.get("COACH_RAY_SHIP_AUDIO")
        return cls(
            actors=int(actors) if actors else None,
            cpus_per_actor=num("COACH_RAY_CPUS_PER_ACTOR"),
            gpus_per_actor=num("COACH_RAY_GPUS_PER_ACTOR"),
            ship_audio=None if ship in (None, "") else ship not in ("0", "false", "no"),
        )


@dataclass
class RayRunStats:
    """Where the time went; `bench/scale.py` prints these."""

    init_s: float = 0.0  # ray.init: start a local instance or connect
    ready_s: float = 0.0  # from run start until the first actor had its model loaded
    total_s: float = 0.0
    actors: int = 0
    cpus_per_actor: float = 0.0
    gpus_per_actor: float = 0.0
    started_local: bool = False
    shipped_audio: bool = False


def import_ray() -> Any:
    """The `ray` module, or a CoachError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise CoachError(INSTALL_HINT) from exc
    return ray


# --- worker side -----------------------------------------------------------------------------


class ScorerActor:
    """One Coach per actor: the model loads once, in __init__, and stays loaded.

    Wrapped with `ray.remote` at run time (Ray is optional, so no decorator).
    """

    def __init__(self, config: CoachConfig, files: dict[str, bytes] | None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="coach-ray-"))
        if files:
            config = _unpack_files(config, files, self.tmp / "config")
        from coach.core import Coach

        self.coach = Coach.load(config)

    def ready(self) -> int:
        return os.getpid()

    def score(self, job: Job, read_path: str, audio: bytes | None) -> tuple[Any, str | None]:
        """Score one job; `read_path` is where to read it on this node, or `audio` its bytes
        when the driver shipped them. The result names the call as the job does."""
        path = Path(read_path)
        if audio is not None:
            folder = Path(tempfile.mkdtemp(dir=self.tmp))
            path = folder / job.path.name  # same name and suffix: decoders may look at it
            path.write_bytes(audio)
        try:
            result, error = score_safely(self.coach, replace(job, path=path))
        finally:
            if audio is not None:
                shutil.rmtree(path.parent, ignore_errors=True)
        if result is not None:
            result.call = str(job.path)
        if error is not None:
            error = error.replace(str(path), str(job.path))
        return result, error


def _pack_files(options: CoachConfig) -> dict[str, bytes]:
    """Company rule folders and the scorecard as {relative name: bytes}, for remote nodes."""
    files: dict[str, bytes] = {}
    for i, folder in enumerate(options.rules_dirs):
        root = Path(folder)
        if not root.is_dir():
            continue  # the scorer reports a missing folder with its own message
        for path in sorted(root.rglob("*")):
            if path.is_file():
                files[f"rules{i}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    scorecard = options.scorecard
    if scorecard and Path(scorecard).is_file():
        files[f"scorecard/{Path(scorecard).name}"] = Path(scorecard).read_bytes()
    return files


def _unpack_files(options: CoachConfig, files: dict[str, bytes], root: Path) -> CoachConfig:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    rules_dirs = [
        str(root / f"rules{i}") if (root / f"rules{i}").is_dir() else d
        for i, d in enumerate(options.rules_dirs)
    ]
    changes: dict[str, Any] = {"rules_dirs": rules_dirs}
    scorecard = options.scorecard
    if scorecard and (root / "scorecard" / Path(scorecard).name).is_file():
        changes["scorecard"] = str(root / "scorecard" / Path(scorecard).name)
    return replace(options, **changes)


# --- driver side -----------------------------------------------------------------------------


def _package_dir() -> Path:
    """The imported coach package (a checkout or site-packages alike), for workers to import."""
    return Path(__file__).resolve().parents[1]


def _init(ray: Any, address: str | None) -> bool:
    """Start or connect; True when this call did it (and so must shut it down)."""
    if ray.is_initialized():
        return False
    # Nothing leaves the machine: no usage stats, no dashboard.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.ERROR,
    }
    if address in (None, "", "local"):
        # "local" always starts a new private instance; without it ray.init() would
        # join whatever cluster `ray start` last recorded on this machine (even a dead one).
        kwargs["address"] = "local"
        # Local workers run this Python; make sure they import this same coach.
        root = str(_package_dir().parent)
        pythonpath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": pythonpath}}
    else:
        kwargs["address"] = address
        # coach is installed on every node (docs/report.md); nothing of ours is shipped.
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        hint = ""
        if os.environ.get("RAY_AUTH_MODE") is None:
            hint = (
                "; if the cluster uses token authentication, set RAY_AUTH_MODE=token and "
                "put its token in RAY_AUTH_TOKEN or ~/.ray/auth_token"
            )
        raise CoachError(f"--address {address}: cannot connect to the Ray cluster: {exc}{hint}") from exc
    except Exception as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise CoachError(f"cannot start or reach {where}: {type(exc).__name__}: {exc}") from exc
    return True


def _plan(ray: Any, n_calls: int, ro: RayOptions, cuda: bool) -> tuple[int, float, float]:
    """(actors, cpus per actor, gpus per actor) for the cluster as it is now. GPUs are
    reserved only for `--device cuda`: the device decides the numbers, so it is an option
    (in the fingerprint), never a consequence of which node picked up a call."""
    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 1)), float(resources.get("GPU", 0))
    if cuda and gpus < 1:
        raise CoachError("--device cuda: the Ray cluster has no GPU")
    gpa = ro.gpus_per_actor if ro.gpus_per_actor is not None else (1.0 if cuda else 0.0)
    cpa = ro.cpus_per_actor if ro.cpus_per_actor is not None else 1.0
    if ro.actors:
        actors = ro.actors
    elif gpa > 0:
        actors = int(gpus // gpa)
    else:
        actors = int(cpus // cpa) if cpa > 0 else int(cpus)
    return max(1, min(actors, n_calls)), cpa, gpa


@dataclass
class RayEngine:
    """Scores jobs on Ray actors (see the module docstring); `stats` holds the last run's figures."""

    config: CoachConfig
    address: str | None = None
    options: RayOptions | None = None
    name: str = "ray"
    stats: RayRunStats = field(default_factory=RayRunStats)

    def run(self, jobs: Sequence[Job], on_result: OnResult) -> None:
        """Raises CoachError when Ray is missing, the cluster cannot be reached, or no actor
        can load a Coach (e.g. the model is missing on the workers)."""
        ray = import_ray()
        ro = self.options or RayOptions.from_env()
        stats = self.stats = RayRunStats()
        started = time.perf_counter()
        if not jobs:
            return
        remote = self.address not in (None, "", "local")
        ship = ro.ship_audio if ro.ship_audio is not None else remote
        stats.shipped_audio = ship
        owns_ray = _init(ray, self.address)  # False when the caller had already started Ray
        stats.started_local = owns_ray and not remote
        stats.init_s = time.perf_counter() - started
        actors: list[Any] = []
        try:
            n, cpa, gpa = _plan(ray, len(jobs), ro, self.config.device == "cuda")
            stats.actors, stats.cpus_per_actor, stats.gpus_per_actor = n, cpa, gpa
            actor_config = self.config.with_threads(max(1, int(round(cpa))))
            files = _pack_files(self.config) if remote else None
            Actor = ray.remote(ScorerActor).options(
                num_cpus=cpa, num_gpus=gpa, max_restarts=1, max_task_retries=1
            )
            actors = [Actor.remote(actor_config, files) for _ in range(n)]
            _wait_first_ready(ray, actors)
            stats.ready_s = time.perf_counter() - started
            _dispatch(ray, actors, list(jobs), ship, ro.in_flight, on_result)
        finally:
            for actor in actors:
                try:
                    ray.kill(actor)
                except Exception:  # already gone
                    pass
            if owns_ray:
                ray.shutdown()
        stats.total_s = time.perf_counter() - started


def _wait_first_ready(ray: Any, actors: list[Any]) -> None:
    """Block until one actor has loaded its scorer; a load error becomes a CoachError."""
    refs = [a.ready.remote() for a in actors]
    while refs:
        done, refs = ray.wait(refs, num_returns=1)
        try:
            ray.get(done[0])
            return
        except Exception as exc:
            if not refs:
                raise CoachError(f"Ray workers could not load the scorer: {_cause(exc)}") from exc


def _cause(exc: BaseException) -> str:
    """The useful line of a Ray error: the original exception, not Ray's framing."""
    text = str(exc)
    for line in reversed(text.splitlines()):
        line = line.strip()
        if "Error" in line and ":" in line and not line.startswith("File "):
            return line
    return text.splitlines()[0] if text else type(exc).__name__


def _dispatch(
    ray: Any,
    actors: list[Any],
    jobs: list[Job],
    ship: bool,
    in_flight: int,
    on_result: OnResult,
) -> None:
    queue: deque[Job] = deque(jobs)
    pending: dict[Any, tuple[int, Job]] = {}
    alive = set(range(len(actors)))

    def submit(ai: int) -> None:
        while queue:
            job = queue.popleft()
            audio = None
            if ship:
                try:
                    audio = job.path.read_bytes()
                except OSError as exc:
                    on_result(job, None, f"{job.path}: cannot read: {exc.strerror}")
                    continue
            try:
                read_path = str(job.path.resolve())
            except OSError:
                read_path = str(job.path)
            ref = actors[ai].score.remote(job, read_path, audio)
            pending[ref] = (ai, job)
            return

    for ai in range(len(actors)):
        for _ in range(max(1, in_flight)):
            submit(ai)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            ai, job = pending.pop(ref)
            try:
                result, error = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                alive.discard(ai)
                result, error = None, f"{job.path}: Ray worker died: {_cause(exc)}"
            except ray.exceptions.RayError as exc:
                result, error = None, f"{job.path}: Ray task failed: {_cause(exc)}"
            on_result(job, result, error)
            if ai in alive:
                submit(ai)
            elif not alive:
                while queue:
                    lost = queue.popleft()
                    on_result(lost, None, f"{lost.path}: not scored: every Ray worker died")
            elif queue:
                submit(next(iter(alive)))
