"""Raised voice: the agent's speech loudness against their own running baseline.

Loudness is the RMS level in dBFS over *speech frames only* (silence would
drag it down and make every pause look like a change), averaged in power
over blocks of `block_s` seconds of speech. A block is loud when it is
`threshold_db` above the median of the agent's earlier blocks in this call.
Relative to oneself, so a naturally loud voice or a hot microphone (the whole
channel louder) is not flagged; the median, so one shout does not become the
norm. Until `baseline_min_s` of speech has been heard nothing is judged:
there is no baseline yet, and guessing one would flag loud-but-normal people.

The decision is acoustic; the finding's `text` (the agent's words in the
span) waits until those words are final, like every word-bearing decision.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from coach.analyzers.base import Analyzer, Context, Finding, FindingOptions, Frame, Needs, opt, ramp
from coach.analyzers.words import text_of
from coach.contract import AGENT


@dataclass(frozen=True)
class RaisedVoiceOptions(FindingOptions):
    max_per_call: int = opt(3, "list at most this many findings per call (0: no cap); the rest are counted")
    threshold_db: float = opt(8.0, "a block this much louder than the baseline is a raised voice")
    block_s: float = opt(1.0, "loudness is measured over blocks of this much speech", gt=0)
    min_block_s: float = opt(0.5, "a shorter tail of speech is not judged on its own")
    baseline_min_s: float = opt(4.0, "no judgement before this much agent speech (no baseline yet)")
    baseline_window_s: float = opt(120.0, "baseline = median of the agent's last this-many seconds of speech")
    merge_gap_s: float = opt(1.0, "loud blocks closer than this make one finding")
    confident_db: float = opt(12.0, "confidence is 1.0 this far above the baseline (0.5 at threshold_db)")

    def problems(self) -> list[str]:
        if self.confident_db <= self.threshold_db:
            return [
                f"confident_db: must be above threshold_db ({self.threshold_db}), got {self.confident_db}"
            ]
        return []


@dataclass(frozen=True)
class LoudSpan:
    start: float
    end: float
    level_dbfs: float
    baseline_dbfs: float

    @property
    def db_above(self) -> float:
        return self.level_dbfs - self.baseline_dbfs


class LoudnessTracker:
    """Consumes one channel's final frames (level, active) in order."""

    def __init__(self, options: RaisedVoiceOptions, frame_s: float) -> None:
        self.options = options
        self.frame_s = frame_s
        self.frame = 0
        self.spans: list[LoudSpan] = []  # closed findings; consumers take from the front
        self._block_frames = max(1, round(options.block_s / frame_s))
        self._min_block = max(1, round(options.min_block_s / frame_s))
        self._need = max(1, math.ceil(options.baseline_min_s / options.block_s))
        self._history: deque[float] = deque(
            maxlen=max(self._need, round(options.baseline_window_s / options.block_s))
        )
        self._sorted: list[float] = []
        self._merge = round(options.merge_gap_s / frame_s)
        self._block: list[float] = []  # powers of the current block's frames
        self._block_start = 0
        self._open: list[float] | None = None  # [start_frame, end_frame, level, baseline]
        self.speech_frames = 0
        self._power_sum = 0.0

    def step(self, level_db: float, active: int) -> None:
        k = self.frame
        if active:
            if not self._block:
                self._block_start = k
            self._block.append(10.0 ** (level_db / 10.0))
            self.speech_frames += 1
            self._power_sum += self._block[-1]
            if len(self._block) >= self._block_frames:
                self._close_block(k + 1)
        elif self._block:
            if len(self._block) >= self._min_block:
                self._close_block(k)
            else:
                self._block = []
        if self._open is not None and k >= self._open[1] + self._merge:
            self._emit()
        self.frame = k + 1

    def finish(self) -> None:
        if self._block and len(self._block) >= self._min_block:
            self._close_block(self.frame)
        self._block = []
        if self._open is not None:
            self._emit()

    def mean_speech_dbfs(self) -> float | None:
        if not self.speech_frames:
            return None
        return 10.0 * math.log10(self._power_sum / self.speech_frames + 1e-12)

    def baseline(self) -> float | None:
        if len(self._sorted) < self._need:
            return None
        n = len(self._sorted)
        mid = n // 2
        return self._sorted[mid] if n % 2 else (self._sorted[mid - 1] + self._sorted[mid]) / 2

    def _close_block(self, end: int) -> None:
        level = 10.0 * math.log10(sum(self._block) / len(self._block) + 1e-12)
        start = self._block_start
        self._block = []
        base = self.baseline()
        if base is not None and level - base >= self.options.threshold_db:
            if self._open is not None and start - self._open[1] <= self._merge:
                self._open[1] = end
                if level > self._open[2]:
                    self._open[2], self._open[3] = level, base
            else:
                if self._open is not None:
                    self._emit()
                self._open = [start, end, level, base]
        if len(self._history) == self._history.maxlen:
            old = self._history[0]
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        self._history.append(level)
        bisect.insort(self._sorted, level)

    def _emit(self) -> None:
        assert self._open is not None
        start, end, level, base = self._open
        self.spans.append(LoudSpan(start * self.frame_s, end * self.frame_s, level, base))
        self._open = None


class RaisedVoice(Analyzer):
    name = "raised_voice"
    Options = RaisedVoiceOptions
    needs = Needs(audio=(AGENT,), words=(AGENT,))
    details_example = {"db_above": 12.0, "level_dbfs": -14.0, "baseline_dbfs": -26.0}
    metric_keys = ("agent_speech_dbfs",)

    def __init__(self, options: RaisedVoiceOptions, ctx: Context) -> None:
        super().__init__(options, ctx)
        self.tracker = LoudnessTracker(options, ctx.frame_s)

    def step(self, frame: Frame) -> None:
        self.tracker.step(frame.level[AGENT], frame.active[AGENT])

    def finish(self) -> None:
        self.tracker.finish()

    def decide(self) -> list[Finding]:
        out: list[Finding] = []
        spans = self.tracker.spans
        words = self.ctx.words[AGENT]
        while spans and words.known_through(spans[0].end):
            span = spans.pop(0)
            details = {
                "db_above": span.db_above,
                "level_dbfs": span.level_dbfs,
                "baseline_dbfs": span.baseline_dbfs,
            }
            # Sure in proportion to how far above the threshold the loudest block was.
            confidence = ramp(span.db_above, self.options.threshold_db, self.options.confident_db)
            out.append(
                Finding(
                    span.start, span.end, details, confidence, text_of(words.between(span.start, span.end))
                )
            )
        return out

    def metrics(self) -> dict[str, Any]:
        mean_db = self.tracker.mean_speech_dbfs()
        return {"agent_speech_dbfs": round(mean_db, 1) if mean_db is not None else None}
