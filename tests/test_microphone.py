"""The microphone path with real audio: PulseAudio, sounddevice, the live pipeline, the websocket, the API.

A PulseAudio null sink ("call") stands in for the call: the fixture call is
played into it (`paplay`) and `coach live --device call.monitor` records
that sink's monitor *by its sound-server name* (PortAudio's `pulse` device
with PULSE_SOURCE), while the default source is another sink's monitor, so
the name must really pick the source. Two channels: agent left, customer
right, as a call recorder's stereo output.

* The call starts at the first speech and ends after `--auto-end` seconds
  of silence; the forbidden phrase comes out as an event; the result is
  saved to --out.
* A call started and ended by `POST /api/call/start|end` while the sound
  server is killed and restarted mid-call: the lost device is reported and
  reconnected, and the missing stretch is a gap, not dead air (no
  `long_silence` finding over it).
* `coach devices` lists the monitors by name; a wrong --device is one line.

Skipped only where PulseAudio is missing or cannot start, with the reason.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.conftest import CALLS, ROOT

PULSE_ARGS = ["--daemonize=yes", "--exit-idle-time=-1", "-n", "--load=module-native-protocol-unix",
              "--load=module-null-sink sink_name=call", "--load=module-null-sink sink_name=other",
              "--load=module-always-sink"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_pulse(env: dict) -> str | None:
    """Start the daemon; None when it runs, else why it cannot."""
    try:
        done = subprocess.run(["pulseaudio", *PULSE_ARGS], env=env, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pulseaudio did not start: {exc}"
    if done.returncode != 0:
        return f"pulseaudio exited with {done.returncode}: {done.stderr.strip()[-300:]}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
            subprocess.run(["pactl", "set-default-source", "other.monitor"], env=env, check=True,
                           capture_output=True)
            return None
        time.sleep(0.1)
    return "pulseaudio started but does not answer 'pactl info'"


def stop_pulse(env: dict) -> None:
    pid_file = Path(env["XDG_RUNTIME_DIR"]) / "pulse" / "pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def pulse(tmp_path):
    missing = [t for t in ("pulseaudio", "pactl", "paplay") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"PulseAudio tools missing ({', '.join(missing)}): apt-get install pulseaudio "
                    "pulseaudio-utils (scripts/system-deps.sh)")
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    why = start_pulse(env)
    if why is not None:
        stop_pulse(env)
        pytest.skip(f"PulseAudio cannot start here: {why}")
    try:
        yield env
    finally:
        stop_pulse(env)


def coach_live(env: dict, port: int, seconds: int, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "coach", "live", "--device", "call.monitor", "--channels", "agent,customer",
         "--no-browser", "--port", str(port), "--duration", str(seconds), "--out", str(out),
         "--language", "ru", *extra],  # the calls are Russian; `auto` is tested in test_live_ws
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def connect_when_up(port: int, proc: subprocess.Popen, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"coach live exited early: {proc.stderr.read()[-2000:]}")
        try:
            return connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5)
        except (OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def read_until(ws, predicate, timeout: float) -> list[dict]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
        except TimeoutError:
            break
        seen.append(msg)
        if predicate(msg):
            return seen
    raise AssertionError(f"not seen in {timeout} s; got {[m['type'] for m in seen]}")


def post(port: int, path: str, fields: dict | None = None) -> tuple[int, dict]:
    """The local API as a softphone calls it: fields in the query string, no body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
    conn.request("POST", path + ("?" + urllib.parse.urlencode(fields) if fields else ""))
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return resp.status, data


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def play(env: dict, name: str) -> subprocess.Popen:
    return subprocess.Popen(["paplay", "--device=call", str(CALLS / name)], env=env)


@pytest.mark.slow
def test_devices_lists_the_sound_server_sources(pulse):
    out = subprocess.run([sys.executable, "-m", "coach", "devices"], cwd=ROOT, env=pulse,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pulse" in out.stdout
    assert "call.monitor" in out.stdout and "other.monitor" in out.stdout and "monitor" in out.stdout
    listed = json.loads(subprocess.run([sys.executable, "-m", "coach", "devices", "--json"], cwd=ROOT,
                                       env=pulse, capture_output=True, text=True, timeout=120).stdout)
    monitors = [d for d in listed if d["kind"] == "pulse" and d["monitor"]]
    assert {d["name"] for d in monitors} >= {"call.monitor", "other.monitor"}


@pytest.mark.slow
def test_a_wrong_device_is_one_line_before_the_model_loads(pulse):
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "coach", "live", "--device", "no-such-mic", "--no-browser"],
                         cwd=ROOT, env=pulse, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-mic" in lines[0] and "coach devices" in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert time.monotonic() - started < 60  # (the model load alone is longer on this machine)


def _final_says_kricite(message: dict) -> bool:
    return (message["type"] == "transcript" and message["final"] and message["speaker"] == "agent"
            and "кричите" in message["text"].lower())


@pytest.mark.slow
def test_a_call_starts_on_speech_and_ends_after_silence(pulse, tmp_path):
    port, out = free_port(), tmp_path / "out"
    proc = coach_live(pulse, port, 150, out, "--auto-end", "4")
    player = None
    try:
        with connect_when_up(port, proc) as ws:
            idle = read_until(ws, lambda m: m["type"] == "call" and m["state"] == "idle", 60)[-1]
            assert idle["start_on_speech"] is True and idle["language"] == "ru"
            player = play(pulse, "forbidden_agent.wav")
            seen = read_until(ws, lambda m: m["type"] == "session", 30)
            seen += read_until(ws, lambda m: m["type"] == "event" and m["category"] == "forbidden_phrase",
                               90)
            event = seen[-1]
            assert event["speaker"] == "agent" and event["rule"] == "ru.forbidden.dont-shout"
            if not any(_final_says_kricite(m) for m in seen):
                read_until(ws, _final_says_kricite, 30)
            end = read_until(ws, lambda m: m["type"] == "end", 90)[-1]
            assert end["reason"] == "silence" and end["saved"]
            read_until(ws, lambda m: m["type"] == "call" and m["state"] == "idle", 10)
        assert proc.poll() is None  # waiting for the next call
    finally:
        if player is not None and player.poll() is None:
            player.kill()
        stop(proc)
    saved = list(out.glob("*.json"))
    assert len(saved) == 1
    result = json.loads(saved[0].read_text(encoding="utf-8"))
    assert result["meta"]["started_by"] == "speech" and result["meta"]["ended_by"] == "silence"
    assert "ru.forbidden.dont-shout" in [e["rule"] for e in result["events"]]
    assert result["transcript"][0]["start"] < 2.0  # the pre-roll kept the first words


@pytest.mark.slow
def test_api_calls_and_a_lost_device_is_a_gap_not_silence(pulse, tmp_path):
    port, out = free_port(), tmp_path / "out"
    proc = coach_live(pulse, port, 240, out, "--start", "manual")
    player = None
    try:
        with connect_when_up(port, proc) as ws:
            idle = read_until(ws, lambda m: m["type"] == "call" and m["state"] == "idle", 60)[-1]
            assert idle["start_on_speech"] is False
            status, body = post(port, "/api/call/start", {"agent": "Анна", "call_id": "gap-1"})
            assert status == 200, body
            session = read_until(ws, lambda m: m["type"] == "session", 30)[-1]
            player = play(pulse, "forbidden_agent.wav")
            read_until(ws, lambda m: m["type"] == "transcript" and m["final"]
                       and "доброго" in m["text"].lower(), 120)
            stop_pulse(pulse)  # the device goes away under the running call
            lost = read_until(ws, lambda m: m["type"] == "status" and m["state"] == "lost", 20)[-1]
            assert lost["device"] == "call.monitor" and lost["source"] == "agent/customer"
            lost_at = time.time() - session["t0"]
            time.sleep(4)
            why = start_pulse(pulse)
            assert why is None, why
            read_until(ws, lambda m: m["type"] == "status" and m["state"] == "ok", 60)
            back_at = time.time() - session["t0"]
            player = play(pulse, "name_used.wav")
            read_until(ws, lambda m: m["type"] == "transcript" and m["final"], 60)
            status, body = post(port, "/api/call/end")
            assert status == 200 and body["saved"].endswith("gap-1.json"), body
        assert proc.poll() is None
    finally:
        if player is not None and player.poll() is None:
            player.kill()
        stop(proc)
    result = json.loads((out / "gap-1.json").read_text(encoding="utf-8"))
    assert result["meta"]["agent"] == "Анна" and result["meta"]["ended_by"] == "api"
    silences = [e for e in result["events"] if e["category"] == "long_silence"]
    over_gap = [e for e in silences if e["start"] < back_at and e["end"] > lost_at]
    assert not over_gap, (lost_at, back_at, silences)
