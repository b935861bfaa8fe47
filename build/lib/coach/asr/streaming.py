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

Decoding keeps Whisper's timestamp tokens: on short, freshly cut buffers
greedy decoding tends to loop, and the timestamps show where (a segment
starting in the silent padding, the same segment again, one that never
closes before the token budget); `_segment_tokens` drops those.

An utterance closes when VAD has heard `end_silence_s` of silence, by the
state machine of faster-whisper's `get_speech_timestamps` with the same
500 ms, so a live utterance is the segment `coach score` decodes. That
whole utterance is decoded freely (no forced prefix) as soon as
`early_decode_silence_s` of silence follows speech, so when the pause proves
long enough the final words are already known and emitted at once.

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
from rapidfuzz import fuzz

from coach.asr.hallucinations import HallucinationFilter
from coach.contract import Utterance, Word

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
        self._triggered = False  # Silero's "triggered": inside a speech segment
        self._temp_end = 0  # where the current silence began (0: none yet)
        self._onset = 0
        # the open utterance
        self._open = False
        self._utt_start = 0.0
        self._done: list[_Word] = []  # committed, audio already dropped
        self._committed: list[_Word] = []  # committed, audio in the buffer: forced as decoder prefix
        self._pending: list[_Word] = []  # the last hypothesis after the committed words
        self._history: list[int] = []  # tokens of _done, the prompt for later decodes
        self._decoded_to = 0  # audio end of the last decode
        self._closing: tuple[int, list[_Word]] | None = None  # the last free decode: (audio end, words)
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

    def committed_words(self) -> list[Word]:
        """Words of the open utterance that LocalAgreement has committed (they will not change
        in later partials), for checks that cannot wait for the utterance to close."""
        if not self._open:
            return []
        return [w.public() for w in self._done + self._committed if w.text.strip()]

    def insert_audio_chunk(self, samples: np.ndarray) -> None:
        data = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not len(data):
            return
        self._chunks.append(data)
        self._total += len(data)
        self.stats.max_buffer_s = max(self.stats.max_buffer_s, self.buffer_seconds)
        self._probs.extend(self.vad.feed(data).tolist())

    def process_iter(self, decode_partials: bool = True) -> list[Utterance]:
        """Step through new VAD windows, close finished utterances, decode a partial if due.

        With `decode_partials=False` only the work that leads to final
        utterances is done (closing decodes), so a caller serving several
        speakers can do that for all of them first.
        """
        opts = self.options
        out: list[Utterance] = []
        while self._probs:
            if self._step(self._probs.popleft()) and self._open:
                out += self._close("pause")
        if not self._open:
            self._trim_idle()
            return out
        speaking = self._triggered and not self._temp_end
        speech_end = min(self._speech_end() + self._pad, self._pos)
        due = speaking and (self._pos - self._decoded_to) / SAMPLE_RATE >= opts.partial_interval_s
        early = (not speaking and self._silence() >= opts.early_decode_silence_s
                 and (self._closing is None or self._closing[0] < speech_end))
        if due and decode_partials:
            out += self._partial(self._pos)
            out += self._bound()
        elif early:
            out += self._closing_decode(speech_end)
        return out

    def finish(self) -> list[Utterance]:
        """End of stream: close the open utterance with whatever was said."""
        out = self.process_iter()
        if self._open:
            if not self._temp_end:
                self._temp_end = self._pos
            out += self._close("end of stream")
        self._triggered, self._temp_end = False, 0
        self._trim_idle()
        return out

    # -- speech tracking -----------------------------------------------------

    def _speech_end(self) -> int:
        return self._temp_end if self._temp_end else self._pos

    def _silence(self) -> float:
        return (self._pos - self._temp_end) / SAMPLE_RATE if self._temp_end else 0.0

    def _step(self, p: float) -> bool:
        """One VAD window through the state machine of faster-whisper's `get_speech_timestamps`
        (threshold, neg_threshold, min_silence), so live utterances are the batch VAD segments.
        Returns True when the window closes the current speech segment."""
        opts = self.options
        position = self._pos  # Silero measures at the window's start
        self._pos += VAD_WINDOW
        if p >= opts.vad_threshold and self._temp_end:
            self._temp_end = 0
        if p >= opts.vad_threshold and not self._triggered:
            self._triggered = True
            self._onset = position
            if not self._open:
                self._open_utterance()
            return False
        if p < max(opts.vad_threshold - opts.vad_neg_offset, 0.01) and self._triggered:
            if not self._temp_end:
                self._temp_end = position
            if position - self._temp_end >= opts.end_silence_s * SAMPLE_RATE:
                self._triggered = False
                return True
        return False

    def _open_utterance(self) -> None:
        self._open = True
        self._utt_start = self._onset / SAMPLE_RATE
        self._done, self._committed, self._pending, self._history = [], [], [], []
        self._closing = None
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

    def _closing_decode(self, upto: int) -> list[Utterance]:
        """Decode the whole utterance freely (no forced prefix), as batch decodes a VAD segment.

        Run as soon as the speaker pauses, so that when the pause proves long
        enough to close the utterance its final words are already known; if
        the speaker goes on, the next partials continue from the committed words.
        """
        hyp = self._decode(upto, self.options.final_beam_size, forced=False)
        self._closing = (upto, [] if hyp.rejected else hyp.words)
        words = self._done + self._closing[1]
        text = _text(words)
        if not text or text == self._last_partial:
            return []
        self._last_partial = text
        return [self._utterance(words, final=False)]

    def _close(self, reason: str) -> list[Utterance]:
        """Close the utterance, reusing the closing decode when it heard all of the speech."""
        end = min(self._speech_end() + self._pad, self._pos)
        self._temp_end = 0
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

    def _decode(self, upto: int, beam: int, forced: bool = True) -> _Hypothesis:
        """Encode the buffer up to `upto` at its own length and decode it; with `forced`, the
        committed words are the decoder's prefix and only the rest is generated."""
        started = time.perf_counter()
        try:
            return self._decode_inner(upto, beam, forced)
        finally:
            self.stats.decodes += 1
            self.stats.seconds += time.perf_counter() - started

    def _decode_inner(self, upto: int, beam: int, forced: bool) -> _Hypothesis:
        opts = self.options
        self._decoded_to = max(self._decoded_to, upto)
        audio = self._buffer()[: max(upto - self._buffer_start, 0)]
        offset = self._buffer_start / SAMPLE_RATE
        audio_end = upto / SAMPLE_RATE
        if len(audio) < VAD_WINDOW:
            return _Hypothesis([], audio_end, rejected="too short")
        # at least encode_pad_s of silence, rounded up to a multiple of 0.5 s: few distinct
        # encoder shapes let CTranslate2 and the allocator reuse buffers over a long call
        step = SAMPLE_RATE // 2
        target = -(-(len(audio) + int(opts.encode_pad_s * SAMPLE_RATE)) // step) * step
        target = min(target, MAX_FRAMES * HOP)
        padded = np.zeros(target, dtype=np.float32)
        padded[: min(len(audio), target)] = audio[:target]
        frames = target // HOP
        frames -= frames % 2  # the encoder halves the frame count
        self.stats.max_frames = max(self.stats.max_frames, frames)
        encoded = self.whisper.encode(self.whisper.feature_extractor(padded, padding=0)[:, :frames])
        tok = self.tokenizer
        prefix = [t for w in self._committed for t in w.tokens] if forced else []
        prompt: list[int] = []
        if self._history:
            prompt += [tok.sot_prev] + self._history[-opts.prompt_tokens:]
        prompt += list(tok.sot_sequence) + [tok.timestamp_begin] + prefix
        duration = len(audio) / SAMPLE_RATE
        budget = min(int(opts.max_tokens_per_s * duration) + 16, opts.max_new_tokens)
        result = self.whisper.model.generate(
            encoded, [prompt], beam_size=beam, return_scores=True, return_no_speech_prob=True,
            suppress_blank=not prefix, suppress_tokens=self._suppress,
            max_length=min(len(prompt) + budget, self.whisper.max_length),
        )[0]
        generated = list(result.sequences_ids[0])
        for echo in ([tok.timestamp_begin] + prefix, prefix):  # CTranslate2 returns the forced prefix
            if echo and generated[: len(echo)] == echo:
                generated = generated[len(echo):]
                break
        new, why = _segment_tokens(tok, generated, duration, capped=len(generated) >= budget)
        if why:
            log.debug("%s: %s", self.speaker, why)
        if not new:
            return _Hypothesis([], audio_end)
        text = tok.decode(new).strip()
        avg_logprob = result.scores[0] * len(generated) / (len(generated) + 1)
        log.debug("%s: decoded %.2f-%.2f (%d frames, prefix %d): %r", self.speaker, offset,
                  audio_end, frames, len(prefix), text)
        why = opts.hallucinations.is_hallucination(
            (_text(self._done + (self._committed if forced else [])) + " " + text).strip(),
            float(result.no_speech_prob), float(avg_logprob), get_compression_ratio(text),
        )
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
        if words and not (self._done or prefix) and words[0].start < self._utt_start:
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
        elif self.buffer_seconds > MAX_FRAMES * HOP / SAMPLE_RATE - opts.encode_pad_s - 1.0:
            self._temp_end = self._pos
            out += self._close("buffer full, nothing committed")
            if self._triggered:  # still talking: the rest is a new utterance
                self._onset = self._pos
                self._open_utterance()
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
        self._drop_before(self._pos - keep)


def _segment_tokens(tok: Tokenizer, generated: list[int], duration: float,
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


def _text(words: list[_Word]) -> str:
    return " ".join(w.text.strip() for w in words if w.text.strip())


def warm_up(whisper: WhisperModel, language: str = "ru", seconds: float = 14.0) -> None:
    """Run the encoder, decoder and aligner once at a live buffer's largest usual size.

    CTranslate2 allocates its working memory on first use of a shape; doing it
    at start-up keeps that cost (about 60 MB and half a second) out of the
    first hint's latency and out of the session's memory growth. Loads the
    VAD model too.
    """
    get_vad_model()
    tok = Tokenizer(whisper.hf_tokenizer, whisper.model.is_multilingual, task="transcribe",
                    language=language)
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(int(seconds * SAMPLE_RATE)) * 0.01).astype(np.float32)
    frames = len(audio) // HOP
    frames -= frames % 2
    encoded = whisper.encode(whisper.feature_extractor(audio, padding=0)[:, :frames])
    prompt = list(tok.sot_sequence) + [tok.timestamp_begin]
    whisper.model.generate(encoded, [prompt], beam_size=1, max_length=len(prompt) + 24)
    text = tok.encode(" Здравствуйте, компания телеком, меня зовут Алексей, чем я могу помочь?")
    whisper.find_alignment(tok, [text], encoded, frames)
