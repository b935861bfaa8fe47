"""Stopping `coach replay` with SIGINT or SIGTERM, again and again: never an abort, the call saved.

A process that exits while CTranslate2 or onnxruntime still run a C++
thread dies with `terminate called without an active exception` (SIGABRT,
return code -6). Six runs in a row, the signal alternating and sent at a
different moment of the call each time (Whisper is decoding for most of a
call): the exit status is 130 (SIGINT) or 143 (SIGTERM), stderr has no
traceback and no `terminate`, and the call that was running is saved to
--out with `ended_by: stopped`. One more run is signalled while the model
loads (before any call), as soon as coach has taken over SIGTERM (read from
/proc: before that, during Python's imports, the default handlers apply): a
clean 130/143 there too, nothing saved.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.conftest import CALLS, ROOT

pytestmark = pytest.mark.slow

EXPECTED = {signal.SIGINT: 130, signal.SIGTERM: 143}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replay(port: int, out) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "coach", "replay", str(CALLS / "forbidden_agent.wav"), "--no-browser",
         "--port", str(port), "--out", str(out)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def wait_for_transcripts(port: int, proc: subprocess.Popen, finals: int, timeout: float = 180) -> None:
    """Until the call has run long enough to have `finals` final transcript lines."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"coach exited early: {proc.stderr.read()[-2000:]}")
        try:
            ws = connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5)
            break
        except (OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    seen = 0
    with ws:
        while seen < finals:
            msg = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            seen += msg["type"] == "transcript" and msg["final"]


def test_signals_stop_replay_cleanly_six_times_and_save_the_call(tmp_path):
    for run in range(6):
        sig = (signal.SIGINT, signal.SIGTERM)[run % 2]
        out = tmp_path / f"out{run}"
        port = free_port()
        proc = replay(port, out)
        try:
            wait_for_transcripts(port, proc, finals=1 + run % 3)
            time.sleep(0.15 * run)  # a different moment each time, mostly mid-decode
            proc.send_signal(sig)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        err = proc.stderr.read()
        assert code == EXPECTED[sig], (run, sig, code, err[-2000:])
        assert "terminate called" not in err and "Traceback" not in err, err[-2000:]
        saved = json.loads((out / "forbidden_agent.json").read_text(encoding="utf-8"))
        assert saved["meta"]["ended_by"] == "stopped" and saved["transcript"], run
        assert saved["duration_s"] < 23.0  # stopped before the recording's end


def catches_sigterm(pid: int) -> bool:
    """coach has installed its handlers (SIGTERM is caught: bit 15 of SigCgt)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def test_a_signal_while_the_model_loads_stops_cleanly(tmp_path):
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = replay(free_port(), tmp_path / "out")
        try:
            deadline = time.monotonic() + 60
            while not catches_sigterm(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.3)  # loading the model: no call, no server yet
            proc.send_signal(sig)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        err = proc.stderr.read()
        assert code == EXPECTED[sig], (sig, code, err[-2000:])
        assert "terminate called" not in err and "Traceback" not in err, err[-2000:]
        assert not list((tmp_path / "out").glob("*.json"))
