"""Who is speaking, frame by frame, from one channel's audio energy.

Every other analyzer reads this timeline, so it is built to be *causal and
chunk-independent*: frames sit on an absolute grid (frame k covers samples
k*F .. (k+1)*F of the call), every decision uses only frames up to a bounded
look-ahead, and a frame's value is published ("final") only once no later
audio can change it. Feeding the same audio in any chunk sizes therefore gives
the same timeline, which is what makes the live and batch findings identical.

Energy rather than a neural VAD: it is explainable (a frame is speech when it
is `snr_db` above the channel's recent noise floor and above `min_dbfs`), cheap
enough for every frame of every call on a 2-core machine, and needs no model.
The decision reads the frame's energy above `low_cut_hz` (150 Hz): brown noise,
rumble and hum put their energy below it and flicker 15-20 dB from frame to
frame, so on the full band a line with brown noise at -48 dBFS read as speech
throughout (no dead air found in 10 s of it; its quietest 20 ms frames set the
floor), while speech loses 0.1-0.4 dB there (development corpus: nonspeech
frames' p99 -42 dBFS on the full band, -55 above 150 Hz; speech median -28.8 and
-29.1). `levels`, which loudness findings read, stays the full band.

Audio marked missing (a device gap, `gap`) is not silence: its frames are
flagged in `missing`, are never speech, close any open speech segment, and do
not feed the noise floor, which restarts after the gap as at the call's start
(the device that comes back may hear a different room).
"""

from __future__ import annotations

from array import array
from collections import deque
from functools import lru_cache

import numpy as np

from coach.analyzers.base import ActivityOptions

FLOOR_DB = -120.0


def frame_levels_db(frames: np.ndarray) -> np.ndarray:
    """RMS level of each row in dBFS (full scale = amplitude 1.0)."""
    power = np.mean(np.square(frames, dtype=np.float64), axis=1)
    return np.maximum(10.0 * np.log10(power + 1e-12), FLOOR_DB)


def band_levels_db(frames: np.ndarray, sample_rate: int, low_hz: float) -> np.ndarray:
    """Level of each row in dBFS counting only its energy above `low_hz` (Hann-windowed spectrum,
    scaled so that a full-band signal reads as `frame_levels_db`). Per frame, so a frame's value
    does not depend on how the audio was chunked."""
    if low_hz <= 0:
        return frame_levels_db(frames)
    n = frames.shape[1]
    window = _hann(n)
    spectrum = np.fft.rfft(frames * window, axis=1)
    first = int(np.ceil(low_hz * n / sample_rate))
    power = np.sum(np.square(np.abs(spectrum[:, first:])), axis=1, dtype=np.float64)
    power *= 2.0 / (n * n * float(np.mean(np.square(window))))
    return np.maximum(10.0 * np.log10(power + 1e-12), FLOOR_DB)


@lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    return np.hanning(n).astype(np.float32)


class ChannelActivity:
    """Streaming speech/non-speech decisions and levels for one channel.

    After each `feed`, `active[:final]` holds final 0/1 values, and
    `levels[:frames]` / `missing[:frames]` the dBFS level of every complete
    frame and whether its audio was missing.
    """

    def __init__(self, options: ActivityOptions, sample_rate: int, gated: bool = False) -> None:
        """`gated`: the channel is a mix gated to one speaker (diarization's virtual channel), so
        digital silence there means "another speaker", not the line: it does not set the noise
        floor, which then comes from the line noise inside the speaker's own turns."""
        self.options = options
        self.gated = gated
        self.sample_rate = sample_rate
        self.frame_len = max(1, round(sample_rate * options.frame_ms / 1000))
        self.frame_s = self.frame_len / sample_rate
        self.levels = array("f")
        self.active = bytearray()
        self.missing = bytearray()
        self.fed = False
        self._next_sample = 0
        self._pending = np.zeros(0, dtype=np.float32)
        self._pending_missing = False
        self._after_gap = False
        self._hang = round(options.hangover_s / self.frame_s)
        self._min_frames = max(1, round(options.min_speech_s / self.frame_s))
        self._window = max(1, round(options.noise_window_s / self.frame_s))
        # Sliding minimum of frame levels (monotonic deque of (frame, level)). It
        # starts with a virtual floor just under the absolute threshold, valid for
        # one window, so speech at the very start of a call is not the "noise".
        self._floor: deque[tuple[int, float]] = deque([(-1, self._virtual_floor())])
        self._in_seg = False
        self._seg_start = 0
        self._seg_last = 0
        self._finished = False

    @property
    def frames(self) -> int:
        return len(self.levels)

    @property
    def final(self) -> int:
        return len(self.active)

    def feed(self, samples: np.ndarray, start_time: float, missing: bool = False) -> None:
        """Add audio that starts at `start_time` seconds of the call.

        A chunk that starts after the previous one ended is preceded by silence;
        one that overlaps already-seen audio has its overlap dropped. With
        `missing`, the samples stand for audio that was not captured.
        """
        self.fed = self.fed or not missing
        start = round(start_time * self.sample_rate)
        if start > self._next_sample:
            gap = np.zeros(start - self._next_sample, dtype=np.float32)
            samples = np.concatenate([gap, samples])
        elif start < self._next_sample:
            samples = samples[self._next_sample - start :]
        if samples.size == 0:
            return
        self._next_sample += samples.size
        pending = self._pending.size
        buf = np.concatenate([self._pending, samples]) if pending else samples
        whole = buf.size // self.frame_len * self.frame_len
        flags = [missing] * (whole // self.frame_len)
        if flags:
            flags[0] = missing or (self._pending_missing and pending > 0)
            self._pending_missing = missing
        else:
            self._pending_missing = missing or (self._pending_missing and pending > 0)
        self._pending = np.array(buf[whole:], dtype=np.float32)
        if whole:
            self._push(buf[:whole].reshape(-1, self.frame_len), flags)

    def gap(self, start_time: float, end_time: float) -> None:
        """Audio of [start_time, end_time) was not captured (a device gap)."""
        n = round(end_time * self.sample_rate) - max(round(start_time * self.sample_rate), self._next_sample)
        if n > 0:
            self.feed(
                np.zeros(n, dtype=np.float32),
                max(start_time, self._next_sample / self.sample_rate),
                missing=True,
            )

    def finish(self) -> None:
        """Flush the last partial frame (zero-padded) and close any open segment."""
        if self._finished:
            return
        self._finished = True
        if self._pending.size:
            frame = np.zeros(self.frame_len, dtype=np.float32)
            frame[: self._pending.size] = self._pending
            self._pending = np.zeros(0, dtype=np.float32)
            self._push(frame[None, :], [self._pending_missing])
        if self._in_seg:
            self._close_segment()
        self._publish(self.frames, None)

    def extend_to(self, frames: int) -> None:
        """After finish: pad with silent final frames so channels have equal length."""
        while self.frames < frames:
            self.levels.append(FLOOR_DB)
            self.missing.append(0)
        while self.final < frames:
            self.active.append(0)

    # -- internals ---------------------------------------------------------

    def _virtual_floor(self) -> float:
        return self.options.min_dbfs - self.options.snr_db

    def _push(self, frames: np.ndarray, missing: list[bool]) -> None:
        opts = self.options
        levels = frame_levels_db(frames).tolist()
        bands = levels  # with no low cut the deciding level is the full band's
        if opts.low_cut_hz > 0:
            bands = band_levels_db(frames, self.sample_rate, opts.low_cut_hz).tolist()
        for full, level, lost in zip(levels, bands, missing, strict=True):
            k = self.frames
            self.levels.append(full)
            self.missing.append(1 if lost else 0)
            if lost:
                self._after_gap = True
                self._step(k, False, lost=True)
                continue
            floor = self._floor
            if self._after_gap:  # the noise floor restarts after a gap, as at the call's start
                self._after_gap = False
                floor.clear()
                floor.append((k - 1, self._virtual_floor()))
            if not (self.gated and level <= FLOOR_DB):
                while floor and floor[-1][1] >= level:
                    floor.pop()
                floor.append((k, level))
            while len(floor) > 1 and floor[0][0] <= k - self._window:
                floor.popleft()
            threshold = max(opts.min_dbfs, floor[0][1] + opts.snr_db)
            self._step(k, level >= threshold)

    def _step(self, k: int, speech: bool, lost: bool = False) -> None:
        """Fill gaps up to `hangover`, drop bursts under `min_speech`, publish finals."""
        if lost and self._in_seg:  # speech cannot be bridged over audio that is not there
            self._close_segment()
        if speech:
            if not self._in_seg:
                self._in_seg = True
                self._seg_start = k
            self._seg_last = k
        elif self._in_seg and k - self._seg_last > self._hang:
            self._close_segment()
        if self._in_seg:
            confirmed = self._seg_last - self._seg_start + 1 >= self._min_frames
            if confirmed:
                self._publish(self._seg_last + 1, (self._seg_start, self._seg_last + 1))
            else:
                self._publish(self._seg_start, None)
        else:
            self._publish(k + 1, None)

    def _close_segment(self) -> None:
        self._in_seg = False
        if self._seg_last - self._seg_start + 1 >= self._min_frames:
            self._publish(self._seg_last + 1, (self._seg_start, self._seg_last + 1))

    def _publish(self, upto: int, speech: tuple[int, int] | None) -> None:
        for f in range(self.final, upto):
            self.active.append(1 if speech and speech[0] <= f < speech[1] else 0)


def segments(active: bytearray | list[int], frame_s: float) -> list[tuple[float, float]]:
    """Speech spans (seconds) of a final activity timeline."""
    spans: list[tuple[float, float]] = []
    start = None
    for k, a in enumerate(active):
        if a and start is None:
            start = k
        elif not a and start is not None:
            spans.append((start * frame_s, k * frame_s))
            start = None
    if start is not None:
        spans.append((start * frame_s, len(active) * frame_s))
    return spans
