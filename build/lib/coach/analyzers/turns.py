"""Turn-taking on the joint timeline of both channels: overlaps, gaps, talk time.

It steps through frames whose activity is final on *every* channel, one frame
at a time, so its findings cannot depend on how the audio was chunked. It only
measures; the call analyzer decides (with the words) which overlap is an
interruption and which gap is dead air.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Overlap:
    """`speaker` started talking while `other` was talking; both went on until `end`."""

    speaker: str
    other: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Gap:
    """Nobody spoke between two stretches of speech (leading/trailing silence excluded)."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class TurnTimeline:
    """Frame-by-frame state machine over the final activity of all channels."""

    def __init__(
        self,
        speakers: tuple[str, ...],
        frame_s: float,
        *,
        min_overlap_s: float,
        simultaneous_start_s: float,
        monologue_break_s: float,
        customer_turn_s: float,
    ) -> None:
        self.speakers = speakers
        self.frame_s = frame_s
        self.frame = 0
        self.talk_frames = dict.fromkeys(speakers, 0)
        self.overlaps: list[Overlap] = []  # consumers take from the front
        self.gaps: list[Gap] = []
        self._min_overlap = round(min_overlap_s / frame_s)
        self._lead = round(simultaneous_start_s / frame_s)
        self._prev = dict.fromkeys(speakers, 0)
        self._run_start: dict[str, int | None] = dict.fromkeys(speakers, None)
        self._cand: dict[str, int | None] = dict.fromkeys(speakers, None)
        self._silence_start: int | None = None
        self._spoken = False
        # Agent monologue: broken by a customer turn (not a backchannel) or a long pause.
        self._mono_break = round(monologue_break_s / frame_s)
        self._turn = round(customer_turn_s / frame_s)
        self._mono_start: int | None = None
        self._agent_last = -1
        self.longest_monologue_frames = 0

    def step(self, values: dict[str, int]) -> None:
        k = self.frame
        for s in self.speakers:
            if values[s]:
                self.talk_frames[s] += 1
        if len(self.speakers) == 2:
            self._overlaps(k, values)
        self._monologue(k, values)
        self._silence(k, any(values.values()))
        for s in self.speakers:
            if values[s] and not self._prev[s]:
                self._run_start[s] = k
            elif not values[s]:
                self._run_start[s] = None
        self._prev = dict(values)
        self.frame = k + 1

    def finish(self) -> None:
        """Close open overlaps and monologues at the end of the audio (not gaps)."""
        k = self.frame
        for s in self.speakers:
            self._close_overlap(s, k)
        self._close_monologue()

    def open_monologue_frames(self) -> int:
        if self._mono_start is None:
            return 0
        return self._agent_last + 1 - self._mono_start

    # -- parts -------------------------------------------------------------

    def _overlaps(self, k: int, values: dict[str, int]) -> None:
        for s in self.speakers:
            other = self.speakers[1] if s == self.speakers[0] else self.speakers[0]
            both = values[s] and values[other]
            if self._cand[s] is not None and not both:
                self._close_overlap(s, k)
            onset = values[s] and not self._prev[s]
            other_start = self._run_start[other]
            if onset and values[other] and other_start is not None and k - other_start >= self._lead:
                self._cand[s] = k

    def _close_overlap(self, s: str, k: int) -> None:
        start = self._cand[s]
        if start is None:
            return
        self._cand[s] = None
        if k - start >= self._min_overlap:
            other = self.speakers[1] if s == self.speakers[0] else self.speakers[0]
            self.overlaps.append(Overlap(s, other, start * self.frame_s, k * self.frame_s))

    def _silence(self, k: int, anyone: bool) -> None:
        if anyone:
            if self._silence_start is not None and self._spoken:
                self.gaps.append(Gap(self._silence_start * self.frame_s, k * self.frame_s))
            self._silence_start = None
            self._spoken = True
        elif self._silence_start is None:
            self._silence_start = k

    def _monologue(self, k: int, values: dict[str, int]) -> None:
        agent = self.speakers[0]
        if values[agent]:
            if self._mono_start is None:
                self._mono_start = k
            self._agent_last = k
        elif self._mono_start is not None and k - self._agent_last > self._mono_break:
            self._close_monologue()
        if len(self.speakers) == 2:
            other = self.speakers[1]
            start = self._run_start[other] if self._prev[other] else None
            if values[other] and start is not None and k - start + 1 >= self._turn:
                self._close_monologue()

    def _close_monologue(self) -> None:
        if self._mono_start is None:
            return
        length = max(0, self._agent_last + 1 - self._mono_start)
        self.longest_monologue_frames = max(self.longest_monologue_frames, length)
        self._mono_start = None
