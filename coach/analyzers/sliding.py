"""The loudest value of a sliding window, kept in order as values arrive; and the voice gate
built on it (is this frame the speaker, or the room behind them?).

Several analyzers ask "how loud was this speaker at their loudest lately?" to tell the speaker's
voice from the room behind them (interruption turns, the raised-voice baseline). A monotonic
deque answers it in constant amortised time per value, and the answer depends only on the values
and their positions, never on how the audio was chunked: live equals batch.
"""

from __future__ import annotations

import math
from collections import deque


class SlidingMax:
    """The maximum of the values added at positions within `window` of the latest position."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._kept: deque[tuple[int, float]] = deque()  # (position, value), values falling

    def add(self, position: int, value: float) -> None:
        kept = self._kept
        while kept and kept[-1][1] <= value:
            kept.pop()
        kept.append((position, value))
        self.forget_before(position - self.window + 1)

    def forget_before(self, position: int) -> None:
        """Drop values added before `position` (the window has moved past them)."""
        kept = self._kept
        while kept and kept[0][0] < position:
            kept.popleft()

    @property
    def top(self) -> float:
        """The maximum; the window holds at least the value just added (callers add, then ask)."""
        return self._kept[0][1]

    def copy(self) -> SlidingMax:
        out = SlidingMax(self.window)
        out._kept = deque(self._kept)
        return out


class VoiceGate:
    """Whether a channel's active frame is its speaker talking, or the room behind them.

    The energy detector calls any sound above the line's noise floor speech, and a contact
    center's background is speech too: colleagues on their own calls behind the agent (held-out
    corpus: babble 10-15 dB under the agent). So a frame is the speaker's only when the channel's
    level over the last `smooth` frames is within `background_db` of the loudest such level of its
    speech in the last `reference` frames: a speaker close to the microphone reaches it, the room
    behind them does not. (A shout lifts the reference for `reference` frames: the speaker's
    ordinary speech right after a shout may then not count.) Causal and per frame: live equals
    batch.
    """

    def __init__(self, smooth: int, reference: int, background_db: float) -> None:
        self.smooth = max(1, smooth)
        self.background_db = background_db
        self._recent: deque[float] = deque()
        self._recent_sum = 0.0
        self._loudest = SlidingMax(max(1, reference))
        self.background_frames = 0  # active frames judged the room

    def step(self, k: int, active: int, power: float) -> int:
        """1 when frame k (active, at linear `power`) is the speaker's own voice, else 0."""
        recent = self._recent
        recent.append(power)
        self._recent_sum += power
        if len(recent) > self.smooth:
            self._recent_sum -= recent.popleft()
        if not active:
            return 0
        smooth = 10.0 * math.log10(max(self._recent_sum, 0.0) / len(recent) + 1e-12)
        loudest = self._loudest
        loudest.add(k, smooth)
        if smooth < loudest.top - self.background_db:
            self.background_frames += 1
            return 0
        return 1
