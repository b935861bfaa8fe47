"""The encoder's input: a power mel spectrogram, exactly as resemblyzer computes it.

Resemblyzer calls `librosa.feature.melspectrogram(y, sr=16000, n_fft=400,
hop_length=160, n_mels=40)`: a periodic Hann window of 400 samples (25 ms),
10 ms hop, frames centred (200 zeros padded at each end, librosa >= 0.10),
|STFT|^2, then 40 Slaney-style mel filters (htk=False, norm='slaney') from 0
to 8 kHz. It is *not* a log spectrogram: the network saw linear power, so
the input level matters (see `normalise_gain`). librosa is not a dependency
of coach (it pulls numba, scipy, ...); these few lines reproduce it in numpy.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
TARGET_DBFS = -30.0  # resemblyzer's audio_norm_target_dBFS
INT16_MAX = 2**15 - 1


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa htk=False)."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = hz / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_region = hz >= min_log_hz
    mels[log_region] = min_log_mel + np.log(hz[log_region] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    hz = f_sp * mels
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    log_region = mels >= min_log_mel
    hz[log_region] = min_log_hz * np.exp(logstep * (mels[log_region] - min_log_mel))
    return hz


@lru_cache(maxsize=4)
def mel_filterbank(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) float32 triangular filters, area-normalised (librosa.filters.mel)."""
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([sr / 2.0]))[0],
                                   n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    weights = np.zeros((n_mels, len(fft_freqs)), dtype=np.float32)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, None]
    weights.flags.writeable = False
    return weights


@lru_cache(maxsize=1)
def _hann(n: int = N_FFT) -> np.ndarray:
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic
    window.flags.writeable = False
    return window


def mel_spectrogram(samples: np.ndarray) -> np.ndarray:
    """(n_frames, 40) float32 power mel frames of 16 kHz audio; n_frames = 1 + len // 160."""
    y = np.ascontiguousarray(samples, dtype=np.float32)
    padded = np.pad(y, N_FFT // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    spectrum = np.fft.rfft(frames * _hann(), axis=-1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    return power @ mel_filterbank().T


def normalise_gain(samples: np.ndarray, target_dbfs: float = TARGET_DBFS,
                   increase_only: bool = True) -> float:
    """The gain resemblyzer's normalize_volume would apply (the encoder saw speech at -30 dBFS)."""
    rms = float(np.sqrt(np.mean((np.asarray(samples, dtype=np.float64) * INT16_MAX) ** 2)))
    if rms <= 0.0:
        return 1.0
    change_db = target_dbfs - 20.0 * np.log10(rms / INT16_MAX)
    if increase_only and change_db < 0:
        return 1.0
    return float(10.0 ** (change_db / 20.0))
