"""The fault battery: a batch either scores a call correctly or says why not, and loses nothing.

Each case is a QA lead's bad day, run with the real CLI: output folders that
cannot take files, a disk that fills up, two inputs with one name, two runs
at once, the same rules given another way, too many jobs, a parent killed
with SIGKILL. (Damaged audio, the store, rule files and the server have their
own tests next to their code; this file keeps the batch-level cases.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CALLS

COACH = [sys.executable, "-m", "coach"]
SHORT = ["name_used.wav", "clean_call.wav"]


def run(*args: str, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*COACH, *args], capture_output=True, text=True, timeout=timeout, **kw)


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [x for x in proc.stderr.splitlines() if x.startswith("coach: error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def mount_tmpfs(where: Path, options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True)
    return proc.returncode == 0


def unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_out_is_a_file(tmp_path):
    out = tmp_path / "results"
    out.write_text("not a folder")
    one_line_error(run("score", str(CALLS / "clean_call.wav"), "-o", str(out), "--language", "ru"),
                   str(out), "not a folder")


def test_out_on_a_read_only_filesystem(tmp_path):
    out = tmp_path / "ro"
    if not mount_tmpfs(out, "ro,size=1m"):
        if os.geteuid() == 0:
            pytest.skip("cannot mount a read-only tmpfs here")
        out.chmod(0o555)  # without root, a folder we may not write into does the same
    try:
        one_line_error(run("score", str(CALLS / "clean_call.wav"), "-o", str(out), "--language", "ru"),
                       str(out), "cannot write")
    finally:
        unmount(out)


@pytest.mark.slow
def test_disk_full_is_named_and_a_rerun_catches_up(tmp_path):
    out = tmp_path / "small"
    if not mount_tmpfs(out, "size=8k"):
        pytest.skip("cannot mount a small tmpfs here")
    try:
        calls = [str(CALLS / n) for n in SHORT + ["forbidden_agent.wav"]]
        proc = run("score", *calls, "-o", str(out), "--language", "ru", "--no-report")
        assert proc.returncode == 2, proc.stderr
        assert "no space left on device" in proc.stderr and str(out) in proc.stderr
        assert "Traceback" not in proc.stderr
        subprocess.run(["mount", "-o", "remount,size=20m", str(out)], check=True)
        proc = run("score", *calls, "-o", str(out), "--language", "ru", "--no-report")
        assert proc.returncode == 0, proc.stderr
        assert len(list(out.glob("*.json"))) == 3
        with sqlite3.connect(out / "coach.sqlite") as db:
            assert db.execute("SELECT count(*) FROM calls").fetchone()[0] == 3
    finally:
        unmount(out)


@pytest.mark.slow
def test_a_later_run_never_overwrites_another_call(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    shutil.copy(CALLS / "clean_call.wav", tmp_path / "a" / "call.wav")
    shutil.copy(CALLS / "name_used.wav", tmp_path / "b" / "call.wav")
    out = tmp_path / "out"
    for folder in ("a", "b"):
        proc = run("score", str(tmp_path / folder / "call.wav"), "-o", str(out), "--language", "ru",
                   "--no-report", "--quiet")
        assert proc.returncode == 0, proc.stderr
    results = {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert len(results) == 2 and "call.json" in results  # the first keeps the contract's name
    assert {Path(r["call"]).parent.name for r in results.values()} == {"a", "b"}
    rows = (out / "summary.csv").read_text().splitlines()
    assert len(rows) == 3  # header + both calls: rebuilt from every result in OUT
    # the same input again is recognised as already scored, under its own name
    again = run("score", str(tmp_path / "b" / "call.wav"), "-o", str(out), "--language", "ru", "--no-report")
    assert "skipped 1 already scored" in again.stdout


@pytest.mark.slow
def test_a_second_run_on_the_same_out_is_refused_while_the_first_works(tmp_path):
    out = tmp_path / "out"
    first = subprocess.Popen([*COACH, "score", str(CALLS / "forbidden_agent.wav"), "-o", str(out),
                              "--language", "ru", "--no-report", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / ".coach.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        second = run("score", str(CALLS / "clean_call.wav"), "-o", str(out), "--language", "ru")
        one_line_error(second, str(out), "another 'coach score'")
    finally:
        first.wait(timeout=300)
    assert first.returncode == 0
    assert [p.name for p in out.glob("*.json")] == ["forbidden_agent.json"]


@pytest.mark.slow
def test_the_same_rules_given_another_way_do_not_force_a_rescore(tmp_path):
    rules = tmp_path / "company"
    rules.mkdir()
    card = tmp_path / "card.yaml"
    shutil.copy(Path(__file__).resolve().parents[1] / "rules" / "scorecards" / "default.yaml", card)
    out = tmp_path / "out"
    base = [str(CALLS / "name_used.wav"), "-o", str(out), "--language", "ru", "--no-report"]
    first = run("score", *base, "--rules", str(rules), "--scorecard", str(card), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    copy = tmp_path / "copy"
    shutil.copytree(rules, copy)
    card2 = tmp_path / "same-card.yaml"
    shutil.copy(card, card2)
    again = run("score", *base, "--rules", "company/../copy", "--scorecard", str(card2), cwd=tmp_path)
    assert "skipped 1 already scored" in again.stdout, again.stdout + again.stderr
    card2.write_text(card2.read_text() + "\n# a comment changes the bytes\n")
    changed = run("score", *base, "--rules", str(copy), "--scorecard", str(card2), cwd=tmp_path)
    assert "Scored 1 call(s)" in changed.stdout  # contents changed: scored again


@pytest.mark.slow
def test_jobs_are_capped_by_cores_with_a_warning(tmp_path):
    proc = run("score", *(str(CALLS / n) for n in SHORT), "-o", str(tmp_path / "out"),
               "--language", "ru", "--jobs", "64", "--no-report")
    assert proc.returncode == 0, proc.stderr
    cores = os.cpu_count() or 1
    assert f"--jobs 64: using {min(cores, 2)} worker(s)" in proc.stderr


@pytest.mark.slow
def test_workers_die_with_their_parent(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    for k in range(4):
        shutil.copy(CALLS / "forbidden_agent.wav", calls / f"c{k}.wav")
    parent = subprocess.Popen([*COACH, "score", str(calls), "-o", str(tmp_path / "out"),
                               "--language", "ru", "--jobs", "2", "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: set[int] = set()
    deadline = time.monotonic() + 120
    while len(children) < 2 and time.monotonic() < deadline:
        found = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent.pid)],
                               capture_output=True, text=True).stdout.split()
        children = {int(p) for p in found}
        time.sleep(0.2)
    assert len(children) >= 2, "the pool never started"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    alive = children
    while alive and time.monotonic() < deadline:
        alive = {p for p in alive if Path(f"/proc/{p}").exists() and not _zombie(p)}
        time.sleep(0.2)
    assert not alive, f"workers still running after the parent was killed: {alive}"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return False
