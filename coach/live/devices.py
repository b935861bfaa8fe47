"""Input devices: what can be recorded, and what `--device NAME` means, checked before any model loads.

PortAudio (through sounddevice) lists the hardware and ALSA devices; on
Linux the sound server shows up there only as `pulse`/`default`, which
record the *default source*. The sources themselves, including the
`.monitor` of every output (the customer's side of a softphone call), are
listed here from `pactl` (PulseAudio, or PipeWire's pulse server) and
accepted by name: such a source is recorded through PortAudio's `pulse`
device with `PULSE_SOURCE` set while the stream opens, which is how libpulse
clients pick a source.

`resolve_input` turns what the user typed into an openable device or a
one-line CoachError (no traceback, no model load first).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from coach.errors import CoachError

log = logging.getLogger(__name__)

HINT = "'coach devices' lists the inputs"


@dataclass
class PulseSource:
    """One PulseAudio/PipeWire source as `pactl` reports it."""

    name: str  # what --device accepts, e.g. alsa_output.pci-0000_00_1f.3.analog-stereo.monitor
    description: str
    channels: int
    rate: int
    state: str

    @property
    def monitor(self) -> bool:
        return self.name.endswith(".monitor")


@dataclass
class InputDevice:
    """What a device option resolved to: what sounddevice opens, and how to name it to the user."""

    device: int | str | None  # sounddevice index or name; None: the default input
    label: str  # as the user gave it ("default input" when none)
    name: str  # PortAudio's name of the device that is opened
    channels: int  # input channels the device has
    rate: int
    pulse_source: str | None = None  # set PULSE_SOURCE to this while opening (a sound-server source)


def _sounddevice() -> Any:
    try:
        import sounddevice as sd
    except OSError as exc:  # the PortAudio library itself is missing
        raise CoachError(f"cannot use audio devices: PortAudio is not installed ({exc}); "
                         "on Debian/Ubuntu: apt-get install libportaudio2") from None
    return sd


def _spec(text: str) -> tuple[int, int]:
    """'s16le 2ch 44100Hz' -> (2, 44100)."""
    channels = rate = 0
    for part in text.split():
        if part.endswith("ch") and part[:-2].isdigit():
            channels = int(part[:-2])
        elif part.endswith("Hz") and part[:-2].isdigit():
            rate = int(part[:-2])
    return channels, rate


def pulse_sources(timeout: float = 3.0) -> list[PulseSource]:
    """The sound server's sources (monitors included); [] when there is no pactl or no server."""
    pactl = shutil.which("pactl")
    if pactl is None:
        return []
    try:
        done = subprocess.run([pactl, "-f", "json", "list", "sources"], capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode == 0 and done.stdout.strip().startswith("["):
            out = []
            for src in json.loads(done.stdout):
                channels, rate = _spec(str(src.get("sample_specification", "")))
                out.append(PulseSource(str(src.get("name", "")), str(src.get("description", "")),
                                       channels, rate, str(src.get("state", ""))))
            return [s for s in out if s.name]
        done = subprocess.run([pactl, "list", "short", "sources"], capture_output=True, text=True,
                              timeout=timeout)
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        log.debug("pactl: %s", exc)
        return []
    if done.returncode != 0:
        return []
    out = []
    for line in done.stdout.splitlines():
        cols = line.split("\t")
        if len(cols) >= 5:
            channels, rate = _spec(cols[3])
            out.append(PulseSource(cols[1], "", channels, rate, cols[4]))
    return out


def portaudio_inputs() -> list[dict[str, Any]]:
    """Input devices as PortAudio sees them, the default marked."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0]
    except Exception as exc:
        raise CoachError(f"cannot list audio devices (PortAudio: {exc})") from None
    out = []
    for index, dev in enumerate(devices):
        if dev["max_input_channels"] <= 0:
            continue
        out.append({
            "kind": "portaudio", "index": index, "name": dev["name"],
            "channels": dev["max_input_channels"], "samplerate": int(dev["default_samplerate"]),
            "default": index == default_in, "hostapi": sd.query_hostapis(dev["hostapi"])["name"],
        })
    return out


def list_inputs() -> list[dict[str, Any]]:
    """PortAudio's inputs, then the sound server's sources, each under the name --device takes."""
    out = portaudio_inputs()
    for src in pulse_sources():
        out.append({
            "kind": "pulse", "name": src.name, "description": src.description,
            "channels": src.channels, "samplerate": src.rate, "monitor": src.monitor,
            "state": src.state,
        })
    return out


def _portaudio_device(sd: Any, name: str) -> tuple[int, dict] | None:
    for index, dev in enumerate(sd.query_devices()):
        if dev["name"] == name and dev["max_input_channels"] > 0:
            return index, dev
    return None


def resolve_input(value: str | None, channels: int, option: str = "--device") -> InputDevice:
    """What `--device VALUE` names, checked now: a one-line CoachError when it cannot be used."""
    sd = _sounddevice()
    label = "default input" if value in (None, "") else str(value)
    pulse_source = None
    try:
        if value in (None, ""):
            try:
                info = sd.query_devices(kind="input")
            except Exception:
                raise CoachError(f"no default audio input (no microphone connected, or no sound "
                                 f"server running); {HINT}, choose one with {option}") from None
            device: int | str | None = None
        elif str(value).isdigit():
            device = int(value)
            try:
                info = sd.query_devices(device, "input")
            except Exception:
                raise CoachError(f"{option} {value}: no input device with that index; {HINT}") from None
        else:
            device = str(value)
            sources = pulse_sources()
            source = next((s for s in sources if device in (s.name, s.description)), None)
            if source is not None:
                found = _portaudio_device(sd, "pulse")
                if found is None:
                    raise CoachError(f"{option} {value}: a sound-server source, but PortAudio has no "
                                     "'pulse' device to record it through (apt-get install "
                                     "libasound2-plugins)")
                device, info = found
                pulse_source = source.name
            else:
                try:
                    info = sd.query_devices(device, "input")
                except ValueError as exc:
                    reason = str(exc).splitlines()[0].rstrip(":")
                    raise CoachError(f"{option} {value!r}: {reason}; {HINT}") from None
    except CoachError:
        raise
    except Exception as exc:  # PortAudio failing in a way not foreseen: still one line
        raise CoachError(f"{option} {label}: cannot query the device ({exc}); {HINT}") from None
    have = int(info["max_input_channels"])
    if have < channels:
        raise CoachError(f"{option} {label}: device '{info['name']}' has {have} input channel(s); "
                         f"{channels} needed")
    return InputDevice(device, label, str(info["name"]), have, int(info["default_samplerate"]),
                       pulse_source)
