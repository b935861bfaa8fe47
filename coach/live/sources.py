"""Where live audio comes from: the chunks every source yields, and a recording paced in real time.

Every source yields `Chunk`s: one speaker's 16 kHz mono float32 samples and
their start in stream seconds (t=0 is the call's first sample, and
`t0` the wall-clock time of that sample, which the latency contract needs).

* `FileSource` decodes a recording incrementally with PyAV (the decoder and
  resampler `coach.audio.load_call` uses, so the samples are the same as in
  batch) and releases each chunk when its last sample "has been played" at
  `speed`; with speed 0 it runs as fast as the consumer reads (benchmarks).
  A 60-minute file is never held in memory.
* `MicrophoneSource` (coach.live.microphone) records devices.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from coach.audio import SAMPLE_RATE
from coach.contract import AGENT, CUSTOMER
from coach.errors import AudioError

log = logging.getLogger(__name__)



@dataclass
class Chunk:
    speaker: str
    samples: np.ndarray  # mono float32 at 16 kHz
    start: float  # stream seconds
    gap: bool = False  # not captured (device lost): zeros that stand for missing audio


_END = object()


class FileSource:
    """A recording played into the pipeline at `speed` x real time (0: as fast as it is read)."""

    def __init__(
        self,
        path: str | Path,
        channels: tuple[str, str] = (AGENT, CUSTOMER),
        speed: float = 1.0,
        chunk_s: float = 0.1,
    ):
        self.path = Path(path)
        self.order = channels
        self.speed = float(speed)
        self.realtime = self.speed > 0
        self.chunk = max(int(chunk_s * SAMPLE_RATE), 160)
        self.width, self.source_channels, expected = _probe(self.path)
        self.speakers: tuple[str, ...] = (AGENT,) if self.width == 1 else tuple(channels)
        self.duration_s = 0.0
        self.info = {"mode": "replay", "call": self.path.name, "audio": "/audio",
                     "duration_s": round(expected, 2) if expected else None}
        self.t0 = 0.0
        self._queue: queue.Queue = queue.Queue(maxsize=0 if self.realtime else 16)
        self._stop = threading.Event()
        self._ended = False
        self._thread: threading.Thread | None = None

    def start(self, lead_s: float = 0.05) -> float:
        """Start playing; returns t0, the wall-clock time of audio t=0."""
        self.t0 = time.time() + lead_s
        self._thread = threading.Thread(target=self._play, name="coach-file-source", daemon=True)
        self._thread.start()
        return self.t0

    def read(self, timeout: float = 0.1) -> list[Chunk] | None:
        """Chunks released so far (possibly none); None once the recording is over."""
        out: list[Chunk] = []
        if self._ended:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return out
        while True:
            if item is _END:
                self._ended = True
                return out or None
            if isinstance(item, BaseException):
                raise item
            out += item
            if not self.realtime:
                return out  # one block at a time: fast replay is deterministic
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return out

    def stop(self, timeout: float = 5.0) -> None:
        """Stop playing and wait for the decoding thread: nothing runs on after a stop."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _play(self) -> None:
        samples = 0
        try:
            for block in iter_blocks(self.path, self.chunk):
                if self._stop.is_set():
                    break
                start = samples / SAMPLE_RATE
                samples += block.shape[1]
                if self.realtime:
                    delay = self.t0 + samples / SAMPLE_RATE / self.speed - time.time()
                    if delay > 0 and self._stop.wait(delay):
                        break
                chunks = [Chunk(s, block[i], start) for i, s in enumerate(self.speakers)]
                self._put(chunks)
            self.duration_s = samples / SAMPLE_RATE
            self._put(_END)
        except Exception as exc:  # surfaced to the pipeline by read()
            self._put(exc)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue


def _probe(path: Path) -> tuple[int, int, float | None]:
    """(1 or 2 output channels, source channel count, duration if known); AudioError if unusable."""
    if not path.exists():
        raise AudioError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: contains no audio stream")
            stream = container.streams.audio[0]
            channels = stream.codec_context.channels or 1
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration:
                duration = container.duration / 1_000_000
    except av.error.FFmpegError as exc:
        raise AudioError(f"{path}: not a recognisable audio file ({exc.strerror or exc})") from exc
    return (2 if channels >= 2 else 1), channels, duration


def iter_blocks(path: Path, block: int) -> Iterator[np.ndarray]:
    """Decode incrementally into blocks of shape (channels, block) at 16 kHz (last may be shorter).

    Same decoder, resampler and int16 scaling as `coach.audio.load_call`, so a
    replay sees exactly the samples that batch scoring sees.
    """
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.audio[0]
        n_channels = stream.codec_context.channels or 1
        layout = "stereo" if n_channels >= 2 else "mono"
        width = 2 if layout == "stereo" else 1
        resampler = av.AudioResampler(format="s16", layout=layout, rate=SAMPLE_RATE)
        pending: list[np.ndarray] = []
        have = 0

        def frames() -> Iterator:
            try:
                for frame in container.decode(stream):
                    frame.pts = None
                    yield from resampler.resample(frame)
            except av.error.FFmpegError as exc:  # a damaged tail: keep what decoded
                log.warning("%s: decoding stopped early: %s", path, exc)
            yield from resampler.resample(None)

        for out in frames():
            data = out.to_ndarray().reshape(-1)
            data = data[: len(data) // width * width].reshape(-1, width).T
            pending.append(data.astype(np.float32) / 32768.0)
            have += data.shape[1]
            while have >= block:
                joined = np.concatenate(pending, axis=1)
                yield joined[:, :block]
                rest = joined[:, block:]
                pending, have = [rest], rest.shape[1]
        if have:
            yield np.concatenate(pending, axis=1)
