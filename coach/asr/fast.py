"""Fast batch decoding: short VAD segments, batched, encoded only as long as they are.

faster-whisper's `transcribe` pads every window to 30 s (3000 mel frames),
so a 3 s phrase costs as much encoder time as 30 s of speech. CTranslate2's
Whisper encoder accepts fewer frames; this module
1. cuts the channel into VAD speech segments of at most `max_segment_s`,
2. sorts them by length and groups them `batch_size` at a time (batches run
   on as many model replicas at once as `WhisperOps.workers`),
3. encodes each batch only to its longest segment plus `pad_s` of silence,
4. decodes with greedy search (beam 1) without timestamp tokens, and
5. gets word times from cross-attention alignment on the same truncated
   encoding (`Whisper.align`);
6. cuts a greedy decoding loop ("X. X. X. …") back to its first period, and
   re-decodes a segment that still looks like a loop or is unsure with beam
   search (5) on the same short encoding, keeping the likelier text; plain
   `transcribe()` on its 30 s window (greedy, no temperature fallback) only
   where the beam text loses words, reads as no speech or loops. (Plain
   `transcribe()` for every doubtful segment with the temperature fallback,
   the earlier choice, kept as `redecode="plain"`, took up to six 30 s decodes
   per doubtful segment: on 8 kHz calls, where many segments are unsure, that
   was most of the scoring time.)
The channel may be int16 (as `coach.audio` keeps calls): only one batch of
segments is converted to float32 at a time. Measured in
bench/batch_throughput.py against plain `transcribe()`; the text is checked
against it in tests/test_transcription.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from faster_whisper.transcribe import get_compression_ratio

from coach.asr.loops import find_loop, without_loops
from coach.asr.segmenter import SAMPLE_RATE, SegmenterOptions
from coach.asr.vad import ChannelSpeech, to_float32
from coach.asr.whisper_ops import HOP, WhisperOps, encode_length, even_frames, whisper_language


@dataclass
class FastOptions:
    max_segment_s: float = 10.0
    pad_s: float = 2.0  # 1 s made short phrases loop ("Меня зовут только. Меня зовут…")
    max_compression_ratio: float = 2.4  # above: re-decode the segment the plain way
    min_avg_logprob: float = -1.0
    batch_size: int = 8
    min_silence_ms: int = 500
    speech_pad_ms: int = 200
    max_new_tokens: int = 200
    # ...and never more than this many per second of the longest segment (+16): a greedy or beam
    # loop otherwise runs to 200 tokens (1.6 s for one 1 s segment). Speech in the corpus
    # transcripts peaked at 17 tokens in 0.46 s; none had more than 16 + 15 per second.
    max_tokens_per_s: float = 15.0
    # A doubtful segment (a loop, or unsure) is decoded again: "beam" = beam search on the same
    # short encoding, "plain" = faster-whisper's transcribe() with its 30 s window (each a 30 s
    # encode: with the temperature fallback, most of an 8 kHz call's time; docs/asr.md).
    redecode: str = "beam"
    redecode_beam: int = 5
    redecode_min_words: float = 0.6  # a beam text shorter than this share of the greedy one: plain
    redecode_no_speech: float = 0.6  # ...or one the hallucination filter would drop as no speech
    # The plain way decodes its 30 s window once, greedily. faster-whisper's temperature fallback
    # (up to five more decodes, five samples each) took 3-11 s per segment on a real 8 kHz call
    # whose unsure segments it only rewrote into other nonsense, and sampling is a random path.
    plain_temperatures: tuple[float, ...] = (0.0,)
    # A beam text still unsure (avg log-prob < -1) is asked the plain way too on a segment up
    # to this long: a short answer is where a name is said ("Тамара" came out "Дамара" that way,
    # "Тмар" by beam), while on a real noisy 7-minute 8 kHz call 43 of 52 doubtful segments went
    # the plain way when every length did (95 s; 58 s with none).
    redecode_unsure_plain_s: float = 1.5

    def segmenter(self) -> SegmenterOptions:
        return SegmenterOptions(min_silence_ms=self.min_silence_ms, max_speech_s=self.max_segment_s,
                                speech_pad_ms=self.speech_pad_ms)


@dataclass
class DecodedSegment:
    start: float
    end: float
    text: str
    words: list[dict]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    at_limit: bool = False  # decoding stopped at the token limit: a loop or worse, never speech


def speech_segments(audio: np.ndarray, options: FastOptions,
                    speech: ChannelSpeech | None = None) -> list[tuple[int, int]]:
    """The segments fast mode decodes, (start, end) in samples."""
    return (speech or ChannelSpeech.of(audio)).segments(options.segmenter())


def decode_segments(ops: WhisperOps, audio: np.ndarray, language: str, options: FastOptions,
                    speech: ChannelSpeech | None = None) -> list[DecodedSegment]:
    """Decode every speech segment of one channel; results in time order."""
    spans = speech_segments(audio, options, speech)
    if not spans:
        return []
    order = sorted(range(len(spans)), key=lambda i: spans[i][1] - spans[i][0])
    size = options.batch_size
    # Longest batches first, so that the model's replicas (`ops.map`) finish together.
    batches = [order[first : first + size] for first in range(0, len(order), size)][::-1]
    out: list[DecodedSegment | None] = [None] * len(spans)
    decoded_batches = ops.map(
        lambda batch: _decode_batch(ops, audio, [spans[i] for i in batch], language, options, 1), batches)
    for batch, segs in zip(batches, decoded_batches):
        for i, seg in zip(batch, segs):
            out[i] = seg
    decoded = [_collapse_loop(seg) for seg in out if seg is not None]
    return ops.map(
        lambda seg: _redecode(ops, audio, seg, language, options) if _doubtful(seg, options) else seg,
        decoded)


def _doubtful(seg: DecodedSegment, options: FastOptions) -> bool:
    return _looped(seg, options) or seg.avg_logprob < options.min_avg_logprob


def _looped(seg: DecodedSegment, options: FastOptions) -> bool:
    """A decoding loop: the token limit reached, text gzip finds repetitive (a loop that is most
    of it), or one phrase repeated in a row after real words (coach.asr.loops)."""
    return (seg.at_limit or seg.compression_ratio > options.max_compression_ratio
            or find_loop([w["word"] for w in seg.words]) is not None)


def _decode_batch(ops: WhisperOps, audio: np.ndarray, spans: list[tuple[int, int]], language: str,
                  options: FastOptions, beam_size: int) -> list[DecodedSegment]:
    """Segments (start, end in samples) encoded together to the longest one plus `pad_s`,
    decoded without timestamp tokens, words timed by cross-attention alignment."""
    tokenizer = ops.tokenizer(language)
    prompt = list(tokenizer.sot_sequence) + [tokenizer.no_timestamps]
    longest = max(end - start for start, end in spans)
    target = encode_length(longest, options.pad_s)
    frames = even_frames(target)
    encoded = ops.encode([to_float32(audio[start:end]) for start, end in spans], target)
    max_new = min(options.max_new_tokens, 16 + math.ceil(options.max_tokens_per_s * longest / SAMPLE_RATE))
    results = ops.generate(encoded, [prompt] * len(spans), language, beam_size=beam_size,
                           max_length=len(prompt) + max_new)
    tokens = [[t for t in r.sequences_ids[0] if t < tokenizer.eot] for r in results]
    content_frames = [min(frames, (end - start) // HOP) for start, end in spans]
    alignments = ops.align(tokenizer, tokens, encoded, content_frames)
    out = []
    for (start, end), result, toks, words in zip(spans, results, tokens, alignments):
        offset = start / SAMPLE_RATE
        text = tokenizer.decode(toks).strip()
        avg = result.scores[0] * len(toks) / (len(toks) + 1) if toks else -10.0
        timed = [
            {"word": w["word"], "start": offset + float(w["start"]),
             "end": offset + float(w["end"]), "probability": float(w["probability"])}
            for w in words if w["word"].strip()
        ]
        out.append(DecodedSegment(
            start=offset, end=timed[-1]["end"] if timed else end / SAMPLE_RATE,
            text=text, words=timed, avg_logprob=float(avg),
            no_speech_prob=float(result.no_speech_prob),
            compression_ratio=get_compression_ratio(text) if text else 0.0,
            at_limit=len(toks) >= max_new,
        ))
    return out


def _collapse_loop(seg: DecodedSegment) -> DecodedSegment:
    """'X. X. X. X' -> 'X.': keep the first period of a greedy decoding loop.

    Greedy decoding of a short segment sometimes repeats the whole phrase until
    the token limit; the repeats get zero-length times at the segment's end.
    The first period is what was said (re-decoding gave the same text on every
    case in our fixtures) and costs nothing, unlike a 30 s re-decode.
    """
    words = [w["word"].strip().lower().strip(".,!?") for w in seg.words]
    n = len(words)
    for unit in range(1, n // 2 + 1):
        if all(words[i] == words[i % unit] for i in range(unit, n)):
            kept = seg.words[:unit]
            text = "".join(w["word"] for w in kept).strip()
            return DecodedSegment(
                start=seg.start, end=kept[-1]["end"], text=text, words=kept,
                avg_logprob=seg.avg_logprob, no_speech_prob=seg.no_speech_prob,
                compression_ratio=get_compression_ratio(text),
            )
    return seg


def _redecode(ops: WhisperOps, audio: np.ndarray, seg: DecodedSegment, language: str,
              options: FastOptions) -> DecodedSegment:
    """A doubtful segment decoded again: by default with beam search on the same short
    encoding (`redecode="beam"`), kept only when it is likelier than the greedy text;
    `redecode="plain"` is faster-whisper's `transcribe()` on its 30 s window."""
    if options.redecode == "plain":
        return _redecode_plain(ops, audio, seg, language, options)
    lo, hi = int(seg.start * SAMPLE_RATE), int(seg.end * SAMPLE_RATE) + SAMPLE_RATE // 5
    span = (lo, min(hi, len(audio)))
    (again,) = _decode_batch(ops, audio, [span], language, options, options.redecode_beam)
    again = _collapse_loop(again)
    looped = _looped(again, options)
    if _looped(seg, options) and again.words and not looped:
        return again  # a loop loses to any text
    short = len(again.words) < options.redecode_min_words * len(seg.words)
    silent = again.no_speech_prob > options.redecode_no_speech and again.avg_logprob < -0.8
    unsure = looped or (again.avg_logprob < options.min_avg_logprob
                        and seg.end - seg.start <= options.redecode_unsure_plain_s)
    if short or silent or unsure:
        # Beam search on unsure audio sometimes stops after a word or two, which its per-token
        # score then favours; on 8 kHz speech a short encoding often reads as "no speech"
        # (the transcriber then drops the segment) where the 30 s window does not: a real
        # closing "All right, Nathan, ... Thanks for calling" was lost that way. The plain way
        # decides those, beam loops (a mono mix's overlapped sales pitch: beam "Да, еди." five
        # times, plain the pitch), and unsure beam texts up to `redecode_unsure_plain_s`.
        return _redecode_plain(ops, audio, seg, language, options)
    return again if again.avg_logprob > seg.avg_logprob else seg


def _redecode_plain(ops: WhisperOps, audio: np.ndarray, seg: DecodedSegment,
                    language: str, options: FastOptions) -> DecodedSegment:
    """Plain faster-whisper on one doubtful segment: its 30 s window (`plain_temperatures`)."""
    lo, hi = int(seg.start * SAMPLE_RATE), int(seg.end * SAMPLE_RATE) + SAMPLE_RATE // 5
    pieces, _ = ops.whisper.transcribe(to_float32(audio[lo:hi]), language=whisper_language(language),
                                       beam_size=1, word_timestamps=True, vad_filter=False,
                                       condition_on_previous_text=False,
                                       temperature=list(options.plain_temperatures))
    pieces = list(pieces)
    if not pieces:
        return seg
    words = [
        {"word": w.word, "start": seg.start + w.start, "end": seg.start + w.end,
         "probability": w.probability}
        for p in pieces for w in (p.words or [])
    ]
    text = " ".join(p.text.strip() for p in pieces)
    kept = without_loops([w["word"] for w in words])
    if len(kept) < len(words):  # the last reading loops too: keep one copy of the phrase
        words = [words[i] for i in kept]
        text = "".join(w["word"] for w in words).strip()
    return DecodedSegment(
        start=words[0]["start"] if words else seg.start,
        end=words[-1]["end"] if words else seg.end,
        text=text, words=words,
        avg_logprob=min(p.avg_logprob for p in pieces),
        no_speech_prob=max(p.no_speech_prob for p in pieces),
        compression_ratio=max(p.compression_ratio for p in pieces),
    )
