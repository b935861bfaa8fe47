"""Long silence (dead air): nobody speaks, on either channel, between two stretches of speech.

Silence before the first word and after the last is not dead air (ringing,
hang-up). It needs every voice: on a single channel that holds only the agent
(live agent-only mode) the customer may be talking in what looks like
silence, so the analyzer is skipped there. A mono recording said to hold
both voices (layout "mono") is judged on its one channel, and diarized
virtual channels like two real ones: nobody speaks in either. Audio marked missing (a device gap) is not
silence either: a gap ends the silence before it without a finding, and the
silence after it counts only from the next speech on.

It also measures the call's total and longest silence (metrics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coach.analyzers.base import Analyzer, Context, Finding, FindingOptions, Frame, Needs, opt, ramp
from coach.contract import AGENT, CUSTOMER


@dataclass(frozen=True)
class LongSilenceOptions(FindingOptions):
    min_silence_s: float = opt(6.0, "a silence this long is reported")
    confident_silence_s: float = opt(10.0, "confidence reaches 1.0 at this length (0.5 at min_silence_s)")

    def problems(self) -> list[str]:
        if self.confident_silence_s <= self.min_silence_s:
            return [
                f"confident_silence_s: must be above min_silence_s ({self.min_silence_s}), "
                f"got {self.confident_silence_s}"
            ]
        return []


class LongSilence(Analyzer):
    name = "long_silence"
    Options = LongSilenceOptions
    needs = Needs(audio=(AGENT, CUSTOMER))
    details_example = {"silence_s": 8.0}
    metric_keys = ("total_silence_s", "longest_silence_s")
    skip_reason = (
        "single channel: needs the customer's own channel (where only the agent is heard, "
        "the customer may be talking during the agent's silence)"
    )
    runs_on_mix = True  # a mono mix holds every voice: its silence is everyone's

    def __init__(self, options: LongSilenceOptions, ctx: Context) -> None:
        super().__init__(options, ctx)
        self._start: int | None = None  # first frame of the current silence
        self._spoken = False  # speech heard since the call (or the last gap) began
        self._found: list[Finding] = []
        self.total_s = 0.0
        self.longest_s = 0.0

    def step(self, frame: Frame) -> None:
        k = frame.index
        if frame.missing:  # nothing is known here: neither dead air nor speech
            self._start, self._spoken = None, False
            return
        if any(frame.active.values()):
            if self._start is not None and self._spoken:
                self._gap(self._start * self.ctx.frame_s, k * self.ctx.frame_s)
            self._start = None
            self._spoken = True
        elif self._start is None:
            self._start = k

    def decide(self) -> list[Finding]:
        out, self._found = self._found, []
        return out

    def metrics(self) -> dict[str, Any]:
        return {"total_silence_s": round(self.total_s, 2), "longest_silence_s": round(self.longest_s, 2)}

    def _gap(self, start: float, end: float) -> None:
        duration = end - start
        if duration >= self.ctx.metrics.silence_min_s:
            self.total_s += duration
        self.longest_s = max(self.longest_s, duration)
        opts = self.options
        if duration >= opts.min_silence_s:
            # Silence is measured exactly; how sure it is dead air (not a hold the customer
            # agreed to) grows with its length.
            confidence = ramp(duration, opts.min_silence_s, opts.confident_silence_s)
            self._found.append(Finding(start, end, {"silence_s": duration}, confidence))
