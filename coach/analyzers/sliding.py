"""The loudest value of a sliding window, kept in order as values arrive.

Two analyzers ask "how loud was this speaker at their loudest lately?" to tell the speaker's
voice from the room behind them (interruption turns, the raised-voice baseline). A monotonic
deque answers it in constant amortised time per value, and the answer depends only on the values
and their positions, never on how the audio was chunked: live equals batch.
"""

from __future__ import annotations

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
