"""The live pipeline: per-speaker streaming transcription into one call's Session.

Audio chunks go to each speaker's `OnlineTranscriber` and, untouched, to
`Session.feed_audio` (loudness, overlaps, dead air); final utterances go to
`Session.add_utterance`, exactly as `coach score` feeds them, so a replay
and a batch run of the same recording reach the same findings. Everything
that comes out becomes a contract message (`coach.contract` builders) handed
to `publish` (the hub).

Finals are decoded before partials on every step: a hint matters more than a
moving transcript line, and both speakers share the same CPU. When the CPU
falls behind the audio, the customer's partials wait too: the agent's
partials feed the previews, the customer's only the transcript line.

Four things make hints timely without changing what the call's result says:

* **Preview.** Rules marked `early` run on the committed words of an
  utterance still being spoken (`Session.preview`); a hit is published at
  once and not again when the final utterance confirms it.
* **Watermark.** After every step the pipeline tells the Session how far
  each speaker's words are final (`Session.advance(t, (speaker,))`), so acoustic
  findings that wait for words (raised voice, interruption) are decided
  within about a second of the audio instead of at the speaker's next
  utterance. `t` is exact, never optimistic: see `words_final_through`.
* **Acoustic previews.** Final words come only when an utterance closes, and
  an agent who raises their voice or talks over the customer usually goes on
  talking: raised voice and interruption are also judged on the committed
  words of the open utterance (`Session.preview_acoustic`) and a hit is
  published at once, like a phrase preview.
* **Card deadline.** An acoustic finding decided more than
  `card_deadline_s` after its moment (wall clock at replay speed) is still
  published and still in the result, but with `"card": false`: the overlay
  lists it in the review and does not flash a stale card.

Besides findings, each final utterance may bring live advice that is never a
finding (`Session.cues`: praise for a recommended phrase, or a prompt with
the phrase to say when the customer is angry) as `cue` messages, and the
call's checklist and the customer's name are sent whenever they change
(`checklist`, `name` messages). The agent may correct the name
(`set_customer_name`): suggestions use it from then on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from coach.asr.streaming import OnlineTranscriber, StreamingOptions
from coach.audio import SAMPLE_RATE
from coach.contract import (
    AGENT,
    Event,
    Utterance,
    checklist_message,
    cue_message,
    event_message,
    metrics_message,
    name_message,
    session_message,
    transcript_message,
)
from coach.live.sources import Chunk
from coach.session import Session

log = logging.getLogger(__name__)

Publish = Callable[[dict], None]
VAD_WINDOW_S = 512 / SAMPLE_RATE  # Silero's window: audio not yet judged speech or silence


@dataclass
class LiveOptions:
    """Pipeline settings; the transcriber's own live in `streaming`."""

    language: str = "ru"
    streaming: StreamingOptions = field(default_factory=StreamingOptions)
    metrics_interval_s: float = 1.0  # wall-clock seconds between metrics messages
    time_hints_interval_s: float = 1.0  # how often time-based rules (name not asked yet...) are polled
    early_match_s: float = 1.0  # a final finding this close to a previewed one is the same finding
    # Committed words that must follow a phrase before it is previewed. 0 reports it at once:
    # the finding (rule, speaker, start) is the one batch reports, but its text and end may be a
    # shorter phrase of the same rule ("не кричите" of "не кричите на меня"). 1 waits for the next
    # word: exact text, about 0.9 s more latency on the fixture calls (docs/live.md).
    early_margin_words: int = 0
    # Acoustic findings decided later than this after their moment: listed, no card. The result's
    # raised voice waits for 2 s of the agent's next speech (a gain change is no raised voice) and
    # final words, an interruption for both speakers' final words; the previews come sooner (see
    # `acoustic_previews`), and a card within 5 s still points at what the agent just said.
    card_deadline_s: float = 5.0
    # Raised voice and interruption judged on committed words too (`Session.preview_acoustic`),
    # so their cards come while the agent is still talking, not when the utterance closes.
    acoustic_previews: bool = True
    # Behind real time by more than this (a busy CPU): the customer's partial transcripts wait,
    # so the agent's partials, which feed the hints, get the CPU. Finals are never skipped.
    behind_s: float = 0.5
    timely_categories: tuple[str, ...] = ("raised_voice", "interruption", "long_silence")


def words_final_through(tr: OnlineTranscriber) -> float:
    """Audio time before which no final word of this speaker is still to come.

    This is the promise `Session.advance` takes, and it must never be
    optimistic (a word arriving later below it would be missed by decisions
    already made). After `process_iter` every complete VAD window has been
    judged, so:

    * between utterances, a new utterance can only open at a window not yet
      judged (at or after `now` less one 32 ms window), and its audio, so its
      first word, reaches back `speech_pad_s` before that onset;
    * inside an utterance, its words come when it closes, and the earliest
      can start at its onset less that same pad.

    Committed words are not final (the closing decode re-decodes freely), so
    they do not move the watermark. Reads the transcriber's state (`_open`,
    `_utt_start`, `_pad`) until `OnlineTranscriber` says this itself.
    """
    pad = tr._pad / SAMPLE_RATE
    if tr._open:
        return max(tr._utt_start - pad, 0.0)
    return max(tr.now - VAD_WINDOW_S - pad, 0.0)


def is_speaking(tr: OnlineTranscriber) -> bool:
    """An utterance is open: speech heard and not yet followed by the closing pause."""
    return bool(tr._open)


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
        session.lines_later = True  # a line read again does not hold back its other findings
        self.publish = publish
        self.clock = clock
        streaming = self.options.streaming
        streaming.language = self.options.language
        self.transcribers = {s: OnlineTranscriber(whisper, s, streaming) for s in session.speakers}
        self._early: list[Event] = []  # findings previewed before their utterance closed
        self._early_seen = dict.fromkeys(self.transcribers, 0)
        self.stream_time = 0.0
        self.watermarks = dict.fromkeys(self.transcribers, 0.0)  # per speaker (Session.advance)
        self.last_speech = 0.0  # stream time at which someone was last speaking
        self._last_metrics = 0.0
        self._last_hints = 0.0
        self._figures_failed = False
        self._last_step_s = 0.0
        self.t0 = 0.0
        self.speed = 1.0
        self.finished = False
        self.late_cards = 0  # acoustic findings decided too late to be shown as a card
        self.language_probability: float | None = None  # set when `auto` detected the language
        self.cues: list[dict[str, Any]] = []  # cues shown during the call (for the result's `live`)
        self._checklist: list[dict[str, Any]] | None = None  # as last published
        self._name: dict[str, Any] | None = None  # the customer's name as last published
        self._cue_keys: set[tuple[str, float]] = set()
        self._failed: set[str] = set()  # live niceties that failed once (logged once)

    # -- driving ---------------------------------------------------------------

    def start(self, t0: float, speed: float = 1.0, **info: Any) -> None:
        """Send the session message (t0 = unix time of audio t=0 of this call)."""
        self.t0, self.speed = t0, speed
        self.publish(session_message(self.options.language, t0, speed,
                                     speakers=list(self.session.speakers), **info))
        self._send_live_state()  # the checklist, nothing ticked yet

    def feed(self, chunk: Chunk) -> None:
        if chunk.speaker not in self.transcribers:
            return
        self.transcribers[chunk.speaker].insert_audio_chunk(chunk.samples)
        end = chunk.start + len(chunk.samples) / SAMPLE_RATE
        self.stream_time = max(self.stream_time, end)
        if chunk.gap:  # the device was gone: zeros keep the transcriber's clock, the analyzers know
            self._emit(self._not_yet_published(self.session.mark_gap(chunk.speaker, chunk.start, end)))
        else:
            found = self.session.feed_audio(chunk.speaker, chunk.samples, chunk.start)
            self._emit(self._not_yet_published(found))

    def step(self) -> None:
        """Close finished utterances first (both speakers), then refresh partial transcripts;
        then previews, the watermark, time hints and metrics."""
        began = time.monotonic()
        behind = self.behind() > self.options.behind_s
        for partials in (False, True):
            utterances: list[Utterance] = []
            for speaker, tr in self.transcribers.items():
                moving = partials and not (behind and speaker != AGENT)
                utterances += tr.process_iter(decode_partials=moving)
            for utt in sorted(utterances, key=lambda u: (u.start, u.speaker)):
                self._utterance(utt)
        for speaker, tr in self.transcribers.items():
            self._preview(speaker, tr.committed_words())
        self._emit(self._not_yet_published(self.session.read_lines_again()))
        self._advance()
        if self.options.acoustic_previews:
            self._preview_acoustic()
        now = self.clock()
        if now - self._last_hints >= self.options.time_hints_interval_s:
            self._last_hints = now
            self._emit(self.session.check_time(self.stream_time), hint=True)
        if now - self._last_metrics >= self.options.metrics_interval_s:
            self._send_metrics()
        self._last_step_s = time.monotonic() - began

    def behind(self) -> float:
        """How far the pipeline lags the audio: the audio that piled up while the last step
        decoded (0 when replaying as fast as possible, where nothing piles up)."""
        return self._last_step_s if self.speed > 0 else 0.0

    @property
    def silent_for(self) -> float:
        """Seconds of audio since anyone last spoke (for ending a call after a silence)."""
        return max(self.stream_time - self.last_speech, 0.0)

    def finish(self, duration_s: float | None = None) -> float:
        """End of audio: last utterances, call-level findings, final metrics. Returns the duration.

        The `end` message is the caller's: it carries the call's score, which
        needs the result built from the finished Session.
        """
        if self.finished:
            return self.session.duration_s or self.stream_time
        finals: list[Utterance] = []
        for tr in self.transcribers.values():
            finals += tr.finish()
        for utt in sorted(finals, key=lambda u: (u.start, u.speaker)):
            self._utterance(utt)
        duration = duration_s if duration_s is not None else self.stream_time
        self._emit(self._not_yet_published(self.session.finish(duration)))
        self._send_live_state()
        self._send_metrics(duration)
        self.finished = True
        return duration

    def run(self, source: Any, stop: threading.Event | None = None) -> float:
        """Drive one call from a source until it ends (or `stop` is set), then finish."""
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
        return self.finish(getattr(source, "duration_s", None) or None)

    def set_customer_name(self, name: str | None) -> dict[str, Any]:
        """The agent's correction of the customer's name (the overlay, a CRM through the API):
        confirmed from now on, so the next suggestions carry it. Publishes the new name (and the
        checklist, which may depend on it); returns `{"name", "confirmed", "set"}`."""
        self.session.set_customer_name(name)
        self._send_live_state()
        self._send_metrics()
        return dict(self.session.customer_name_status())

    def checklist(self) -> list[dict[str, Any]]:
        """The checklist as last published (for the call's result)."""
        return list(self._checklist or [])

    # -- messages --------------------------------------------------------------

    def _utterance(self, utt: Utterance) -> None:
        self.publish(transcript_message(utt))
        if not utt.final:
            return
        self._emit(self._not_yet_published(self.session.add_utterance(utt)))
        self._send_cues(utt)
        self._send_live_state()
        self._send_metrics()

    def _send_cues(self, utt: Utterance) -> None:
        """Praise and prompts for a final utterance: one per rule and utterance (a rule may
        match two of its phrases in one sentence: "Это безобразие! Сколько можно ждать?")."""
        now = self.clock()
        for event in self._nicety("cues", lambda: self.session.cues(utt), []):
            key = (event.rule, round(utt.start, 2))
            if key in self._cue_keys:
                continue
            self._cue_keys.add(key)
            msg = cue_message(event, now)
            self.cues.append({k: msg.get(k) for k in ("rule", "cue", "speaker", "start", "end", "text")})
            self.publish(msg)

    def _send_live_state(self) -> None:
        """The checklist and the customer's name, each only when it changed."""
        items = self._nicety("checklist", self.session.checklist, None)
        if items is not None and items != self._checklist:
            self._checklist = items
            self.publish(checklist_message(items))
        name = self._nicety("name", self.session.customer_name_status, None)
        if name is not None and name != self._name and (name.get("name") or self._name is not None):
            self._name = dict(name)
            self.publish(name_message(name.get("name"), bool(name.get("confirmed")), bool(name.get("set"))))

    def _nicety(self, what: str, fn: Callable[[], Any], default: Any) -> Any:
        """Cues, the checklist and the name are advice on screen: a failure is logged once and
        never stops the call (its findings and result do not depend on them)."""
        try:
            return fn()
        except Exception as exc:
            if what not in self._failed:
                self._failed.add(what)
                log.warning("live %s failed (not shown): %s", what, exc)
            return default

    def _advance(self) -> None:
        """Each speaker's words are final up to `words_final_through`: tell the Session, per
        speaker, so one speaker's long turn does not hold back findings about the other."""
        for speaker, tr in self.transcribers.items():
            through = words_final_through(tr)
            if through > self.watermarks[speaker]:
                self.watermarks[speaker] = through
                self._emit(self._not_yet_published(self.session.advance(through, (speaker,))))
        if any(is_speaking(tr) for tr in self.transcribers.values()):
            self.last_speech = self.stream_time

    @property
    def watermark(self) -> float:
        """Words are final on every channel up to here."""
        return min(self.watermarks.values())

    def _preview(self, speaker: str, words: list) -> None:
        """Early rules on the committed words of an utterance still being spoken.

        An utterance closes only after a 0.5 s pause, and an agent may talk
        for half a minute without one; a forbidden phrase in the middle would
        wait for the whole turn. Committed words no longer change, so
        `Session.preview` runs the rules marked `early` on them (nothing is
        recorded) and a hit is published at once. The Session still decides
        on the final utterance, as in batch; a finding already previewed is
        not published twice.
        """
        if len(words) <= self._early_seen[speaker]:
            self._early_seen[speaker] = len(words)  # a new utterance began
            return
        self._early_seen[speaker] = len(words)
        margin = self.options.early_margin_words
        if len(words) <= margin:
            return
        frontier = words[-margin].start if margin else words[-1].end
        utt = Utterance(speaker, words[0].start, words[-1].end, " ".join(w.text for w in words),
                        words, final=False)
        found = [e for e in self.session.preview(utt)
                 if e.speaker == speaker and e.end is not None and e.end <= frontier]
        new = [e for e in found if self._same_as_early(e) is None]
        self._early += new
        self._emit(new)

    def _preview_acoustic(self) -> None:
        """Raised voice and interruption on the committed words of the utterances still open.

        Both wait for a speaker's words, and final words come only when the
        utterance closes: an agent who raises their voice or talks over the
        customer usually goes on talking, and the card would come seconds
        late. `Session.preview_acoustic` judges the same way on committed
        words; a hit is published at once (the final finding, when it comes,
        is not published twice). A preview the final words do not confirm
        stays a card only: the call's result is batch's.
        """
        committed = {}
        for speaker, tr in self.transcribers.items():
            words = tr.committed_words()
            if words and is_speaking(tr):
                committed[speaker] = Utterance(speaker, words[0].start, words[-1].end,
                                               " ".join(w.text for w in words), words, final=False)
        found = self.session.preview_acoustic(committed)
        new = [e for e in found if self._same_as_early(e) is None]
        self._early += new
        self._emit(new)

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
        horizon = self.stream_time - 120.0  # unconfirmed previews are forgotten eventually
        self._early = [e for e in self._early if (e.end or 0.0) >= horizon]
        return out

    def _emit(self, events: list[Event], hint: bool = False) -> None:
        """Findings as contract events; `hint` marks live-only advice (time-based rules), which
        is not a finding of the call and so is not in the Session's results."""
        now = self.clock()
        for event in events:
            extra: dict[str, Any] = {}
            if not hint and self._too_late(event, now):
                extra["card"] = False
                self.late_cards += 1
            self.publish(event_message(event, now, hint=hint, **extra))

    def _too_late(self, event: Event, now: float) -> bool:
        """An acoustic finding whose moment is more than `card_deadline_s` ago (wall clock at
        the replay speed; audio time when replaying as fast as possible)."""
        if event.category not in self.options.timely_categories or event.end is None:
            return False
        if self.speed > 0:
            late = now - (self.t0 + event.end / self.speed)
        else:
            late = self.stream_time - event.end
        return late > self.options.card_deadline_s

    def _send_metrics(self, duration: float | None = None) -> None:
        self._last_metrics = self.clock()
        duration = duration if duration is not None else self.stream_time
        metrics = self.session.metrics(duration)
        try:
            figures = dict(self.session.live_figures(self.stream_time))
        except Exception as exc:  # the meters are a nicety: never stop a call for them
            if not self._figures_failed:
                log.warning("live figures failed (meters stay empty): %s", exc)
                self._figures_failed = True
            figures = {}
        counts = figures.pop("counts", {})
        fillers = figures.pop("fillers", counts.get("filler_words", 0))
        rate = {k: figures.get(k) for k in ("syllables_per_s", "wpm", "max_syllables_per_s")}
        talk = {k: figures.get(k) for k in ("talk_ratio_agent", "talk_ratio_agent_call", "monologue_s",
                                            "window_s")}
        self.publish(metrics_message(
            metrics, stream_time=round(self.stream_time, 2), customer_name=self.session.customer_name,
            fillers=fillers, counts=counts, rate=rate, talk=talk,
            speakers=list(self.session.speakers),
        ))
