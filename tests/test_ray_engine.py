"""`coach score --engine ray` on a local Ray instance gives the local engine's results.

Run as a QA user runs it (the CLI in a subprocess), on the fixture calls: the
per-call JSON of both engines must agree on everything the scoring decides
(transcript, events, metrics, score, fingerprint); only the bookkeeping fields
(when, how long, which process) may differ. Resume, the results store and the
report must work as with the local engine.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from coach.errors import CoachError
from tests.conftest import CALLS

COACH = [sys.executable, "-m", "coach"]
NAMES = ["forbidden_agent.wav", "interruption.wav", "clean_call.wav"]
BOOKKEEPING = {"scored_at", "scoring_seconds", "pid"}


def run_coach(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*COACH, *args], capture_output=True, text=True, timeout=timeout)


def results(out: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*.json"))}


@pytest.mark.slow
def test_local_jobs_and_ray_engines_give_identical_results(tmp_path):
    """The same calls scored inline with all cores (split between model replicas decoding
    at once: CoachConfig.decode_workers), by `--jobs 2` (one thread per worker) and by Ray
    actors (whose workers run with OMP_NUM_THREADS=1) are byte-identical in everything the
    scoring decides: the numerical path is pinned (coach.numerics)."""
    pytest.importorskip("ray", reason="ray is not installed (pip install 'coach[ray]')")
    calls = tmp_path / "calls"
    calls.mkdir()
    for name in NAMES:
        shutil.copy(CALLS / name, calls / name)
    (calls / "broken.wav").write_bytes(b"RIFF....not audio")
    inline, jobs, ray_out = tmp_path / "inline", tmp_path / "jobs", tmp_path / "ray"

    proc = run_coach("score", str(calls), "-o", str(inline), "--language", "ru", "--quiet")
    assert proc.returncode == 1, proc.stderr  # broken.wav fails, the rest is scored
    proc = run_coach("score", str(calls), "-o", str(jobs), "--language", "ru", "--jobs", "2", "--quiet")
    assert proc.returncode == 1, proc.stderr
    proc = run_coach("score", str(calls), "-o", str(ray_out), "--language", "ru", "--engine", "ray")
    assert proc.returncode == 1, proc.stderr
    assert "scoring" in proc.stderr  # the same progress bar
    assert "Scored 3 call(s)" in proc.stdout

    by_inline, by_jobs, by_ray = results(inline), results(jobs), results(ray_out)
    assert sorted(by_ray) == sorted(by_jobs) == sorted(by_inline) == sorted(
        f"{Path(n).stem}.json" for n in NAMES)
    for name, expected in by_inline.items():
        for engine, got in (("--jobs 2", by_jobs[name]), ("ray", by_ray[name])):
            assert got["call"] == expected["call"]  # the path as given, not a worker's copy
            assert got["transcript"] == expected["transcript"], f"{engine} {name}"
            assert got["events"] == expected["events"], f"{engine} {name}"
            assert got["score"] == expected["score"], f"{engine} {name}"
            for key in set(expected) - BOOKKEEPING:
                assert got[key] == expected[key], f"{engine} {name}: {key}"
            assert got["pid"] != expected["pid"]
    assert any(r["events"] for r in by_ray.values())  # the comparison is not vacuous

    # The same side outputs: errors.jsonl, summary.csv, the results store, the report.
    def errors(out: Path) -> list[tuple[str, str]]:
        rows = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
        return [(row["call"], row["error"]) for row in rows]

    assert errors(ray_out) == errors(jobs) == errors(inline)  # the same message, naming the file
    assert [Path(call).name for call, _ in errors(ray_out)] == ["broken.wav"]
    assert len((ray_out / "summary.csv").read_text().splitlines()) == 1 + len(NAMES)
    with sqlite3.connect(ray_out / "coach.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM calls").fetchone()[0] == len(NAMES)
    assert (ray_out / "report.html").is_file()

    # Resume: a second run finds everything up to date and does not even start Ray.
    again = run_coach("score", str(calls), "-o", str(ray_out), "--language", "ru", "--engine", "ray")
    assert f"skipped {len(NAMES)} already scored" in again.stdout
    assert results(ray_out) == by_ray


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the API tests (run_ray uses an instance it finds running)."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'coach[ray]')")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_engine_streams_results_and_reuses_one_model_per_actor(local_ray, tmp_path):
    """The protocol the batch runner uses: one callback per job, as each finishes."""
    from coach import CoachConfig
    from coach.engines import Job
    from coach.engines.ray import RayEngine, RayOptions

    paths = [CALLS / "forbidden_agent.wav", CALLS / "clean_call.wav", tmp_path / "missing.wav"]
    paths += [CALLS / "clean_call.wav"]  # twice: the same actor scores it again
    jobs = [Job(p) for p in paths]
    seen: list = []
    engine = RayEngine(CoachConfig(language="ru"), options=RayOptions(actors=1))
    engine.run(jobs, lambda j, r, e: seen.append((j, r, e)))
    stats = engine.stats
    assert sorted(map(str, (j.path for j, _, _ in seen))) == sorted(map(str, paths))
    assert all(any(j is q for q in jobs) for j, _, _ in seen)  # the caller's own jobs
    assert stats.actors == 1 and not stats.started_local and stats.ready_s <= stats.total_s
    assert local_ray.is_initialized()  # not ours to stop
    ok = [(j, r) for j, r, e in seen if r is not None]
    assert len(ok) == 3 and len({r.get("pid") for _, r in ok}) == 1  # one model, loaded once
    for job, result in ok:
        assert result.call == str(job.path)
    (error,) = [e for j, r, e in seen if r is None]
    assert "missing.wav" in error


@pytest.mark.slow
def test_shipped_audio_gives_the_same_result(local_ray, coach, tmp_path):
    """As for a remote cluster: the recording goes as bytes, the result names the original."""
    from coach.engines import Job
    from coach.engines.ray import RayEngine, RayOptions

    seen = {}
    call = CALLS / "forbidden_agent.wav"
    fp = coach.fingerprint_for(call)
    engine = RayEngine(coach.config, options=RayOptions(actors=1, ship_audio=True))
    engine.run([Job(call, fp)], lambda j, r, e: seen.update({j.path: (r, e)}))
    assert engine.stats.shipped_audio
    ((result, error),) = seen.values()
    assert error is None and result.call == str(call)
    expected = coach.score(call, fp).to_dict()
    got = result.to_dict()
    assert got["transcript"] == expected["transcript"]
    assert got["events"] == expected["events"] and got["score"] == expected["score"]
    assert got["fingerprint"] == expected["fingerprint"] == fp


def test_rules_and_scorecard_are_shipped_to_workers(tmp_path):
    from coach import CoachConfig
    from coach.engines.ray import _pack_files, _unpack_files

    rules = tmp_path / "company"
    (rules / "ru").mkdir(parents=True)
    (rules / "ru" / "x.yaml").write_text("id: x\n", encoding="utf-8")
    card = tmp_path / "card.yaml"
    card.write_text("weights: {}\n", encoding="utf-8")
    options = CoachConfig(rules_dirs=[str(rules)], scorecard=str(card))
    files = _pack_files(options)
    assert set(files) == {"rules0/ru/x.yaml", "scorecard/card.yaml"}
    there = _unpack_files(options, files, tmp_path / "worker")
    assert Path(there.rules_dirs[0], "ru", "x.yaml").read_text() == "id: x\n"
    assert Path(there.scorecard).read_text() == "weights: {}\n"
    assert there.model == options.model and there.language == options.language


def test_cuda_is_an_option_in_the_fingerprint():
    """The device changes the numbers, so it is chosen by the user and fingerprinted; Ray
    reserves GPUs only for --device cuda (never because a node happens to have one)."""
    from coach import CoachConfig
    from coach.core import transcriber_options

    cpu, gpu = CoachConfig(beam_size=2), CoachConfig(beam_size=2, device="cuda")
    assert transcriber_options(gpu).device == "cuda" and transcriber_options(gpu).beam_size == 2
    assert transcriber_options(gpu).compute_type == "int8_float16"
    assert cpu.result_options() != gpu.result_options()
    assert CoachConfig(cpu_threads=1).result_options() == CoachConfig(cpu_threads=2).result_options()


def test_missing_ray_says_how_to_install(monkeypatch):
    from coach import CoachConfig
    from coach.engines import Job
    from coach.engines.ray import RayEngine

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(CoachError, match=r"pip install 'coach\[ray\]'"):
        RayEngine(CoachConfig()).run([Job(CALLS / "clean_call.wav")], lambda *a: None)
