"""`coach score` end to end, as a QA user runs it: real model, real files, real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import BAD, CALLS, find_line

COACH = [sys.executable, "-m", "coach"]
# Ctrl-C as a terminal's foreground job gets it: SIGINT at its default disposition. A shell starts a
# background job (`make test &`, a CI step run that way) with SIGINT ignored, every child inherits
# that, and a Python started so never raises KeyboardInterrupt: the batch would just run on.
WITH_CTRL_C = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
               "os.execv(sys.argv[1], sys.argv[1:])"]


def run_coach(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*COACH, *args], capture_output=True, text=True, timeout=timeout)


def agent_events(result: dict, category: str) -> list[dict]:
    return [e for e in result["events"] if e["category"] == category and e["speaker"] == "agent"]


def test_forbidden_phrase_by_agent_found_at_its_time(scored, manifest):
    result = scored("forbidden_agent.wav")
    line = find_line(manifest, "forbidden_agent.wav", "Не кричите на меня")
    hits = [
        e
        for e in agent_events(result, "forbidden_phrase")
        if e["rule"] == "ru.forbidden.dont-shout"
    ]
    assert len(hits) == 1
    assert abs(hits[0]["start"] - line["start"]) <= 1.0
    assert abs(hits[0]["end"] - line["end"]) <= 1.0
    assert "крич" in hits[0]["text"]
    assert hits[0]["severity"] == "critical" and hits[0]["suggestion"]


def test_customer_forbidden_phrase_is_not_the_agents(scored):
    result = scored("forbidden_agent.wav")
    # The customer says "Сбавьте тон!" in this call: never reported as the agent's.
    assert not [e for e in result["events"] if e["rule"] == "ru.forbidden.lower-your-tone"]
    other = scored("customer_says_forbidden.wav")
    assert not [e for e in other["events"] if e["category"] == "forbidden_phrase"]
    assert any(
        "крич" in u["text"].lower() for u in other["transcript"] if u["speaker"] == "customer"
    )


def test_result_follows_the_contract(scored):
    result = scored("forbidden_agent.wav")
    for key in (
        "call",
        "duration_s",
        "language",
        "channels",
        "model",
        "transcript",
        "events",
        "metrics",
        "score",
    ):
        assert key in result
    assert result["channels"] == {"agent": 0, "customer": 1}
    assert result["model"]["name"] == "whisper-base"
    assert result["model"]["sha256"].startswith("905e5b")
    contract = ["category", "rule", "speaker", "start", "end", "severity", "text", "message",
                "suggestion"]
    for event in result["events"]:
        assert list(event)[: len(contract)] == contract
    for key in ("talk_ratio_agent", "agent_wpm", "interruptions"):
        assert key in result["metrics"]
    assert result["score"]["total"] < 100
    assert result["score"]["by_category"]["forbidden_phrase"] < 0


@pytest.mark.slow
def test_mono_call_is_agent_only(scored):
    result = scored("mono_call.wav")
    assert result["mono"] and result["channels"] == {"agent": 0}
    assert all(u["speaker"] == "agent" for u in result["transcript"])
    assert any("mono" in n for n in result["notes"])
    assert agent_events(result, "forbidden_phrase")


@pytest.mark.slow
def test_batch_with_bad_files_scores_the_good_ones(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    for name in ("empty.wav", "text.wav", "corrupt.wav"):
        shutil.copy(BAD / name, calls / name)
    shutil.copy(CALLS / "formats" / "call_8k_mulaw.wav", calls / "mulaw.wav")
    shutil.copy(CALLS / "customer_says_forbidden.wav", calls / "good.wav")
    out = tmp_path / "out"
    proc = run_coach("score", str(calls), "-o", str(out), "--no-report")
    assert proc.returncode == 1, proc.stderr  # some inputs failed
    assert sorted(p.name for p in out.glob("*.json")) == ["good.json", "mulaw.json"]
    errors = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    assert sorted(Path(e["call"]).name for e in errors) == ["corrupt.wav", "empty.wav", "text.wav"]
    for row in errors:
        assert Path(row["call"]).name in row["error"]
    mulaw = json.loads((out / "mulaw.json").read_text())
    assert mulaw["transcript"] and mulaw["channels"] == {"agent": 0, "customer": 1}
    summary = (out / "summary.csv").read_text().splitlines()
    assert len(summary) == 3 and summary[0].startswith("call,")
    for name in ("corrupt.wav", "empty.wav", "text.wav"):
        assert name in proc.stderr  # reported as it happens


def _wait_for_json(out: Path, proc: subprocess.Popen, limit: float = 300) -> None:
    deadline = time.time() + limit
    while time.time() < deadline:
        if list(out.glob("*.json")):
            return
        if proc.poll() is not None:
            pytest.fail(f"coach exited early: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.1)
    pytest.fail("no result appeared in time")


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.slow
def test_resume_after_sigkill_scores_each_call_exactly_once(tmp_path, jobs):
    calls = tmp_path / "calls"
    calls.mkdir()
    for i, name in enumerate(
        ["customer_says_forbidden.wav", "name_used.wav", "name_not_used.wav", "long_gap.wav"]
    ):
        shutil.copy(CALLS / name, calls / f"c{i}.wav")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*COACH, "score", str(calls), "-o", str(out), "--no-report", "--quiet", "--jobs", jobs],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    _wait_for_json(out, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = time.time()
    first = {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert 1 <= len(first) < 4
    second = run_coach("score", str(calls), "-o", str(out), "--no-report")
    assert second.returncode == 0, second.stderr
    assert f"skipped {len(first)} already scored" in second.stdout
    assert f"Scored {4 - len(first)} call(s)" in second.stdout
    final = {p.name: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert sorted(final) == ["c0.json", "c1.json", "c2.json", "c3.json"]
    for name, result in first.items():  # untouched by the second run
        assert final[name]["scored_at"] == result["scored_at"]
        assert final[name]["pid"] == result["pid"]
    # A worker killed mid-write may leave its temporary file (cleaned once it is 10 minutes old:
    # a younger one may be another batch's write in progress); the second run leaves none.
    assert all(t.stat().st_mtime <= killed_at for t in out.glob(".*.tmp"))
    rows = (out / "summary.csv").read_text().splitlines()
    assert len(rows) == 5


@pytest.mark.slow
def test_ctrl_c_stops_a_batch_and_keeps_every_result_written(tmp_path):
    """Two calls are scored at once in one process (coach.engines.local); Ctrl-C ends the batch
    (exit 130) without starting more calls, after finishing and writing the ones in hand."""
    calls = tmp_path / "calls"
    calls.mkdir()
    for i in range(8):
        shutil.copy(CALLS / ("name_used.wav", "long_gap.wav")[i % 2], calls / f"c{i}.wav")
    out = tmp_path / "out"
    proc = subprocess.Popen([*WITH_CTRL_C, *COACH, "score", str(calls), "-o", str(out), "--no-report",
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for_json(out, proc)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("coach kept scoring after Ctrl-C")
    stderr = proc.stderr.read()
    assert proc.returncode == 130 and "interrupted" in stderr, stderr
    written = [json.loads(p.read_text()) for p in out.glob("*.json")]
    assert 1 <= len(written) < 8
    assert all(r["transcript"] and r["fingerprint"] for r in written)
    assert not list(out.glob(".*.tmp"))  # no half-written result


@pytest.mark.slow
def test_force_rescores(tmp_path):
    shutil.copy(CALLS / "customer_says_forbidden.wav", tmp_path / "a.wav")
    out = tmp_path / "out"
    assert (
        run_coach("score", str(tmp_path / "a.wav"), "-o", str(out), "--no-report").returncode == 0
    )
    again = run_coach("score", str(tmp_path / "a.wav"), "-o", str(out), "--no-report", "--force")
    assert "Scored 1 call(s), skipped 0" in again.stdout


@pytest.mark.slow
def test_help_explains_every_option():
    top = run_coach("--help").stdout
    for command in ("score", "models", "rules"):
        assert command in top
    text = run_coach("score", "--help").stdout
    for option in (
        "--out",
        "--model",
        "--language",
        "--channels",
        "--rules",
        "--scorecard",
        "--jobs",
        "--engine",
        "--address",
        "--beam",
        "--asr-mode",
        "--force",
        "--no-report",
        "--quiet",
    ):
        assert option in text
    # every option line carries an explanation, not just its name
    assert "customer,agent" in text and "Exit code" in text


def test_missing_out_is_a_usage_error():
    proc = run_coach("score", str(CALLS / "clean_call.wav"))
    assert proc.returncode == 2 and "--out" in proc.stderr


@pytest.mark.slow
def test_swapped_channels_make_the_right_channel_the_agent(tmp_path):
    """--channels customer,agent: the customer's forbidden phrase on the right channel becomes
    the agent's, and the channel map in the result says so."""
    out = tmp_path / "out"
    proc = run_coach("score", str(CALLS / "customer_says_forbidden.wav"), "-o", str(out),
                     "--language", "ru", "--channels", "customer,agent", "--no-report")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "customer_says_forbidden.json").read_text(encoding="utf-8"))
    assert result["channels"] == {"agent": 1, "customer": 0}
    forbidden = [e for e in result["events"] if e["category"] == "forbidden_phrase"]
    assert forbidden and all(e["speaker"] == "agent" for e in forbidden)


def test_an_unknown_language_is_refused_before_the_model_loads(tmp_path):
    started = time.monotonic()
    proc = run_coach("score", str(CALLS / "long_gap.wav"), "-o", str(tmp_path / "out"), "--language", "xx")
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "--language xx" in line and "ru" in line and "ro" in line
    assert time.monotonic() - started < 30  # a model load alone takes longer on a busy 2-core box
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.json"))


@pytest.mark.slow
@pytest.mark.parametrize("language, silence", [("ro", "Tăcere pe linie"), ("nb", "Stillhet på linjen"),
                                                ("et", "Vaikus liinil")])
def test_every_pack_language_scores_with_its_own_messages(tmp_path, language, silence):
    out = tmp_path / "out"
    proc = run_coach("score", str(CALLS / "long_gap.wav"), "-o", str(out), "--language", language,
                     "--no-report")
    assert proc.returncode in (0, 1), proc.stderr
    result = json.loads((out / "long_gap.json").read_text(encoding="utf-8"))
    assert result["language"] == language
    messages = [e["message"] for e in result["events"] if e["category"] == "long_silence"]
    assert messages and all(m.startswith(silence) for m in messages), result["events"]
