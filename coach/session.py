"""One Session per call: the same judge for live, replay and batch.

A Session receives per-speaker audio and final utterances in time order and
returns findings as they become known; `finish()` adds the call-level ones.
Because live, replay and batch all drive this one object (made only by
`Coach.new_session`), the same audio gives the same findings whichever way it
came in. What live needs beyond findings is public here too: `preview` for
hints on words still being spoken, `advance` for the audio-time watermark,
`check_time` for time-based hints, and `live_figures` for the overlay's
counters, so the live pipeline never reaches into rules or analyzers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from coach.analyzers import CallAnalyzers
from coach.contract import Event, Utterance, event_order
from coach.rules import Rulebook

if TYPE_CHECKING:
    from coach.verify import Verifier


class Session:
    """One call being judged (see the module docstring)."""

    def __init__(self, rulebook: Rulebook, analyzers: CallAnalyzers, speakers: tuple[str, ...],
                 verifier: Verifier | None = None):
        self.rulebook = rulebook
        self.verifier = verifier  # settles phrase near misses on the audio (coach.verify), or None
        self.analyzers = analyzers
        self.speakers = speakers
        self.state = rulebook.new_state(speakers)
        self.state.voice_s = analyzers.voice_s  # what a rule may ask of the channels' voice activity
        self.events: list[Event] = []
        self.utterances: list[Utterance] = []
        self.finished = False
        self.duration_s: float | None = None
        # live: a line read again (`Rulebook.read_lines_again`) is read after the line's findings
        # went out, when the pipeline calls `read_lines_again`; batch reads it at once
        self.lines_later = False
        # whole-call scoring (coach.call_scoring) sets this: the parts read again (the opening, the
        # name question) wait for the call's end and are read together (`Rulebook.check_utterance`);
        # a Session fed as the call goes (live) settles each once the call is past its window, so
        # its finding comes during the call
        self.rereads_at_end = False

    @property
    def language(self) -> str:
        return self.rulebook.language

    @property
    def customer_name(self) -> str | None:
        return self.state.customer_name

    # -- input -----------------------------------------------------------------------------
    def feed_audio(self, speaker: str, samples: np.ndarray, start_time: float) -> list[Event]:
        """Per-speaker audio for the acoustic analyzers (loudness, activity, overlap)."""
        if speaker not in self.speakers:
            return []
        if self.verifier is not None:
            self.verifier.hear(speaker, samples, start_time)
        return self._keep(self.analyzers.feed_audio(speaker, samples, start_time))

    def add_utterance(self, utt: Utterance) -> list[Event]:
        """A final utterance: text rules (phrases they nearly found, or found only with slips
        allowed, settled on the audio when the Session has a verifier), then the analyzers that
        use words (rate, backchannels)."""
        self.utterances.append(utt)
        events = self.rulebook.check_utterance(utt, self.state, verify=self.verifier,
                                               lines_later=self.lines_later,
                                               rereads_at_end=self.rereads_at_end)
        events += self.analyzers.add_utterance(utt)
        return self._keep(events)

    def read_lines_again(self) -> list[Event]:
        """What the lines kept to be read again add (`lines_later`; the same findings batch has)."""
        return self._keep(self.rulebook.read_lines_again(self.state, self.verifier))

    def advance(self, now: float, speakers: tuple[str, ...] | None = None) -> list[Event]:
        """The watermark: no final word of `speakers` (default all) that starts before `now`
        is still to come. Acoustic findings waiting for those words are decided now (live
        latency) exactly as batch decides them at the end."""
        return self._keep(self.analyzers.advance(now, speakers))

    def mark_gap(self, speaker: str, start: float, end: float) -> list[Event]:
        """No audio was heard from `speaker` between `start` and `end` (a lost device): that
        stretch is neither speech nor silence, so no dead-air finding covers it."""
        return self._keep(self.analyzers.mark_gap(speaker, start, end))

    def finish(self, duration_s: float | None = None) -> list[Event]:
        """Call-level findings (name use, greeting, closing) and the analyzers' tails."""
        if self.finished:
            return []
        self.finished = True
        self.duration_s = duration_s
        self.state.duration_s = duration_s
        events = self.rulebook.read_lines_again(self.state, self.verifier)
        events += self.rulebook.check_call(self.state, verify=self.verifier)
        events += self.analyzers.finish()
        return self._keep(events)

    def withdraw(self, categories: tuple[str, ...]) -> list[Event]:
        """Take back call-level findings of these categories (a recording cut short: its
        missing end could contradict them); returns what was taken back."""
        gone = [e for e in self.events if e.call_level and e.category in categories]
        self.events = [e for e in self.events if e not in gone]
        return gone

    def withdraw_spoken_in(self, categories: tuple[str, ...], spans: list[tuple[float, float]],
                           elsewhere: list[tuple[float, float]]) -> list[Event]:
        """Take back line-level findings of these categories whose words lie more in `spans` than
        in `elsewhere` (a mono call judged one voice: the stretches its doubted split gave the
        other voice); returns what was taken back."""
        def overlap(e: Event, within: list[tuple[float, float]]) -> float:
            return sum(max(0.0, min(e.end, b) - max(e.start, a)) for a, b in within)

        gone = [e for e in self.events if not e.call_level and e.category in categories
                and e.start is not None and e.end is not None
                and overlap(e, spans) > overlap(e, elsewhere)]
        self.events = [e for e in self.events if e not in gone]
        return gone

    # -- live-only views (not findings) ----------------------------------------------------
    def preview(self, partial: Utterance) -> list[Event]:
        """Findings of the rules marked `early` on words still being spoken (committed words).

        Nothing is recorded: the final utterance is judged by `add_utterance`
        exactly as batch judges it; the live pipeline shows a preview at once
        and does not show the same finding twice.
        """
        return self.rulebook.preview(partial, self.state, verify=self.verifier)

    def preview_acoustic(self, committed: dict[str, Utterance]) -> list[Event]:
        """Acoustic findings (raised voice, interruption) that the committed words of the
        utterances still being spoken already show. Nothing is recorded: the final words
        decide the call's findings, as in batch; live shows these as cards at once."""
        return self.analyzers.preview(committed)

    def cues(self, utt: Utterance) -> list[Event]:
        """Positive cues (a recommended phrase was used) and prompts triggered by the customer
        (anger, a complaint: the de-escalation phrase to say) for a final utterance already
        added. Live advice, not findings: never in `events`, never scored."""
        return self.rulebook.cues(utt, self.state)

    def checklist(self) -> list[dict[str, Any]]:
        """The call's required steps (greeting, name asked, name used, thanks), each with
        `done` and `at`, for the overlay to tick as they are said."""
        return self.rulebook.checklist(self.state)

    def set_customer_name(self, name: str | None) -> str | None:
        """The agent corrects the customer's name (one click in the overlay): it is confirmed
        from now on; returns the name as suggestions will show it."""
        return self.rulebook.set_customer_name(self.state, name)

    def customer_name_status(self) -> dict[str, Any]:
        """{"name", "confirmed", "set"}: what the overlay shows and whether to offer a correction."""
        return self.rulebook.customer_name(self.state)

    def check_time(self, now: float) -> list[Event]:
        """Live-only hints due at call time `now` (e.g. the name not used for a while).

        Not kept in `events`: they are advice on screen, not findings, so live,
        replay and batch keep identical findings.
        """
        return self.rulebook.check_time(self.state, now)

    def live_figures(self, now: float) -> dict[str, Any]:
        """What the overlay shows besides cards: counts the rules keep (fillers), the agent's
        recent pace, talk/listen ratio and monologue length from the analyzers."""
        counts = self.rulebook.live_counts(self.state)
        return {"counts": counts, "fillers": counts.get("filler_words", 0),
                **self.analyzers.live_figures(now)}

    # -- results ---------------------------------------------------------------------------
    def sorted_events(self) -> list[Event]:
        return sorted(self.events, key=event_order)

    def metrics(self, duration_s: float) -> dict[str, Any]:
        """Call metrics as the analyzers measured them (None where not measurable)."""
        return {**self.analyzers.metrics(), "duration_s": round(duration_s, 2)}

    def skipped(self) -> dict[str, str]:
        """Analyzers that could not run on this call, and why (mono input...)."""
        return dict(self.analyzers.skipped)

    def activity(self) -> dict[str, list[list[float]]]:
        return self.analyzers.activity()

    def _keep(self, events: list[Event]) -> list[Event]:
        self.events.extend(events)
        return events
