"""Throughput of `coach score --engine local --jobs J` vs `--engine ray` on this machine.

    python bench/scale.py [--copies N] [--jobs 2] [--address ADDR] [--json FILE]

Makes N copies of every fixture call (tests/fixtures/calls/*.wav) in a
temporary folder and scores the folder twice with the real CLI, each time
into a fresh OUT (so nothing is skipped by resume): once with the local
engine and `--jobs J`, once with the Ray engine (a private local Ray instance
unless --address is given). Both runs include starting Python and loading the
model, as a user sees it. Then it measures what Ray adds at start-up: the
same two commands on a single call, and, in-process, how long `ray.init` and
the first actor's model load take.

Prints calls/s and x real time per engine, and the throughput ratio ray/local.
On a 2-core machine expect Ray to be no faster (same cores, more overhead);
its point is more machines, not this one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CALLS = ROOT / "tests" / "fixtures" / "calls"


def wav_seconds(path: Path) -> float:
    try:
        with wave.open(str(path)) as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError):
        return 0.0


def make_corpus(folder: Path, copies: int, source: Path) -> list[Path]:
    originals = sorted(p for p in source.glob("*.wav") if p.is_file())
    if not originals:
        sys.exit(f"bench: no fixture calls in {source}")
    out = []
    for k in range(copies):
        for p in originals:
            target = folder / f"c{k:03d}_{p.name}"
            try:
                target.hardlink_to(p)
            except OSError:
                shutil.copy(p, target)
            out.append(target)
    return out


def score(inputs: list[str], out: Path, engine_args: list[str]) -> float:
    """Wall seconds of one `coach score` run into a fresh OUT."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "coach", "score", *inputs, "-o", str(out), "--quiet"]
    cmd += ["--no-report", "--language", "ru", *engine_args]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"bench: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall


def ray_startup_breakdown(call: Path, address: str | None) -> dict[str, float]:
    """In-process: ray.init, first actor ready (model loaded), one call, vs a local model load."""
    from coach import Coach, CoachConfig
    from coach.engines import Job
    from coach.engines.ray import RayEngine, RayOptions

    config = CoachConfig(language="ru")
    started = time.perf_counter()
    Coach.load(config.with_threads(1))
    local_load = time.perf_counter() - started
    engine = RayEngine(config, address, RayOptions(actors=1))
    engine.run([Job(call)], lambda *a: None)
    stats = engine.stats
    return {
        "local_model_load_s": round(local_load, 2),
        "ray_init_s": round(stats.init_s, 2),
        "ray_first_actor_ready_s": round(stats.ready_s, 2),
        "ray_one_call_total_s": round(stats.total_s, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3, help="copies of each fixture call")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs for the local engine")
    parser.add_argument("--address", default=None, help="Ray cluster (default: local instance)")
    parser.add_argument("--calls", type=Path, default=CALLS, help="folder of .wav calls")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--skip-startup", action="store_true", help="only the throughput comparison")
    args = parser.parse_args()
    try:
        import ray  # noqa: F401
    except ImportError:
        sys.exit("bench: ray is not installed: pip install 'coach[ray]'")

    work = Path(tempfile.mkdtemp(prefix="coach-bench-"))
    try:
        (work / "calls").mkdir()
        corpus = make_corpus(work / "calls", args.copies, args.calls)
        audio_s = sum(wav_seconds(p) for p in corpus)
        ray_args = ["--engine", "ray"] + (["--address", args.address] if args.address else [])
        print(
            f"{len(corpus)} calls ({audio_s / 60:.1f} min of audio) = {args.copies} copies of "
            f"{len(corpus) // args.copies} fixture calls",
            flush=True,
        )
        figures: dict[str, object] = {"calls": len(corpus), "audio_s": round(audio_s, 1)}
        rows = []
        for label, engine_args in (
            (f"local --jobs {args.jobs}", ["--jobs", str(args.jobs)]),
            ("ray", ray_args),
        ):
            wall = score([str(work / "calls")], work / "out", engine_args)
            rows.append((label, wall))
            print(
                f"  {label:16} {wall:7.1f} s  {len(corpus) / wall:6.3f} calls/s  "
                f"{audio_s / wall:6.1f}x real time",
                flush=True,
            )
        (local_label, local_wall), (_, ray_wall) = rows
        ratio = local_wall / ray_wall
        print(f"throughput ratio ray / {local_label}: {ratio:.2f}")
        figures.update(local_wall_s=round(local_wall, 2), ray_wall_s=round(ray_wall, 2))
        figures.update(ratio_ray_over_local=round(ratio, 3), jobs=args.jobs)

        if not args.skip_startup:
            one = [str(corpus[0])]
            local_one = score(one, work / "out1", ["--jobs", "1"])
            ray_one = score(one, work / "out1", ray_args)
            print(
                f"start-up, one call end to end: local {local_one:.1f} s, ray {ray_one:.1f} s "
                f"(Ray adds {ray_one - local_one:+.1f} s)"
            )
            breakdown = ray_startup_breakdown(corpus[0], args.address)
            print(
                "  in-process: ray.init {ray_init_s} s; first actor with its model "
                "{ray_first_actor_ready_s} s (a local model load alone: "
                "{local_model_load_s} s)".format(**breakdown)
            )
            figures.update(local_one_call_s=round(local_one, 2), ray_one_call_s=round(ray_one, 2))
            figures.update(breakdown)
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
