"""The GE2E speaker encoder (resemblyzer's VoiceEncoder) run in numpy.

Network (resemblyzer/voice_encoder.py): a 3-layer LSTM (40 -> 256 -> 256 ->
256, PyTorch gate order i, f, g, o, zero initial state, batch_first), the
last layer's final hidden state through Linear(256, 256) and ReLU, then L2
normalised. One forward pass embeds a "partial utterance" of 160 mel frames
(1.6 s); a longer utterance is the normalised mean of partials taken at 1.3
per second (resemblyzer's defaults), which `embed_utterance` reproduces.

Speed: the input projection of every layer is one matrix product over all
frames of all partials; only the recurrent product runs step by step, for
the whole batch of partials at once (partials of different lengths share a
batch, see `_lstm_last_hidden`). float32 throughout; BLAS capped at
`threads` while encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from coach.diarization.features import HOP, SAMPLE_RATE, mel_spectrogram, normalise_gain
from coach.diarization.weights import load_weights

PARTIAL_FRAMES = 160  # resemblyzer's partials_n_frames (1.6 s)
N_LAYERS = 3
HIDDEN = 256


@dataclass
class _Layer:
    w_ih_t: np.ndarray  # (in, 4H), gate columns reordered to i, f, o, g
    w_hh_t: np.ndarray  # (H, 4H)
    bias: np.ndarray  # (4H,) = b_ih + b_hh


def _reorder_gates(rows: np.ndarray) -> np.ndarray:
    """PyTorch stores gates i, f, g, o; put the three sigmoid gates first (one call for all)."""
    i, f, g, o = np.split(rows, 4, axis=0)
    return np.concatenate([i, f, o, g], axis=0)


class SpeakerEncoder:
    """Maps mel windows (batch, frames, 40) to unit-length 256-d speaker embeddings.

    `threads` caps the BLAS threads while encoding: the recurrent step is a small matrix
    product, and OpenBLAS threads spinning for it on busy (or parallel-batch) machines cost
    up to 10x; one thread is the safe default.
    """

    def __init__(self, weights: dict[str, np.ndarray] | None = None, batch_size: int = 128,
                 threads: int | None = 1):
        w = weights if weights is not None else load_weights()
        self.layers = [
            _Layer(
                np.ascontiguousarray(_reorder_gates(w[f"lstm.weight_ih_l{i}"]).T),
                np.ascontiguousarray(_reorder_gates(w[f"lstm.weight_hh_l{i}"]).T),
                _reorder_gates(w[f"lstm.bias_ih_l{i}"] + w[f"lstm.bias_hh_l{i}"]).astype(np.float32),
            )
            for i in range(N_LAYERS)
        ]
        self.linear_t = np.ascontiguousarray(w["linear.weight"].T)
        self.linear_b = w["linear.bias"].astype(np.float32)
        self.batch_size = batch_size
        self.threads = threads

    def _lstm_last_hidden(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Final hidden state of the top layer; sequence b is the LAST lengths[b] frames of x[b].

        Shorter sequences are right-aligned and their state held at zero until they begin,
        which is exactly a fresh LSTM run on just those frames, so windows of any length
        share one batch.
        """
        batch, steps, _ = x.shape
        begin = steps - lengths  # first real frame of each sequence
        h = np.zeros((batch, HIDDEN), dtype=np.float32)
        c = np.zeros((batch, HIDDEN), dtype=np.float32)
        gates = np.empty((batch, 4 * HIDDEN), dtype=np.float32)
        seq = x
        for index, layer in enumerate(self.layers):
            projected = (seq.reshape(batch * steps, -1) @ layer.w_ih_t + layer.bias).reshape(batch, steps, -1)
            last = index == len(self.layers) - 1
            out = None if last else np.zeros((batch, steps, HIDDEN), dtype=np.float32)
            h.fill(0.0)
            c.fill(0.0)
            for t in range(int(begin.min()), steps):
                np.matmul(h, layer.w_hh_t, out=gates)
                gates += projected[:, t]
                sig = gates[:, : 3 * HIDDEN]
                np.multiply(sig, 0.5, out=sig)
                np.tanh(sig, out=sig)
                np.multiply(sig, 0.5, out=sig)
                sig += 0.5  # sigmoid(x) = 0.5 + 0.5 tanh(x / 2)
                g = np.tanh(gates[:, 3 * HIDDEN :])
                c *= sig[:, HIDDEN : 2 * HIDDEN]
                g *= sig[:, :HIDDEN]
                c += g
                np.tanh(c, out=h)
                h *= sig[:, 2 * HIDDEN : 3 * HIDDEN]
                waiting = begin > t
                if waiting.any():
                    h[waiting] = 0.0
                    c[waiting] = 0.0
                if out is not None:
                    out[:, t] = h
            if out is not None:
                seq = out
        return h

    def embed_partials(self, mels: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """Mel windows -> (batch, 256) unit embeddings (ReLU'd, so >= 0).

        Give one (batch, frames, 40) array, or a list of (frames_i, 40) arrays of any lengths.
        """
        items = list(mels) if isinstance(mels, list) else list(np.asarray(mels, dtype=np.float32))
        n_mels = self.layers[0].w_ih_t.shape[0]
        for item in items:
            if item.ndim != 2 or item.shape[1] != n_mels or len(item) == 0:
                raise ValueError(f"expected mel windows of shape (frames, {n_mels}), got {item.shape}")
        if not items:
            return np.zeros((0, HIDDEN), dtype=np.float32)
        chunks = []
        with threadpool_limits(self.threads, user_api="blas"):
            order = np.argsort([len(item) for item in items], kind="stable")  # similar lengths together
            for start in range(0, len(items), self.batch_size):
                members = order[start : start + self.batch_size]
                lengths = np.array([len(items[i]) for i in members])
                batch = np.zeros((len(members), lengths.max(), n_mels), dtype=np.float32)
                for row, i in enumerate(members):
                    batch[row, batch.shape[1] - lengths[row] :] = items[i]
                hidden = self._lstm_last_hidden(batch, lengths)
                raw = np.maximum(hidden @ self.linear_t + self.linear_b, 0.0)
                norm = np.linalg.norm(raw, axis=1, keepdims=True)
                chunks.append((members, raw / np.maximum(norm, 1e-12)))
        out = np.zeros((len(items), HIDDEN), dtype=np.float32)
        for members, emb in chunks:
            out[members] = emb
        return out

    def embed_utterance(self, samples: np.ndarray, rate: float = 1.3, min_coverage: float = 0.75,
                        normalise: bool = True) -> np.ndarray:
        """One embedding for a single-speaker clip (resemblyzer's embed_utterance, partials averaged).

        `normalise` applies resemblyzer's volume normalisation (up to -30 dBFS, never down);
        its silence trimming is left to the caller (give speech, not pauses).
        """
        wav = np.asarray(samples, dtype=np.float32)
        if normalise:
            wav = wav * normalise_gain(wav)
        slices = partial_slices(len(wav), rate, min_coverage)
        needed = slices[-1][1] * HOP
        if needed >= len(wav):
            wav = np.pad(wav, (0, needed - len(wav)))
        mel = mel_spectrogram(wav)
        partials = self.embed_partials([mel[a:b] for a, b in slices])
        mean = partials.mean(axis=0)
        return (mean / np.linalg.norm(mean)).astype(np.float32)


def partial_slices(n_samples: int, rate: float = 1.3, min_coverage: float = 0.75) -> list[tuple[int, int]]:
    """Mel-frame ranges of the partials resemblyzer takes from an utterance (compute_partial_slices)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    frame_step = int(np.round((SAMPLE_RATE / rate) / HOP))
    if not 0 < frame_step <= PARTIAL_FRAMES:
        raise ValueError(f"partial rate {rate} per second is out of range")
    steps = max(1, n_frames - PARTIAL_FRAMES + frame_step + 1)
    slices = [(i, i + PARTIAL_FRAMES) for i in range(0, steps, frame_step)]
    start, stop = slices[-1][0] * HOP, slices[-1][1] * HOP
    coverage = (n_samples - start) / (stop - start)
    if coverage < min_coverage and len(slices) > 1:
        slices = slices[:-1]
    return slices
