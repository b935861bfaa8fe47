"""Live audio from microphones (the other source is a recording: coach.live.sources).

`MicrophoneSource` records one or two devices through sounddevice: the
agent's microphone and optionally the customer's audio (a loopback or
monitor source), or one two-channel device split by `channels`. Devices
are resolved (`coach.live.devices.resolve_input`) before any model loads.
A device that disappears is reported (a `status` message) and reopened
when it comes back; the missing stretch is delivered as a *gap* chunk
(zeros marked `gap=True`): the transcriber's clock stays aligned, and the
analyzers are told the audio was missing rather than silent.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np

from coach.audio import SAMPLE_RATE
from coach.contract import AGENT, CUSTOMER, status_message
from coach.errors import CoachError
from coach.live.devices import InputDevice, resolve_input
from coach.live.sources import Chunk

log = logging.getLogger(__name__)

StatusCallback = Callable[[dict], None]


@dataclass
class DeviceSpec:
    """One input device as the user named it, and which speaker(s) its channels carry."""

    device: str | int | None  # index, part of a PortAudio name, a sound-server source; None: default
    speakers: tuple[str, ...]  # one speaker (mono mix) or two (channel 0, channel 1)
    option: str = "--device"  # the option that named it, for error messages

    @property
    def label(self) -> str:
        return "default input" if self.device is None else str(self.device)


def parse_device(value: str | None) -> str | int | None:
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


class _Device:
    """A sounddevice InputStream that can be lost and reopened; raw blocks go to a shared queue."""

    def __init__(self, spec: DeviceSpec, block_s: float, out: queue.SimpleQueue):
        self.spec = spec
        self.block_s = block_s
        self.out = out
        self.resolved: InputDevice | None = None
        self.stream = None
        self.rate = SAMPLE_RATE
        self.resampler: av.AudioResampler | None = None
        self.samples = 0  # 16 kHz samples delivered
        self.last_callback = 0.0
        self.opened_at = 0.0
        self.generation = 0  # bumped on every (re)open
        self.seen_generation = 0  # the generation read() last aligned
        self.first_block_at: float | None = None  # wall time of this generation's first sample
        self.lost_since: float | None = None

    def resolve(self) -> InputDevice:
        """Find the device now (before a model loads): CoachError in one line if it cannot be used."""
        value = None if self.spec.device is None else str(self.spec.device)
        self.resolved = resolve_input(value, len(self.spec.speakers), self.spec.option)
        return self.resolved

    def open(self) -> None:
        import sounddevice as sd

        dev = self.resolve()
        channels = len(self.spec.speakers)
        with _pulse_source(dev.pulse_source):
            try:
                sd.check_input_settings(dev.device, channels=channels, samplerate=SAMPLE_RATE,
                                        dtype="float32")
                self.rate, self.resampler = SAMPLE_RATE, None
            except Exception:  # the device cannot do 16 kHz: record at its own rate and resample
                self.rate = dev.rate
                layout = "mono" if channels == 1 else "stereo"
                self.resampler = av.AudioResampler(format="flt", layout=layout, rate=SAMPLE_RATE)

            self.generation += 1
            self.first_block_at = None
            generation = self.generation

            def callback(indata, frames, time_info, status):  # PortAudio's thread: copy and go
                self.last_callback = time.monotonic()
                began = time.time() - frames / self.rate
                if self.first_block_at is None:
                    self.first_block_at = began
                self.out.put((self, generation, began, indata.copy()))

            self.stream = sd.InputStream(
                device=dev.device, channels=channels, samplerate=self.rate, dtype="float32",
                blocksize=int(self.rate * self.block_s), callback=callback,
            )
            self.opened_at = self.last_callback = time.monotonic()
            self.stream.start()

    def healthy(self, timeout_s: float, startup_s: float) -> bool:
        """Delivering audio (some backends take seconds to deliver the first block)."""
        if self.stream is None or not self.stream.active:
            return False
        quiet = time.monotonic() - self.last_callback
        starting = self.last_callback == self.opened_at
        return quiet < (startup_s if starting else timeout_s)

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.abort()
                self.stream.close()
            except Exception:  # a lost device may fail to close; it is gone either way
                pass
        self.stream = None

    def to_16k(self, block: np.ndarray) -> np.ndarray:
        """(frames, channels) at the device rate -> (channels, n) float32 at 16 kHz."""
        if self.resampler is None:
            return np.ascontiguousarray(block.T, dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block, dtype=np.float32).reshape(1, -1),
            format="flt", layout="mono" if block.shape[1] == 1 else "stereo",
        )
        frame.sample_rate = self.rate
        outs = [f.to_ndarray().reshape(-1, block.shape[1]).T for f in self.resampler.resample(frame)]
        if not outs:
            return np.zeros((block.shape[1], 0), dtype=np.float32)
        return np.concatenate(outs, axis=1).astype(np.float32)


class _pulse_source:
    """Set PULSE_SOURCE while a stream opens: libpulse (behind PortAudio's `pulse` device) reads
    it when it connects, so one process can record several sound-server sources."""

    def __init__(self, source: str | None):
        self.source = source
        self.saved: str | None = None

    def __enter__(self) -> None:
        if self.source is not None:
            self.saved = os.environ.get("PULSE_SOURCE")
            os.environ["PULSE_SOURCE"] = self.source

    def __exit__(self, *exc: object) -> None:
        if self.source is None:
            return
        if self.saved is None:
            os.environ.pop("PULSE_SOURCE", None)
        else:
            os.environ["PULSE_SOURCE"] = self.saved


class MicrophoneSource:
    """Live audio from one or two input devices (see the module docstring)."""

    realtime = True
    speed = 1.0

    def __init__(
        self,
        devices: list[DeviceSpec],
        block_s: float = 0.1,
        lost_after_s: float = 1.5,
        startup_s: float = 8.0,
        retry_s: float = 1.0,
        on_status: StatusCallback | None = None,
    ):
        speakers = [s for d in devices for s in d.speakers]
        if len(set(speakers)) != len(speakers) or AGENT not in speakers:
            raise CoachError(f"microphones: each speaker needs exactly one source, got {speakers}")
        self.speakers = tuple(s for s in (AGENT, CUSTOMER) if s in speakers)
        self.info = {"mode": "live", "devices": [d.label for d in devices]}
        self._raw: queue.SimpleQueue = queue.SimpleQueue()
        self.devices = [_Device(d, block_s, self._raw) for d in devices]
        self.lost_after_s = lost_after_s
        self.startup_s = startup_s
        self.retry_s = retry_s
        self.on_status = on_status or (lambda msg: None)
        self.t0 = 0.0
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None

    def check(self) -> None:
        """Resolve every device now, before the model loads: a wrong --device or a missing
        microphone is a one-line error within a second, not after the load."""
        for dev in self.devices:
            dev.resolve()

    def start(self) -> float:
        """Open every device and wait for its first audio; t0 is the first sample's wall time.

        A clear CoachError if a device cannot be opened or delivers nothing.
        Devices that start later than the first are padded with a gap so
        that all speakers share one timeline.
        """
        for dev in self.devices:
            try:
                dev.open()
            except CoachError:
                self._close_all()
                raise
            except Exception as exc:
                self._close_all()
                raise CoachError(f"cannot open input device {dev.spec.label}: {exc}; "
                                 "'coach devices' lists the devices") from None
        deadline = time.monotonic() + self.startup_s
        while any(d.first_block_at is None for d in self.devices):
            if time.monotonic() > deadline or self._stop.is_set():
                silent = [d.spec.label for d in self.devices if d.first_block_at is None]
                self._close_all()
                raise CoachError(f"input device(s) {', '.join(silent)} opened but delivered no audio "
                                 f"in {self.startup_s:.0f} s")
            time.sleep(0.01)
        self.t0 = min(d.first_block_at for d in self.devices)  # type: ignore[type-var]
        self._supervisor = threading.Thread(target=self._supervise, name="coach-mic", daemon=True)
        self._supervisor.start()
        return self.t0

    def read(self, timeout: float = 0.1) -> list[Chunk] | None:
        if self._stop.is_set():
            return None
        out: list[Chunk] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                dev, generation, began, block = self._raw.get(
                    timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                return out
            if generation != dev.seen_generation:  # first block since (re)opening: align
                dev.seen_generation = generation
                missing = int((began - self.t0) * SAMPLE_RATE) - dev.samples
                if missing > SAMPLE_RATE // 20:
                    out += self._chunks(dev, np.zeros((len(dev.spec.speakers), missing), np.float32),
                                        gap=True)
            out += self._chunks(dev, dev.to_16k(block))
            if not self._raw.empty():
                continue
            return out

    def stop(self, timeout: float = 5.0) -> None:
        """Stop recording and wait for the supervisor: no stream or thread is left running."""
        self._stop.set()
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(timeout)
        self._close_all()

    def _chunks(self, dev: _Device, data: np.ndarray, gap: bool = False) -> list[Chunk]:
        start = dev.samples / SAMPLE_RATE
        dev.samples += data.shape[1]
        if len(dev.spec.speakers) == 1:
            mono = data.mean(axis=0) if data.shape[0] > 1 else data[0]
            return [Chunk(dev.spec.speakers[0], mono.astype(np.float32), start, gap)]
        return [Chunk(s, data[i].copy(), start, gap) for i, s in enumerate(dev.spec.speakers)]

    def _status(self, dev: _Device, state: str, message: str) -> None:
        self.on_status(status_message("/".join(dev.spec.speakers), state, message,
                                      device=dev.spec.label))

    def _supervise(self) -> None:
        """Watch the streams; on a loss, reopen everything once the device is back."""
        while not self._stop.wait(0.25):
            lost = [d for d in self.devices if not d.healthy(self.lost_after_s, self.startup_s)]
            if not lost:
                continue
            for dev in lost:
                if dev.lost_since is None:
                    dev.lost_since = time.time()
                    log.warning("input device %s lost", dev.spec.label)
                    self._status(dev, "lost", f"Audio device '{dev.spec.label}' stopped delivering "
                                              "audio; waiting for it to come back")
            self._reconnect()

    def _reconnect(self) -> None:
        import sounddevice as sd

        while not self._stop.is_set():
            self._close_all()
            try:  # PortAudio lists devices only when initialised: rescan for a replugged one
                sd._terminate()
                sd._initialize()
            except Exception as exc:
                log.debug("PortAudio re-initialisation failed: %s", exc)
            failed = None
            for dev in self.devices:
                try:
                    dev.open()
                except Exception as exc:
                    failed = (dev, exc)
                    break
            if failed is None and not self._wait_first_blocks():
                failed = (self.devices[0], "opened but no audio yet")
            if failed is None:
                for dev in self.devices:
                    if dev.lost_since is not None:
                        log.warning("input device %s is back", dev.spec.label)
                        self._status(dev, "ok", f"Audio device '{dev.spec.label}' is back")
                        dev.lost_since = None
                return
            log.debug("device %s not back yet: %s", failed[0].spec.label, failed[1])
            self._stop.wait(self.retry_s)

    def _wait_first_blocks(self) -> bool:
        deadline = time.monotonic() + self.startup_s
        while any(d.first_block_at is None for d in self.devices):
            if time.monotonic() > deadline or self._stop.is_set():
                return False
            time.sleep(0.02)
        return True

    def _close_all(self) -> None:
        for dev in self.devices:
            dev.close()
