"""Streaming transcription of one speaker's audio, for live coaching and replay.

Shaped after whisper_streaming's `OnlineASRProcessor` (`insert_audio_chunk`,
`process_iter`, `finish`), with three changes that matter on a 2-core laptop:

* **VAD-gated.** Silero VAD runs on every 32 ms window as audio arrives
  (`coach.asr.vad.StreamingVad`: its state carried across chunks), and the
  windows go one by one through batch's segmentation state machine
  (`coach.asr.segmenter`), so an utterance closes after the same 500 ms of
  silence and a live utterance is the segment `coach score` decodes. Whisper
  is never run on silence: no CPU spent, and none of Whisper's "subtitles
  by..." inventions on noise.
* **Encode only what is there.** The buffer is encoded at its own length
  instead of Whisper's 30 s window (`coach.asr.live_decode`).
* **Committed words are forced, not re-decoded.** LocalAgreement-2 commits
  the longest common prefix of two successive hypotheses; the next decode
  passes the committed tokens as a decoder prefix, so the greedy decoder only
  generates the uncommitted tail.

The whole utterance is decoded freely (no forced prefix) as soon as
`early_decode_silence_s` of silence follows speech, so when the pause proves
long enough the final words are already known and emitted at once.

This module keeps the agreement and the bounds: the audio buffer is trimmed
at committed word ends once it exceeds `max_buffer_s`, an utterance longer
than `max_utterance_s` is closed at a committed word, and the text history
used as a prompt is a bounded token list. Nothing here prints; decisions are
logged at debug level.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.transcribe import get_compression_ratio

from coach.asr.hallucinations import HallucinationFilter
from coach.asr.live_decode import BufferDecoder, Hypothesis, StreamWord, words_text
from coach.asr.segmenter import SAMPLE_RATE, VAD_WINDOW, SegmenterOptions, SpeechSegmenter
from coach.asr.vad import StreamingVad, to_float32
from coach.asr.whisper_ops import MAX_SAMPLES, WhisperOps, warm_up
from coach.contract import Utterance, Word

__all__ = ["DecodeStats", "OnlineTranscriber", "StreamingOptions", "StreamingVad", "local_agreement",
           "warm_up"]

log = logging.getLogger(__name__)


@dataclass
class StreamingOptions:
    """How the live transcriber trades latency, CPU and accuracy (docs/live.md has figures)."""

    language: str = "ru"
    partial_interval_s: float = 0.5  # re-decode the growing buffer after this much new speech
    end_silence_s: float = 0.5  # silence that closes an utterance (batch VAD's min silence)
    early_decode_silence_s: float = 0.2  # decode this soon after speech stops, ready for the close
    vad_threshold: float = 0.5  # Silero speech probability that starts speech
    vad_neg_offset: float = 0.15  # ...silence starts when it falls this much lower (as Silero)
    speech_pad_s: float = 0.2  # audio kept before speech onset and after its end (as batch VAD)
    encode_pad_s: float = 1.0  # silence appended before encoding (as coach.asr.fast)
    max_buffer_s: float = 12.0  # beyond this, drop audio up to the last committed word
    max_utterance_s: float = 30.0  # a longer turn is closed at a committed word
    beam_size: int = 1  # partial decodes (greedy: cheap, and LocalAgreement absorbs errors)
    final_beam_size: int = 1  # the decode that closes an utterance
    prompt_tokens: int = 96  # text history passed as prompt once the buffer was trimmed mid-turn
    max_new_tokens: int = 160
    max_tokens_per_s: float = 16.0  # a decode may not produce more (Russian speech is ~9/s): loops end
    hallucinations: HallucinationFilter = field(default_factory=HallucinationFilter)


@dataclass
class DecodeStats:
    """What the transcriber spent, for benchmarks and tests (encoded frames prove the short encode)."""

    decodes: int = 0
    partial_decodes: int = 0
    final_decodes: int = 0
    reused_finals: int = 0
    seconds: float = 0.0
    max_frames: int = 0
    max_buffer_s: float = 0.0
    dropped: int = 0


def local_agreement(previous: list[StreamWord], current: list[StreamWord]) -> int:
    """LocalAgreement-2: how many leading words two successive hypotheses share."""
    n = 0
    for a, b in zip(previous, current):
        if not a.norm or a.norm != b.norm:
            break
        n += 1
    return n


class OnlineTranscriber:
    """Live transcription of one speaker (see the module docstring).

    Feed audio with `insert_audio_chunk` and call `process_iter` often: it is
    cheap when there is nothing to decode, and it returns partial utterances
    (`final=False`, for display) and final ones (for the Session). Call
    `finish` at the end of the stream for the last final utterance.

    Decisions depend on audio time only, never on how the audio was chunked
    or how late `process_iter` runs: VAD windows are replayed in order, so an
    utterance that starts and ends between two calls is still closed and
    decoded on its own. When the caller falls behind, intermediate partial
    decodes are skipped (only the newest is useful) but no utterance is.
    """

    def __init__(self, whisper: WhisperModel, speaker: str, options: StreamingOptions | None = None):
        self.whisper = whisper
        self.speaker = speaker
        self.options = options or StreamingOptions()
        self.decoder = BufferDecoder(WhisperOps(whisper), self.options, speaker)
        self.vad = StreamingVad()
        self.stats = DecodeStats()
        self._pad = int(self.options.speech_pad_s * SAMPLE_RATE)
        # audio: samples [_buffer_start, _total) are kept in _chunks
        self._chunks: deque[np.ndarray] = deque()
        self._buffer_start = 0
        self._total = 0
        self._probs: deque[np.float32] = deque()  # VAD windows not yet stepped through
        # speech tracking, in absolute samples: batch VAD's segmentation, window by window
        opts = self.options
        self._seg = SpeechSegmenter(SegmenterOptions(
            threshold=opts.vad_threshold,
            neg_threshold=max(opts.vad_threshold - opts.vad_neg_offset, 0.01),
            min_silence_ms=opts.end_silence_s * 1000, speech_pad_ms=0,
        ))
        # the open utterance
        self._open = False
        self._utt_start = 0.0
        self._done: list[StreamWord] = []  # committed, audio already dropped
        self._committed: list[StreamWord] = []  # committed, audio in the buffer: forced as decoder prefix
        self._pending: list[StreamWord] = []  # the last hypothesis after the committed words
        self._history: list[int] = []  # tokens of _done, the prompt for later decodes
        self._decoded_to = 0  # audio end of the last decode
        self._closing: tuple[int, list[StreamWord]] | None = None  # the last free decode: (audio end, words)
        self._last_partial = ""
        self._previous_final: str | None = None

    # -- public API ----------------------------------------------------------

    @property
    def now(self) -> float:
        """Stream time: seconds of audio received."""
        return self._total / SAMPLE_RATE

    @property
    def buffer_seconds(self) -> float:
        return (self._total - self._buffer_start) / SAMPLE_RATE

    def committed_words(self) -> list[Word]:
        """Words of the open utterance that LocalAgreement has committed (they will not change
        in later partials), for checks that cannot wait for the utterance to close."""
        if not self._open:
            return []
        return [w.public() for w in self._done + self._committed if w.text.strip()]

    def insert_audio_chunk(self, samples: np.ndarray) -> None:
        data = to_float32(np.asarray(samples).reshape(-1))
        if not len(data):
            return
        self._chunks.append(data)
        self._total += len(data)
        self.stats.max_buffer_s = max(self.stats.max_buffer_s, self.buffer_seconds)
        self._probs.extend(self.vad.feed(data))

    def process_iter(self, decode_partials: bool = True) -> list[Utterance]:
        """Step through new VAD windows, close finished utterances, decode a partial if due.

        With `decode_partials=False` only the work that leads to final
        utterances is done (closing decodes), so a caller serving several
        speakers can do that for all of them first.
        """
        opts = self.options
        seg = self._seg
        out: list[Utterance] = []
        while self._probs:
            closed = self._step(self._probs.popleft())
            if closed and self._open:
                out += self._close("pause", speech_end=closed[-1][1])
        if not self._open:
            self._trim_idle()
            return out
        speaking = seg.triggered and not seg.temp_end
        speech_end = min(seg.silence_start() + self._pad, seg.position)
        due = speaking and (seg.position - self._decoded_to) / SAMPLE_RATE >= opts.partial_interval_s
        early = (not speaking and seg.silence_s() >= opts.early_decode_silence_s
                 and (self._closing is None or self._closing[0] < speech_end))
        if due and decode_partials:
            out += self._partial(seg.position)
            out += self._bound()
        elif early:
            out += self._closing_decode(speech_end)
        return out

    def finish(self) -> list[Utterance]:
        """End of stream: close the open utterance with whatever was said."""
        out = self.process_iter()
        if self._open:
            out += self._close("end of stream")
        self._seg.finish(self._seg.position)
        self._seg.forget_silence()
        self._trim_idle()
        return out

    # -- speech tracking -----------------------------------------------------

    def _step(self, p: np.float32) -> list[tuple[int, int]]:
        """One VAD window through batch's segmentation (coach.asr.segmenter), so live utterances
        are the batch VAD segments; opens an utterance at speech onset. Returns the speech
        segments this window closes."""
        seg = self._seg
        was_speaking = seg.triggered
        closed = seg.push(p)
        if seg.triggered and not was_speaking and not self._open:
            self._open_utterance(seg.start)
        return closed

    def _open_utterance(self, onset: int) -> None:
        self._open = True
        self._utt_start = onset / SAMPLE_RATE
        self._done, self._committed, self._pending, self._history = [], [], [], []
        self._closing = None
        self._last_partial = ""
        self._decoded_to = onset
        self._drop_before(onset - self._pad)

    # -- decoding ------------------------------------------------------------

    def _partial(self, upto: int) -> list[Utterance]:
        hyp = self._decode(upto, self.options.beam_size)
        self.stats.partial_decodes += 1
        if hyp.rejected:
            self._pending = []
            return []
        agreed = local_agreement(self._pending, hyp.words)
        self._committed += hyp.words[:agreed]
        self._pending = hyp.words[agreed:]
        words = self._done + self._committed + self._pending
        text = words_text(words)
        if not text or text == self._last_partial:
            return []
        self._last_partial = text
        return [self._utterance(words, final=False)]

    def _closing_decode(self, upto: int) -> list[Utterance]:
        """Decode the whole utterance freely (no forced prefix), as batch decodes a VAD segment.

        Run as soon as the speaker pauses, so that when the pause proves long
        enough to close the utterance its final words are already known; if
        the speaker goes on, the next partials continue from the committed words.
        """
        hyp = self._decode(upto, self.options.final_beam_size, forced=False)
        self._closing = (upto, [] if hyp.rejected else hyp.words)
        self._pending = self._after_committed(self._closing[1])
        words = self._done + self._closing[1]
        text = words_text(words)
        if not text or text == self._last_partial:
            return []
        self._last_partial = text
        return [self._utterance(words, final=False)]

    def _after_committed(self, words: list[StreamWord]) -> list[StreamWord]:
        """A free decode's words after the committed ones (by time: those centred after the last
        committed word ends), as the hypothesis the next partial is compared with
        (LocalAgreement-2).

        A speaker who pauses briefly gets a closing decode instead of a partial; if the next
        partial had to agree with the partial before the pause, a word said just before it
        ("…заявку. Минуточку, пожалуйста.") would wait for a third decode, usually past the
        utterance's close, and its early finding would come with the close. The closing decode
        heard more audio than that partial, so it is the newer hypothesis. By time, not by
        matching the committed words: a free decode may spell those differently. Nothing is
        committed on its word alone: the next partial (forced after the committed words) must
        say the same."""
        if not self._committed:
            return list(words)
        last = self._committed[-1].end
        return [w for w in words if (w.start + w.end) / 2 >= last]

    def _close(self, reason: str, speech_end: int | None = None) -> list[Utterance]:
        """Close the utterance at `speech_end` (default: where speech stopped, or now), reusing
        the closing decode when it heard all of the speech."""
        seg = self._seg
        end = min((seg.silence_start() if speech_end is None else speech_end) + self._pad, seg.position)
        seg.forget_silence()
        if self._closing is not None and self._closing[0] >= end:
            tail = self._closing[1]
            self.stats.reused_finals += 1
        else:
            hyp = self._decode(end, self.options.final_beam_size, forced=False)
            self.stats.final_decodes += 1
            tail = [] if hyp.rejected else hyp.words
        words = self._done + tail
        self._closing = None
        self._open = False
        self._done, self._committed, self._pending, self._history = [], [], [], []
        self._last_partial = ""
        self._drop_before(end)
        log.debug("%s: utterance closed at %.2f s (%s)", self.speaker, end / SAMPLE_RATE, reason)
        return self._final(words)

    def _final(self, words: list[StreamWord]) -> list[Utterance]:
        text = words_text(words)
        if not text:
            return []
        why = self.options.hallucinations.is_hallucination(
            text, 0.0, 0.0, get_compression_ratio(text), self._previous_final
        )
        if why:
            log.info("%s: dropped %r: %s", self.speaker, text, why)
            self.stats.dropped += 1
            return []
        self._previous_final = text
        return [self._utterance(words, final=True)]

    def _decode(self, upto: int, beam: int, forced: bool = True) -> Hypothesis:
        """Encode the buffer up to `upto` at its own length and decode it; with `forced`, the
        committed words are the decoder's prefix and only the rest is generated."""
        started = time.perf_counter()
        try:
            return self._decode_inner(upto, beam, forced)
        finally:
            self.stats.decodes += 1
            self.stats.seconds += time.perf_counter() - started

    def _decode_inner(self, upto: int, beam: int, forced: bool) -> Hypothesis:
        self._decoded_to = max(self._decoded_to, upto)
        hyp = self.decoder.decode(
            self._buffer()[: max(upto - self._buffer_start, 0)], self._buffer_start / SAMPLE_RATE,
            upto / SAMPLE_RATE, beam=beam, prefix_words=self._committed if forced else [],
            history=self._history, said_before=self._done, onset=self._utt_start,
        )
        self.stats.max_frames = max(self.stats.max_frames, hyp.frames)
        return hyp

    # -- bounds --------------------------------------------------------------

    def _bound(self) -> list[Utterance]:
        """Keep the buffer and the open utterance bounded, cutting only at committed words."""
        opts = self.options
        out: list[Utterance] = []
        committed = self._done + self._committed
        if committed and (self._seg.position / SAMPLE_RATE - self._utt_start) > opts.max_utterance_s:
            cut = committed[-1]
            out += self._final(committed)
            self._done, self._committed, self._history = [], [], []
            self._closing = None
            self._utt_start = cut.end
            self._drop_before(int(cut.end * SAMPLE_RATE))
            self._last_partial = ""
        if self.buffer_seconds > opts.max_buffer_s and self._committed:
            cut = self._committed[-1]
            self._history = (self._history + [t for w in self._committed for t in w.tokens])[
                -opts.prompt_tokens:
            ]
            self._done += self._committed
            self._committed = []
            self._drop_before(int(cut.end * SAMPLE_RATE))
        elif self.buffer_seconds > MAX_SAMPLES / SAMPLE_RATE - opts.encode_pad_s - 1.0:
            now = self._seg.position
            out += self._close("buffer full, nothing committed", speech_end=now)
            if self._seg.triggered:  # still talking: the rest is a new utterance
                self._open_utterance(now)
        return out

    # -- helpers -------------------------------------------------------------

    def _utterance(self, words: list[StreamWord], final: bool) -> Utterance:
        public = [w.public() for w in words if w.text.strip()]
        return Utterance(self.speaker, public[0].start, public[-1].end, words_text(words), public,
                         final=final)

    def _buffer(self) -> np.ndarray:
        if len(self._chunks) > 1:
            joined = np.concatenate(list(self._chunks))
            self._chunks.clear()
            self._chunks.append(joined)
        return self._chunks[0] if self._chunks else np.zeros(0, dtype=np.float32)

    def _drop_before(self, sample: int) -> None:
        """Forget buffered audio before an absolute sample index."""
        drop = min(sample, self._total) - self._buffer_start
        if drop <= 0:
            return
        rest = self._buffer()[drop:].copy()
        self._chunks.clear()
        if len(rest):
            self._chunks.append(rest)
        self._buffer_start += drop

    def _trim_idle(self) -> None:
        """Outside speech keep only the pre-roll that a new utterance needs."""
        keep = self._pad + VAD_WINDOW * 4
        self._drop_before(self._seg.position - keep)
