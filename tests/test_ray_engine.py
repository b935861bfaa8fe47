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
from dataclasses import asdict
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


def test_ray_engine_matches_local_engine(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'coach[ray]')")
    calls = tmp_path / "calls"
    calls.mkdir()
    for name in NAMES:
        shutil.copy(CALLS / name, calls / name)
    (calls / "broken.wav").write_bytes(b"RIFF....not audio")
    local, ray_out = tmp_path / "local", tmp_path / "ray"

    proc = run_coach("score", str(calls), "-o", str(local), "--jobs", "2", "--quiet")
    assert proc.returncode == 1, proc.stderr  # broken.wav fails, the rest is scored
    proc = run_coach("score", str(calls), "-o", str(ray_out), "--engine", "ray")
    assert proc.returncode == 1, proc.stderr
    assert "scoring" in proc.stderr  # the same progress bar
    assert "Scored 3 call(s)" in proc.stdout

    by_local, by_ray = results(local), results(ray_out)
    assert sorted(by_ray) == sorted(by_local) == sorted(f"{Path(n).stem}.json" for n in NAMES)
    for name, expected in by_local.items():
        got = by_ray[name]
        assert got["call"] == expected["call"]  # the path as given, not a worker's copy
        assert got["events"] == expected["events"], name
        assert got["score"] == expected["score"], name
        for key in set(expected) - BOOKKEEPING:
            assert got[key] == expected[key], f"{name}: {key}"
        assert got["pid"] != expected["pid"]
    assert any(r["events"] for r in by_ray.values())  # the comparison is not vacuous

    # The same side outputs: errors.jsonl, summary.csv, the results store, the report.
    def errors(out: Path) -> list[tuple[str, str]]:
        rows = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
        return [(row["call"], row["error"]) for row in rows]

    assert errors(ray_out) == errors(local)  # the same message, naming the file as given
    assert [Path(call).name for call, _ in errors(ray_out)] == ["broken.wav"]
    assert len((ray_out / "summary.csv").read_text().splitlines()) == 1 + len(NAMES)
    with sqlite3.connect(ray_out / "coach.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM calls").fetchone()[0] == len(NAMES)
    assert (ray_out / "report.html").is_file()

    # Resume: a second run finds everything up to date and does not even start Ray.
    again = run_coach("score", str(calls), "-o", str(ray_out), "--engine", "ray")
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


def test_run_ray_streams_results_and_reuses_one_model_per_actor(local_ray, tmp_path):
    """The API the batch runner uses: one callback per call, as each finishes."""
    from coach.engines.ray_engine import RayOptions, run_ray
    from coach.scorer import ScoreOptions

    paths = [CALLS / "forbidden_agent.wav", CALLS / "clean_call.wav", tmp_path / "missing.wav"]
    paths += [CALLS / "clean_call.wav"]  # twice: the same actor scores it again
    seen: list[tuple[Path, dict | None, str | None]] = []
    stats = run_ray(
        paths,
        ScoreOptions(),
        None,
        lambda p, r, e: seen.append((p, r, e)),
        RayOptions(actors=1),
    )
    assert [p for p, _, _ in seen] and sorted(map(str, (p for p, _, _ in seen))) == sorted(map(str, paths))
    assert all(any(p is q for q in paths) for p, _, _ in seen)  # the caller's own Path objects
    assert stats.actors == 1 and not stats.started_local and stats.ready_s <= stats.total_s
    assert local_ray.is_initialized()  # not ours to stop
    ok = [(p, r) for p, r, e in seen if r is not None]
    assert len(ok) == 3 and len({r["pid"] for _, r in ok}) == 1  # one model, loaded once
    for path, result in ok:
        assert result["call"] == str(path)
    (error,) = [e for p, r, e in seen if r is None]
    assert "missing.wav" in error


def test_shipped_audio_gives_the_same_result(local_ray, scored, tmp_path):
    """As for a remote cluster: the recording goes as bytes, the result names the original."""
    from coach.engines.ray_engine import RayOptions, run_ray
    from coach.scorer import ScoreOptions

    seen = {}
    stats = run_ray(
        [CALLS / "forbidden_agent.wav"],
        ScoreOptions(),
        None,
        lambda p, r, e: seen.update({p: (r, e)}),
        RayOptions(actors=1, ship_audio=True),
    )
    assert stats.shipped_audio
    ((result, error),) = seen.values()
    assert error is None and result["call"] == str(CALLS / "forbidden_agent.wav")
    expected = scored("forbidden_agent.wav")
    assert result["events"] == expected["events"] and result["score"] == expected["score"]
    assert result["fingerprint"] == expected["fingerprint"]


def test_rules_and_scorecard_are_shipped_to_workers(tmp_path):
    from coach.engines.ray_engine import _pack_files, _unpack_files
    from coach.scorer import ScoreOptions

    rules = tmp_path / "company"
    (rules / "ru").mkdir(parents=True)
    (rules / "ru" / "x.yaml").write_text("id: x\n", encoding="utf-8")
    card = tmp_path / "card.yaml"
    card.write_text("weights: {}\n", encoding="utf-8")
    options = ScoreOptions(rules_dirs=[str(rules)], scorecard=str(card))
    files = _pack_files(options)
    assert set(files) == {"rules0/ru/x.yaml", "scorecard/card.yaml"}
    there = _unpack_files(options, files, tmp_path / "worker")
    assert Path(there.rules_dirs[0], "ru", "x.yaml").read_text() == "id: x\n"
    assert Path(there.scorecard).read_text() == "weights: {}\n"
    assert there.model == options.model and there.language == options.language


def test_gpu_actors_run_whisper_on_cuda():
    from coach.engines.ray_engine import _on_gpu
    from coach.scorer import ScoreOptions

    options = ScoreOptions(beam_size=2)
    on_gpu = _on_gpu(options)
    assert on_gpu.transcriber_options().device == "cuda"
    assert on_gpu.transcriber_options().beam_size == 2
    assert asdict(on_gpu) == asdict(options)  # same fingerprint, so resume still works


def test_missing_ray_says_how_to_install(monkeypatch):
    from coach.engines import ray_engine

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(CoachError, match=r"pip install 'coach\[ray\]'"):
        ray_engine.run_ray([CALLS / "clean_call.wav"], object(), None, lambda *a: None)
