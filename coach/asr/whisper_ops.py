"""The Whisper operations batch and live decoding share, written once.

faster-whisper's `transcribe` pads every window to 30 s (3000 mel frames);
CTranslate2's encoder accepts fewer, so coach encodes a clip only as long as
it is plus some silence (`encode_length`: batch pads 2 s, live 1 s rounded up
to 0.5 s so that few shapes occur). Decoding is CTranslate2's `generate`
with Whisper's usual token suppression; word times come from cross-attention
alignment (`Whisper.align`) on that same short encoding, which takes the
number of *mel* frames of real audio (`len(audio) // HOP`), not encoder
frames: passing half squeezed every word time into the first half of the clip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens, merge_punctuations
from faster_whisper.vad import get_vad_model

from coach.asr.segmenter import SAMPLE_RATE

T = TypeVar("T")
R = TypeVar("R")

HOP = 160  # samples per mel frame
MAX_FRAMES = 3000  # Whisper's 30 s window
MAX_SAMPLES = MAX_FRAMES * HOP
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"

# Language packs whose code Whisper spells differently (Norwegian Bokmål is Whisper's "no");
# for detection every listed Whisper language counts for the pack.
WHISPER_LANGUAGES = {"nb": ("no", "nn")}


def whisper_language(language: str) -> str:
    """The Whisper language code for a language pack's code ("nb" -> "no")."""
    return WHISPER_LANGUAGES.get(language, (language,))[0]


# A contact-center opening per language pack, for warming the decoder and aligner up on
# the tokens a session will really see.
WARM_UP_TEXT = {
    "ru": "Здравствуйте, компания телеком, меня зовут Алексей, чем я могу помочь?",
    "en": "Hello, thank you for calling Telecom, my name is Alex, how can I help you?",
    "ro": "Bună ziua, compania Telecom, numele meu este Alexandru, cu ce vă pot ajuta?",
    "nb": "Hei, du har kommet til Telekom, jeg heter Aleksander, hva kan jeg hjelpe deg med?",
    "et": "Tere, teid teenindab Telekom, minu nimi on Aleksei, kuidas saan teid aidata?",
}


def encode_length(samples: int, pad_s: float, round_s: float = 0.0) -> int:
    """Samples to encode for a clip of `samples`: `pad_s` of silence added, rounded up to a
    multiple of `round_s` when given, never more than Whisper's 30 s window."""
    target = samples + int(pad_s * SAMPLE_RATE)
    if round_s:
        step = int(round_s * SAMPLE_RATE)
        target = -(-target // step) * step
    return min(target, MAX_SAMPLES)


def even_frames(target: int) -> int:
    """Mel frames of `target` samples, even: the encoder halves the frame count."""
    frames = target // HOP
    return frames - frames % 2


class WhisperOps:
    """One loaded Whisper model and the operations coach runs on it (one per transcriber)."""

    def __init__(self, whisper: WhisperModel):
        self.whisper = whisper
        self._tokenizers: dict[str, Tokenizer] = {}
        self._suppress: dict[str, tuple[int, ...]] = {}
        self.workers = max(1, int(getattr(whisper.model, "num_workers", 1)))
        self._pool: ThreadPoolExecutor | None = None

    def map(self, work: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """`work` on each item, as many at once as the model has replicas (`decode_workers`);
        results in the items' order.

        CTranslate2 and onnxruntime release the GIL, so Python threads are enough;
        each item's result does not depend on which replica ran it (coach.numerics),
        only the wall time does."""
        items = list(items)
        if self.workers == 1 or len(items) < 2:
            return [work(item) for item in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="coach-decode")
        return list(self._pool.map(work, items))

    def tokenizer(self, language: str) -> Tokenizer:
        if language not in self._tokenizers:
            self._tokenizers[language] = Tokenizer(
                self.whisper.hf_tokenizer, self.whisper.model.is_multilingual, task="transcribe",
                language=whisper_language(language),
            )
        return self._tokenizers[language]

    def suppress_tokens(self, language: str) -> tuple[int, ...]:
        """Whisper's default suppression (-1): non-speech symbols and task tokens."""
        if language not in self._suppress:
            self._suppress[language] = get_suppressed_tokens(self.tokenizer(language), [-1])
        return self._suppress[language]

    def encode(self, clips: Sequence[np.ndarray], target: int) -> ctranslate2.StorageView:
        """Encode clips as one batch, each zero-padded (or cut) to `target` samples; its mel
        features are cut to `even_frames(target)`."""
        frames = even_frames(target)
        feats = []
        for clip in clips:
            padded = np.zeros(target, dtype=np.float32)
            padded[: min(len(clip), target)] = clip[:target]
            feats.append(self.whisper.feature_extractor(padded, padding=0)[:, :frames])
        return self.whisper.encode(np.stack(feats).astype(np.float32))

    def generate(self, encoded: ctranslate2.StorageView, prompts: list[list[int]], language: str,
                 *, beam_size: int, max_length: int, suppress_blank: bool = True) -> list:
        """CTranslate2's decoder with scores and the no-speech probability."""
        return self.whisper.model.generate(
            encoded, prompts, beam_size=beam_size, return_scores=True, return_no_speech_prob=True,
            suppress_blank=suppress_blank, suppress_tokens=list(self.suppress_tokens(language)),
            max_length=max_length,
        )

    def align(self, tokenizer: Tokenizer, tokens: list[list[int]], encoded: ctranslate2.StorageView,
              mel_frames: int | list[int]) -> list[list[dict]]:
        """Words with times (seconds from the clip's start), probabilities and tokens, for each
        token sequence; punctuation merged into its neighbour word. An empty sequence gets no
        words: `align` rejects empty sequences, so it is aligned as a one-token stub (cheaper
        than encoding the batch again without it)."""
        keep = [k for k, t in enumerate(tokens) if t]
        out: list[list[dict]] = [[] for _ in tokens]
        if not keep:
            return out
        stub = tokens if len(keep) == len(tokens) else [t if t else [tokenizer.eot - 1] for t in tokens]
        aligned = self.whisper.find_alignment(tokenizer, stub, encoded, mel_frames)
        for k in keep:
            merge_punctuations(aligned[k], PREPEND_PUNCTUATIONS, APPEND_PUNCTUATIONS)
            out[k] = aligned[k]
        return out

    def read_window(self, audio: np.ndarray, language: str, beam_size: int,
                    max_new_tokens: int) -> list[dict]:
        """Words (times from the clip's start) of a clip of up to 30 s read the way Whisper was
        trained: its full 30 s window, the clip and then silence. Without timestamp tokens, at
        most `max_new_tokens` (the clip's first words when it holds more speech than that)."""
        tokenizer = self.tokenizer(language)
        prompt = list(tokenizer.sot_sequence) + [tokenizer.no_timestamps]
        encoded = self.encode([audio], MAX_SAMPLES)
        (result,) = self.generate(encoded, [prompt], language, beam_size=beam_size,
                                  max_length=len(prompt) + max_new_tokens)
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        frames = min(even_frames(MAX_SAMPLES), len(audio) // HOP)
        return self.align(tokenizer, [tokens], encoded, frames)[0]

    def text_likelihood(self, audio: np.ndarray, texts: list[str], language: str,
                        pad_s: float = 1.0) -> list[float]:
        """How well each text fits the audio: the mean log-probability of its tokens when the
        decoder is forced to read it (alignment), on one encoding of the audio at its own length.

        For "was this phrase said here?" on a stretch a rule points at: a phrase
        that was said scores close to 0, a different one far lower. Texts are
        compared with each other on the same audio, not with a fixed threshold.
        """
        return [float(np.mean(lp)) if len(lp) else float("-inf")
                for lp in self.token_log_probs(audio, texts, language, pad_s)]

    def token_log_probs(self, audio: np.ndarray, texts: list[str], language: str,
                        pad_s: float = 1.0) -> list[np.ndarray]:
        """Each text's per-token log-probabilities when the decoder is forced to read it on
        this audio (one encoding for all texts); an empty array for an empty text.

        `text_likelihood` averages them; coach.verify sums them over the tokens where two
        readings of one stretch differ, which a mean over a whole sentence would dilute.
        """
        if not texts:
            return []
        tok = self.tokenizer(language)
        target = encode_length(len(audio), pad_s)
        encoded = self.encode([audio], target)
        if len(texts) > 1:  # align wants one encoder output per sequence: repeat, don't re-encode
            encoded = ctranslate2.StorageView.from_array(np.repeat(np.array(encoded), len(texts), axis=0))
        tokens = [tok.encode(" " + t.strip()) if t.strip() else [] for t in texts]
        stub = [t if t else [tok.eot - 1] for t in tokens]
        mel = min(len(audio) // HOP, even_frames(target))
        results = self.whisper.model.align(encoded, tok.sot_sequence, stub, mel)
        return [
            np.log(np.maximum(np.asarray(r.text_token_probs, dtype=np.float64), 1e-12)) if t
            else np.zeros(0)
            for r, t in zip(results, tokens)
        ]

    def warm_up(self, language: str, seconds: float = 14.0) -> None:
        """Run the encoder, decoder and aligner once at a live buffer's largest usual size,
        on the session's language.

        CTranslate2 allocates its working memory on first use of a shape; doing
        it at start-up keeps that cost (about 60 MB and half a second) out of the
        first hint's latency and out of the session's memory growth. Loads the
        VAD model too.
        """
        get_vad_model()
        tok = self.tokenizer(language)
        rng = np.random.default_rng(0)
        audio = (rng.standard_normal(int(seconds * SAMPLE_RATE)) * 0.01).astype(np.float32)
        target = len(audio)
        encoded = self.encode([audio], target)
        prompt = list(tok.sot_sequence) + [tok.timestamp_begin]
        self.whisper.model.generate(encoded, [prompt], beam_size=1, max_length=len(prompt) + 24)
        text = tok.encode(" " + WARM_UP_TEXT.get(language, WARM_UP_TEXT["en"]))
        self.whisper.find_alignment(tok, [text], encoded, even_frames(target))


def warm_up(whisper: WhisperModel, language: str = "ru", seconds: float = 14.0) -> None:
    """`WhisperOps.warm_up` for a bare model (what `coach live` loads)."""
    WhisperOps(whisper).warm_up(language, seconds)
