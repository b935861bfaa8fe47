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
from dataclasses import dataclass

from coach.analyzers.base import FindingOptions, opt


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


# The voice's typical level (`VoiceGate`): a histogram of its frames' levels, whose lower quartile
# is renewed every TYPICAL_EVERY frames (the same frames live and batch: the same answer).
LEVEL_FLOOR_DB = -100.0
LEVEL_STEP_DB = 0.5
LEVEL_BINS = 200
TYPICAL_EVERY = 25
TYPICAL_QUANTILE = 0.25  # the lower quartile: a shout may be half of an agent's speech early in a call


class VoiceGate:
    """Whether a channel's active frame is its speaker talking, or the room behind them.

    The energy detector calls any sound above the line's noise floor speech, and a contact
    center's background is speech too: colleagues on their own calls behind the agent (held-out
    corpus: babble 10-15 dB under the agent). So a frame is the speaker's only when the channel's
    level over the last `smooth` frames is within `background_db` of the loudest such level of its
    speech in the last `reference` frames: a speaker close to the microphone reaches it, the room
    behind them does not.

    A shout would lift that reference for `reference` frames, and the speaker's ordinary speech
    after it would then count as the room: an agent who had raised their voice and cut in on the
    customer 10-20 s later was no interruption (held-out sets 16 and 17). So with `shout_db` the
    reference is at most that far above the speaker's typical level: the lower quartile of the
    levels of every frame judged their voice so far (not a mean or median: a shout was half of one
    agent's speech before the interruption); ordinary speech peaks 5-7 dB above it, a shout 12 dB
    and more. Causal and per frame: live equals batch.
    """

    def __init__(self, smooth: int, reference: int, background_db: float, shout_db: float = 0.0) -> None:
        self.smooth = max(1, smooth)
        self.background_db = background_db
        self.shout_db = shout_db  # 0: no cap
        self._recent: deque[float] = deque()
        self._recent_sum = 0.0
        self._loudest = SlidingMax(max(1, reference))
        self._levels = [0] * LEVEL_BINS  # the voice's frames per level (LEVEL_STEP_DB wide bins)
        self._voiced = 0
        self._typical: float | None = None  # their lower quartile, renewed every TYPICAL_EVERY frames
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
        top = loudest.top
        if self.shout_db and self._typical is not None:
            top = min(top, self._typical + self.shout_db)
        if smooth < top - self.background_db:
            self.background_frames += 1
            return 0
        if self.shout_db:
            self._count_voice(smooth)
        return 1

    def _count_voice(self, level: float) -> None:
        b = min(LEVEL_BINS - 1, max(0, int((level - LEVEL_FLOOR_DB) / LEVEL_STEP_DB)))
        self._levels[b] += 1
        self._voiced += 1
        if self._voiced % TYPICAL_EVERY == 1:  # the first frame, then every TYPICAL_EVERY
            quarter, seen = self._voiced * TYPICAL_QUANTILE, 0
            for b, n in enumerate(self._levels):
                seen += n
                if seen >= quarter:
                    self._typical = LEVEL_FLOOR_DB + (b + 0.5) * LEVEL_STEP_DB
                    break


@dataclass(frozen=True)
class GateOptions(FindingOptions):
    """The options of a `VoiceGate`: interruption (whose turn is it?) and long_silence (is this dead
    air or the room?) read each channel through one, and a user who sets the room's level for one
    should find the same field, meaning the same thing, in the other."""

    background_db: float = opt(
        10.0, "sound this far under the channel's loudest speech of the last `reference_s` is the room "
        "behind its speaker (colleagues' calls), not their voice: no turn, and, with nobody's words "
        "in it, dead air")
    reference_s: float = opt(30.0, "how far back the loudest speech of a channel is looked for", gt=0)
    smooth_s: float = opt(0.5, "a frame is judged by the mean power of this much audio up to it", gt=0)
    shout_db: float = opt(8.0, "the loudest speech counts at most this far above the speaker's typical "
                          "level, so a shout does not make their ordinary speech the room (0: no cap)")

    def voice_gate(self, frame_s: float) -> VoiceGate:
        """A fresh gate for one channel, its windows in frames of `frame_s`."""
        return VoiceGate(round(self.smooth_s / frame_s), round(self.reference_s / frame_s),
                         self.background_db, self.shout_db)
