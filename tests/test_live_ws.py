"""The websocket contract with real clients against the real server on 127.0.0.1.

* `coach replay` (the command, in a subprocess) on a fixture call: the
  session message, transcripts and the forbidden-phrase event with every
  contract field arrive in order, then `end`, and the process exits.
* Replay and batch scoring find the same forbidden phrase in the same place.
* The hub on its own: it serves the overlay and the audio (with ranges),
  refuses cross-origin pages and foreign Host headers, a client that never
  reads does not delay another, and events are never dropped for a slow one.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from coach.live.app import Engine
from coach.live.hub import Hub, HubOptions
from coach.live.pipeline import LivePipeline
from coach.live.sources import FileSource
from tests.conftest import CALLS, ROOT, find_line

CONTRACT_EVENT_FIELDS = {"category", "rule", "speaker", "start", "end", "severity", "text",
                         "message", "suggestion", "emitted_at"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect_when_up(url: str, timeout: float = 60.0, **kwargs):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect(url, open_timeout=5, **kwargs)
        except (OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_replay_command_sends_the_contract_in_order(manifest):
    port = free_port()
    line = find_line(manifest, "forbidden_agent.wav", "кричите")
    proc = subprocess.Popen(
        [sys.executable, "-m", "coach", "replay", str(CALLS / "forbidden_agent.wav"),
         "--no-browser", "--exit-at-end", "--port", str(port), "--speed", "2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    messages = []
    try:
        with connect_when_up(f"ws://127.0.0.1:{port}/ws") as ws:
            while True:
                msg = json.loads(ws.recv(timeout=60))
                messages.append(msg)
                if msg["type"] == "end":
                    break
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "session" and kinds[-1] == "end"
    session = messages[0]
    assert session["language"] == "ru" and session["speed"] == 2.0
    assert isinstance(session["t0"], float) and session["audio"] == "/audio"
    transcripts = [m for m in messages if m["type"] == "transcript"]
    assert any(not m["final"] for m in transcripts) and any(m["final"] for m in transcripts)
    assert all({"speaker", "start", "end", "text", "final"} <= set(m) for m in transcripts)
    assert "metrics" in kinds

    events = [m for m in messages if m["type"] == "event" and m["category"] == "forbidden_phrase"]
    assert len(events) == 1, events
    event = events[0]
    assert CONTRACT_EVENT_FIELDS <= set(event)
    assert event["speaker"] == "agent" and event["rule"] == "ru.forbidden.dont-shout"
    # reported as soon as the words are committed: perhaps before the whole phrase is over
    assert abs(event["start"] - line["start"]) < 0.6 and event["end"] < line["end"] + 0.6
    # after the audio it describes was played, and soon after
    latency = event["emitted_at"] - (session["t0"] + event["end"] / session["speed"])
    assert 0 < latency < 5.0
    # in order: the phrase was transcribed before its event (partial or final), `end` comes last
    said = next(i for i, m in enumerate(messages)
                if m["type"] == "transcript" and "кричите" in m["text"].lower())
    assert 0 < said < messages.index(event) < len(messages) - 1


def test_replay_and_batch_find_the_same_forbidden_phrase(scorer, scored):
    """The Session's findings are batch's; the events published live are the same findings
    (rule, speaker, start), possibly reported early on a shorter span of the phrase."""
    batch = [e for e in scored("forbidden_agent.wav")["events"] if e["category"] == "forbidden_phrase"]
    engine = Engine(scorer.model, scorer.transcriber.whisper, scorer.rulebook("ru"),
                    scorer.analyzer_config, "ru")
    source = FileSource(CALLS / "forbidden_agent.wav", speed=0)  # as fast as possible
    messages: list[dict] = []
    session = engine.new_session(source.speakers)
    LivePipeline(engine.whisper, session, messages.append).run(source)
    found = [e.to_dict() for e in session.sorted_events() if e.category == "forbidden_phrase"]
    assert [(e["rule"], e["speaker"], e["text"]) for e in found] == [
        (e["rule"], e["speaker"], e["text"]) for e in batch]
    for a, b in zip(found, batch):
        assert abs(a["start"] - b["start"]) < 0.3 and abs(a["end"] - b["end"]) < 0.3
    live = [m for m in messages if m["type"] == "event" and m["category"] == "forbidden_phrase"]
    assert [(e["rule"], e["speaker"]) for e in live] == [(e["rule"], e["speaker"]) for e in batch]
    for a, b in zip(live, batch):
        assert abs(a["start"] - b["start"]) < 0.3


# -- the hub on its own --------------------------------------------------------------------


@pytest.fixture()
def hub():
    h = Hub(HubOptions(port=0, audio_path=CALLS / "forbidden_agent.wav", client_queue=64)).start()
    yield h
    h.stop(flush_s=0.2)


def http_get(port: int, path: str, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers=headers or {})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def test_hub_serves_the_overlay_and_the_audio(hub):
    resp, body = http_get(hub.port, "/")
    assert resp.status == 200 and "text/html" in resp.getheader("Content-Type")
    assert b"app.js" in body
    resp, body = http_get(hub.port, "/app.js")
    assert resp.status == 200 and b"WebSocket" in body
    resp, _ = http_get(hub.port, "/%2e%2e/pyproject.toml")
    assert resp.status == 404
    size = (CALLS / "forbidden_agent.wav").stat().st_size
    resp, body = http_get(hub.port, "/audio", {"Range": "bytes=100-199"})
    assert resp.status == 206 and len(body) == 100
    assert resp.getheader("Content-Range") == f"bytes 100-199/{size}"
    assert body == (CALLS / "forbidden_agent.wav").read_bytes()[100:200]
    resp, _ = http_get(hub.port, "/", {"Host": f"evil.example:{hub.port}"})
    assert resp.status == 403  # DNS rebinding: a foreign name pointing at 127.0.0.1


def test_hub_refuses_cross_origin_pages(hub):
    url = f"ws://127.0.0.1:{hub.port}/ws"
    with pytest.raises(InvalidStatus) as err:
        connect(url, origin="http://evil.example", open_timeout=5)
    assert err.value.response.status_code == 403
    hub.publish({"type": "session", "language": "ru", "t0": 1.0, "speed": 1.0})
    with connect(url, origin=f"http://127.0.0.1:{hub.port}", open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "session"
    with connect(url, origin=f"http://localhost:{hub.port}", open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "session"


def raw_client_that_never_reads(port: int) -> socket.socket:
    """A websocket client that completes the handshake and then never reads a byte."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    return sock


def partial(i: int, size: int = 32_000) -> dict:
    return {"type": "transcript", "speaker": "agent", "start": i, "end": i + 1,
            "text": "ну " * (size // 3), "final": False}


def event(i: int) -> dict:
    return {"type": "event", "category": "forbidden_phrase", "rule": f"r{i}", "speaker": "agent",
            "start": i, "end": i + 1, "severity": "critical", "text": "", "message": "m",
            "suggestion": "", "emitted_at": time.time()}


def test_a_client_that_never_reads_does_not_delay_events_to_another(hub):
    hub.publish({"type": "session", "language": "ru", "t0": 1.0, "speed": 1.0})
    stuck = raw_client_that_never_reads(hub.port)
    received: dict[str, float] = {}

    def reader():
        with connect(f"ws://127.0.0.1:{hub.port}/ws", max_size=None, open_timeout=5) as ws:
            while True:
                msg = json.loads(ws.recv(timeout=20))
                if msg["type"] == "event":
                    received[msg["rule"]] = time.monotonic()
                    if msg["rule"] == "r999":
                        return

    good = threading.Thread(target=reader, daemon=True)
    good.start()
    deadline = time.monotonic() + 5
    while len(hub.clients) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(hub.clients) == 2
    try:
        started = time.monotonic()
        for i in range(300):  # ~10 MB the stuck client will never take
            hub.publish(partial(i))
        published_at = time.monotonic()
        hub.publish(event(999))
        assert published_at - started < 1.0  # publishing never waits for a client
        good.join(timeout=15)
        assert "r999" in received, "the reading client never got the event"
        assert received["r999"] - published_at < 3.0
        stuck_clients = [c for c in hub.clients if c.ws.remote_address[1] == stuck.getsockname()[1]]
        assert stuck_clients
        for c in stuck_clients:  # its queue stayed bounded by dropping partial transcripts
            assert len(c.queue) <= c.limit  # live-traffic bound + the backlog it joined with
            assert c.dropped > 0 and not c.too_slow
    finally:
        stuck.close()


def test_a_slow_client_loses_partials_but_never_events():
    hub = Hub(HubOptions(port=0, client_queue=32)).start()  # room for the 20 events, not the partials
    try:
        hub.publish({"type": "session", "language": "ru", "t0": 1.0, "speed": 1.0})
        with connect(f"ws://127.0.0.1:{hub.port}/ws", max_size=None, open_timeout=5,
                     max_queue=1) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "session"
            for i in range(400):
                hub.publish(partial(i, size=64_000))
                if i % 20 == 0:
                    hub.publish(event(i))
            hub.publish({"type": "end"})
            events, partials = [], 0
            while True:
                msg = json.loads(ws.recv(timeout=20))
                time.sleep(0.002)  # a slow reader
                if msg["type"] == "event":
                    events.append(msg["rule"])
                elif msg["type"] == "transcript":
                    partials += 1
                elif msg["type"] == "end":
                    break
        assert events == [f"r{i}" for i in range(0, 400, 20)]
        assert partials < 400
        # a client connecting now gets the backlog: the session and every event, no partials
        with connect(f"ws://127.0.0.1:{hub.port}/ws", open_timeout=5) as late:
            backlog = []
            while True:
                msg = json.loads(late.recv(timeout=5))
                backlog.append(msg["type"])
                if msg["type"] == "end":
                    break
        assert backlog[0] == "session" and backlog.count("event") == 20
        assert "transcript" not in backlog
    finally:
        hub.stop(flush_s=0.2)
