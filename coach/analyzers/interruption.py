"""Interruption: the agent starts while the customer talks and talks over them.

On the joint timeline, speaker S *overlaps* the other when S starts while the
other has already been talking for `simultaneous_start_s` (a simultaneous
start is nobody's fault) and both go on for at least `min_overlap_s`. The
overlap is then judged on S's words in it (from `word_tolerance_s` before):
nothing but listener tokens ("угу", "ага-ага", "mm-hm") is a backchannel,
anything else an interruption. Only the agent's interruptions are findings;
the customer's are counted in the metrics (nothing to coach).

The words make the decision, so it waits until S's words are final through
the overlap's end (see CallAnalyzers.advance for how live gets there early).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coach.analyzers.base import Analyzer, Context, Finding, FindingOptions, Frame, Needs, opt, ramp
from coach.analyzers.words import TimedWord, is_backchannel, normalize, text_of
from coach.contract import AGENT, CUSTOMER

BACKCHANNELS = (
    # ru
    "угу", "ага", "да", "ну", "так", "мм", "ммм", "м", "хм", "ясно", "понятно", "хорошо", "конечно",
    "ок", "окей",
    # en
    "mm", "hmm", "mhm", "mm-hm", "uh-huh", "yeah", "yes", "right", "okay", "ok", "sure",
    # ro
    "aha", "da", "bine", "sigur", "înțeleg", "desigur",
    # nb
    "ja", "jo", "javel", "greit", "skjønner", "akkurat", "nettopp",
    # et
    "jah", "jaa", "selge", "hästi", "muidugi", "okei",
)  # fmt: skip


@dataclass(frozen=True)
class InterruptionOptions(FindingOptions):
    min_overlap_s: float = opt(0.5, "both talk at once at least this long (a 0.3 s 'угу' is not)")
    simultaneous_start_s: float = opt(0.3, "the other must have been talking this long already")
    word_tolerance_s: float = opt(0.3, "words from this far before the overlap still belong to it")
    backchannels: tuple[str, ...] = opt(BACKCHANNELS, "an overlap of only these listener tokens is listening")
    confident_overlap_s: float = opt(1.0, "confidence reaches 1.0 at this overlap (0.5 at min_overlap_s)")

    def problems(self) -> list[str]:
        if self.confident_overlap_s <= self.min_overlap_s:
            return [
                f"confident_overlap_s: must be above min_overlap_s ({self.min_overlap_s}), "
                f"got {self.confident_overlap_s}"
            ]
        return []


@dataclass(frozen=True)
class Overlap:
    """`speaker` started talking while the other was talking; both went on until `end`."""

    speaker: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class Interruption(Analyzer):
    name = "interruption"
    Options = InterruptionOptions
    needs = Needs(audio=(AGENT, CUSTOMER), words=(AGENT, CUSTOMER))
    details_example = {"overlap_s": 1.5}
    metric_keys = ("interruptions", "interruptions_by_customer")
    skip_reason = "mono input: needs the customer's own channel to tell who talks over whom"

    def __init__(self, options: InterruptionOptions, ctx: Context) -> None:
        super().__init__(options, ctx)
        frame_s = ctx.frame_s
        self._min_overlap = round(options.min_overlap_s / frame_s)
        self._lead = round(options.simultaneous_start_s / frame_s)
        self._backchannels = frozenset(normalize(w) for w in options.backchannels)
        self._cand: dict[str, int | None] = dict.fromkeys(ctx.speakers, None)
        self._last = 0
        self.waiting: list[Overlap] = []  # closed overlaps whose words are not final yet
        self.counts = dict.fromkeys(ctx.speakers, 0)
        self.backchannel_overlaps = 0

    def step(self, frame: Frame) -> None:
        k = frame.index
        values = frame.active
        for s in self.ctx.speakers:
            other = CUSTOMER if s == AGENT else AGENT
            both = values[s] and values[other]
            if self._cand[s] is not None and not both:
                self._close(s, k)
            onset = values[s] and frame.run_start[s] is None
            other_start = frame.run_start[other]
            if onset and values[other] and other_start is not None and k - other_start >= self._lead:
                self._cand[s] = k
        self._last = k + 1

    def finish(self) -> None:
        for s in self.ctx.speakers:
            self._close(s, self._last)

    def decide(self) -> list[Finding]:
        out: list[Finding] = []
        still: list[Overlap] = []
        for ov in self.waiting:
            if self.ctx.words[ov.speaker].known_through(ov.end):
                out += self._judge(ov)
            else:
                still.append(ov)
        self.waiting = still
        return out

    def metrics(self) -> dict[str, Any]:
        return {"interruptions": self.counts[AGENT], "interruptions_by_customer": self.counts[CUSTOMER]}

    def _close(self, s: str, k: int) -> None:
        start = self._cand[s]
        if start is None:
            return
        self._cand[s] = None
        if k - start >= self._min_overlap:
            frame_s = self.ctx.frame_s
            self.waiting.append(Overlap(s, start * frame_s, k * frame_s))

    def _judge(self, ov: Overlap) -> list[Finding]:
        opts = self.options
        words: list[TimedWord] = self.ctx.words[ov.speaker].between(ov.start - opts.word_tolerance_s, ov.end)
        if is_backchannel(words, self._backchannels):
            self.backchannel_overlaps += 1
            return []
        self.counts[ov.speaker] += 1
        if ov.speaker != AGENT:
            return []
        # Sure in proportion to how long the two talked at once; an overlap with no words
        # heard from the agent rests on audio alone (echo on the line looks the same): half.
        confidence = ramp(ov.duration, opts.min_overlap_s, opts.confident_overlap_s)
        if not words:
            confidence *= 0.5
        return [Finding(ov.start, ov.end, {"overlap_s": ov.duration}, confidence, text_of(words))]
