"""The websocket contract and the HTTP API with real clients against the real server on 127.0.0.1.

* `coach replay` (the command, in a subprocess) on a fixture call: the
  session message, transcripts and the forbidden-phrase event with every
  contract field arrive in order, then `end` with the call's score.
* `coach replay a.wav b.wav --out DIR`: two calls, two results, and nothing
  of the first call (name, findings, transcript, counters) in the second.
* A live stream cut into calls by `POST /api/call/start|end` (agent and
  call id in `meta`), "not helpful" by the API and by the websocket, stored
  with the right call's result.
* Replay and batch scoring find the same forbidden phrase in the same place.
* `coach replay` of an angry customer: the checklist ticks (`checklist`),
  the customer's words bring a prompt with the phrase to say and the agent's
  recommended phrases bring praise (`cue`, never `event`, never in the
  result's events); a wrongly heard name corrected through the API
  (`POST /api/name`) is in the next suggestion and in the result.
* The server on its own: the overlay and the audio (with ranges), 405 for
  other methods, HEAD without a body, 400 for a NUL byte (no traceback), the
  token, cross-origin pages and foreign Host headers refused, a client that
  never reads does not delay another, events are never dropped for a slow one.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import wave
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from coach.audio import load_call
from coach.contract import status_message
from coach.live.calls import Desk, DeskOptions
from coach.live.hub import Hub, HubOptions
from coach.live.pipeline import LiveOptions, LivePipeline
from coach.live.sources import FileSource
from tests.conftest import CALLS, ROOT, find_line

CONTRACT_EVENT_FIELDS = {"category", "rule", "speaker", "start", "end", "severity", "text",
                         "message", "suggestion", "emitted_at"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect_when_up(url: str, timeout: float = 120.0, proc: subprocess.Popen | None = None, **kwargs):
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"coach exited early: {proc.stderr.read()[-2000:]}")
        try:
            return connect(url, open_timeout=5, **kwargs)
        except (OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def read_all(ws, until, timeout: float = 240.0) -> list[dict]:
    """Messages until `until(msg)` is true (that one included)."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        msg = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
        out.append(msg)
        if until(msg):
            return out


def calls_in(messages: list[dict]) -> list[list[dict]]:
    """Messages split at each `session` message (one list per call)."""
    calls: list[list[dict]] = []
    for msg in messages:
        if msg["type"] == "session":
            calls.append([])
        if calls:
            calls[-1].append(msg)
    return calls


@pytest.mark.slow
def test_replay_command_sends_the_contract_in_order(manifest):
    port = free_port()
    line = find_line(manifest, "forbidden_agent.wav", "кричите")
    proc = subprocess.Popen(
        [sys.executable, "-m", "coach", "replay", str(CALLS / "forbidden_agent.wav"),
         "--no-browser", "--exit-at-end", "--port", str(port), "--speed", "2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        with connect_when_up(f"ws://127.0.0.1:{port}/ws", proc=proc) as ws:
            messages = read_all(ws, lambda m: m["type"] == "end")
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    messages = messages[next(i for i, m in enumerate(messages) if m["type"] == "session"):]
    kinds = [m["type"] for m in messages]
    assert kinds[0] == "session" and kinds[-1] == "end"
    session = messages[0]
    assert session["language"] == "ru" and session["speed"] == 2.0
    assert isinstance(session["t0"], float) and session["audio"].startswith("/audio")
    assert session["call_id"] == "forbidden_agent" and session["number"] == 1
    transcripts = [m for m in messages if m["type"] == "transcript"]
    assert any(not m["final"] for m in transcripts) and any(m["final"] for m in transcripts)
    assert all({"speaker", "start", "end", "text", "final"} <= set(m) for m in transcripts)
    metrics = [m for m in messages if m["type"] == "metrics"]
    assert metrics and {"fillers", "rate", "talk", "counts"} <= set(metrics[-1])
    assert metrics[-1]["rate"]["max_syllables_per_s"] > 0

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
    said = next(i for i, m in enumerate(messages)
                if m["type"] == "transcript" and "кричите" in m["text"].lower())
    assert 0 < said < messages.index(event) < len(messages) - 1
    end = messages[-1]
    assert end["score"]["total"] < 100 and end["events"] >= 1 and end["call_id"] == "forbidden_agent"
    assert end["top"][0]["rule"] == "ru.forbidden.dont-shout"


@pytest.mark.slow
def test_replay_of_two_files_keeps_the_calls_apart(tmp_path):
    """Call 1 names the customer (Ольга) and has the agent's forbidden phrase; call 2 has neither
    (there the customer says «не кричите»): none of it may show up in call 2, live or saved."""
    port, out = free_port(), tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "coach", "replay", str(CALLS / "forbidden_agent.wav"),
         str(CALLS / "customer_says_forbidden.wav"), "--no-browser", "--exit-at-end", "--port", str(port),
         "--speed", "0", "--out", str(out), "--agent", "Анна"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    ends = 0

    def second_end(msg: dict) -> bool:
        nonlocal ends
        ends += msg["type"] == "end"
        return ends == 2

    try:
        with connect_when_up(f"ws://127.0.0.1:{port}/ws", proc=proc) as ws:
            messages = read_all(ws, second_end)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    first, second = calls_in(messages)
    assert first[0]["call_id"] == "forbidden_agent" and second[0]["call_id"] == "customer_says_forbidden"
    assert any(m["type"] == "metrics" and m["customer_name"] == "Ольга" for m in first)
    assert any(m["type"] == "event" and m["rule"] == "ru.forbidden.dont-shout" for m in first)
    # the second call on the wire: no name, no agent finding of the first, its own transcript only
    text2 = json.dumps(second, ensure_ascii=False)
    assert "Ольга" not in text2 and "Алексей, как я могу" not in text2
    assert all(m["customer_name"] is None and m["fillers"] == 0 for m in second if m["type"] == "metrics")
    assert not [m for m in second if m["type"] == "event" and m["category"] == "forbidden_phrase"
                and m["speaker"] == "agent"]
    duration2 = second[-1]["duration_s"]
    assert all(m["end"] <= duration2 + 0.5 for m in second if m["type"] == "transcript")
    # one result per call, the batch contract plus meta, nothing of call 1 in call 2
    saved = sorted(p.name for p in out.glob("*.json"))
    assert saved == ["customer_says_forbidden.json", "forbidden_agent.json"]
    one = json.loads((out / "forbidden_agent.json").read_text(encoding="utf-8"))
    two = json.loads((out / "customer_says_forbidden.json").read_text(encoding="utf-8"))
    for result, stem in ((one, "forbidden_agent"), (two, "customer_says_forbidden")):
        assert {"call", "duration_s", "language", "transcript", "events", "metrics", "score"} <= set(result)
        assert result["meta"]["call_id"] == stem and result["meta"]["agent"] == "Анна"
        assert result["meta"]["ended_by"] == "end of recording" and result["feedback"] == []
    assert one["customer_name"] == "Ольга" and two["customer_name"] is None
    assert "Ольга" not in json.dumps(two, ensure_ascii=False)
    assert [e["rule"] for e in one["events"]] == ["ru.forbidden.dont-shout"]
    assert "ru.forbidden.dont-shout" not in [e["rule"] for e in two["events"]]
    assert two["transcript"][0]["start"] < 1.0  # its own clock: starts at its own t=0


@pytest.mark.slow
def test_cues_the_checklist_and_a_corrected_name_go_live_and_into_the_result(tmp_path):
    """customer_prompt.wav: the customer gives an unusual name ASR only hears ("Патари"), later
    shouts "Это безобразие! Сколько можно ждать?"; the agent answers with recommended phrases.
    A CRM corrects the name through the API as soon as it is heard: the prompt that follows
    carries the corrected name."""
    port, out = free_port(), tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "coach", "replay", str(CALLS / "customer_prompt.wav"), "--no-browser",
         "--exit-at-end", "--port", str(port), "--speed", "2", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    messages: list[dict] = []
    replies: list[tuple[int, dict]] = []
    try:
        with connect_when_up(f"ws://127.0.0.1:{port}/ws", proc=proc) as ws:
            deadline = time.monotonic() + 240
            while True:
                msg = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
                messages.append(msg)
                if msg["type"] == "name" and msg["name"] and not replies:
                    replies.append(api(port, "POST", "/api/name", {"name": "Н" * 61}))
                    replies.append(api(port, "POST", "/api/name", {"name": "николай"}))
                if msg["type"] == "end":
                    break
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    messages = messages[next(i for i, m in enumerate(messages) if m["type"] == "session"):]
    session = messages[0]

    # the checklist: all undone at the start, ticked as the steps are said, in Russian
    lists = [m for m in messages if m["type"] == "checklist"]
    assert messages[1]["type"] == "checklist" and lists[0]["done"] == 0 and lists[0]["total"] == 4
    assert [i["label"] for i in lists[0]["items"]][0] == "Приветствие"
    final = {i["id"]: i for i in lists[-1]["items"]}
    assert final["ru.structure.greeting"]["done"] and final["ru.name.not-asked"]["done"]
    assert final["ru.structure.closing"]["done"] and not final["ru.name.not-used"]["done"]
    assert 0 < final["ru.structure.greeting"]["at"] < 8.0 and final["ru.structure.closing"]["at"] > 35.0

    # the name: heard (not confirmed), then corrected by the API; a bad one refused
    names = [m for m in messages if m["type"] == "name"]
    assert names[0]["name"] and not names[0]["confirmed"] and not names[0]["set"]
    (bad, bad_body), (status, body) = replies
    assert bad == 400 and "60" in bad_body["error"]
    assert status == 200 and body["name"] == {"name": "Николай", "confirmed": True, "set": True}
    assert {"name": "Николай", "confirmed": True, "set": True}.items() <= names[-1].items()
    corrected_at = messages.index(next(m for m in names if m["name"] == "Николай"))

    # the customer's anger: one prompt, after the correction, with the phrase to say and the name
    cues = [m for m in messages if m["type"] == "cue"]
    prompts = [m for m in cues if m["cue"] == "prompt"]
    assert [(m["rule"], m["speaker"]) for m in prompts] == [("ru.prompt.anger", "customer")]
    prompt = prompts[0]
    assert messages.index(prompt) > corrected_at
    assert prompt["suggestion"].startswith("Николай, я понимаю вас") and prompt["message"]
    assert "безобразие" in prompt["text"] and prompt["details"]["cue"] == "prompt"
    assert 0 < prompt["emitted_at"] - (session["t0"] + prompt["end"] / session["speed"]) < 5.0
    # the agent's recommended phrases: praise
    positive = {m["rule"] for m in cues if m["cue"] == "positive"}
    assert {"ru.cue.empathy", "ru.cue.thanks"} <= positive
    assert all(m["speaker"] == "agent" for m in cues if m["cue"] == "positive")
    # never findings: not as events on the wire, not in the result
    assert not [m for m in messages if m["type"] == "event" and (m.get("details") or {}).get("cue")]
    result = json.loads((out / "customer_prompt.json").read_text(encoding="utf-8"))
    assert not [e for e in result["events"] if e["category"] in ("customer_emotion", "good_practice")]
    assert result["customer_name"] == "Николай"
    live = result["live"]
    assert live["checklist"] == lists[-1]["items"]
    assert {c["rule"] for c in live["cues"]} == {m["rule"] for m in cues}
    assert [(n["name"], n["typed"], n["via"]) for n in live["name_set"]] == [("Николай", "николай", "api")]


def two_calls_wav(path: Path, silence_s: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> float:
    """forbidden_agent.wav then customer_says_forbidden.wav in one stereo file, with `silence_s`
    before, between and after them; returns where the second call begins."""
    parts = [load_call(CALLS / "forbidden_agent.wav"), load_call(CALLS / "customer_says_forbidden.wav")]
    calls = [np.stack([c.channels["agent"], c.channels["customer"]], axis=1) for c in parts]
    quiet = [np.zeros((int(s * 16000), 2), dtype=np.float32) for s in silence_s]
    stereo = np.concatenate([quiet[0], calls[0], quiet[1], calls[1], quiet[2]])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(stereo, -1, 1) * 32767).astype("<i2").tobytes())
    return silence_s[0] + parts[0].duration_s + silence_s[1]


def api(port: int, method: str, path: str, fields: dict | None = None, headers: dict | None = None):
    """The local API as a softphone calls it: fields in the query string, no body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=90)
    query = ("?" + urllib.parse.urlencode(fields)) if fields else ""
    conn.request(method, path + query, headers=headers or {})
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, (json.loads(raw) if raw.startswith(b"{") else raw.decode())


@pytest.mark.slow
def test_the_api_cuts_a_live_stream_into_calls(coach, tmp_path):
    """A continuous stream (two recorded calls back to back, played in real time as a microphone
    would deliver them) cut by the API a softphone would call; feedback lands in the right result."""
    wav = tmp_path / "two_calls.wav"
    cut = two_calls_wav(wav)
    out = tmp_path / "out"
    hub = Hub(HubOptions(port=0)).start()
    source = FileSource(wav, speed=1.0)
    desk = Desk(coach, hub.publish, DeskOptions(mode="live", start_on_speech=False, out_dir=out),
                lambda: LiveOptions(language="ru"), source=source)
    hub.on_command, hub.state = desk.submit, desk.state
    messages: list[dict] = []
    try:
        with connect(f"ws://127.0.0.1:{hub.port}/ws", open_timeout=5) as ws:
            reader = threading.Thread(target=lambda: _collect(ws, messages), daemon=True)
            reader.start()
            desk.start()
            status, body = api(hub.port, "POST", "/api/call/end")
            assert status == 409 and "no call" in body["error"]
            status, body = api(hub.port, "POST", "/api/name", {"name": "Ольга"})
            assert status == 409 and "no call" in body["error"]
            status, body = api(hub.port, "POST", "/api/call/start", {"agent": "Анна", "call_id": "A-1"})
            assert status == 200 and body["call"]["call_id"] == "A-1" and body["call"]["agent"] == "Анна"
            # the first call's closing line, then the softphone hangs up and the next call rings
            _wait_for(messages, lambda m: m["type"] == "transcript" and m["final"]
                      and "доброго" in m["text"].lower(), 90)
            while time.time() - source.t0 < cut:
                time.sleep(0.05)
            status, body = api(hub.port, "POST", "/api/call/end")
            assert status == 200 and body["call"]["call_id"] == "A-1" and body["saved"].endswith("A-1.json")
            status, body = api(hub.port, "POST", "/api/call/start", {"call_id": "A-2"})
            assert status == 200 and body["call"]["call_id"] == "A-2"
            # "not helpful" on call 1's card, after it ended (API), and on call 2 (websocket)
            status, body = api(hub.port, "POST", "/api/feedback", {"rule": "ru.forbidden.dont-shout",
                                                                  "start": 12.3, "call_id": "A-1"})
            assert status == 200 and body["call"]["call_id"] == "A-1"
            ws.send(json.dumps({"type": "feedback", "rule": "ru.greeting.missing", "start": 1.5}))
            _wait_for(messages, lambda m: m["type"] == "feedback" and m["rule"] == "ru.greeting.missing", 30)
            status, body = api(hub.port, "GET", "/api/state")
            assert status == 200 and body["call"]["call_id"] == "A-2" and body["last"]["call_id"] == "A-1"
            assert desk.over.wait(120)  # the stream ended: the call in progress is ended and saved
            status, _ = api(hub.port, "POST", "/api/call/start", {"call_id": "A-3"})
            assert status in (409, 503)
    finally:
        desk.stop()
        hub.stop(flush_s=0.2)
    one = json.loads((out / "A-1.json").read_text(encoding="utf-8"))
    two = json.loads((out / "A-2.json").read_text(encoding="utf-8"))
    assert one["meta"]["agent"] == "Анна" and one["meta"]["started_by"] == "api"
    assert one["meta"]["ended_by"] == "api" and two["meta"]["ended_by"] == "stopped"
    assert one["customer_name"] == "Ольга" and two["customer_name"] is None
    assert "ru.forbidden.dont-shout" in [e["rule"] for e in one["events"]]
    assert "Ольга" not in json.dumps(two, ensure_ascii=False)
    assert not [e for e in two["events"] if e["rule"] == "ru.forbidden.dont-shout"]
    assert not [u for u in two["transcript"] if "ольга" in u["text"].lower()]
    assert [f["rule"] for f in two["feedback"]] == ["ru.greeting.missing"]
    assert [f["rule"] for f in one["feedback"]] == ["ru.forbidden.dont-shout"]
    assert one["feedback"][0]["start"] == 12.3 and one["feedback"][0]["at"] > 0
    sessions = [m for m in messages if m["type"] == "session"]
    assert [s["call_id"] for s in sessions] == ["A-1", "A-2"]


@pytest.mark.slow
def test_a_live_stream_starts_calls_on_speech_and_ends_them_after_silence(coach, tmp_path):
    """Hands-free: silence, a call, 10 s of silence, another call. Each starts at its first
    speech (with the greeting kept) and ends after --auto-end 5 s of silence."""
    wav = tmp_path / "day.wav"
    two_calls_wav(wav, (3.0, 10.0, 2.0))
    out = tmp_path / "out"
    messages: list[dict] = []
    desk = Desk(coach, messages.append, DeskOptions(mode="live", auto_end_s=5.0, out_dir=out),
                lambda: LiveOptions(language="ru"), source=FileSource(wav, speed=0))
    desk.start()
    try:
        assert desk.over.wait(600)
    finally:
        desk.stop()
    assert desk.error is None
    sessions = [m for m in messages if m["type"] == "session"]
    ends = [m for m in messages if m["type"] == "end"]
    assert [s["started_by"] for s in sessions] == ["speech", "speech"]
    assert [e["reason"] for e in ends] == ["silence", "stopped"]
    assert [m["state"] for m in messages if m["type"] == "call"] == ["idle", "idle"]
    results = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*.json"))]
    assert len(results) == 2
    first, second = sorted(results, key=lambda r: r["meta"]["number"])
    assert first["transcript"][0]["text"].lower().startswith(("здравствуйте", "сдравствуйте"))
    assert first["transcript"][0]["start"] < 1.5  # the pre-roll kept the greeting
    assert 20 < first["duration_s"] < 32 and second["duration_s"] < 26
    assert first["customer_name"] == "Ольга" and second["customer_name"] is None
    assert "ru.forbidden.dont-shout" in [e["rule"] for e in first["events"]]
    assert "Ольга" not in json.dumps(second, ensure_ascii=False)


def _collect(ws, out: list[dict]) -> None:
    try:
        while True:
            out.append(json.loads(ws.recv(timeout=300)))
    except Exception:
        return


def _wait_for(messages: list[dict], predicate, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in list(messages):
            if predicate(m):
                return m
        time.sleep(0.05)
    raise AssertionError(f"not seen in {timeout} s; got {[m['type'] for m in messages][-30:]}")


@pytest.mark.slow
def test_replay_and_batch_find_the_same_forbidden_phrase(coach, scored):
    """The Session's findings are batch's; the events published live are the same findings
    (rule, speaker, start), possibly reported early on a shorter span of the phrase."""
    batch = [e for e in scored("forbidden_agent.wav")["events"] if e["category"] == "forbidden_phrase"]
    source = FileSource(CALLS / "forbidden_agent.wav", speed=0)  # as fast as possible
    messages: list[dict] = []
    session = coach.new_session(source.speakers, "ru")
    LivePipeline(coach.whisper, session, messages.append, LiveOptions(language="ru")).run(source)
    found = [e.to_dict() for e in session.sorted_events() if e.category == "forbidden_phrase"]
    assert [(e["rule"], e["speaker"], e["text"]) for e in found] == [
        (e["rule"], e["speaker"], e["text"]) for e in batch]
    for a, b in zip(found, batch):
        assert abs(a["start"] - b["start"]) < 0.3 and abs(a["end"] - b["end"]) < 0.3
    live = [m for m in messages if m["type"] == "event" and m["category"] == "forbidden_phrase"]
    assert [(e["rule"], e["speaker"]) for e in live] == [(e["rule"], e["speaker"]) for e in batch]
    for a, b in zip(live, batch):
        assert abs(a["start"] - b["start"]) < 0.3


# -- the server on its own -------------------------------------------------------------------


@pytest.fixture()
def hub():
    h = Hub(HubOptions(port=0, audio_path=CALLS / "forbidden_agent.wav", client_queue=64)).start()
    yield h
    h.stop(flush_s=0.2)


def http_request(port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def http_get(port: int, path: str, headers: dict | None = None):
    return http_request(port, "GET", path, headers)


def raw_request(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(4096):
                out += chunk
        except TimeoutError:
            pass
    return out


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


def test_http_hygiene_methods_head_and_malformed_paths(hub, caplog):
    caplog.set_level(logging.DEBUG)
    for method, path in (("POST", "/"), ("PUT", "/index.html"), ("DELETE", "/audio"), ("OPTIONS", "/"),
                         ("PATCH", "/api/call/start"), ("GET", "/api/call/end"), ("PUT", "/api/feedback")):
        resp, _ = http_request(hub.port, method, path)
        assert resp.status == 405, (method, path, resp.status)
        allowed = {m.strip() for m in resp.getheader("Allow", "").split(",")}
        assert allowed == ({"POST"} if path.startswith("/api/") else {"GET", "HEAD"}), (path, allowed)
    resp, body = http_request(hub.port, "HEAD", "/")
    get, page = http_get(hub.port, "/")
    assert resp.status == 200 and body == b"" and int(resp.getheader("Content-Length")) == len(page)
    resp, body = http_request(hub.port, "HEAD", "/audio")
    assert resp.status == 200 and body == b""
    resp, _ = http_get(hub.port, "/%00")
    assert resp.status == 400
    resp, _ = http_get(hub.port, "/ui/%00/../index.html")
    assert resp.status == 400
    raw = raw_request(hub.port, b"GET /\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.") and b" 400 " in raw.split(b"\r\n")[0]
    resp, _ = http_get(hub.port, "/still-serving-after-that")
    assert resp.status == 404
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    # the API takes its fields in the query string; a request with a body is refused (the
    # connection is closed) and the server goes on serving
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
        http_request(hub.port, "POST", "/api/call/start", {"Content-Type": "application/json"}, b"[1, 2]")
    resp, _ = http_get(hub.port, "/still-serving")
    assert resp.status == 404
    resp, body = http_request(hub.port, "POST", "/api/call/start?agent=A&call_id=1")
    assert resp.status == 503
    resp, body = http_request(hub.port, "POST", "/api/call/end", {"Origin": "http://evil.example"})
    assert resp.status == 403  # a web page cannot end the agent's call


def test_a_token_is_required_for_the_page_the_websocket_and_the_api():
    hub = Hub(HubOptions(port=0, token="s3cret-token")).start()
    try:
        port = hub.port
        assert hub.url.endswith("/?token=s3cret-token")
        for path in ("/", "/app.js", "/api/state", "/audio"):
            resp, _ = http_get(port, path)
            assert resp.status == 401, path
        resp, _ = http_get(port, "/?token=wrong")
        assert resp.status == 401
        resp, body = http_get(port, "/?token=s3cret-token")
        assert resp.status == 200 and b"app.js" in body
        cookie = resp.getheader("Set-Cookie")
        assert f"coach_token_{port}=s3cret-token" in cookie and "HttpOnly" in cookie
        resp, _ = http_get(port, "/app.js", {"Cookie": cookie.split(";")[0]})
        assert resp.status == 200  # the page's own files come with its cookie
        resp, _ = http_get(port, "/api/state", {"Authorization": "Bearer s3cret-token"})
        assert resp.status == 200
        resp, _ = http_get(port, "/api/state", {"X-Coach-Token": "s3cret-token"})
        assert resp.status == 200
        with pytest.raises(InvalidStatus) as err:
            connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5)
        assert err.value.response.status_code == 401
        hub.publish(status_message("agent", "lost", "gone", device="mic"))
        with connect(f"ws://127.0.0.1:{port}/ws?token=s3cret-token", open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5))["type"] == "status"
    finally:
        hub.stop(flush_s=0.2)


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
        # a copy first: the hub's loop thread adds and drops clients while this thread reads them
        stuck_clients = [c for c in list(hub.clients) if c.peer and c.peer[1] == stuck.getsockname()[1]]
        assert stuck_clients
        for c in stuck_clients:  # its queue stayed bounded by dropping partial transcripts
            assert len(c.queue) <= c.limit  # live-traffic bound + the backlog it joined with
            assert c.dropped > 0 and not c.too_slow
    finally:
        stuck.close()


def test_a_late_client_gets_the_latest_checklist_and_name_only(hub):
    """The checklist and the name supersede themselves: the backlog keeps only the newest."""
    from coach.contract import checklist_message, name_message

    item = {"id": "ru.structure.greeting", "label": "Приветствие", "done": False, "at": None}
    hub.publish({"type": "session", "language": "ru", "t0": 1.0, "speed": 1.0})
    hub.publish(checklist_message([item]))
    hub.publish(name_message("Патри", False))
    hub.publish(checklist_message([{**item, "done": True, "at": 2.5}]))
    hub.publish(name_message("Николай", True, True))
    hub.publish({"type": "end"})
    with connect(f"ws://127.0.0.1:{hub.port}/ws", open_timeout=5) as ws:
        got = []
        while not got or got[-1]["type"] != "name":
            got.append(json.loads(ws.recv(timeout=5)))
    assert [m["type"] for m in got] == ["session", "end", "checklist", "name"]
    assert got[2]["items"][0]["done"] and got[2]["done"] == 1
    assert got[3] == {"type": "name", "name": "Николай", "confirmed": True, "set": True}


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


@pytest.mark.slow
def test_says_when_the_overlay_window_cannot_open():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run(
        [sys.executable, "-m", "coach", "replay", str(CALLS / "mono_call.wav"), "--exit-at-end",
         "--port", str(free_port()), "--speed", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stderr.splitlines() if "could not open the overlay window" in x)
    assert "no graphical display" in line and "http://127.0.0.1:" in line


@pytest.mark.slow
def test_replay_in_auto_takes_each_calls_language_from_the_agent(tmp_path):
    """`--language auto` (the default): each call's language is decided on the agent's first
    utterance, before anything is transcribed; an English call and a Russian one in one replay."""
    port, out = free_port(), tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "coach", "replay", str(CALLS / "en" / "en_support.flac"),
         str(CALLS / "forbidden_agent.wav"), "--no-browser", "--exit-at-end", "--port", str(port),
         "--speed", "0", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        with connect_when_up(f"ws://127.0.0.1:{port}/ws", proc=proc) as ws:
            messages = read_all(ws, lambda m: m["type"] == "end" and m.get("number") == 2)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
    sessions = [m for m in messages if m["type"] == "session"]
    assert [s["language"] for s in sessions] == ["en", "ru"]
    assert all(s["language_probability"] > 0.8 for s in sessions)
    first_session = messages.index(sessions[0])
    assert not [m for m in messages[:first_session] if m["type"] in ("transcript", "event")]
    saved = {json.loads(p.read_text())["language"]: json.loads(p.read_text()) for p in out.glob("*.json")}
    assert set(saved) == {"en", "ru"}
    assert saved["ru"]["language_probability"] > 0.8
    assert any(e["rule"] == "ru.forbidden.dont-shout" for e in saved["ru"]["events"])
