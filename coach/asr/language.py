"""Which of coach's languages a speaker speaks: Whisper's language head on speech only.

faster-whisper's `detect_language` looks at the first 30 s of the file,
silence and ring tone included, and may answer any of Whisper's 99
languages; a call that opens with 10 s of hold music, or a Russian speaker
with an accent, then gets a language coach has no rules for. Here the 30 s
window is filled with the speaker's VAD speech segments only, and the answer
is restricted to the languages coach has packs for, with the probabilities
renormalised over them.

Encoding a 30 s window was a sixth of a short mono call's scoring time, so a
call first asks on its first 10 s of speech encoded at their own length
(a third of the cost); only an answer under `SURE` (0.9) is asked again on
the full 30 s. On the 207 development calls (16 kHz, 8 kHz telephone, mono
mixes) and 18 real recordings the quick answer was the 30 s answer every time.

Batch detects once per call on the agent's channel (`detect_language`);
live decides on the first agent utterance (`LanguageProbe`).
"""

from __future__ import annotations

import numpy as np

from coach.asr.segmenter import SAMPLE_RATE, SegmenterOptions, SpeechSegmenter
from coach.asr.vad import ChannelSpeech, StreamingVad, to_float32
from coach.asr.whisper_ops import MAX_SAMPLES, WHISPER_LANGUAGES, WhisperOps, encode_length

PACK_LANGUAGES = ("ru", "en", "ro", "nb", "et")  # languages coach has rules for
DETECT_SPEECH = SegmenterOptions(min_silence_ms=500, max_speech_s=10.0, speech_pad_ms=200)
QUICK_SPEECH_S = 10.0  # speech the quick answer listens to, encoded at its own length
SURE = 0.9  # a quick answer at least this probable is taken; else the 30 s window decides


def language_of_speech(ops: WhisperOps, speech: np.ndarray,
                       candidates: tuple[str, ...] = PACK_LANGUAGES, *,
                       own_length: bool = False) -> tuple[str, float]:
    """Language of audio that is speech already (an utterance, VAD segments joined): the most
    likely candidate and its probability among the candidates. The first 30 s are used,
    in Whisper's 30 s window, or encoded at their own length (+1 s) with `own_length`."""
    if not candidates:
        raise ValueError("language detection needs at least one candidate language")
    clip = to_float32(speech[:MAX_SAMPLES])
    if not len(clip):
        return candidates[0], 0.0
    target = encode_length(len(clip), 1.0) if own_length else MAX_SAMPLES
    encoded = ops.encode([clip], target)
    scores = {token[2:-2]: prob for token, prob in ops.whisper.model.detect_language(encoded)[0]}
    fit = {c: sum(scores.get(w, 0.0) for w in WHISPER_LANGUAGES.get(c, (c,))) for c in candidates}
    total = sum(fit.values())
    best = max(candidates, key=lambda c: fit[c])
    return best, (fit[best] / total if total > 0 else 0.0)


def detect_language(ops: WhisperOps, audio: np.ndarray, candidates: tuple[str, ...] = PACK_LANGUAGES,
                    speech: ChannelSpeech | None = None, max_speech_s: float = 30.0) -> tuple[str, float]:
    """Language of one speaker's channel: on its first `QUICK_SPEECH_S` of speech when that
    answer is `SURE`, else on its first `max_speech_s` (see the module docstring).

    Returns (candidates[0], 0.0) when the channel has no speech at all."""
    speech = speech or ChannelSpeech.of(audio)
    budget = int(max_speech_s * SAMPLE_RATE)
    pieces, have = [], 0
    for start, end in speech.segments(DETECT_SPEECH):
        take = min(end - start, budget - have)
        pieces.append(to_float32(audio[start : start + take]))
        have += take
        if have >= budget:
            break
    joined = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    if len(candidates) > 1 and len(joined):
        quick = language_of_speech(ops, joined[: int(QUICK_SPEECH_S * SAMPLE_RATE)], candidates,
                                   own_length=True)
        if quick[1] >= SURE:
            return quick
    return language_of_speech(ops, joined, candidates)


class LanguageProbe:
    """Live "auto": listen to one speaker until the first utterance ends, then name its language.

    Feed the agent's audio as it arrives; `feed` returns None until an
    utterance has closed (the batch segmentation: 500 ms of silence) and the
    utterances so far hold `min_speech_s` of speech (a lone "Алло" is too
    short to tell), or `max_speech_s` of speech were heard without a pause;
    then (language, probability), once. `audio` holds everything fed so far,
    so the caller can start the transcribers in that language and give them
    the audio from the start.
    """

    def __init__(self, ops: WhisperOps, candidates: tuple[str, ...] = PACK_LANGUAGES,
                 min_speech_s: float = 1.5, max_speech_s: float = 10.0):
        self.ops = ops
        self.candidates = candidates
        self.min_speech_s = min_speech_s
        self.max_speech_s = max_speech_s
        self._vad = StreamingVad()
        self._segmenter = SpeechSegmenter(SegmenterOptions(min_silence_ms=500, speech_pad_ms=0))
        self._segments: list[tuple[int, int]] = []
        self._chunks: list[np.ndarray] = []
        self.result: tuple[str, float] | None = None

    @property
    def audio(self) -> np.ndarray:
        """All audio fed so far (float32)."""
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)

    def feed(self, samples: np.ndarray) -> tuple[str, float] | None:
        if self.result is not None:
            return None
        data = to_float32(np.asarray(samples).reshape(-1))
        self._chunks.append(data)
        seg = self._segmenter
        for prob in self._vad.feed(data):
            closed = seg.push(prob)
            if closed:
                self._segments += closed
                if self._speech_s() >= self.min_speech_s:
                    return self._decide()
            elif seg.triggered and seg.position - seg.start >= self.max_speech_s * SAMPLE_RATE:
                self._segments.append((seg.start, seg.position))
                return self._decide()
        return None

    def finish(self) -> tuple[str, float] | None:
        """End of stream before enough speech: decide on what speech there was (None if none)."""
        if self.result is not None:
            return None
        last = self._segmenter.finish(self._segmenter.position)
        if last is not None:
            self._segments.append(last)
        return self._decide() if self._segments else None

    def _speech_s(self) -> float:
        return sum(e - s for s, e in self._segments) / SAMPLE_RATE

    def _decide(self) -> tuple[str, float]:
        pad = SAMPLE_RATE // 5  # as batch segments are padded
        audio = self.audio
        speech = np.concatenate([audio[max(0, s - pad) : e + pad] for s, e in self._segments])
        self.result = language_of_speech(self.ops, speech, self.candidates)
        return self.result
