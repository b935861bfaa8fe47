"""Interruption: the agent starts while the customer talks and talks over them.

On the joint timeline, speaker S *overlaps* the other when S starts a turn while
the other's turn has already lasted `simultaneous_start_s` (a simultaneous
start is nobody's fault) and both then talk at once for at least
`min_overlap_s`. A turn is a speaker's speech with pauses shorter than
`turn_pause_s` in it: a breath or a sentence break is not the end of a turn.
Without that, the speaker who held the floor was blamed: on the development
corpus's 8 kHz calls, the customer's 0.3-0.4 s pause between two sentences, in
which the agent cut in, made the customer's next sentence "the customer
interrupts", and the agent's own short pauses cut a 1.1 s overlap into three
too short to count (three interruptions missed, two of them found on the 16 kHz
versions, whose activity had no pause there). The overlap is then judged on S's
words in it (from `word_tolerance_s` before): nothing but listener tokens
("угу", "ага-ага", "mm-hm") is a backchannel, anything else an interruption.
Only the agent's interruptions are findings; the customer's are counted in the
metrics (nothing to coach).

Echo is not a voice. On real lines the other side's voice leaks onto a
channel 20-30 dB down (sidetone, line echo), loud enough for the energy
detector: half the interruptions found on a real sales call had no words
from the agent, and 5 of them sat 14-22 dB under the agent's own speech. So
an overlap whose level on S's channel is more than `echo_db` under S's own
speech (the power-mean level inside S's recognised words before it) is echo and
counts as nothing; nearer the own level it counts, with confidence rising to
1.0 at the own level. Real overlaps at turn ends and answers last p50 0.4-0.5 s,
p90 about 1 s, so `min_overlap_s` is 1 s.

Nor is noise. S can only talk over someone who is saying something: an
overlap in which the other speaker has no recognised word (within
`word_tolerance_s`) is noise or echo on their channel (line noise on the
development corpus's noisy calls made 7 false interruptions that way) and
counts as nothing. Nor can S talk over them without words: an overlap in which
S has none is the room on S's channel. Office babble 7 dB under the agent's
voice made three such findings on a held-out call (set 18); over the
development corpus, held-out sets 10-18 (stereo and telephone copies) and the
real shop dialogues, every interruption found that was real had the agent's
words in it (55 of 55), and every wordless one was false.

Nor is a listener's sound an interruption because Whisper wrote words for it: "Mm-hm" said
inside the customer's sentence came out "MMA Chem." and "mm -hmm, can." (held-out sets 24 and
25). Whoever talks over someone takes the floor or tries to; a listener's "угу" leaves it with
them. So an agent's sound that lasts at most `listener_max_s` from the overlap's start, after which
the customer goes on talking for `floor_kept_s` with no pause of `turn_pause_s`, is a listener's
response (a backchannel), whatever its words. Over the findings kept from held-out sets 21-25
(16 kHz and telephone copies) that removes two false interruptions and none of 68 right ones; the
real interruption of a real shop dialogue (the customer goes on 0.8 s after the agent's 1.6 s) stays.

The words make the decision, so it waits until both speakers' words are final
through the overlap's end (see CallAnalyzers.advance for how live gets there
early).

On a diarized mono call the overlap itself cannot be seen: diarization gives
each moment to one voice, so the agent's channel and the customer's never
carry sound at once. What can be seen is the seam: the agent's turn begins
where the customer's speech is still going, with no pause between them
(`seam_gap_s`). A turn change in conversation leaves a pause the voice
detector hears (150 ms or more); talking over the customer leaves none, since
the one channel holds speech throughout. On the mono copies of held-out sets
23 and 24 it finds 9 of 19 labelled interruptions (none before) and nothing
false; on three real two-voice recordings mixed to mono, 1 seam, a real
overlap shorter than `min_overlap_s` (docs/analyzers.md, "On diarized mono:
the seam"). A seam is judged on words as an overlap is: the customer
said something in the `seam_context_s` before it, and the agent's words in the
`seam_words_s` after it are more than listener tokens. How long the two
talked at once is not known, so the finding has its own message
(`seam_message`), no `overlap_s`, the pause measured (`pause_s`), and
`seam_confidence`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coach.analyzers.base import Analyzer, Context, Finding, Frame, Needs, TurnChange, opt, ramp, texts
from coach.analyzers.sliding import GateOptions
from coach.analyzers.words import TimedWord, is_backchannel, normalize, text_of
from coach.contract import AGENT, CUSTOMER

BACKCHANNELS = (
    # ru
    "угу", "ага", "да", "ну", "так", "мм", "ммм", "м", "хм", "ясно", "понятно", "хорошо", "конечно",
    "ок", "окей", "согласен", "согласна", "верно", "точно", "ладно",
    # en
    "mm", "hmm", "mhm", "mm-hm", "mmhm", "mhmm", "mm-hmm", "uh-huh", "uhhuh", "yeah", "yes", "right", "okay",
    "ok", "sure",  # "MMHM": Whisper's spelling of "mm-hm" on a corpus call
    # ro
    "aha", "da", "bine", "sigur", "înțeleg", "desigur",
    # nb
    "ja", "jo", "javel", "greit", "skjønner", "akkurat", "nettopp",
    # et
    "jah", "jaa", "selge", "hästi", "muidugi", "okei",
)  # fmt: skip


@dataclass(frozen=True)
class InterruptionOptions(GateOptions):
    max_per_call: int = opt(3, "list at most this many findings per call (0: no cap); the rest are counted")
    min_overlap_s: float = opt(0.8, "both talk at once at least this long (a 0.3 s 'угу' is not)")
    simultaneous_start_s: float = opt(0.3, "the other's turn must have lasted this long already")
    turn_pause_s: float = opt(0.5, "a pause this short does not end a turn (a breath, a sentence break)")
    word_tolerance_s: float = opt(0.3, "words from this far before the overlap still belong to it")
    backchannels: tuple[str, ...] = opt(BACKCHANNELS, "an overlap of only these listener tokens is listening")
    listener_max_s: float = opt(1.2, "an agent sound no longer than this, inside the customer's turn, "
                                     "is a listener's response whatever its words (see floor_kept_s)",
                                ge=0.0)
    floor_kept_s: float = opt(1.5, "the customer goes on talking this long after such a sound: they kept "
                                   "the floor (0: no such check)", ge=0.0)
    confident_overlap_s: float = opt(2.0, "confidence reaches 1.0 at this overlap (0.5 at min_overlap_s)")
    echo_db: float = opt(10.0, "a channel this far under its speaker's own speech carries echo, not them")
    own_reference_s: float = opt(1.0, "own speech (inside words) needed before the echo check applies")
    seam_gap_s: float = opt(0.04, "diarized mono: a turn that begins this soon after the other's turn "
                                  "began over it (a turn change leaves a pause)", ge=0.0)
    seam_context_s: float = opt(1.0, "diarized mono: the other must have said words this long before "
                                     "the seam", gt=0.0)
    seam_words_s: float = opt(1.5, "diarized mono: the words said this long after the seam are judged",
                              gt=0.0)
    seam_confidence: float = opt(0.5, "diarized mono: details.confidence of a seam (its overlap is not "
                                      "measured)", ge=0.0, le=1.0)
    seam_message: Mapping[str, str] = texts()

    def problems(self) -> list[str]:
        if self.confident_overlap_s <= self.min_overlap_s:
            return [
                f"confident_overlap_s: must be above min_overlap_s ({self.min_overlap_s}), "
                f"got {self.confident_overlap_s}"
            ]
        return []


@dataclass(frozen=True)
class Overlap:
    """`speaker` started a turn during the other's; both talked at once for `talk_s` in all,
    the last time until `end`.

    `level` is the power-mean level of `speaker`'s channel where both talked.
    """

    speaker: str
    start: float
    end: float
    level: float
    talk_s: float
    pause_s: float | None = None  # a seam (diarized mono): the pause before it; its overlap is unknown

    @property
    def duration(self) -> float:
        return self.talk_s


@dataclass
class _Candidate:
    """An open overlap: S's turn began at `start` frame during the other's turn."""

    start: int
    both: int = 0  # frames where both talked
    power: float = 0.0  # S's power summed over those frames
    last_both: int = -1


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
        self._pause = round(options.turn_pause_s / frame_s)
        self._backchannels = frozenset(normalize(w) for w in options.backchannels)
        self._cand: dict[str, _Candidate | None] = dict.fromkeys(ctx.speakers, None)
        # Each speaker's turn: its first frame (None between turns) and the last frame with speech.
        self._turn_start: dict[str, int | None] = dict.fromkeys(ctx.speakers, None)
        self._last_active: dict[str, int] = dict.fromkeys(ctx.speakers, -1)
        self._raw_start: dict[str, int | None] = dict.fromkeys(ctx.speakers, None)  # the sound's run
        self._seams = ctx.layout == "diarized"
        self._last = 0
        self._done = False  # finish() was called: no more frames will come
        self.waiting: list[Overlap] = []  # closed overlaps whose words are not final yet
        self.counts = dict.fromkeys(ctx.speakers, 0)
        self.backchannel_overlaps = 0
        self.echo_overlaps = 0
        self.unheard_overlaps = 0
        self.wordless_overlaps = 0
        # Each speaker's frame powers (0 where silent) and the power of their speech inside their
        # own words, added word by word up to the overlap being judged.
        self._powers = {s: array("d") for s in ctx.speakers}
        # Background gate (`VoiceGate`): a channel's sound counts as its speaker only near the
        # loudest speech of the channel lately.
        self._gate = {s: options.voice_gate(frame_s) for s in ctx.speakers}
        self._smooth = self._gate[ctx.speakers[0]].smooth
        self._words: dict[str, list[TimedWord]] = {s: [] for s in ctx.speakers}
        self._counted = dict.fromkeys(ctx.speakers, 0)
        self._own_power = dict.fromkeys(ctx.speakers, 0.0)
        self._own_frames = dict.fromkeys(ctx.speakers, 0)

    def _voiced(self, s: str, k: int, active: int, power: float) -> int:
        """Whether frame k of channel s is its speaker talking, for turns and overlaps
        (`VoiceGate`). Colleagues' voices behind the agent kept the agent's channel "talking"
        through the customer's turns, so the agent's own start in them was never an onset (three
        interruptions of four missed on the held-out corpus, the customer counted as interrupting
        instead) and a colleague's voice over the customer became one."""
        return self._gate[s].step(k, active, power)

    def step(self, frame: Frame) -> None:
        k = frame.index
        raw = frame.active
        # turns and onsets follow the speaker's own voice (`_voiced`); once an overlap has begun,
        # it lasts while both channels carry sound, as the echo check measures it
        powers = {s: 10.0 ** (frame.level[s] / 10.0) for s in self.ctx.speakers}
        values = {s: self._voiced(s, k, raw[s], powers[s]) for s in self.ctx.speakers}
        for s in self.ctx.speakers:
            self._powers[s].append(powers[s] if raw[s] else 0.0)
        onset: dict[str, int | None] = dict.fromkeys(self.ctx.speakers, None)
        for s in self.ctx.speakers:
            if not raw[s]:
                self._raw_start[s] = None
            elif self._raw_start[s] is None:
                self._raw_start[s] = k
            if values[s]:
                if self._turn_start[s] is None:
                    # the voice began where the sound did: the level is judged on a mean that
                    # reaches the voice's level only some frames in
                    begin = self._raw_start[s]
                    begin = k if begin is None or k - begin > self._smooth else begin
                    self._turn_start[s] = onset[s] = begin
                self._last_active[s] = k
            elif self._turn_start[s] is not None and k - self._last_active[s] > self._pause:
                self._turn_start[s] = None  # the pause outlasted turn_pause_s: the turn is over
        for s in self.ctx.speakers:
            other = CUSTOMER if s == AGENT else AGENT
            if self._cand[s] is not None and (self._turn_start[s] is None or self._turn_start[other] is None):
                self._close(s)
            other_start = self._turn_start[other]
            begin = onset[s]
            if begin is not None and other_start is not None and begin - other_start >= self._lead:
                cand = self._cand[s] = _Candidate(begin)
                mine, theirs = self._powers[s], self._powers[other]
                for j in range(begin, k):  # the frames between the sound's start and now
                    if mine[j] > 0.0 and theirs[j] > 0.0:
                        cand.both += 1
                        cand.power += mine[j]
                        cand.last_both = j
            cand = self._cand[s]
            if cand is not None and raw[s] and raw[other]:
                cand.both += 1
                cand.power += self._powers[s][k]
                cand.last_both = k
        self._last = k + 1

    def add_turn_changes(self, changes: list[TurnChange]) -> None:
        """Diarized mono: a turn that begins `seam_gap_s` or less after the other's turn, which had
        lasted `simultaneous_start_s`, began over it (see the module docstring); it is judged on
        the words once they are final through `seam_words_s` after it."""
        if not self._seams:
            return
        opts = self.options
        for change in changes:
            if change.pause_s <= opts.seam_gap_s and change.other_s >= opts.simultaneous_start_s:
                self.waiting.append(Overlap(change.speaker, change.start, change.start + opts.seam_words_s,
                                            0.0, 0.0, change.pause_s))
        self.waiting.sort(key=lambda ov: ov.start)

    def add_words(self, speaker: str, words: list[TimedWord]) -> None:
        self._words[speaker] += words

    def finish(self) -> None:
        for s in self.ctx.speakers:
            self._close(s)
        self._done = True

    def decide(self) -> list[Finding]:
        out: list[Finding] = []
        still: list[Overlap] = []
        for ov in self.waiting:
            if not all(self.ctx.words[s].known_through(ov.end) for s in self.ctx.speakers):
                still.append(ov)
                continue
            listener = self._floor_verdict(ov)
            if listener is not None or self._done:  # the frames so far settle it, or no more come
                out += self._judge(ov, listener=bool(listener))
            else:
                still.append(ov)
        self.waiting = still
        return out

    def wants_preview(self) -> bool:
        return bool(self.waiting)

    def preview(self, words: Mapping[str, Any]) -> list[Finding]:
        """Closed overlaps judged on committed words: the agent who talks over the customer
        usually goes on talking, and their utterance (so their final words) closes only at
        their next pause. The analyzer's counters are left as they were."""
        if not self.wants_preview():
            return []
        probe = copy.copy(self)
        probe.ctx = dataclasses.replace(self.ctx, words=dict(words))
        probe.waiting = list(self.waiting)
        probe.counts = dict(self.counts)
        probe._counted, probe._own_power = dict(self._counted), dict(self._own_power)
        probe._own_frames = dict(self._own_frames)
        return probe.decide()

    def metrics(self) -> dict[str, Any]:
        return {"interruptions": self.counts[AGENT], "interruptions_by_customer": self.counts[CUSTOMER]}

    def _close(self, s: str) -> None:
        cand = self._cand[s]
        if cand is None:
            return
        self._cand[s] = None
        if cand.both >= self._min_overlap:
            frame_s = self.ctx.frame_s
            level = 10.0 * math.log10(cand.power / cand.both + 1e-12)
            self.waiting.append(Overlap(s, cand.start * frame_s, (cand.last_both + 1) * frame_s, level,
                                        round(cand.both * frame_s, 6)))

    def _own_level(self, speaker: str, before: float) -> float | None:
        """Power-mean level of `speaker`'s speech inside their own words that end before `before`.

        Words come in time order and overlaps are judged in time order, so each
        word's frames are added once; they are final (they end before the overlap).
        """
        words, powers = self._words[speaker], self._powers[speaker]
        frame_s = self.ctx.frame_s
        i = self._counted[speaker]
        while i < len(words) and words[i].end <= before:
            w = words[i]
            for k in range(int(w.start / frame_s), min(len(powers), int(w.end / frame_s))):
                if powers[k] > 0.0:
                    self._own_power[speaker] += powers[k]
                    self._own_frames[speaker] += 1
            i += 1
        self._counted[speaker] = i
        n = self._own_frames[speaker]
        if n * frame_s < self.options.own_reference_s:
            return None
        return 10.0 * math.log10(self._own_power[speaker] / n + 1e-12)

    def _judge(self, ov: Overlap, listener: bool = False) -> list[Finding]:
        if ov.pause_s is not None:
            return self._judge_seam(ov)
        opts = self.options
        own = self._own_level(ov.speaker, ov.start)
        below = None if own is None else ov.level - own
        if below is not None and below < -opts.echo_db:
            self.echo_overlaps += 1  # the other side's voice leaking onto this channel
            return []
        other = CUSTOMER if ov.speaker == AGENT else AGENT
        if self.ctx.words[other].coverage(ov.start, ov.end, opts.word_tolerance_s) == 0.0:
            self.unheard_overlaps += 1  # the other said nothing: noise or echo on their channel
            return []
        if listener:
            self.backchannel_overlaps += 1  # a listener's sound inside the other's turn
            return []
        words = self._spoken_over(ov)
        if words is None or ov.speaker != AGENT:
            return []
        # Sure in proportion to how long the two talked at once, and to how close the level is to
        # the agent's own voice (half at echo_db under it).
        confidence = ramp(ov.duration, opts.min_overlap_s, opts.confident_overlap_s)
        if below is not None:
            confidence *= ramp(below, -opts.echo_db, 0.0)
        details = {"overlap_s": ov.duration}
        if below is not None:  # not a placeholder (absent before the agent's first words)
            details["level_vs_own_db"] = below
        return [Finding(ov.start, ov.end, details, confidence, text_of(words))]

    def _floor_verdict(self, ov: Overlap) -> bool | None:
        """True when `ov.speaker`'s sound from the overlap's start ended within `listener_max_s`
        (pauses shorter than `turn_pause_s` bridged) and the other's went on, with no such pause,
        for `floor_kept_s` after it: a listener's response, not talking over (module docstring).
        None while the frames so far cannot tell: the speaker talking on past `listener_max_s`
        settles it at once (no wait for a real interruption), a short sound only once the other
        has gone on or stopped. A seam has no such check."""
        opts = self.options
        if ov.pause_s is not None or not opts.floor_kept_s:
            return False
        other = CUSTOMER if ov.speaker == AGENT else AGENT
        frame_s = self.ctx.frame_s
        mine, theirs = self._powers[ov.speaker], self._powers[other]
        heard = len(mine) - 1  # the last frame stepped
        start = int(round(ov.start / frame_s))
        limit = start + int(round(opts.listener_max_s / frame_s))
        # a run that bridges past the limit is all it takes to know: the walk ends there
        last = _run_end(mine, start, self._pause, stop=limit + self._pause + 1)
        if last is None or last > limit:
            return False
        if heard - last <= self._pause:
            return None  # the sound may go on yet
        until = last + int(round(opts.floor_kept_s / frame_s))
        went_on = _run_end(theirs, last, self._pause, stop=until)
        if went_on is not None and until <= heard and until - went_on <= self._pause:
            return True
        if went_on is None or heard - went_on > self._pause:
            return False  # the other stopped (or never went on)
        return None

    def _judge_seam(self, ov: Overlap) -> list[Finding]:
        """A seam on diarized mono, judged on words as an overlap is (see the module docstring)."""
        opts = self.options
        other = CUSTOMER if ov.speaker == AGENT else AGENT
        heard = self.ctx.words[other].coverage(ov.start - opts.seam_context_s, ov.start,
                                               opts.word_tolerance_s)
        if heard == 0.0:
            self.unheard_overlaps += 1  # the other said nothing just before: noise, not a voice cut off
            return []
        words = self._spoken_over(ov)
        if words is None or ov.speaker != AGENT:
            return []
        assert ov.pause_s is not None
        return [Finding(ov.start, max(w.end for w in words), {"pause_s": ov.pause_s}, opts.seam_confidence,
                        text_of(words), message_field="seam_message")]

    def _spoken_over(self, ov: Overlap) -> list[TimedWord] | None:
        """What `ov.speaker` said over the other (from `word_tolerance_s` before), counted as one of
        their interruptions; None, counted as what it was, when they said nothing (the room, babble,
        not its speaker) or only listener tokens."""
        words = self.ctx.words[ov.speaker].between(ov.start - self.options.word_tolerance_s, ov.end)
        if not words:
            self.wordless_overlaps += 1
            return None
        if is_backchannel(words, self._backchannels):
            self.backchannel_overlaps += 1
            return None
        self.counts[ov.speaker] += 1
        return words


def _run_end(powers: array, start: int, pause: int, stop: int | None = None) -> int | None:
    """The last frame with sound of the run that holds or follows `start` within `pause` frames,
    silences of up to `pause` frames bridged; None when there is no sound there. With `stop`, the
    walk ends at that frame."""
    end = len(powers) if stop is None else min(len(powers), stop + 1)
    last = None
    k = start
    while k < end:
        if powers[k] > 0.0:
            last = k
        elif k - (start if last is None else last) > pause:
            break
        k += 1
    return last
