"""Decoding recordings into per-speaker 16 kHz mono float32 channels.

Everything goes through PyAV (the decoder faster-whisper uses), so WAV (PCM,
mu-law, A-law), MP3, OGG/Opus and FLAC at any sample rate work the same way.
A stereo call is split into agent and customer by `channels`; a mono file is
agent-only and says so. Bad input raises `AudioError` with a one-line reason
so the batch can record it and carry on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from coach.contract import AGENT, CUSTOMER
from coach.errors import AudioError

SAMPLE_RATE = 16000
MIN_DURATION_S = 0.3
SILENCE_PEAK = 10 ** (-60 / 20)  # -60 dBFS: below this nothing audible was recorded


@dataclass
class CallAudio:
    """A decoded call: one float32 array per speaker present, all the same length."""

    path: str
    channels: dict[str, np.ndarray]
    sample_rate: int = SAMPLE_RATE
    mono: bool = False
    source_channels: int = 2
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        first = next(iter(self.channels.values()))
        return len(first) / self.sample_rate


def parse_channel_order(value: str) -> tuple[str, str]:
    """'agent,customer' -> ('agent', 'customer'); anything else is a clear error."""
    order = tuple(part.strip() for part in value.split(","))
    if sorted(order) != sorted((AGENT, CUSTOMER)):
        raise AudioError(f"--channels must be 'agent,customer' or 'customer,agent', got '{value}'")
    return order  # type: ignore[return-value]


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """Return (samples[channels, n], source channel count) at 16 kHz float32."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.InvalidDataError as exc:
        raise AudioError(f"{path}: not a recognisable audio file ({exc.strerror or exc})") from exc
    except av.error.FFmpegError as exc:
        raise AudioError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    with container:
        streams = container.streams.audio
        if not streams:
            raise AudioError(f"{path}: contains no audio stream")
        stream = streams[0]
        n_channels = stream.codec_context.channels or 1
        layout = "stereo" if n_channels >= 2 else "mono"
        resampler = av.AudioResampler(format="s16", layout=layout, rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                frame.pts = None
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            if not chunks:
                raise AudioError(f"{path}: audio data is corrupt ({exc.strerror or exc})") from exc
            # A damaged tail: keep what decoded (a truncated recording still holds a call).
    if not chunks:
        raise AudioError(f"{path}: no audio samples (empty or truncated file)")
    interleaved = np.concatenate(chunks).astype(np.float32) / 32768.0
    width = 2 if layout == "stereo" else 1
    interleaved = interleaved[: len(interleaved) // width * width]
    return interleaved.reshape(-1, width).T, n_channels


def load_call(path: str | Path, channel_order: tuple[str, str] = (AGENT, CUSTOMER)) -> CallAudio:
    """Decode a recording and split it by speaker; raise AudioError on unusable input."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    samples, n_channels = _decode(path)
    duration = samples.shape[1] / SAMPLE_RATE
    if duration < MIN_DURATION_S:
        raise AudioError(f"{path}: only {duration:.2f} s of audio (empty or truncated file)")
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise AudioError(f"{path}: silent recording (peak below -60 dBFS), nothing to score")
    notes = []
    if samples.shape[0] == 1:
        notes.append("mono recording: treated as the agent only; customer checks skipped")
        return CallAudio(str(path), {AGENT: samples[0]}, mono=True, source_channels=1, notes=notes)
    if n_channels > 2:
        notes.append(f"{n_channels}-channel recording: downmixed to 2 channels")
    channels = {channel_order[0]: samples[0], channel_order[1]: samples[1]}
    return CallAudio(str(path), channels, mono=False, source_channels=n_channels, notes=notes)
