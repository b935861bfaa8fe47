"""Streaming transcription of one speaker's audio, for live coaching and replay.

Shaped after whisper_streaming's `OnlineASRProcessor` (`insert_audio_chunk`,
`process_iter`, `finish`), with three changes that matter on a 2-core laptop:

* **VAD-gated.** Silero VAD runs on every 32 ms window as audio arrives (its
  state carried across chunks, so the probabilities equal a single pass over
  the recording). Whisper is never run on silence: no CPU spent, and none of
  Whisper's "subtitles by..." inventions on noise.
* **Encode only what is there.** The buffer (plus `encode_pad_s` of silence,
  as `coach.asr.fast` does for batch) is encoded at its own length instead of
  Whisper's 30 s window; CTranslate2's encoder accepts fewer than 3000 frames.
  Word times come from `Whisper.align` on that same short encoding.
* **Committed words are forced, not re-decoded.** LocalAgreement-2 commits
  the longest common prefix of two successive hypotheses; the next decode
  passes the committed tokens as a decoder prefix, so the greedy decoder only
  generates the uncommitted tail.

An utterance closes when VAD has heard `end_silence_s` of silence (the same
500 ms that separates batch VAD segments), so the final text covers the
same stretch of audio that `coach score` decodes. A decode is started as soon
as `early_decode_silence_s` of silence follows speech, so when the utterance
closes its words are usually already known and the final is emitted at once.

Memory is bounded: the audio buffer is trimmed at committed word ends once it
exceeds `max_buffer_s`, an utterance longer than `max_utterance_s` is closed at
a committed word, and the text history used as a prompt is a bounded token
list. Nothing here prints; decisions are logged at debug level.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens, merge_punctuations
from faster_whisper.vad import get_vad_model

from coach.asr.hallucinations import HallucinationFilter
from coach.types import Utterance, Word

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
HOP = 160  # samples per mel frame
MAX_FRAMES = 3000  # Whisper's 30 s window
VAD_WINDOW = 512  # Silero's window at 16 kHz (32 ms)
VAD_CONTEXT = 64
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"
_NORM = re.compile(r"[^\w]+", re.UNICODE)


@dataclass
class StreamingOptions:
    """How the live transcriber trades latency, CPU and accuracy (docs/live.md has figures)."""

    language: str = "ru"
    partial_interval_s: float = 1.0  # re-decode the growing buffer after this much new speech
    end_silence_s: float = 0.5  # silence that closes an utterance (batch VAD's min silence)
    early_decode_silence_s: float = 0.2  # decode this soon after speech stops, ready for the close
    vad_threshold: float = 0.5  # Silero speech probability that starts speech
    vad_neg_offset: float = 0.15  # ...and it stays speech until the probability falls this much lower
    min_speech_s: float = 0.1  # a shorter blip never opens an utterance
    speech_pad_s: float = 0.2  # audio kept before speech onset and after its end (as batch VAD)
    encode_pad_s: float = 1.0  # silence appended before encoding (as coach.asr.fast)
    max_buffer_s: float = 12.0  # beyond this, drop audio up to the last committed word
    max_utterance_s: float = 30.0  # a longer turn is closed at a committed word
    beam_size: int = 1  # partial decodes (greedy: cheap, and LocalAgreement absorbs errors)
    final_beam_size: int = 1  # the decode that closes an utterance
    prompt_tokens: int = 96  # text history passed as prompt once the buffer was trimmed mid-turn
    max_new_tokens: int = 160
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


class StreamingVad:
    """Silero VAD over a stream: window probabilities identical to one pass over the whole audio.

    faster-whisper's `SileroVADModel.__call__` resets the model state on each
    call, which changes about 3% of the windows when audio comes in pieces;
    here the LSTM state and the 64-sample context are carried across chunks.
    """

    def __init__(self) -> None:
        self.model = get_vad_model()
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(VAD_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self.windows = 0

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability of each complete new 512-sample window."""
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        n = len(data) // VAD_WINDOW * VAD_WINDOW
        self._pending = data[n:].copy()
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        frames = data[:n].reshape(-1, VAD_WINDOW)
        context = np.concatenate([self._context[None], frames[:-1, -VAD_CONTEXT:]], axis=0)
        self._context = frames[-1, -VAD_CONTEXT:].copy()
        out, self._h, self._c = self.model.session.run(
            None,
            {"input": np.concatenate([context, frames], axis=1), "h": self._h, "c": self._c},
        )
        self.windows += len(frames)
        return np.asarray(out, dtype=np.float32).reshape(-1)


@dataclass
class _Word:
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
class _Hypothesis:
    words: list[_Word]  # uncommitted words after the forced prefix
    audio_end: float  # absolute time up to which audio was decoded
    rejected: str | None = None


def normalise(text: str) -> str:
    return _NORM.sub(" ", text.lower().replace("ё", "е")).strip()


def local_agreement(previous: list[_Word], current: list[_Word]) -> int:
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
        self.tokenizer = Tokenizer(
            whisper.hf_tokenizer, whisper.model.is_multilingual, task="transcribe",
            language=self.options.language,
        )
        self._suppress = get_suppressed_tokens(self.tokenizer, [-1])
        self.vad = StreamingVad()
        self.stats = DecodeStats()
        self._pad = int(self.options.speech_pad_s * SAMPLE_RATE)
        # audio: samples [_buffer_start, _total) are kept in _chunks
        self._chunks: deque[np.ndarray] = deque()
        self._buffer_start = 0
        self._total = 0
        self._probs: deque[float] = deque()  # VAD windows not yet stepped through
        # speech tracking, in absolute samples
        self._pos = 0  # end of the last stepped VAD window
        self._in_speech = False
        self._candidate: int | None = None
        self._onset = 0
        self._voiced_end = 0
        # the open utterance
        self._open = False
        self._utt_start = 0.0
        self._done: list[_Word] = []  # committed, audio already dropped
        self._committed: list[_Word] = []  # committed, audio in the buffer: forced as decoder prefix
        self._pending: list[_Word] = []  # the last hypothesis after the committed words
        self._history: list[int] = []  # tokens of _done, the prompt for later decodes
        self._decoded_to = 0  # audio end of the last decode
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

    @property
    def in_utterance(self) -> bool:
        return self._open

    def insert_audio_chunk(self, samples: np.ndarray) -> None:
        data = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not len(data):
            return
        self._chunks.append(data)
        self._total += len(data)
        self.stats.max_buffer_s = max(self.stats.max_buffer_s, self.buffer_seconds)
        self._probs.extend(self.vad.feed(data).tolist())

    def process_iter(self) -> list[Utterance]:
        """Step through new VAD windows, close finished utterances, decode a partial if due."""
        opts = self.options
        out: list[Utterance] = []
        while self._probs:
            self._step(self._probs.popleft())
            if self._open and self._silence() >= opts.end_silence_s:
                out += self._close("pause")
        if not self._open:
            self._trim_idle()
            return out
        seen_all = self._decoded_to >= min(self._voiced_end + self._pad, self._pos)
        due = self._in_speech and (self._pos - self._decoded_to) / SAMPLE_RATE >= opts.partial_interval_s
        early = (not self._in_speech and self._silence() >= opts.early_decode_silence_s
                 and not seen_all)
        if due or early:
            upto = self._pos if due else min(self._voiced_end + self._pad, self._pos)
            out += self._partial(upto)
            out += self._bound()
        return out

    def finish(self) -> list[Utterance]:
        """End of stream: close the open utterance with whatever was said."""
        out = self.process_iter()
        if self._in_speech and not self._open:
            self._open_utterance()
        if self._open:
            self._voiced_end = self._pos
            out += self._close("end of stream")
        self._in_speech = False
        self._trim_idle()
        return out

    # -- speech tracking -----------------------------------------------------

    def _silence(self) -> float:
        return 0.0 if self._in_speech else (self._pos - self._voiced_end) / SAMPLE_RATE

    def _step(self, p: float) -> None:
        """One VAD window, with Silero's hysteresis: speech starts above the threshold and
        lasts until the probability falls `vad_neg_offset` below it for a while."""
        opts = self.options
        start, end = self._pos, self._pos + VAD_WINDOW
        self._pos = end
        if self._in_speech:
            if p >= opts.vad_threshold - opts.vad_neg_offset:
                self._voiced_end = end
            elif (end - self._voiced_end) / SAMPLE_RATE >= opts.early_decode_silence_s:
                self._in_speech = False
            return
        if p < opts.vad_threshold:
            self._candidate = None
            return
        if self._candidate is None:
            self._candidate = start
        if (end - self._candidate) / SAMPLE_RATE >= opts.min_speech_s:
            self._in_speech = True
            self._voiced_end = end
            if not self._open:
                self._onset = self._candidate
                self._open_utterance()
            self._candidate = None

    def _open_utterance(self) -> None:
        self._open = True
        self._utt_start = self._onset / SAMPLE_RATE
        self._done, self._committed, self._pending, self._history = [], [], [], []
        self._last_partial = ""
        self._decoded_to = self._onset
        self._drop_before(self._onset - self._pad)

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
        text = _text(words)
        if not text or text == self._last_partial:
            return []
        self._last_partial = text
        return [self._utterance(words, final=False)]

    def _close(self, reason: str) -> list[Utterance]:
        """Close the utterance; reuse the last decode when it already heard all of the speech."""
        opts = self.options
        end = min(self._voiced_end + self._pad, self._pos)
        if self._decoded_to >= end and opts.final_beam_size == opts.beam_size:
            tail = self._pending
            self.stats.reused_finals += 1
        else:
            hyp = self._decode(end, opts.final_beam_size)
            self.stats.final_decodes += 1
            tail = [] if hyp.rejected else hyp.words
        words = self._done + self._committed + tail
        self._open = False
        self._done, self._committed, self._pending, self._history = [], [], [], []
        self._last_partial = ""
        self._drop_before(end)
        log.debug("%s: utterance closed at %.2f s (%s)", self.speaker, end / SAMPLE_RATE, reason)
        return self._final(words)

    def _final(self, words: list[_Word]) -> list[Utterance]:
        text = _text(words)
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

    def _decode(self, upto: int, beam: int) -> _Hypothesis:
        """Encode the buffer up to `upto` at its own length; decode after the committed words."""
        started = time.perf_counter()
        try:
            return self._decode_inner(upto, beam)
        finally:
            self.stats.decodes += 1
            self.stats.seconds += time.perf_counter() - started

    def _decode_inner(self, upto: int, beam: int) -> _Hypothesis:
        opts = self.options
        self._decoded_to = max(self._decoded_to, upto)
        audio = self._buffer()[: max(upto - self._buffer_start, 0)]
        offset = self._buffer_start / SAMPLE_RATE
        audio_end = upto / SAMPLE_RATE
        if len(audio) < VAD_WINDOW:
            return _Hypothesis([], audio_end, rejected="too short")
        target = min(len(audio) + int(opts.encode_pad_s * SAMPLE_RATE), MAX_FRAMES * HOP)
        padded = np.zeros(target, dtype=np.float32)
        padded[: min(len(audio), target)] = audio[:target]
        frames = target // HOP
        frames -= frames % 2  # the encoder halves the frame count
        self.stats.max_frames = max(self.stats.max_frames, frames)
        encoded = self.whisper.encode(self.whisper.feature_extractor(padded, padding=0)[:, :frames])
        tok = self.tokenizer
        prefix = [t for w in self._committed for t in w.tokens]
        prompt: list[int] = []
        if self._history:
            prompt += [tok.sot_prev] + self._history[-opts.prompt_tokens:]
        prompt += list(tok.sot_sequence) + [tok.no_timestamps] + prefix
        result = self.whisper.model.generate(
            encoded, [prompt], beam_size=beam, return_scores=True, return_no_speech_prob=True,
            suppress_blank=not prefix, suppress_tokens=self._suppress,
            max_length=min(len(prompt) + opts.max_new_tokens, self.whisper.max_length),
        )[0]
        sequence = list(result.sequences_ids[0])
        if sequence[: len(prefix)] == prefix:  # CTranslate2 returns the forced prefix too
            sequence = sequence[len(prefix):]
        new = [t for t in sequence if t < tok.eot]
        if not new:
            return _Hypothesis([], audio_end)
        text = tok.decode(new).strip()
        avg_logprob = result.scores[0] * len(new) / (len(new) + 1)
        why = opts.hallucinations.is_hallucination(
            (_text(self._done + self._committed) + " " + text).strip(),
            float(result.no_speech_prob), float(avg_logprob), get_compression_ratio(text),
        )
        log.debug("%s: decoded %.2f-%.2f (%d frames, prefix %d): %r", self.speaker, offset,
                  audio_end, frames, len(prefix), text)
        if why:
            log.debug("%s: hypothesis %r rejected: %s", self.speaker, text, why)
            return _Hypothesis([], audio_end, rejected=why)
        content = min(len(audio) // HOP, frames)
        aligned = self.whisper.find_alignment(tok, [prefix + new], encoded, content)[0]
        merge_punctuations(aligned, PREPEND_PUNCTUATIONS, APPEND_PUNCTUATIONS)
        words: list[_Word] = []
        position = 0
        for w in aligned:
            first = position
            position += len(w["tokens"])
            if first < len(prefix) or not w["word"].strip():
                continue  # a committed word, or punctuation merged into its neighbour
            start, end = offset + float(w["start"]), offset + float(w["end"])
            if start >= audio_end:
                continue  # "heard" in the padding
            words.append(_Word(w["word"], start, min(end, audio_end), float(w["probability"]),
                               list(w["tokens"])))
        if words and not (self._done or self._committed) and words[0].start < self._utt_start:
            words[0].start = min(self._utt_start, words[0].end)  # not before the speech onset
        return _Hypothesis(words, audio_end)

    # -- bounds --------------------------------------------------------------

    def _bound(self) -> list[Utterance]:
        """Keep the buffer and the open utterance bounded, cutting only at committed words."""
        opts = self.options
        out: list[Utterance] = []
        committed = self._done + self._committed
        if committed and (self._pos / SAMPLE_RATE - self._utt_start) > opts.max_utterance_s:
            cut = committed[-1]
            out += self._final(committed)
            self._done, self._committed, self._history = [], [], []
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
        elif self.buffer_seconds > MAX_FRAMES * HOP / SAMPLE_RATE - opts.encode_pad_s - 1.0:
            self._voiced_end = self._pos
            out += self._close("buffer full, nothing committed")
        return out

    # -- helpers -------------------------------------------------------------

    def _utterance(self, words: list[_Word], final: bool) -> Utterance:
        public = [w.public() for w in words if w.text.strip()]
        return Utterance(self.speaker, public[0].start, public[-1].end, _text(words), public, final=final)

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
        onset = self._candidate if self._candidate is not None else self._pos
        self._drop_before(min(self._pos, onset) - keep)


def _text(words: list[_Word]) -> str:
    return " ".join(w.text.strip() for w in words if w.text.strip())
