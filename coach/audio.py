"""Decoding recordings into per-speaker 16 kHz mono channels, kept as int16.

Everything goes through PyAV (the decoder faster-whisper uses), so WAV (PCM,
mu-law, A-law), MP3, OGG/Opus and FLAC at any sample rate work the same way.
A stereo call is split into agent and customer by `channels`; a mono file is
agent-only and says so. Bad input raises `AudioError` with a one-line reason
so the batch can record it and carry on.

Memory: a call is decoded straight into one preallocated int16 array per
channel (not float32 plus a list of pieces and their concatenation: a
2-hour stereo call peaked at 2.8 GB that way), and float32 is made only for
the stretch someone asks for (`CallAudio.samples`, `iter_chunks`; the
transcriber converts one batch of speech segments at a time). A call longer
than `SPILL_AFTER_S` keeps its int16 samples in an unnamed temporary file
per channel (`PcmFile`, read by slices), so its memory does not grow with
its length: 2 hours of stereo would be 460 MB, half the budget of a run.

Damaged files are named, not scored silently as shorter calls: when fewer
seconds decode than the header promises (a WAV's data size, a FLAC's sample
count, the container's duration), the call comes back with a
"truncated: ..." note and `truncated=True`, so call-level findings the
missing part could contradict can be held back.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from coach.contract import AGENT, CUSTOMER
from coach.errors import AudioError

SAMPLE_RATE = 16000
MIN_DURATION_S = 0.3
SILENCE_PEAK = 10 ** (-60 / 20)  # -60 dBFS: below this nothing audible was recorded
# decoded audio this much shorter than the header says is a truncated file; codecs' own
# padding and resampler latency are far below it
TRUNCATION_TOLERANCE_S = 0.5
TRUNCATION_TOLERANCE_FRACTION = 0.005
UNKNOWN_LENGTH_CAPACITY_S = 600.0  # first allocation when the header tells no length
SPILL_AFTER_S = 1800.0  # longer calls keep their samples on disk (PcmFile)
SPILL_BLOCK_S = 60.0  # decoded audio is written to the spill files this much at a time


class PcmFile:
    """One channel's int16 samples in an unnamed temporary file, read by slices.

    Stands in for the int16 array where coach reads channels (`len`, `audio[a:b]`,
    `dtype`, `np.asarray`); each slice is a fresh array read with `preadv`,
    not a memory map, so what was read once does not stay in the process.
    """

    dtype = np.dtype(np.int16)
    ndim = 1

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="coach-pcm-")
        self._n = 0

    def write(self, samples: np.ndarray) -> None:
        self._file.write(np.ascontiguousarray(samples, dtype="<i2").tobytes())
        self._n += len(samples)

    def __len__(self) -> int:
        return self._n

    @property
    def shape(self) -> tuple[int]:
        return (self._n,)

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("PcmFile supports slices only")
        start, stop, step = key.indices(self._n)
        if step != 1:
            raise TypeError("PcmFile supports contiguous slices only")
        out = np.empty(max(0, stop - start), dtype=np.int16)
        self._file.flush()
        view, offset = memoryview(out).cast("B"), start * 2
        while len(view):
            got = os.preadv(self._file.fileno(), [view], offset)
            if got <= 0:
                raise OSError(f"coach audio spill file: short read at byte {offset}")
            view, offset = view[got:], offset + got
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)


def _as_float32(samples) -> np.ndarray:
    """int16 -> float32 in [-1, 1): the same scaling as faster-whisper's decode_audio."""
    if samples.dtype == np.int16:
        return np.asarray(samples).astype(np.float32) / 32768.0
    return np.asarray(samples, dtype=np.float32)


class _FloatChannels(Mapping):
    """`CallAudio.channels`: each channel converted to float32 when it is looked up, so holding
    the mapping costs nothing; for short calls and code that wants whole arrays."""

    def __init__(self, pcm: dict[str, np.ndarray]):
        self._pcm = pcm

    def __getitem__(self, speaker: str) -> np.ndarray:
        return _as_float32(self._pcm[speaker])

    def __iter__(self) -> Iterator[str]:
        return iter(self._pcm)

    def __len__(self) -> int:
        return len(self._pcm)


@dataclass
class CallAudio:
    """A decoded call: one array per speaker present, all the same length.

    `pcm` holds what was decoded (int16; float32 for audio made in memory);
    `channels[speaker]` gives a float32 copy of a whole channel, `samples` and
    `iter_chunks` float32 copies of a stretch.
    """

    path: str
    pcm: dict[str, np.ndarray]
    sample_rate: int = SAMPLE_RATE
    mono: bool = False
    source_channels: int = 2
    notes: list[str] = field(default_factory=list)
    truncated: bool = False  # fewer seconds decoded than the file's header promises
    header_duration_s: float | None = None  # what the header promises, when it says

    @classmethod
    def from_float(cls, path: str, channels: dict[str, np.ndarray], **kwargs) -> CallAudio:
        """A call from float32 arrays already in memory (tests, generated audio)."""
        return cls(path, {s: np.asarray(a, dtype=np.float32) for s, a in channels.items()}, **kwargs)

    @property
    def channels(self) -> Mapping[str, np.ndarray]:
        return _FloatChannels(self.pcm)

    @property
    def duration_s(self) -> float:
        first = next(iter(self.pcm.values()))
        return len(first) / self.sample_rate

    def samples(self, speaker: str, start_s: float = 0.0, end_s: float | None = None) -> np.ndarray:
        """float32 samples of one speaker between two times (seconds)."""
        lo = max(0, int(round(start_s * self.sample_rate)))
        hi = None if end_s is None else max(lo, int(round(end_s * self.sample_rate)))
        return _as_float32(self.pcm[speaker][lo:hi])

    def iter_chunks(self, speaker: str, seconds: float = 60.0) -> Iterator[tuple[float, np.ndarray]]:
        """(start time, float32 samples) pieces of one channel, for feeding analyzers without
        holding a whole long channel as float32."""
        data = self.pcm[speaker]
        step = max(1, int(seconds * self.sample_rate))
        for lo in range(0, len(data), step):
            yield lo / self.sample_rate, _as_float32(data[lo : lo + step])


@dataclass
class _WavData:
    """What a RIFF/WAVE header says about its sample data."""

    declared_bytes: int
    present_bytes: int
    byte_rate: int

    @property
    def declared_s(self) -> float | None:
        if self.byte_rate <= 0 or self.declared_bytes in (0, 0xFFFFFFFF):
            return None  # a stream written without its final size: the header does not say
        return self.declared_bytes / self.byte_rate

    @property
    def present_s(self) -> float:
        return min(self.declared_bytes or self.present_bytes, self.present_bytes) / max(self.byte_rate, 1)


def _wav_header(path: Path) -> _WavData | None:
    """Parse a RIFF/WAVE header up to its data chunk; None for anything else."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        byte_rate = 0
        offset = 12
        while True:
            fh.seek(offset)
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            kind, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if kind == b"fmt ":
                fmt = fh.read(min(length, 16))
                if len(fmt) >= 12:
                    byte_rate = struct.unpack("<I", fmt[8:12])[0]
            elif kind == b"data":
                return _WavData(length, size - offset - 8, byte_rate)
            offset += 8 + length + (length & 1)


def _stream_duration(container, stream) -> float | None:
    """Seconds a non-WAV file says it holds: the stream's or container's duration (a FLAC's
    sample count, an MP3's Xing frame count or bitrate estimate, an Ogg's last granule)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


class _Channels:
    """Decoded int16 audio per channel, filled in place (no list of pieces to join): one
    growable array, or past `spill` samples the PcmFiles, written a block at a time."""

    def __init__(self, width: int, capacity: int, spill: int):
        self.spill = spill
        self.files: list[PcmFile] | None = None
        self.data = np.empty((width, max(min(capacity, spill), 1)), dtype=np.int16)
        self.n = 0  # samples per channel so far
        self.held = 0  # of which in `data` (all of them until spilled)
        self.peak = 0

    def append(self, frame: np.ndarray) -> None:
        width = self.data.shape[0]
        block = frame.reshape(-1)
        block = block[: len(block) // width * width].reshape(-1, width)
        if len(block):
            self.peak = max(self.peak, int(block.max()), -int(block.min()))
        need = self.held + len(block)
        if self.files is None and need > self.spill:
            self.files = [PcmFile() for _ in range(width)]
            self._flush()
            need = len(block)
            if self.data.shape[1] > int(SPILL_BLOCK_S * SAMPLE_RATE):
                self.data = np.empty((width, int(SPILL_BLOCK_S * SAMPLE_RATE)), dtype=np.int16)
        elif self.files is not None and need > self.data.shape[1]:
            self._flush()
            need = len(block)
        if need > self.data.shape[1]:
            bigger = np.empty((width, max(need, self.data.shape[1] * 3 // 2)), dtype=np.int16)
            bigger[:, : self.held] = self.data[:, : self.held]
            self.data = bigger
        self.data[:, self.held : need] = block.T
        self.n += need - self.held
        self.held = need

    def _flush(self) -> None:
        for channel, file in enumerate(self.files or []):
            file.write(self.data[channel, : self.held])
        self.held = 0

    def result(self) -> list[np.ndarray] | list[PcmFile]:
        if self.files is not None:
            self._flush()
            self.data = np.empty((0, 0), dtype=np.int16)
            return self.files
        if self.held * 2 < self.data.shape[1]:  # much too big (a lying header): give memory back
            return list(self.data[:, : self.held].copy())
        return list(self.data[:, : self.held])


def _decode(path: Path, spill_after_s: float) -> tuple[_Channels, int, float | None, str | None]:
    """Return (the decoded channels at 16 kHz, source channel count, header seconds, why
    decoding stopped early or None)."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.InvalidDataError as exc:
        raise AudioError(f"{path}: not a recognisable audio file ({exc.strerror or exc})") from exc
    except av.error.FFmpegError as exc:
        raise AudioError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    stopped = None
    with container:
        streams = container.streams.audio
        if not streams:
            raise AudioError(f"{path}: contains no audio stream")
        stream = streams[0]
        n_channels = stream.codec_context.channels or 1
        layout = "stereo" if n_channels >= 2 else "mono"
        wav = _wav_header(path)
        header_s = wav.declared_s if wav is not None else _stream_duration(container, stream)
        expected_s = wav.present_s if wav is not None else header_s  # what should decode
        capacity_s = expected_s + 1.0 if expected_s else UNKNOWN_LENGTH_CAPACITY_S
        buffer = _Channels(2 if layout == "stereo" else 1, int(capacity_s * SAMPLE_RATE),
                           spill=int(spill_after_s * SAMPLE_RATE))
        resampler = av.AudioResampler(format="s16", layout=layout, rate=SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                frame.pts = None
                for out in resampler.resample(frame):
                    buffer.append(out.to_ndarray())
            for out in resampler.resample(None):
                buffer.append(out.to_ndarray())
        except av.error.FFmpegError as exc:
            if not buffer.n:
                raise AudioError(f"{path}: audio data is corrupt ({exc.strerror or exc})") from exc
            # A damaged tail: keep what decoded (a truncated recording still holds a call).
            stopped = str(exc.strerror or exc)
    if not buffer.n:
        raise AudioError(f"{path}: no audio samples (empty or truncated file)")
    return buffer, n_channels, header_s, stopped


def load_call(path: str | Path, channel_order: tuple[str, str] = (AGENT, CUSTOMER),
              spill_after_s: float = SPILL_AFTER_S) -> CallAudio:
    """Decode a recording and split it by speaker; raise AudioError on unusable input.
    Calls longer than `spill_after_s` keep their samples in temporary files (`PcmFile`)."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    decoded, n_channels, header_s, stopped = _decode(path, spill_after_s)
    duration = decoded.n / SAMPLE_RATE
    missing = header_s is not None and header_s - duration > max(
        TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_FRACTION * header_s)
    truncated = missing or stopped is not None
    if duration < MIN_DURATION_S:
        if missing:
            raise AudioError(f"{path}: truncated: header says {header_s:.1f} s, "
                             f"only {duration:.2f} s of audio")
        raise AudioError(f"{path}: only {duration:.2f} s of audio (empty or truncated file)")
    if decoded.peak / 32768.0 < SILENCE_PEAK:
        raise AudioError(f"{path}: silent recording (peak below -60 dBFS), nothing to score")
    notes = []
    if missing:
        notes.append(f"truncated: header says {header_s:.1f} s, {duration:.1f} s decoded")
    elif stopped is not None:
        notes.append(f"truncated: decoding stopped at {duration:.1f} s ({stopped})")
    common = dict(truncated=truncated, header_duration_s=header_s)
    samples = decoded.result()
    if len(samples) == 1:
        notes.append("mono recording: treated as the agent only; customer checks skipped")
        return CallAudio(str(path), {AGENT: samples[0]}, mono=True, source_channels=1, notes=notes,
                         **common)
    if n_channels > 2:
        notes.append(f"{n_channels}-channel recording: downmixed to 2 channels")
    pcm = {channel_order[0]: samples[0], channel_order[1]: samples[1]}
    return CallAudio(str(path), pcm, mono=False, source_channels=n_channels, notes=notes, **common)
