"""One decode of the live transcriber's buffer: what the audio so far says after the committed words.

The buffer is encoded at its own length (`coach.asr.whisper_ops`), decoded
greedily with Whisper's timestamp tokens and, when LocalAgreement has
committed words, with their tokens forced as the decoder prefix so only the
uncommitted tail is generated. Timestamps are kept (unlike batch) because on
short, freshly cut buffers greedy decoding tends to loop, and the timestamps
show where: a segment starting in the silent padding, the same segment
again, one that never closes before the token budget (`segment_tokens`
drops those). Word times come from alignment on the same encoding.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_compression_ratio
from rapidfuzz import fuzz

from coach.asr.segmenter import SAMPLE_RATE, VAD_WINDOW
from coach.asr.whisper_ops import HOP, WhisperOps, encode_length, even_frames
from coach.contract import Word
from coach.text import normalise

if TYPE_CHECKING:
    from coach.asr.streaming import StreamingOptions

log = logging.getLogger(__name__)


@dataclass
class StreamWord:
    """A decoded word with its tokens (forced as the prefix of later decodes once committed)."""

    text: str
    start: float
    end: float
    probability: float
    tokens: list[int]

    @property
    def norm(self) -> str:
        return normalise(self.text)

    def public(self) -> Word:
        return Word(self.text.strip(), round(self.start, 3), round(self.end, 3), self.probability)


@dataclass
class Hypothesis:
    words: list[StreamWord]  # uncommitted words after the forced prefix
    audio_end: float  # absolute time up to which audio was decoded
    rejected: str | None = None
    frames: int = 0  # mel frames encoded (0: nothing was encoded)


def words_text(words: list[StreamWord]) -> str:
    return " ".join(w.text.strip() for w in words if w.text.strip())


class BufferDecoder:
    """Decodes stretches of one speaker's live buffer (see the module docstring)."""

    def __init__(self, ops: WhisperOps, options: StreamingOptions, speaker: str):
        self.ops = ops
        self.options = options
        self.speaker = speaker
        self.tokenizer = ops.tokenizer(options.language)

    def decode(self, audio: np.ndarray, offset: float, audio_end: float, *, beam: int,
               prefix_words: list[StreamWord], history: list[int], said_before: list[StreamWord],
               onset: float | None) -> Hypothesis:
        """`audio` starts at `offset` s and ends at `audio_end` s (stream time). `prefix_words`
        are forced, `history` tokens are the prompt, `said_before` the utterance's words whose
        audio was already dropped (for the hallucination check), and `onset` (when given and
        nothing precedes) the speech onset no word may start before."""
        opts = self.options
        if len(audio) < VAD_WINDOW:
            return Hypothesis([], audio_end, rejected="too short")
        # at least encode_pad_s of silence, rounded up to a multiple of 0.5 s: few distinct
        # encoder shapes let CTranslate2 and the allocator reuse buffers over a long call
        target = encode_length(len(audio), opts.encode_pad_s, round_s=0.5)
        frames = even_frames(target)
        encoded = self.ops.encode([audio], target)
        tok = self.tokenizer
        prefix = [t for w in prefix_words for t in w.tokens]
        prompt: list[int] = []
        if history:
            prompt += [tok.sot_prev] + history[-opts.prompt_tokens:]
        prompt += list(tok.sot_sequence) + [tok.timestamp_begin] + prefix
        duration = len(audio) / SAMPLE_RATE
        budget = min(int(opts.max_tokens_per_s * duration) + 16, opts.max_new_tokens)
        result = self.ops.generate(
            encoded, [prompt], opts.language, beam_size=beam, suppress_blank=not prefix,
            max_length=min(len(prompt) + budget, self.ops.whisper.max_length),
        )[0]
        generated = list(result.sequences_ids[0])
        for echo in ([tok.timestamp_begin] + prefix, prefix):  # CTranslate2 returns the forced prefix
            if echo and generated[: len(echo)] == echo:
                generated = generated[len(echo):]
                break
        new, why = segment_tokens(tok, generated, duration, capped=len(generated) >= budget)
        if why:
            log.debug("%s: %s", self.speaker, why)
        if not new:
            return Hypothesis([], audio_end, frames=frames)
        text = tok.decode(new).strip()
        avg_logprob = result.scores[0] * len(generated) / (len(generated) + 1)
        log.debug("%s: decoded %.2f-%.2f (%d frames, prefix %d): %r", self.speaker, offset,
                  audio_end, frames, len(prefix), text)
        why = opts.hallucinations.is_hallucination(
            (words_text(said_before + prefix_words) + " " + text).strip(),
            float(result.no_speech_prob), float(avg_logprob), get_compression_ratio(text),
        )
        if why:
            log.debug("%s: hypothesis %r rejected: %s", self.speaker, text, why)
            return Hypothesis([], audio_end, rejected=why, frames=frames)
        content = min(len(audio) // HOP, frames)
        aligned = self.ops.align(tok, [prefix + new], encoded, content)[0]
        words: list[StreamWord] = []
        position = 0
        for w in aligned:
            first = position
            position += len(w["tokens"])
            if first < len(prefix) or not w["word"].strip():
                continue  # a committed word, or punctuation merged into its neighbour
            start, end = offset + float(w["start"]), offset + float(w["end"])
            if start >= audio_end:
                continue  # "heard" in the padding
            words.append(StreamWord(w["word"], start, min(end, audio_end), float(w["probability"]),
                                    list(w["tokens"])))
        if words and onset is not None and not (said_before or prefix) and words[0].start < onset:
            words[0].start = min(onset, words[0].end)  # not before the speech onset
        return Hypothesis(words, audio_end, frames=frames)


def segment_tokens(tok: Tokenizer, generated: list[int], duration: float,
                   capped: bool) -> tuple[list[int], str | None]:
    """Text tokens of the timestamped segments that are really in the audio.

    Decoding with timestamp tokens lets Whisper say where its text ends; the
    usual failure on short, freshly cut audio is a loop: a segment that never
    closes and runs into the token budget, a segment starting in the silent
    padding, or the same segment again. Those are dropped.
    """
    segments: list[tuple[float, bool, list[int]]] = []  # (start, closed, tokens)
    start, open_, tokens = 0.0, True, []
    for t in generated:
        if t >= tok.timestamp_begin:
            ts = (t - tok.timestamp_begin) * 0.02
            if open_:
                segments.append((start, True, tokens))
                open_, tokens = False, []
            else:
                start, open_ = ts, True
        elif t < tok.eot:
            if not open_:
                open_ = True
            tokens.append(t)
    if tokens:
        segments.append((start, False, tokens))
    kept: list[int] = []
    why = None
    previous = None
    for seg_start, closed, seg_tokens in segments:
        norm = normalise(tok.decode(seg_tokens))
        if not norm:
            continue
        if seg_start >= duration - 0.1:
            why = f"dropped a segment starting in the padding: {norm!r}"
            continue
        if previous is not None and fuzz.ratio(norm, previous) >= 80:
            why = f"dropped a repeated segment: {norm!r}"
            continue
        if not closed and capped:
            why = f"dropped a runaway segment: {norm[:40]!r}"
            continue
        kept += seg_tokens
        previous = norm
    return kept, why
