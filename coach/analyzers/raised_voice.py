"""Raised voice: the agent's own speech, louder than their own baseline, that comes back down.

Loudness is the RMS level in dBFS over *speech frames only*, averaged in
power over blocks of `block_s` seconds of speech. What real calls taught
(docs/analyzers.md, "What public real calls showed"):

- **Only the agent's own voice sets the baseline.** The customer's echo on
  the agent channel (22-28 dB down on real lines), hold music or an IVR at
  the start is speech to an energy detector; a baseline built on it made the
  agent's ordinary voice read +18 to +29 dB. A block counts as the agent's
  own speech only when `own_share` of it lies inside the agent's recognised
  words (Whisper transcribes the agent's voice, rarely the faint echo).
- **Relative to oneself, by the median.** A block is loud when it is
  `threshold_db` above the median of the agent's earlier own blocks (the
  last `baseline_window_s` of speech, loud episodes left out), so a naturally
  loud voice or a hot microphone gives nothing and one shout does not
  become the norm. Nothing is judged before `baseline_min_s` of own speech.
- **A raised voice comes back down; a gain change does not.** Once loud
  blocks start (an episode), the finding waits for `confirm_s` of the agent's
  speech that came back under baseline + `return_db`: then the episode is a
  raised voice. Speech between that line and the loud one is still raised (a
  shout swings a few dB around the threshold) and waits; if the episode has
  not come down after `level_change_s` of speech, or the call ends with it
  still up, the line's level changed (AGC, a headset moved, another line): no
  finding, and the baseline starts again from the new level. Blocks more than
  `echo_db` under the baseline are not the agent's voice and confirm nothing.

Decisions wait for their inputs to be final: a block is judged once the
agent's words are known through it (the word watermark), the confirmation
needs only final frames, so live equals batch. The cost of the confirmation
is latency: the finding comes `confirm_s` into the agent's next speech, and
the words are final only when the agent's utterance closes. A card that
late no longer points at what the agent just said, so live also asks
`preview`: the same judgement on the agent's committed words, satisfied by
`preview_confirm_s` of speech that came down (the open block counts), or,
when the loud speech ended the agent's turn (a raised reply, then the
customer talks), by `preview_pause_s` of the agent's silence. A gain change
that stays up gives no preview while the agent talks on; one that ends a
turn can give one card (never a finding: the call's result still waits for
the full confirmation, which sees the level stay up).
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coach.analyzers.base import Analyzer, Context, Finding, FindingOptions, Frame, Needs, opt, ramp
from coach.analyzers.sliding import SlidingMax
from coach.analyzers.words import text_of
from coach.contract import AGENT

MONO_REASON = (
    "mono mix: the customer's voice is on the same channel, and on real mono calls every raised-voice "
    "finding was the customer or the louder voice's normal level"
)


@dataclass(frozen=True)
class RaisedVoiceOptions(FindingOptions):
    max_per_call: int = opt(3, "list at most this many findings per call (0: no cap); the rest are counted")
    threshold_db: float = opt(8.5, "a block this much louder than the agent's baseline is loud")
    block_s: float = opt(1.0, "loudness is measured over blocks of this much speech", gt=0)
    min_block_s: float = opt(0.5, "a shorter tail of speech is not judged on its own")
    own_share: float = opt(0.5, "a block is the agent's own speech when this share is in their words", le=1.0)
    word_pad_s: float = opt(0.3, "a word covers this much audio beyond its timestamps")
    baseline_min_s: float = opt(5.0, "no judgement before this much of the agent's own speech")
    baseline_window_s: float = opt(120.0, "baseline = median of the agent's last this-many seconds of speech")
    min_loud_blocks: int = opt(2, "an episode needs this many loud blocks (one stressed word is not a raise)")
    min_words: int = opt(2, "...and this many recognised words of the agent")
    confirm_s: float = opt(2.0, "the agent's speech after an episode that shows whether the level came down")
    preview_confirm_s: float = opt(
        0.5, "live only: a card once this much of that speech came down (the result waits for confirm_s)"
    )
    preview_pause_s: float = opt(
        1.0, "live only: ...or once the agent has been silent this long after the loud speech (end of turn)"
    )
    return_db: float = opt(6.0, "came down: the median of that speech under baseline + this")
    echo_db: float = opt(12.0, "speech this far under the baseline is not the agent's voice")
    background_db: float = opt(
        10.0, "baseline: an own block this far under the loudest own block of the last `reference_s` is "
        "the room behind the agent (colleagues Whisper transcribed), not the agent's voice")
    reference_s: float = opt(30.0, "how far back that loudest own block is looked for", gt=0)
    level_change_s: float = opt(20.0, "still loud after this much speech: a level change, no finding")
    confident_db: float = opt(14.0, "confidence is 1.0 this far above the baseline (0.5 at threshold_db)")
    unconfirmed_confidence: float = opt(
        0.7, "confidence times this when the call ended before the level came down", le=1.0
    )
    diarized_confidence: float = opt(0.75, "confidence times this on diarized mono channels", le=1.0)

    def problems(self) -> list[str]:
        out = []
        if self.confident_db <= self.threshold_db:
            out.append(
                f"confident_db: must be above threshold_db ({self.threshold_db}), got {self.confident_db}"
            )
        if self.return_db >= self.threshold_db:
            out.append(f"return_db: must be below threshold_db ({self.threshold_db}), got {self.return_db}")
        return out


@dataclass
class Block:
    """`block_s` of one channel's speech frames: frames [start, end), power-mean level."""

    start: int
    end: int
    level: float


@dataclass
class Episode:
    """Loud blocks since `first`, against the baseline frozen when it began."""

    base: float
    first: int  # index of the first loud block
    last: int  # index of the latest loud block
    loud: int = 1
    peak: float = 0.0
    confirm_s: float = 0.0  # speech after `last` that came back under the return line
    raised_s: float = 0.0  # speech after `last` still over the return line, though not loud


class Baseline:
    """Median of the last `size` block levels (a sorted copy keeps the median cheap)."""

    def __init__(self, size: int) -> None:
        self._history: deque[float] = deque(maxlen=size)
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._history)

    def add(self, level: float) -> None:
        if len(self._history) == self._history.maxlen:
            del self._sorted[bisect.bisect_left(self._sorted, self._history[0])]
        self._history.append(level)
        bisect.insort(self._sorted, level)

    def copy(self) -> Baseline:
        twin = Baseline(self._history.maxlen or 1)
        twin._history.extend(self._history)
        twin._sorted = list(self._sorted)
        return twin

    def clear(self) -> None:
        self._history.clear()
        self._sorted.clear()

    def median(self) -> float:
        n = len(self._sorted)
        mid = n // 2
        return self._sorted[mid] if n % 2 else (self._sorted[mid - 1] + self._sorted[mid]) / 2


class RaisedVoice(Analyzer):
    name = "raised_voice"
    Options = RaisedVoiceOptions
    needs = Needs(audio=(AGENT,), words=(AGENT,))
    details_example = {"db_above": 12.0, "level_dbfs": -14.0, "baseline_dbfs": -26.0, "loud_s": 3.0}
    metric_keys = ("agent_speech_dbfs",)
    skip_layouts = {"mono": MONO_REASON}

    _early_confirm_s: float | None = None  # set on a preview's probe only

    def __init__(self, options: RaisedVoiceOptions, ctx: Context) -> None:
        super().__init__(options, ctx)
        frame_s = ctx.frame_s
        self._block_frames = max(1, round(options.block_s / frame_s))
        self._min_block = max(1, round(options.min_block_s / frame_s))
        self._need = max(1, math.ceil(options.baseline_min_s / options.block_s))
        self.baseline = Baseline(max(self._need, round(options.baseline_window_s / options.block_s)))
        self.blocks: list[Block] = []
        self._loudest = SlidingMax(round(options.reference_s / ctx.frame_s))  # own blocks' levels
        self._powers: list[float] = []  # the open block's frame powers
        self._open_start = 0
        self._frames = 0
        self._next = 0  # next block to judge
        self._episode: Episode | None = None
        self._finished = False
        self._found: list[Finding] = []
        self._speech_frames = 0
        self._power_sum = 0.0

    # -- input -------------------------------------------------------------------

    def step(self, frame: Frame) -> None:
        k = frame.index
        if frame.active[AGENT]:
            power = 10.0 ** (frame.level[AGENT] / 10.0)
            if not self._powers:
                self._open_start = k
            self._powers.append(power)
            self._speech_frames += 1
            self._power_sum += power
            if len(self._powers) >= self._block_frames:
                self._close_block(k + 1)
        elif self._powers:
            if len(self._powers) >= self._min_block:
                self._close_block(k)
            self._powers = []
        self._frames = k + 1

    def finish(self) -> None:
        if len(self._powers) >= self._min_block:
            self._close_block(self._frames)
        self._powers = []
        self._finished = True

    def decide(self) -> list[Finding]:
        self._run()
        out, self._found = self._found, []
        return out

    def metrics(self) -> dict[str, Any]:
        if not self._speech_frames:
            return {"agent_speech_dbfs": None}
        mean = self._power_sum / self._speech_frames
        return {"agent_speech_dbfs": round(10.0 * math.log10(mean + 1e-12), 1)}

    def preview(self, words: Mapping[str, Any]) -> list[Finding]:
        """The finding `decide` is heading for, judged on committed words with a shorter
        confirmation (see the module docstring); the analyzer itself is left as it was."""
        if not self.wants_preview():
            return []
        probe = copy.copy(self)
        probe.ctx = dataclasses.replace(self.ctx, words=dict(words))
        probe._early_confirm_s = self.options.preview_confirm_s
        probe.baseline = self.baseline.copy()
        probe._loudest = self._loudest.copy()
        if self._episode is not None:
            probe._episode = dataclasses.replace(self._episode)
        probe.blocks = list(self.blocks)
        if len(self._powers) >= self._min_block:  # the speech being heard now can confirm too
            probe._powers = list(self._powers)
            probe._close_block(self._frames)
        probe._found = []
        probe._run()
        ep = probe._episode
        turn_over = self._quiet_s(probe) >= self.options.preview_pause_s
        if ep is not None and probe._next >= len(probe.blocks) and turn_over:
            probe._close_episode(ep, confirmed=ep.confirm_s > 0)
        return probe._found

    def _quiet_s(self, probe: RaisedVoice) -> float:
        """How long the agent has been silent after the last block (0 while speaking)."""
        if self._powers or not probe.blocks:
            return 0.0
        return (self._frames - probe.blocks[-1].end) * self.ctx.frame_s

    def wants_preview(self) -> bool:
        """An episode is open, or a loud block waits for its words: only then is a preview
        worth its copy."""
        if self._episode is not None:
            return True
        if len(self.baseline) < self._need:
            return False
        loud = self.baseline.median() + self.options.threshold_db
        return any(b.level >= loud for b in self.blocks[self._next :])

    # -- blocks and episodes -------------------------------------------------------

    def _close_block(self, end: int) -> None:
        level = 10.0 * math.log10(sum(self._powers) / len(self._powers) + 1e-12)
        self.blocks.append(Block(self._open_start, end, level))
        self._powers = []

    def _seconds(self, b: Block) -> float:
        return (b.end - b.start) * self.ctx.frame_s

    def _words_final(self, b: Block) -> bool:
        return self.ctx.words[AGENT].known_through(b.end * self.ctx.frame_s + self.options.word_pad_s)

    def _own(self, b: Block) -> bool:
        frame_s = self.ctx.frame_s
        share = self.ctx.words[AGENT].coverage(b.start * frame_s, b.end * frame_s, self.options.word_pad_s)
        return share >= self.options.own_share

    def _voice_level(self, b: Block) -> bool:
        """Whether an own block is loud enough to be the agent's voice for the baseline.

        Whisper transcribes colleagues on their own calls behind the agent too (held-out corpus:
        office babble 15 dB under the agent came out as "agent" words during the customer's
        turns), so those blocks passed as the agent's own, made the baseline (-41 dBFS against
        the agent's -26) and the agent's ordinary voice read +15 dB: three raised voices on a
        calm call. A block more than `background_db` under the loudest own block of the last
        `reference_s` does not join the baseline (after a shout, the baseline just waits).
        """
        self._loudest.add(b.start, b.level)
        return b.level >= self._loudest.top - self.options.background_db

    def _run(self) -> None:
        """Judge every block whose inputs are final, in order."""
        opts = self.options
        while True:
            ep = self._episode
            if self._next >= len(self.blocks):
                if ep is not None and self._finished:
                    self._close_episode(ep, confirmed=False)
                    continue
                return
            b = self.blocks[self._next]
            if ep is None:
                if not self._words_final(b):
                    return
                self._next += 1
                if not self._own(b):
                    continue
                if len(self.baseline) >= self._need and b.level - self.baseline.median() >= opts.threshold_db:
                    self._episode = Episode(
                        self.baseline.median(), self._next - 1, self._next - 1, peak=b.level
                    )
                elif self._voice_level(b):
                    self.baseline.add(b.level)
                continue
            # An episode is open: later blocks extend it (loud, the agent's own), confirm that the
            # level came down (under the loud line), or are not the agent's voice (far under).
            if b.level - ep.base >= opts.threshold_db:
                if not self._words_final(b):
                    return
                self._next += 1
                if self._own(b):
                    ep.last, ep.loud, ep.peak = self._next - 1, ep.loud + 1, max(ep.peak, b.level)
                    ep.confirm_s, ep.raised_s = 0.0, 0.0
            else:
                self._next += 1
                rise = b.level - ep.base
                if rise >= opts.return_db:
                    # Still raised though under the loud line: a shout swings a few dB around the
                    # threshold (held-out set 14: a +12 dB line read +8 to +14 per block, and its
                    # +8 and +10 blocks were taken for a level that stayed up). Such speech neither
                    # confirms nor ends the episode; a level that stays there meets level_change_s.
                    ep.raised_s += self._seconds(b)
                elif rise >= -opts.echo_db:
                    ep.confirm_s += self._seconds(b)
            span = sum(self._seconds(x) for x in self.blocks[ep.first : self._next])
            if span >= opts.level_change_s:
                self._rebase(ep)
            elif ep.confirm_s >= opts.confirm_s or self._came_down_early(ep):
                self._close_episode(ep, confirmed=True)

    def _came_down_early(self, ep: Episode) -> bool:
        """Preview only: `preview_confirm_s` of speech already came back under the return line
        (a block that still holds the loud tail counts for nothing, as in the full confirmation)."""
        return self._early_confirm_s is not None and ep.confirm_s >= self._early_confirm_s

    def _close_episode(self, ep: Episode, confirmed: bool) -> None:
        """The level came down (or the call ended): a raised voice, unless it stayed up."""
        opts = self.options
        if not confirmed and not ep.confirm_s and ep.raised_s >= opts.confirm_s:
            self._rebase(ep)  # the call ended with the level still up: a level change as far as known
            return
        self._episode = None
        self._next = ep.last + 1  # the blocks after it go to the baseline as usual
        frame_s = self.ctx.frame_s
        start, end = self.blocks[ep.first].start * frame_s, self.blocks[ep.last].end * frame_s
        words = self.ctx.words[AGENT].between(start, end)
        if ep.loud < opts.min_loud_blocks or len(words) < opts.min_words:
            return
        db_above = ep.peak - ep.base
        # Sure in proportion to how far above the threshold the loudest block was; less when
        # the call ended before the level could be seen to come back down, or on diarized mono.
        confidence = ramp(db_above, opts.threshold_db, opts.confident_db)
        if not (confirmed or ep.confirm_s):
            confidence *= opts.unconfirmed_confidence
        if self.ctx.layout == "diarized":
            confidence *= opts.diarized_confidence
        details = {
            "db_above": db_above,
            "level_dbfs": ep.peak,
            "baseline_dbfs": ep.base,
            "loud_s": sum(self._seconds(x) for x in self.blocks[ep.first : ep.last + 1]),
        }
        self._found.append(Finding(start, end, details, confidence, text_of(words)))

    def _rebase(self, ep: Episode) -> None:
        """A level change: forget the old baseline and build a new one from the episode on."""
        self._episode = None
        self.baseline.clear()
        self._next = ep.first
