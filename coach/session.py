"""One Session per call: the same engine for live, replay and batch.

A Session receives per-speaker audio and final utterances in time order and
returns findings as they become known; `finish()` adds the call-level ones.
Because live, replay and batch all drive this one object, the same audio
gives the same findings whichever way it came in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coach.contract import AGENT, CUSTOMER, Event, Utterance
from coach.rules import Rulebook


class Session:
    def __init__(
        self,
        rulebook: Rulebook,
        speakers: tuple[str, ...] = (AGENT, CUSTOMER),
        analyzers: Any | None = None,
    ):
        self.rulebook = rulebook
        self.speakers = speakers
        self.state = rulebook.new_state(speakers)
        self.analyzers = analyzers
        self.events: list[Event] = []
        self.utterances: list[Utterance] = []
        self.finished = False

    @property
    def customer_name(self) -> str | None:
        return self.state.customer_name

    def feed_audio(self, speaker: str, samples: np.ndarray, start_time: float) -> list[Event]:
        """Per-speaker audio for the acoustic analyzers (loudness, activity, overlap)."""
        if self.analyzers is None or speaker not in self.speakers:
            return []
        return self._keep(self.analyzers.feed_audio(speaker, samples, start_time))

    def add_utterance(self, utt: Utterance) -> list[Event]:
        """A final utterance: text rules, then analyzers that use words (rate, backchannels)."""
        self.utterances.append(utt)
        events = self.rulebook.check_utterance(utt, self.state)
        if self.analyzers is not None:
            events += self.analyzers.add_utterance(utt)
        return self._keep(events)

    def check_time(self, now: float) -> list[Event]:
        """Live-only hints due at call time `now` (e.g. the name not used for a while).

        Not kept in `events`: they are advice on screen, not findings, so live,
        replay and batch keep identical findings.
        """
        return self.rulebook.check_time(self.state, now)

    def finish(self, duration_s: float | None = None) -> list[Event]:
        """Call-level findings (name use, greeting, closing) and the analyzers' tails."""
        if self.finished:
            return []
        self.finished = True
        self.state.duration_s = duration_s
        events = self.rulebook.check_call(self.state)
        if self.analyzers is not None:
            events += self.analyzers.finish()
        return self._keep(events)

    def _keep(self, events: list[Event]) -> list[Event]:
        self.events.extend(events)
        return events

    def sorted_events(self) -> list[Event]:
        return sorted(
            self.events,
            key=lambda e: (e.start is None, e.start if e.start is not None else 0.0, e.rule),
        )

    def metrics(self, duration_s: float) -> dict[str, Any]:
        """Talk-time metrics from the transcript, refined by the analyzers when present."""
        agent = [u for u in self.utterances if u.speaker == AGENT]
        customer = [u for u in self.utterances if u.speaker == CUSTOMER]
        agent_talk = sum(u.end - u.start for u in agent)
        customer_talk = sum(u.end - u.start for u in customer)
        total = agent_talk + customer_talk
        agent_words = sum(len(u.words) for u in agent)
        metrics: dict[str, Any] = {
            "talk_ratio_agent": round(agent_talk / total, 3) if total else None,
            "agent_wpm": round(agent_words / (agent_talk / 60)) if agent_talk > 0 else None,
            "interruptions": 0,
        }
        if self.analyzers is not None:
            metrics.update(self.analyzers.metrics())
        metrics["duration_s"] = round(duration_s, 2)
        return metrics

    def skipped(self) -> dict[str, str]:
        return dict(getattr(self.analyzers, "skipped", {}) or {})
