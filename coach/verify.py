"""Phrases heard, not just read: settling a rule's near misses and slip-tolerant finds on the audio.

The rules match Whisper's text, and Whisper garbles words it hears badly: "я прекращу
разговор" comes out "я прекрасчу разговор", "Calm down" as "Come down". Letters alone cannot
tell a garbled phrase from a different one, but the audio can: Whisper's decoder, forced to
read a given text on the audio (CTranslate2's alignment), gives each token a probability.
For each candidate (coach.rules.candidates) the verifier takes the stretch of the utterance
around it (the candidate's words and `context_s` of words either side, by their times, with
`pad_s` of audio around), and scores two readings of it:

* as decoded, and
* with the rule's phrase in place of the span,

as the sum of token log-probabilities (the tokens before the span are read the same way, so
the difference comes from the span and what follows it). The phrase is accepted when it
scores no more than `margin` below the decoded reading: Whisper's own text is its best guess
and nearly always scores highest, but a phrase that was said comes close, and one that was
not falls far behind (a wrong word costs several nats per token).

A near miss accepted fires as the rule's finding; a fuzzy find rejected is dropped. Audio
comes from a callable `(speaker, start_s, end_s) -> float32 samples | None` (batch: the
call's own channels), or, live, from the recent audio the Session is fed (`RecentAudio`).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from coach.asr.whisper_ops import WhisperOps
from coach.audio import SAMPLE_RATE
from coach.contract import Utterance, Word
from coach.rules.base import char_spans
from coach.rules.candidates import Candidate, Verdict

AudioSource = Callable[[str, float, float], "np.ndarray | None"]
Words = list[tuple[str, float, float]]  # a second reading's words with call times


@dataclass
class VerifyOptions:
    """How a candidate is checked; `margin` is calibrated on the development corpus
    (bench/verify_phrases.py), in nats of summed token log-probability."""

    margin: float = 6.0
    min_mean: float = -3.0  # the phrase reading's mean token log-probability: lower is not this audio
    context_s: float = 1.0  # decoded words either side of the span, by their times
    pad_s: float = 0.3  # audio kept around the first and last word (word times are rough)
    keep_s: float = 60.0  # live: recent audio kept per speaker (an utterance closes within 30 s)
    keep_head_s: float = 90.0  # live: the call's first seconds kept too (the name question's reading)
    # A part re-read (`Verifier.reread`): one window of Whisper's own length from its first word,
    # decoded with beam search; on a shared channel only the words inside the part's own stretches
    # (± reread_pad_s) are its second reading.
    reread_s: float = 30.0
    reread_tokens_per_s: float = 15.0  # tokens decoded per second up to the last stretch's end
    reread_max_tokens: int = 224  # half of Whisper's 448-token context; 30 s of speech is ~150
    reread_pad_s: float = 0.6  # a word of the second reading is in a stretch to within this (its
    # times, aligned without timestamp tokens, run early: "Спасибо" fell 0.3-0.5 s before its stretch)
    reread_beam: int = 5


@dataclass
class VerifyStats:
    """What verification did in one call, and what it cost (the per-call JSON's `extra.verify`)."""

    candidates: int = 0
    near: int = 0
    near_accepted: int = 0
    fuzzy: int = 0
    fuzzy_rejected: int = 0
    no_audio: int = 0
    rereads: int = 0
    line_rereads: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {**self.__dict__, "seconds": round(self.seconds, 3)}


class RecentAudio:
    """The last `keep_s` seconds of each speaker's audio, as fed (live and replay), and the call's
    first `head_s`: an utterance is verified when it closes, within seconds of its audio, and the
    call's opening is read again when the call ends (the name question, `Verifier.reread`), as
    batch does with the whole call in hand."""

    def __init__(self, keep_s: float = 60.0, sample_rate: int = SAMPLE_RATE, head_s: float = 0.0):
        self.keep = int(keep_s * sample_rate)
        self.head = int(head_s * sample_rate)
        self.rate = sample_rate
        self._chunks: dict[str, deque[tuple[int, np.ndarray]]] = {}
        self._heads: dict[str, list[tuple[int, np.ndarray]]] = {}
        self._held: dict[str, int] = {}
        self._pins: list[tuple[str, int, int]] = []

    def pin(self, speaker: str, start_s: float, end_s: float) -> None:
        """Keep this stretch of a speaker's audio for the call's end too (a part a rule may read
        again then: the agent's lines after the customer's name became known)."""
        self._pins.append((speaker, int(start_s * self.rate), int(end_s * self.rate)))

    def add(self, speaker: str, samples: np.ndarray, start_s: float) -> None:
        chunk = (int(round(start_s * self.rate)), np.asarray(samples, dtype=np.float32))
        if chunk[0] < self.head:
            self._heads.setdefault(speaker, []).append(chunk)
        chunks = self._chunks.setdefault(speaker, deque())
        chunks.append(chunk)
        held = self._held.get(speaker, 0) + len(samples)
        while chunks and held - len(chunks[0][1]) >= self.keep:
            start, dropped = chunks.popleft()
            held -= len(dropped)
            if start >= self.head and any(who == speaker and start < hi and lo < start + len(dropped)
                                          for who, lo, hi in self._pins):
                self._heads.setdefault(speaker, []).append((start, dropped))
        self._held[speaker] = held

    def __call__(self, speaker: str, start_s: float, end_s: float) -> np.ndarray | None:
        """The samples between two call times (silence for what is not fed yet), or None when the
        audio where they start is no longer (or not) held."""
        chunks = [*self._heads.get(speaker, ()), *self._chunks.get(speaker, ())]
        lo, hi = int(round(start_s * self.rate)), int(round(end_s * self.rate))
        if not chunks or hi <= lo:
            return None
        fed_to = max(start + len(samples) for start, samples in chunks)
        if lo < fed_to and not any(start <= lo < start + len(samples) for start, samples in chunks):
            return None
        out = np.zeros(hi - lo, dtype=np.float32)
        for start, samples in chunks:
            a, b = max(lo, start), min(hi, start + len(samples))
            if a < b:
                out[a - lo : b - lo] = samples[a - start : b - start]
        return out


@dataclass
class Reading:
    """One candidate's stretch: the audio and the two texts scored on it."""

    audio: np.ndarray
    heard: str
    said: str


class Verifier:
    """Settles candidates on the audio (see the module docstring); one per call and language.

    `audio` gives a speaker's samples between two call times; without one, the verifier keeps
    the recent audio it is given through `hear` (the Session passes on what it is fed).
    """

    def __init__(self, ops: WhisperOps, language: str, audio: AudioSource | None = None,
                 options: VerifyOptions | None = None, shared_channel: bool = False):
        self.ops = ops
        self.language = language
        self.options = options or VerifyOptions()
        opts = self.options
        self.recent = RecentAudio(opts.keep_s, head_s=opts.keep_head_s) if audio is None else None
        self.audio: AudioSource = audio or self.recent
        self.stats = VerifyStats()
        # Whether a speaker's audio holds other voices too (a diarized mono call): a part read again
        # then keeps only the words inside the speaker's own stretches. On a channel of their own,
        # every word of the window up to the token budget is theirs (ASR may have dropped some of
        # them from the stretches, and word times aligned without timestamp tokens can drift).
        self.shared_channel = shared_channel
        self._rereads: dict[tuple[str, float, float], tuple[int, list[tuple[str, float, float]]]] = {}
        # readings `prefetch` made ahead, by (window, token budget), until `_window` asks for one
        self._prefetched: dict[tuple[tuple[str, float, float], int], Words | None] = {}

    def keep(self, speaker: str, start_s: float, end_s: float) -> None:
        """Audio a rule will read again at the call's end (`RecentAudio.pin`); batch has it all."""
        if self.recent is not None:
            self.recent.pin(speaker, start_s, end_s)

    def hear(self, speaker: str, samples: np.ndarray, start_s: float) -> None:
        """Audio as it is fed to the Session (kept only without an explicit audio source)."""
        if self.recent is not None:
            self.recent.add(speaker, samples, start_s)

    def __call__(self, utt: Utterance, candidates: list[Candidate]) -> list[Verdict]:
        began = time.perf_counter()
        verdicts = [self.settle(utt, c) for c in candidates]
        self.stats.seconds += time.perf_counter() - began
        return verdicts

    def settle(self, utt: Utterance, cand: Candidate) -> Verdict:
        stats = self.stats
        stats.candidates += 1
        near = cand.kind == "near"
        stats.near += near
        stats.fuzzy += not near
        reading = self.reading(utt, cand)
        if reading is None:  # no audio: the text decides, as without verification
            stats.no_audio += 1
            return Verdict(not near, float("nan"), float("nan"), {"audio": False})
        heard_lp, said_lp = self.ops.token_log_probs(
            reading.audio, [reading.heard, reading.said], self.language, pad_s=0.5)
        heard, said = float(np.sum(heard_lp)), float(np.sum(said_lp))
        mean = said / max(1, len(said_lp))
        opts = self.options
        margin = opts.margin if cand.margin is None else cand.margin
        min_mean = opts.min_mean if cand.min_mean is None else cand.min_mean
        accepted = said >= heard - margin and mean >= min_mean
        stats.near_accepted += near and accepted
        stats.fuzzy_rejected += (not near) and not accepted
        return Verdict(accepted, heard, said, {"mean": round(mean, 3), "tokens": len(said_lp),
                                               "heard_tokens": len(heard_lp)})

    def reread(self, speaker: str, spans: list[tuple[float, float]]) -> str | None:
        """The words said in these stretches of one speaker's audio (call times, in order), read
        again in windows of Whisper's own 30 s (one from the first stretch on, another from the
        first stretch it does not reach), as it was trained, with the speech that follows as
        context, and beam search (a call's first words, read as a short segment encoded on its own,
        come out worst). The caller asks once the call is past `reread_end(spans)`
        (coach.rules.engine), so live has heard the whole window, as batch has. None when none of
        the audio is held (live: older than `keep_s`, past the call's head)."""
        opts = self.options
        texts = []
        for start, inside, tokens in self._plan(spans):
            words = self._window(speaker, start, start + opts.reread_s, tokens)
            if words is None:
                continue
            if self.shared_channel:  # a diarized mono call: only the words inside the speaker's own stretches
                pad = opts.reread_pad_s
                words = [(w, a, b) for w, a, b in words
                         if any(lo - pad <= (a + b) / 2 <= hi + pad for lo, hi in inside)]
            texts.append(" ".join(w for w, _, _ in words if w))
        return " ".join(texts) if texts else None

    def reread_line(self, utt: Utterance) -> Utterance | None:
        """One line read again on its own audio (± `pad_s`, in Whisper's 30 s window, the rest
        silence), with beam search: its words with call times, or None without the audio or for a
        line longer than a window. Its own audio only, so live reads it when the line closes, as
        batch does."""
        opts = self.options
        start, end = max(0.0, utt.start - opts.pad_s), utt.end + opts.pad_s
        if end - start > opts.reread_s:
            return None
        began = time.perf_counter()
        audio = self.audio(utt.speaker, start, end)
        if audio is None or len(audio) < SAMPLE_RATE // 10:
            return None
        self.stats.line_rereads += 1
        tokens = min(opts.reread_max_tokens, 16 + math.ceil(opts.reread_tokens_per_s * (end - start)))
        read = self.ops.read_window(audio, self.language, opts.reread_beam, tokens)
        words = [Word(w["word"].strip(), start + w["start"], start + w["end"], w.get("probability", 1.0))
                 for w in read if w["word"].strip()]
        self.stats.seconds += time.perf_counter() - began
        if not words:
            return None
        return Utterance(utt.speaker, utt.start, utt.end, " ".join(w.text for w in words), words)

    def prefetch(self, asks: list[tuple[str, list[tuple[float, float]]]]) -> None:
        """Read the windows these `reread(speaker, spans)` calls will want, as many at once as
        the model has replicas (`WhisperOps.map`). A reading is kept aside under its window and
        token budget, and `_window` takes it only when, asked in the usual order, it would read
        exactly that window with exactly that budget itself: the calls that follow see the same
        readings as without it (a reading depends on nothing else), only sooner."""
        opts = self.options
        todo: dict[tuple[tuple[str, float, float], int], None] = {}
        for speaker, spans in asks:
            for start, _, tokens in self._plan(spans):
                key = (speaker, start, start + opts.reread_s)
                kept = self._rereads.get(key)
                if (kept is None or kept[0] < tokens) and (key, tokens) not in self._prefetched:
                    todo[(key, tokens)] = None
        if len(todo) < 2 or self.ops.workers < 2:
            return  # nothing to gain: `reread` reads it when asked
        began = time.perf_counter()
        readings = self.ops.map(lambda item: self._read(*item[0], item[1]), list(todo))
        self._prefetched.update(zip(todo, readings))
        self.stats.seconds += time.perf_counter() - began

    def reread_end(self, spans: list[tuple[float, float]]) -> float:
        """The call time where `reread(speaker, spans)`'s last window ends."""
        windows = self._windows(spans)
        return windows[-1][0] + self.options.reread_s if windows else 0.0

    def _windows(self, spans: list[tuple[float, float]]) -> list[tuple[float, list[tuple[float, float]]]]:
        """The stretches grouped by the window that reads them: (the window's start, its stretches).
        A stretch starting in the window's last second starts a window of its own."""
        opts = self.options
        out: list[tuple[float, list[tuple[float, float]]]] = []
        for span in spans:
            if out and span[0] < out[-1][0] + opts.reread_s - 1.0:
                out[-1][1].append(span)
            else:
                out.append((max(0.0, span[0] - opts.pad_s), [span]))
        return out

    def _plan(self, spans: list[tuple[float, float]]) -> list[tuple[float, list[tuple[float, float]], int]]:
        """The windows `reread(speaker, spans)` reads: (start, its stretches, token budget)."""
        opts = self.options
        return [(start, inside, min(opts.reread_max_tokens,
                                    16 + math.ceil(opts.reread_tokens_per_s * (inside[-1][1] - start))))
                for start, inside in self._windows(spans)]

    def _window(self, speaker: str, start: float, end: float, tokens: int
                ) -> list[tuple[str, float, float]] | None:
        """The words (call times) of the audio from `start` to `end` in one 30 s window, decoded to
        at most `tokens` tokens; kept per call, so parts read on the same audio (the opening and
        the name question of a short call) share one reading when it went far enough."""
        key = (speaker, start, end)
        kept = self._rereads.get(key)
        if kept is not None and kept[0] >= tokens:
            return kept[1]
        began = time.perf_counter()
        if (key, tokens) in self._prefetched:  # read ahead by `prefetch`, exactly as asked here
            words = self._prefetched.pop((key, tokens))
        else:
            words = self._read(speaker, start, end, tokens)
        if words is None:
            return None
        self.stats.rereads += 1
        self._rereads[key] = (tokens, words)
        self.stats.seconds += time.perf_counter() - began
        return words

    def _read(self, speaker: str, start: float, end: float, tokens: int
              ) -> list[tuple[str, float, float]] | None:
        """One window read with beam search (no bookkeeping: `prefetch` runs it on threads)."""
        audio = self.audio(speaker, start, end)
        if audio is None or len(audio) < SAMPLE_RATE // 10:
            return None
        read = self.ops.read_window(audio, self.language, self.options.reread_beam, tokens)
        return [(w["word"].strip(), start + w["start"], start + w["end"]) for w in read]

    def reading(self, utt: Utterance, cand: Candidate) -> Reading | None:
        """The candidate's stretch of audio with the decoded and the phrase reading of it."""
        opts = self.options
        timed = char_spans(utt)
        inside = [(w, a, b) for w, a, b in timed if b > cand.start_char and a < cand.end_char]
        if inside:
            t0, t1 = inside[0][0].start - opts.context_s, inside[-1][0].end + opts.context_s
            around = [(w, a, b) for w, a, b in timed if w.end > t0 and w.start < t1]
            around = [x for x in timed if x in around or x in inside]
            lo, hi = min(a for _, a, _ in around), max(b for _, _, b in around)
            start, end = around[0][0].start, around[-1][0].end
        else:  # no word times: the whole utterance
            lo, hi, start, end = 0, len(utt.text), utt.start, utt.end
        lo, hi = min(lo, cand.start_char), max(hi, cand.end_char)
        audio = self.audio(utt.speaker, max(0.0, start - opts.pad_s), end + opts.pad_s)
        if audio is None or len(audio) < SAMPLE_RATE // 10:
            return None
        heard, said = cand.texts(utt.text, lo, hi)
        return Reading(audio, heard, said)
