"""Back-to-back calls at the agent's desk: one Session per call, each result saved like batch's.

`coach live` records all day from the same devices, and `coach replay`
plays several recordings; either way the audio is cut into *calls*, and each
call gets its own Session (`Coach.new_session`), its own LivePipeline and,
when it ends, its own result (`Coach.result`, the batch contract, plus
`meta`, `feedback` and `live`), written to `--out` as `<call-id>.json`.
Nothing of one call (customer's name, counters, findings, transcript)
reaches the next: everything that holds call state is made anew.

A call starts by the overlay's button or hotkey, by `POST /api/call/start`
(a softphone or CRM), at the next speech when no call is running
(`start_on_speech`), or, in replay, when the next recording begins. It ends
by the button, `POST /api/call/end`, `auto_end_s` of silence on every
channel, the end of the recording, or coach stopping (the call is saved).

One worker thread does all of it: it reads the source, runs Whisper, and
carries out commands between steps, so the Session is never touched from
two threads and stopping means joining that one thread, after which no
decode is in flight (a C++ thread still decoding at interpreter exit aborts
the process). Commands come from the hub's threads through `submit`, which
returns a Future the HTTP API waits on.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coach.asr.language import LanguageProbe
from coach.audio import SAMPLE_RATE
from coach.config import AUTO
from coach.contract import (
    CallResult,
    Event,
    Severity,
    call_message,
    end_message,
    status_message,
)
from coach.core import Coach
from coach.errors import CoachError
from coach.live.desk_commands import DeskCommands
from coach.live.hub import CommandError
from coach.live.language_gate import LanguageGate
from coach.live.pipeline import LiveOptions, LivePipeline
from coach.live.sources import Chunk, FileSource
from coach.live.trigger import SpeechTrigger
from coach.outputs import OutputError, write_atomic

log = logging.getLogger(__name__)

Publish = Callable[[dict], None]


@dataclass
class DeskOptions:
    """How calls are cut and kept."""

    mode: str = "live"  # "live" (one continuous source) or "replay" (one recording per call)
    auto_end_s: float = 0.0  # end a call after this much silence on every channel; 0: never
    start_on_speech: bool = True  # live: with no call running, the next speech starts one
    out_dir: Path | None = None  # write each call's result here
    agent: str | None = None  # the agent's name for `meta` when the API does not give one
    preroll_s: float = 1.0  # audio kept before the speech that starts a call
    speech_start_s: float = 0.25  # this much speech (VAD) starts a call
    vad_threshold: float = 0.5
    adopt_s: float = 15.0  # an API start this soon after a call began on speech names that call
    pause_s: float = 0.0  # replay: seconds between recordings (the review stays on screen)
    top_findings: int = 3  # findings in the end-of-call scorecard


@dataclass
class CallMeta:
    """Who and what a call is: written as the result's `meta`."""

    number: int  # 1, 2, ... in this run of coach
    call_id: str | None
    agent: str | None
    started_at: float  # unix time of the call's first audio
    reason: str  # what started it: speech, button, api, recording
    ended_at: float | None = None
    end_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "agent": self.agent, "call_id": self.call_id, "started_at": _iso(self.started_at),
            "number": self.number, "started_by": self.reason,
        }
        if self.ended_at is not None:
            out["ended_at"] = _iso(self.ended_at)
            out["ended_by"] = self.end_reason
        return out


@dataclass
class _Call:
    meta: CallMeta
    pipeline: LivePipeline
    offset: float  # source stream seconds at call t=0
    name: str  # the result's `call`
    feedback: list[dict[str, Any]] = field(default_factory=list)
    names: list[dict[str, Any]] = field(default_factory=list)  # the agent's name corrections
    result: CallResult | None = None
    saved: Path | None = None

    @property
    def session(self):
        return self.pipeline.session


class Desk(DeskCommands):
    """Calls one after another from a live source or a list of recordings (module docstring)."""

    def __init__(
        self,
        coach: Coach,
        publish: Publish,
        options: DeskOptions,
        live_options: Callable[[], LiveOptions],
        source: Any = None,
        recordings: list[FileSource] | None = None,
    ):
        if (source is None) == (recordings is None):
            raise ValueError("a Desk plays either one live source or a list of recordings")
        self.coach = coach
        self.publish = publish
        self.options = options
        self.live_options = live_options
        self.source = source
        self.recordings = recordings
        self.language = live_options().language
        self.call: _Call | None = None
        self.last: _Call | None = None
        self.saved: list[Path] = []
        self.calls = 0
        self.error: BaseException | None = None
        self.over = threading.Event()  # replay played everything, or the live source ended
        self.done = threading.Event()  # the worker thread has finished
        self.set_audio: Callable[[Path | None], None] = lambda path: None
        self._stop = threading.Event()
        self._commands: queue.Queue[tuple[dict, concurrent.futures.Future]] = queue.Queue()
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"mode": options.mode, "call": None, "last": None, "calls": 0}
        self._thread = threading.Thread(target=self._run, name="coach-calls", daemon=True)
        self._stream_t0 = 0.0
        self._stream_pos = 0.0
        self._trigger = SpeechTrigger(options.preroll_s, options.speech_start_s, options.vad_threshold)

    # -- control (any thread) -------------------------------------------------------------

    def start(self) -> Desk:
        self._thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> bool:
        """End the current call (saved), stop the source, and wait for the worker thread."""
        self._stop.set()
        if self.source is not None and self._thread.is_alive():
            self._thread.join(1.0)
            if self._thread.is_alive():  # still opening devices, say: make it give up
                self.source.stop()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def submit(self, command: dict[str, Any]) -> concurrent.futures.Future:
        """Queue a command for the worker thread; the Future holds its reply (a dict with
        `status`) or a CommandError."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        if self.done.is_set() or self._stop.is_set():
            future.set_exception(CommandError(503, "coach is stopping"))
        else:
            self._commands.put((command, future))
        return future

    def state(self) -> dict[str, Any]:
        """What is going on, for `GET /api/state` (a copy, safe from any thread)."""
        with self._lock:
            return dict(self._state)

    # -- the worker thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self.recordings is not None:
                self._replay(self.recordings)
            else:
                self._live(self.source)
        except BaseException as exc:
            if isinstance(exc, CoachError):  # a device that cannot be opened...: one line, said by the caller
                log.debug("live pipeline stopped", exc_info=True)
            else:  # a bug: the traceback goes to the log file (and on screen with -v)
                log.info("live pipeline failed\n%s", traceback.format_exc().rstrip())
            self.error = exc
            self.publish(status_message("pipeline", "error", f"coach stopped: {exc}",
                                        code="pipeline_error"))
            if self.call is not None:
                try:
                    self._end_call("error")
                except Exception:
                    log.exception("could not save the call after the failure")
        finally:
            self.over.set()
            self._fail_pending()
            self.done.set()

    def _live(self, source: Any) -> None:
        self._stream_t0 = source.start()
        self._idle("waiting")
        try:
            while not self._stop.is_set():
                chunks = source.read(timeout=0.05)
                if chunks is None:
                    break
                for chunk in chunks:
                    self._stream_pos = max(self._stream_pos,
                                           chunk.start + len(chunk.samples) / SAMPLE_RATE)
                self._run_commands()
                if self.call is None:
                    if self.options.start_on_speech:
                        self._watch_for_speech(chunks)
                    continue
                for chunk in chunks:
                    self._feed_live(chunk)
                pipeline = self.call.pipeline
                pipeline.step()
                if self.options.auto_end_s and pipeline.silent_for >= self.options.auto_end_s:
                    self._end_call("silence")
                    self._idle("silence")
        finally:
            try:
                if self.call is not None:
                    self._end_call("stopped")
            finally:
                source.stop()
        self.over.set()

    def _replay(self, recordings: list[FileSource]) -> None:
        for index, source in enumerate(recordings):
            if self._stop.is_set():
                break
            self.set_audio(source.path)
            t0 = source.start()
            self._begin(source.speakers, t0, source.speed if source.realtime else 0.0, 0.0, "recording",
                        call_id=source.path.stem, name=str(source.path), info=source.info)
            ended = "stopped"
            try:
                while not self._stop.is_set():
                    self._run_commands()
                    if self.call is None:  # ended from the overlay or the API: next recording
                        break
                    chunks = source.read(timeout=0.05)
                    if chunks is None:
                        ended = "end of recording"
                        break
                    for chunk in chunks:
                        self.call.pipeline.feed(chunk)
                    self.call.pipeline.step()
            finally:
                source.stop()
            if self.call is not None:
                self._end_call(ended, duration=source.duration_s or None)
            if index + 1 < len(recordings) and self.options.pause_s > 0:
                self._wait_commands(self.options.pause_s)
        self._idle("replay over")
        self.over.set()
        while not self._stop.is_set():  # keep answering (feedback on the last call) until stopped
            self._wait_commands(0.2)

    # -- calls ----------------------------------------------------------------------------

    def _begin(self, speakers: tuple[str, ...], t0: float, speed: float, offset: float, reason: str,
               call_id: str | None = None, agent: str | None = None, name: str | None = None,
               info: dict[str, Any] | None = None) -> _Call:
        self.calls += 1
        meta = CallMeta(self.calls, call_id, agent or self.options.agent, t0, reason)
        pipeline = self._pipeline(tuple(speakers))
        label = name or call_id or f"live-{time.strftime('%Y%m%d-%H%M%S', time.localtime(t0))}"
        call = _Call(meta, pipeline, offset, label)
        self.call = call
        extra = dict(info or {})
        if self.options.mode == "replay":
            extra["audio"] = f"/audio?call={meta.number}"
        pipeline.start(t0, speed, **extra, call_id=call_id, agent=meta.agent,
                       started_at=_iso(t0), number=meta.number, started_by=reason)
        log.info("call %d started (%s)%s", meta.number, reason, f": {call_id}" if call_id else "")
        self._publish_state()
        return call

    def _start_live_call(self, reason: str, offset: float, call_id: str | None = None,
                         agent: str | None = None) -> _Call:
        call = self._begin(self.source.speakers, self._stream_t0 + offset, 1.0, offset, reason,
                           call_id=call_id, agent=agent, info=self.source.info)
        self._trigger.reset()
        return call

    def _feed_live(self, chunk: Chunk) -> None:
        """A source chunk on the call's clock (t=0 at the call's start); earlier audio is cut."""
        call = self.call
        assert call is not None
        start = chunk.start - call.offset
        samples = chunk.samples
        if start < 0:
            skip = int(round(-start * SAMPLE_RATE))
            if skip >= len(samples):
                return
            samples, start = samples[skip:], 0.0
        call.pipeline.feed(Chunk(chunk.speaker, samples, start, chunk.gap))

    def _pipeline(self, speakers: tuple[str, ...]) -> LivePipeline | LanguageGate:
        """A call's pipeline in the configured language, or, with `auto`, a gate that makes it
        in the language of the agent's first utterance (coach.live.language_gate)."""

        def make(language: str) -> LivePipeline:
            options = self.live_options()
            options.language = language
            session = self.coach.new_session(speakers, language)
            return LivePipeline(self.coach.whisper, session, self.publish, options)

        if self.language != AUTO:
            return make(self.language)
        probe = LanguageProbe(self.coach.transcriber.ops, self.coach.languages)
        return LanguageGate(make, probe, fallback=self.coach.languages[0])

    def _end_call(self, reason: str, duration: float | None = None) -> _Call:
        call = self.call
        assert call is not None
        self.call = None
        meta = call.meta
        meta.ended_at, meta.end_reason = time.time(), reason
        duration = call.pipeline.finish(duration)
        session = call.session
        result = self.coach.result(session, call.name, None, list(session.utterances), {
            "mode": self.options.mode,
            "meta": meta.to_dict(),
            "feedback": call.feedback,
            "live": {"late_cards": call.pipeline.late_cards, "checklist": call.pipeline.checklist(),
                     "cues": call.pipeline.cues, "name_set": call.names},
            "language_probability": call.pipeline.language_probability,
        })
        call.result = result
        call.saved = self._save(call)
        self.last = call
        top = worst_first(result.events)
        self.publish(end_message(
            duration, len(result.events), reason=reason, number=meta.number, call_id=meta.call_id,
            score=result.score, top=[e.to_dict() for e in top[: self.options.top_findings]],
            saved=str(call.saved) if call.saved else None,
        ))
        log.info("call %d ended (%s): %d findings, score %s%s", meta.number, reason, len(result.events),
                 result.total_score, f", saved {call.saved}" if call.saved else "")
        self._publish_state()
        return call

    def _idle(self, reason: str) -> None:
        """No call running (live, or a replay that is over): the overlay offers to start one."""
        on_speech = self.options.start_on_speech and self.options.mode == "live"
        self.publish(call_message("idle", language=self.language, reason=reason, start_on_speech=on_speech,
                                  mode=self.options.mode))

    def _save(self, call: _Call) -> Path | None:
        out = self.options.out_dir
        if out is None or call.result is None:
            return None
        if not call.session.utterances:
            log.info("call %d: nothing was said; not saved", call.meta.number)
            return None
        stem = _safe_name(call.meta.call_id) or time.strftime(
            "%Y%m%d-%H%M%S", time.localtime(call.meta.started_at))
        path = out / f"{stem}.json"
        n = 2
        while path.exists() and path not in self.saved:
            path = out / f"{stem}-{n}.json"
            n += 1
        try:
            write_atomic(path, call.result.to_json())
        except OutputError as exc:  # a full disk must not end the coaching
            log.error("call %d not saved: %s", call.meta.number, exc)
            self.publish(status_message("output", "error", str(exc), code="save_failed"))
            return None
        if path not in self.saved:
            self.saved.append(path)
        return path

    # -- starting on speech -----------------------------------------------------------------

    def _watch_for_speech(self, chunks: list[Chunk]) -> None:
        preroll = self._trigger.feed(chunks)
        if preroll is None:
            return
        self._start_live_call("speech", preroll[0].start)
        for chunk in preroll:
            self._feed_live(chunk)

    def _publish_state(self) -> None:
        with self._lock:
            self._state = {
                "mode": self.options.mode,
                "calls": self.calls,
                "call": self.call.meta.to_dict() if self.call else None,
                "last": None if self.last is None else {
                    **self.last.meta.to_dict(),
                    "score": self.last.result.total_score if self.last.result else None,
                    "saved": str(self.last.saved) if self.last.saved else None,
                },
            }


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


def _safe_name(call_id: str | None) -> str | None:
    """A call id as a file name: letters, digits, '.', '-', '_' (others become '_'), no dot first."""
    if not call_id:
        return None
    name = re.sub(r"[^\w.-]", "_", call_id, flags=re.ASCII).lstrip(".")[:100]
    return name or None


def worst_first(events: list[Event]) -> list[Event]:
    """The scorecard's top findings: most severe first, then in time order (call-level last)."""
    return sorted(events, key=lambda e: (-Severity.rank_of(e.severity), e.start is None, e.start or 0.0))
