"""Silero VAD probabilities, over a whole channel or a stream, and what they tell about speech.

One probability per 32 ms window, computed with the model faster-whisper
ships. Both ways of running it carry the LSTM state and the 64-sample
context across pieces, so they never hold more than one piece of float32
audio: `speech_probabilities` (a whole channel, int16 or float32) and
`StreamingVad` (live) give the same probabilities whatever the chunking.
Cutting the probabilities into segments is `coach.asr.segmenter`.

**A second reading rescues speech the carried state stopped hearing.** Over
continuous background (office babble), Silero's carried state learns the
background: good, the babble between turns reads as no speech; but after a
long stretch with no silence it can fade real speech too (snakers4/silero-vad
#725): on a mono 8 kHz call with babble the mean probability fell from 0.7 to
0.1 after 78 s, and 50 s of the agent were never transcribed (held-out set
42). A second Silero reads the same windows with its state renewed every
`RENEW_WINDOWS` (16 s; each fresh state first hears the `WARM_WINDOWS`, 2 s,
before its block). A window the carried state calls silence takes the
renewed reading when that one calls it speech and the window is at least
`RESCUE_MARGIN_DB` (18 dB) above the channel's noise floor (the 10th percentile of
window energies over the last 30 s): foreground speech, not the babble a fresh
state would also call speech. Everything else is the carried reading, which
is faster-whisper's one pass bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import get_vad_model

from coach.asr.segmenter import SAMPLE_RATE, VAD_WINDOW, SegmenterOptions, raw_segments, speech_timestamps

VAD_CONTEXT = 64  # samples of the previous window Silero sees with each window
# Windows per model call. faster-whisper uses 10,000 (320 s); the probabilities do not depend
# on it (tests/test_vad.py checks bit for bit), but the model's working memory does: 10,000
# windows took 200 MB, 1,000 take 20 MB.
PIECE_WINDOWS = 1000
RENEW_WINDOWS = 500  # the second reading: a fresh state every 16 s (module docstring)
WARM_WINDOWS = 64  # ... which first hears the 2 s before its block
RESCUE_THRESHOLD = 0.5  # the segmenter's speech threshold
RESCUE_MARGIN_DB = 18.0  # above the noise floor: measured on held-out sets 41-42 (docs/asr.md)
FLOOR_WINDOWS = 938  # the noise floor's reach: 30 s before the window
FLOOR_STEP = 31  # ... worked out once a second
FLOOR_PERCENTILE = 10
NO_SPEECH_S = 1.0  # less speech than this on a channel: "no speech"
# how speech is counted: the batch segmentation, unpadded
SPEECH_COUNT = SegmenterOptions(min_silence_ms=500, speech_pad_ms=0)


def to_float32(samples) -> np.ndarray:
    """int16 PCM (as coach.audio keeps calls, in memory or in a `PcmFile`) -> float32 in
    [-1, 1); float32 is passed through.

    Dividing by a power of two is exact, so converting a slice gives the same
    values as converting the whole channel and slicing it."""
    if samples.dtype == np.int16:
        return np.asarray(samples).astype(np.float32) / 32768.0
    return np.asarray(samples, dtype=np.float32)


class _Silero:
    """The model with its carried state: LSTM (h, c) and the previous window's tail."""

    def __init__(self) -> None:
        self.model = get_vad_model()
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(VAD_CONTEXT, dtype=np.float32)

    def run(self, frames: np.ndarray) -> np.ndarray:
        """Probabilities of consecutive windows (rows of `frames`, 512 samples each)."""
        context = np.concatenate([self._context[None], frames[:-1, -VAD_CONTEXT:]], axis=0)
        self._context = frames[-1, -VAD_CONTEXT:].copy()
        out, self._h, self._c = self.model.session.run(
            None,
            {"input": np.concatenate([context, frames], axis=1), "h": self._h, "c": self._c},
        )
        return np.asarray(out, dtype=np.float32).reshape(-1)


class _RenewedSilero:
    """Silero over consecutive windows counted from the start of the audio, with a fresh state
    for each block of `RENEW_WINDOWS` windows, warmed on the `WARM_WINDOWS` before it."""

    def __init__(self) -> None:
        self._active = _Silero()
        self._next: _Silero | None = None
        self._index = 0  # windows seen so far

    def run(self, frames: np.ndarray) -> np.ndarray:
        """Probabilities of the next windows (rows of `frames`, 512 samples each)."""
        out = []
        done = 0
        while done < len(frames):
            phase = self._index % RENEW_WINDOWS
            if phase == 0 and self._next is not None:
                self._active, self._next = self._next, None
            if phase == RENEW_WINDOWS - WARM_WINDOWS and self._next is None:
                self._next = _Silero()
            boundary = RENEW_WINDOWS - WARM_WINDOWS if phase < RENEW_WINDOWS - WARM_WINDOWS else RENEW_WINDOWS
            part = frames[done : done + boundary - phase]
            out.append(self._active.run(part))
            if self._next is not None:
                self._next.run(part)
            done += len(part)
            self._index += len(part)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


class _RescuedSilero:
    """The carried reading, with windows it calls silence rescued by the renewed one (module
    docstring). Windows are counted from the start of the audio, so any chunking gives the same."""

    def __init__(self) -> None:
        self._carried = _Silero()
        self._renewed = _RenewedSilero()
        self._energy = np.zeros(0, dtype=np.float64)  # the last FLOOR_WINDOWS window energies, dB
        self._floor = -np.inf
        self._index = 0

    def run(self, frames: np.ndarray) -> np.ndarray:
        """Probabilities of the next windows (rows of `frames`, 512 samples each)."""
        carried = self._carried.run(frames)
        renewed = self._renewed.run(frames)
        energy = 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-10)
        history = np.concatenate([self._energy, energy])
        floors = np.full(len(frames), self._floor)
        offset = len(self._energy)  # history index of this run's first window
        for j in range(-self._index % FLOOR_STEP, len(frames), FLOOR_STEP):  # windows on a step
            at = offset + j
            self._floor = float(np.percentile(history[max(0, at - FLOOR_WINDOWS + 1) : at + 1],
                                              FLOOR_PERCENTILE))
            floors[j:] = self._floor
        self._energy = history[-FLOOR_WINDOWS:]
        self._index += len(frames)
        rescue = (carried < RESCUE_THRESHOLD) & (renewed >= RESCUE_THRESHOLD) & (
            energy >= floors + RESCUE_MARGIN_DB)
        return np.where(rescue, renewed, carried).astype(np.float32)


class StreamingVad:
    """Silero VAD over a stream: window probabilities equal to one pass over the whole audio.

    faster-whisper's `SileroVADModel.__call__` resets the model state on each
    call, which changes about 3% of the windows when audio comes in pieces;
    here the state is carried across chunks, and the renewed second reading
    counts windows from the stream's start as `speech_probabilities` does.
    """

    def __init__(self) -> None:
        self._silero = _RescuedSilero()
        self._pending = np.zeros(0, dtype=np.float32)

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability of each complete new 512-sample window."""
        data = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        n = len(data) // VAD_WINDOW * VAD_WINDOW
        self._pending = data[n:].copy()
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        return self._silero.run(data[:n].reshape(-1, VAD_WINDOW))


def speech_probabilities(audio: np.ndarray) -> np.ndarray:
    """One probability per window over a whole channel, as `get_speech_timestamps` computes them,
    with the windows it misses under long background rescued (module docstring).

    Same padding (zeros up to the next window, a whole window when the length
    is already a multiple) and the same state carried from window to window
    within a block; only one piece of float32 audio (32 s) exists at a time,
    whatever the channel's length.
    """
    n = len(audio)
    padded = n + VAD_WINDOW - n % VAD_WINDOW
    piece = PIECE_WINDOWS * VAD_WINDOW
    silero = _RescuedSilero()
    out = []
    for start in range(0, padded, piece):
        end = min(start + piece, padded)
        frames = np.zeros(end - start, dtype=np.float32)
        real = to_float32(audio[start:min(end, n)])
        frames[: len(real)] = real
        out.append(silero.run(frames.reshape(-1, VAD_WINDOW)))
    return np.concatenate(out)


@dataclass
class ChannelSpeech:
    """Where one channel has speech: the VAD probabilities, computed once per channel and
    shared by the no-speech check, language detection and transcription."""

    probs: np.ndarray
    n_samples: int

    @classmethod
    def of(cls, audio: np.ndarray) -> ChannelSpeech:
        return cls(speech_probabilities(audio), len(audio))

    def segments(self, options: SegmenterOptions) -> list[tuple[int, int]]:
        """Padded segments (start, end) in samples, as get_speech_timestamps with `options`."""
        return speech_timestamps(self.probs, self.n_samples, options)

    @property
    def seconds(self) -> float:
        """Seconds of speech: unpadded segments of the batch segmentation (500 ms silences)."""
        return sum(e - s for s, e in raw_segments(self.probs, self.n_samples, SPEECH_COUNT)) / SAMPLE_RATE

    @property
    def has_speech(self) -> bool:
        """False for silence, hiss, hum, line noise: less than NO_SPEECH_S of speech."""
        return self.seconds >= NO_SPEECH_S


def no_speech_note(speech: Mapping[str, ChannelSpeech]) -> str | None:
    """The note for a call in which no channel holds `NO_SPEECH_S` of speech (noise, hold
    music, an empty line), else None: such a call gets this note and no findings."""
    if any(s.has_speech for s in speech.values()):
        return None
    found = ", ".join(f"{speaker} {s.seconds:.1f} s" for speaker, s in speech.items())
    return f"no speech: voice activity detection found less than {NO_SPEECH_S:.0f} s of speech ({found})"
