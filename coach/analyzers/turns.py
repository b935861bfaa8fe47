"""The joint timeline of both channels: talk time, speech runs and the agent's monologue.

The composite steps it through frames that are final on *every* channel,
one frame at a time, so nothing here depends on how the audio was chunked.
It measures what several analyzers and the call metrics share (who has been
speaking since when); the findings (interruption, dead air...) are decided
by the analyzers, each from the same frames.
"""

from __future__ import annotations

from coach.analyzers.base import Frame, MetricsOptions


class TurnTimeline:
    """Frame-by-frame state over the final activity of all channels."""

    def __init__(self, speakers: tuple[str, ...], frame_s: float, options: MetricsOptions) -> None:
        self.speakers = speakers
        self.frame_s = frame_s
        self.frame = 0
        self.talk_frames = dict.fromkeys(speakers, 0)
        self.run_start: dict[str, int | None] = dict.fromkeys(speakers, None)
        # Agent monologue: broken by a customer turn (not a backchannel) or a long pause.
        self._mono_break = round(options.monologue_break_s / frame_s)
        self._turn = round(options.customer_turn_s / frame_s)
        self._mono_start: int | None = None
        self._agent_last = -1
        self.longest_monologue_frames = 0

    def frame_at(self, k: int, active: dict[str, int], level: dict[str, float], missing: bool) -> Frame:
        """The Frame the analyzers see for frame k (run starts as of frame k-1)."""
        return Frame(k, k * self.frame_s, active, level, dict(self.run_start), missing)

    def step(self, frame: Frame) -> None:
        k = frame.index
        values = frame.active
        for s in self.speakers:
            if values[s]:
                self.talk_frames[s] += 1
        self._monologue(k, frame)
        for s in self.speakers:
            if not values[s]:
                self.run_start[s] = None
            elif frame.run_start[s] is None:
                self.run_start[s] = k
        self.frame = k + 1

    def finish(self) -> None:
        """Close the open monologue at the end of the audio."""
        self._close_monologue()

    def open_monologue_frames(self) -> int:
        if self._mono_start is None:
            return 0
        return self._agent_last + 1 - self._mono_start

    def _monologue(self, k: int, frame: Frame) -> None:
        agent = self.speakers[0]
        values = frame.active
        if values[agent]:
            if self._mono_start is None:
                self._mono_start = k
            self._agent_last = k
        elif self._mono_start is not None and k - self._agent_last > self._mono_break:
            self._close_monologue()
        if len(self.speakers) == 2:
            other = self.speakers[1]
            start = frame.run_start[other]
            if values[other] and start is not None and k - start + 1 >= self._turn:
                self._close_monologue()

    def _close_monologue(self) -> None:
        if self._mono_start is None:
            return
        length = max(0, self._agent_last + 1 - self._mono_start)
        self.longest_monologue_frames = max(self.longest_monologue_frames, length)
        self._mono_start = None
