"""The live pipeline: per-speaker streaming transcription into the one Session.

Audio chunks go to each speaker's `OnlineTranscriber` and, untouched, to
`Session.feed_audio` (loudness, overlaps, dead air); final utterances go to
`Session.add_utterance`, exactly as `coach score` feeds them, so a replay
and a batch run of the same recording reach the same findings. Everything
that comes out becomes a contract message handed to `publish` (the hub).

Finals are decoded before partials on every step: a hint matters more than a
moving transcript line, and both speakers share the same CPU.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from coach.asr.streaming import OnlineTranscriber, StreamingOptions
from coach.contract import AGENT, Event, Utterance
from coach.live.sources import Chunk
from coach.session import Session

log = logging.getLogger(__name__)

Publish = Callable[[dict], None]



@dataclass
class LiveOptions:
    """Pipeline settings; the transcriber's own live in `streaming`."""

    language: str = "ru"
    streaming: StreamingOptions = field(default_factory=StreamingOptions)
    metrics_interval_s: float = 1.0  # wall-clock seconds between metrics messages
    time_hints_interval_s: float = 1.0  # how often time-based rules (name not asked yet...) are polled
    rate_window_s: float = 30.0  # the speech-rate meter looks at the agent's last 30 s of speech
    # phrase findings checked on committed words while the speaker is still talking
    early_categories: tuple[str, ...] = ("forbidden_phrase", "negative_phrasing", "diminutive")
    early_match_s: float = 1.0  # a final finding this close to an early one is the same finding
    # Committed words that must follow a phrase before it is reported early. 0 reports it at once:
    # the finding (rule, speaker, start) is the one batch reports, but its text and end may be a
    # shorter phrase of the same rule ("не кричите" of "не кричите на меня"). 1 waits for the next
    # word: exact text, about 0.9 s more latency on the fixture calls (docs/live.md).
    early_margin_words: int = 0


class LivePipeline:
    """One call, live: chunks in (`feed` + `step`, or `run(source)`), messages out."""

    def __init__(
        self,
        whisper: Any,
        session: Session,
        publish: Publish,
        options: LiveOptions | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.options = options or LiveOptions()
        self.session = session
        self.publish = publish
        self.clock = clock
        streaming = self.options.streaming
        streaming.language = self.options.language
        self.transcribers = {s: OnlineTranscriber(whisper, s, streaming) for s in session.speakers}
        self._agent_recent: deque[Utterance] = deque()
        self._early: list[Event] = []  # phrase findings published before their utterance closed
        self._early_seen = dict.fromkeys(self.transcribers, 0)
        self._stream_time = 0.0
        self._last_metrics = 0.0
        self._last_hints = 0.0
        self.t0 = 0.0
        self.speed = 1.0
        self.finished = False

    # -- driving ---------------------------------------------------------------

    def start(self, t0: float, speed: float = 1.0, **info: Any) -> None:
        """Send the session message (t0 = unix time of audio t=0)."""
        self.t0, self.speed = t0, speed
        self.publish({"type": "session", "language": self.options.language, "t0": t0,
                      "speed": speed, "speakers": list(self.session.speakers), **info})

    def feed(self, chunk: Chunk) -> None:
        if chunk.speaker not in self.transcribers:
            return
        self.transcribers[chunk.speaker].insert_audio_chunk(chunk.samples)
        end = chunk.start + len(chunk.samples) / 16000
        self._stream_time = max(self._stream_time, end)
        self._emit_events(self.session.feed_audio(chunk.speaker, chunk.samples, chunk.start))

    def step(self) -> None:
        """Close finished utterances first (both speakers), then refresh partial transcripts."""
        for partials in (False, True):
            utterances: list[Utterance] = []
            for tr in self.transcribers.values():
                utterances += tr.process_iter() if partials else tr.process_iter(decode_partials=False)
            for utt in sorted(utterances, key=lambda u: (u.start, u.speaker)):
                self._utterance(utt)
        for speaker, tr in self.transcribers.items():
            self._early_check(speaker, tr.committed_words())
        now = self.clock()
        if now - self._last_hints >= self.options.time_hints_interval_s:
            self._last_hints = now
            self._emit_events(self._time_hints(self._stream_time), hint=True)
        if now - self._last_metrics >= self.options.metrics_interval_s:
            self._send_metrics()

    def finish(self, duration_s: float | None = None) -> None:
        """End of audio: last utterances, call-level findings, final metrics, `end`."""
        if self.finished:
            return
        finals: list[Utterance] = []
        for tr in self.transcribers.values():
            finals += tr.finish()
        for utt in sorted(finals, key=lambda u: (u.start, u.speaker)):
            self._utterance(utt)
        duration = duration_s if duration_s is not None else self._stream_time
        self._emit_events(self.session.finish(duration))
        self._send_metrics(duration)
        self.finished = True
        self.publish({"type": "end", "duration_s": round(duration, 2),
                      "events": len(self.session.events)})

    def run(self, source: Any, stop: threading.Event | None = None) -> None:
        """Drive the pipeline from a source until it ends (or `stop` is set), then finish."""
        stop = stop or threading.Event()
        t0 = source.start()
        self.start(t0, source.speed if source.realtime else 0.0, **getattr(source, "info", {}))
        try:
            while not stop.is_set():
                chunks = source.read(timeout=0.05)
                if chunks is None:
                    break
                for chunk in chunks:
                    self.feed(chunk)
                self.step()
        finally:
            source.stop()
        self.finish(getattr(source, "duration_s", None) or None)

    # -- messages --------------------------------------------------------------

    def _utterance(self, utt: Utterance) -> None:
        msg = {"type": "transcript", **utt.to_dict(), "final": utt.final}
        self.publish(msg)
        if not utt.final:
            return
        self._emit_events(self._not_yet_published(self.session.add_utterance(utt)))
        if utt.speaker == AGENT:
            self._agent_recent.append(utt)
        self._send_metrics()

    def _early_check(self, speaker: str, words: list) -> None:
        """Phrase rules on the committed words of an utterance still being spoken.

        An utterance closes only after a 0.5 s pause, and an agent may talk
        for half a minute without one; a forbidden phrase in the middle would
        wait for the whole turn. Committed words no longer change, so the
        line-level phrase rules run on them (with a scratch call state: these
        rules look at one utterance only) and a hit is published at once. The
        Session still decides on the final utterance, as in batch; a finding
        already published early is not published twice.
        """
        if len(words) <= self._early_seen[speaker]:
            self._early_seen[speaker] = len(words)  # a new utterance began
            return
        self._early_seen[speaker] = len(words)
        rulebook = self.session.rulebook
        utt = Utterance(speaker, words[0].start, words[-1].end, " ".join(w.text for w in words),
                        words, final=False)
        scratch = rulebook.new_state(self.session.speakers)
        scratch.customer_name = self.session.customer_name
        margin = self.options.early_margin_words
        if len(words) <= margin:
            return
        frontier = words[-margin].start if margin else words[-1].end
        found = [e for e in rulebook.check_utterance(utt, scratch)
                 if e.category in self.options.early_categories and e.speaker == speaker
                 and e.end is not None and e.end <= frontier]
        new = [e for e in found if self._same_as_early(e) is None]
        self._early += new
        self._emit_events(new)

    def _same_as_early(self, event: Event) -> Event | None:
        for early in self._early:
            if (early.rule, early.speaker) == (event.rule, event.speaker) and (
                early.start is not None and event.start is not None
                and abs(early.start - event.start) <= self.options.early_match_s
            ):
                return early
        return None

    def _not_yet_published(self, events: list[Event]) -> list[Event]:
        out = []
        for event in events:
            early = self._same_as_early(event)
            if early is None:
                out.append(event)
            else:
                self._early.remove(early)
        horizon = self._stream_time - 120.0  # unconfirmed early findings are forgotten eventually
        self._early = [e for e in self._early if (e.end or 0.0) >= horizon]
        return out

    def _emit_events(self, events: list[Event], hint: bool = False) -> None:
        """Findings as contract events; `hint` marks live-only advice (time-based rules), which
        is not a finding of the call and so is not in the Session's results."""
        for event in events:
            msg = {"type": "event", **event.to_dict(), "emitted_at": self.clock()}
            if hint:
                msg["hint"] = True
            self.publish(msg)

    def _send_metrics(self, duration: float | None = None) -> None:
        self._last_metrics = self.clock()
        duration = duration if duration is not None else self._stream_time
        try:
            metrics = self.session.metrics(duration)
        except Exception as exc:  # metrics are a display nicety; never stop the call for them
            log.debug("metrics failed: %s", exc)
            metrics = {}
        self.publish({
            "type": "metrics", **_jsonable(metrics), "stream_time": round(self._stream_time, 2),
            "customer_name": self.session.customer_name, "fillers": self._fillers(),
            "rate": self._rate(),
        })

    def _rate(self) -> dict[str, Any]:
        """The agent's recent pace for the overlay's meter (syllables and words per second)."""
        from coach.analyzers.words import syllables

        horizon = self._stream_time - self.options.rate_window_s
        while self._agent_recent and self._agent_recent[0].end < horizon:
            self._agent_recent.popleft()
        words = [w for u in self._agent_recent for w in u.words]
        speaking = sum(max(u.end - u.start, 0.0) for u in self._agent_recent)
        limit = None
        cfg = getattr(self.session.analyzers, "cfg", None)
        if cfg is not None:
            limit = getattr(getattr(cfg, "speech_rate", None), "max_syllables_per_s", None)
            if isinstance(limit, Mapping):  # a norm per language (analyzers.yaml)
                limit = limit.get(self.session.language)
        if speaking < 1.0:
            return {"syllables_per_s": None, "wpm": None, "max_syllables_per_s": limit}
        language = self.session.language
        return {
            "syllables_per_s": round(sum(syllables(w.text, language) for w in words) / speaking, 2),
            "wpm": round(len(words) / speaking * 60),
            "max_syllables_per_s": limit,
        }

    def _fillers(self) -> int:
        """Fillers said so far, as the rulebook's own filler rules counted them (one list of
        fillers, in rules/<lang>/, for the counter and the findings alike)."""
        rules = [r for r in self.session.rulebook.rules
                 if r.category == "filler_words" and r.applies_to(AGENT)]
        facts = self.session.state.facts
        return sum(int(getattr(facts.get(r.id), "count", 0) or 0) for r in rules)

    def _time_hints(self, now: float) -> list[Event]:
        """Live-only advice from rules that fire on time passing (the name not used lately...).

        `Session.check_time` is polled here and nowhere in batch; its hints
        are not findings, so they stay out of the Session's events and batch
        and replay keep the same findings.
        """
        return self.session.check_time(now)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        if isinstance(value, float) and value != value:  # NaN is not JSON
            value = None
        out[key] = value
    return out
