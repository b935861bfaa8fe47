"""Long silence (dead air): nobody speaks, on either channel, between two stretches of speech.

Silence before the first word and after the last is not dead air (ringing,
hang-up). It needs every voice: on a single channel that holds only the agent
(live agent-only mode) the customer may be talking in what looks like
silence, so the analyzer is skipped there. A mono recording said to hold
both voices (layout "mono") is judged on its one channel, and diarized
virtual channels like two real ones: nobody speaks in either. Audio marked missing (a device gap) is not
silence either: a gap ends the silence before it without a finding, and the
silence after it counts only from the next speech on.

Office babble is not the call speaking: colleagues on their own calls behind the agent kept
the agent's channel "active" through a 9 s dead air on a held-out corpus call. On two channels of
their own, a stretch where neither channel's sound is its speaker (`VoiceGate`: within
`background_db` of the channel's loudest speech lately) is dead air too, when it is long enough
and nobody's words fall inside it: the words keep a speaker's quiet speech after a shout (also
under the gate for `reference_s`) from counting as silence. Such a finding waits for the words.
Diarized virtual channels are read through the gate too: the diarizer gives the babble between two
turns to one of the speakers, whose virtual channel then holds it at the room's level (one of the
three holds under babble that held-out set 22's mono copies missed).

It also measures the call's total and longest silence (metrics, on the sound as before).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coach.analyzers.base import Analyzer, Context, Finding, Frame, Needs, opt, ramp
from coach.analyzers.sliding import GateOptions
from coach.analyzers.words import TimedWord
from coach.contract import AGENT, CUSTOMER


class _SilenceRun:
    """Where the current silence began, for one notion of "someone speaks": a silence counts only
    between two stretches of speech (not before the first word), and a gap in the audio ends it
    unreported."""

    def __init__(self) -> None:
        self.start: int | None = None  # first frame of the current silence
        self.spoken = False  # speech heard since the call (or the last gap) began

    def reset(self) -> None:
        self.start, self.spoken = None, False

    def step(self, k: int, speaking: bool) -> int | None:
        """The first frame of the silence frame k ends, if it ends one after speech; else None."""
        ended = None
        if speaking:
            if self.start is not None and self.spoken:
                ended = self.start
            self.start, self.spoken = None, True
        elif self.start is None:
            self.start = k
        return ended


@dataclass(frozen=True)
class LongSilenceOptions(GateOptions):
    min_silence_s: float = opt(6.0, "a silence this long is reported")
    confident_silence_s: float = opt(10.0, "confidence reaches 1.0 at this length (0.5 at min_silence_s)")
    word_margin_s: float = opt(0.3, "words whose middle lies this close to its ends do not break a silence")
    longest_word_s: float = opt(1.5, "a longer word does not break one: Whisper smears the word after a "
                                     "pause back over it", gt=0)

    def problems(self) -> list[str]:
        if self.confident_silence_s <= self.min_silence_s:
            return [
                f"confident_silence_s: must be above min_silence_s ({self.min_silence_s}), "
                f"got {self.confident_silence_s}"
            ]
        return []


# A word this close to a silence's end (or start) that runs on, with no pause longer than
# `CHAIN_GAP_S`, into words past it belongs to the speech beside the silence (`_speaks_in`).
EDGE_S = 1.0
CHAIN_GAP_S = 0.3


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
        self._sound = _SilenceRun()  # silence of the sound: no channel active
        self._found: list[Finding] = []
        self.total_s = 0.0
        self.longest_s = 0.0
        # the same, with the room's sound not counted as speech (two channels, real or diarized:
        # a diarizer gives the babble between turns to one of the speakers)
        frame_s = ctx.frame_s
        self._gates = ({s: options.voice_gate(frame_s) for s in ctx.speakers}
                       if ctx.layout in ("separate", "diarized") and len(ctx.speakers) == 2 else None)
        self._voice = _SilenceRun()  # silence under the gate: no channel's own speaker
        self._reported_until = -1.0  # end of the last silence reported on the sound
        self.waiting: list[tuple[float, float]] = []  # silences under the gate, until words are known

    def step(self, frame: Frame) -> None:
        k, frame_s = frame.index, self.ctx.frame_s
        if frame.missing:  # nothing is known here: neither dead air nor speech
            self._sound.reset()
            self._voice.reset()
            return
        began = self._sound.step(k, any(frame.active.values()))
        if began is not None:
            self._gap(began * frame_s, k * frame_s)
        if self._gates is not None:
            voiced = [gate.step(k, frame.active[s], 10.0 ** (frame.level[s] / 10.0))
                      for s, gate in self._gates.items()]
            began = self._voice.step(k, any(voiced))
            if began is not None:
                self._quiet(began * frame_s, k * frame_s)

    def decide(self) -> list[Finding]:
        out, self._found = self._found, []
        still = []
        for start, end in self.waiting:
            if not all(self.ctx.words[s].known_through(end) for s in self.ctx.speakers):
                still.append((start, end))
                continue
            if not any(self._speaks_in(self.ctx.words[s].between(start - EDGE_S, end + EDGE_S), start, end)
                       for s in self.ctx.speakers):
                out.append(self._finding(start, end))
        self.waiting = still
        return out

    def _speaks_in(self, words: list[TimedWord], start: float, end: float) -> bool:
        """Whether one speaker's words (in time order) put speech inside a silence under the gate.

        A word whose middle lies inside, more than `word_margin_s` from its ends, is speech there,
        unless it is longer than `longest_word_s` (smeared over the pause) or belongs to the speech
        beside the stretch: it runs past an end, or within `EDGE_S` of an end it runs on, without
        a pause, into words that do. Whisper starts the first words after a pause up to a second
        before their sound ("В" at 71.76-72.82 s for a voice back at 72.74 s, held-out set 28; on
        the telephone copy "в" at 72.54-72.9 s, then "общем" past the gate's 73.12 s), and the gate
        heard nobody there. Words wholly inside still count: quiet speech after a shout sits under
        the gate for a long while.
        """
        margin, longest = self.options.word_margin_s, self.options.longest_word_s
        beside: set[int] = set()  # ids of the words that belong to the speech beside the stretch
        for edge, ordered in ((end, words[::-1]), (start, words)):
            linked: TimedWord | None = None  # the nearest word of the chain that runs past this end
            for w in ordered:
                past = w.end > end if edge == end else w.start < start
                near = w.start >= end - EDGE_S if edge == end else w.end <= start + EDGE_S
                joined = linked is not None and (linked.start - w.end if edge == end
                                                 else w.start - linked.end) <= CHAIN_GAP_S
                if past or (near and joined):
                    beside.add(id(w))
                    linked = w
                elif linked is not None or not near:
                    break
        return any(start + margin <= w.mid <= end - margin and w.end - w.start <= longest
                   and id(w) not in beside for w in words)

    def metrics(self) -> dict[str, Any]:
        return {"total_silence_s": round(self.total_s, 2), "longest_silence_s": round(self.longest_s, 2)}

    def _gap(self, start: float, end: float) -> None:
        duration = end - start
        if duration >= self.ctx.metrics.silence_min_s:
            self.total_s += duration
        self.longest_s = max(self.longest_s, duration)
        if duration >= self.options.min_silence_s:
            self._found.append(self._finding(start, end))
            self._reported_until = end

    def _quiet(self, start: float, end: float) -> None:
        """A silence under the gate: dead air if long and wordless, unless the sound's silence
        inside it was reported already (the gate's silence holds the sound's)."""
        if end - start >= self.options.min_silence_s and self._reported_until <= start:
            self.waiting.append((start, end))

    def _finding(self, start: float, end: float) -> Finding:
        # Silence is measured exactly; how sure it is dead air (not a hold the customer agreed
        # to) grows with its length.
        opts = self.options
        duration = end - start
        confidence = ramp(duration, opts.min_silence_s, opts.confident_silence_s)
        return Finding(start, end, {"silence_s": duration}, confidence)
