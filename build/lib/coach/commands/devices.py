"""`coach devices`: the audio inputs `coach live` can record from."""

from __future__ import annotations

import argparse
import json

from coach.live.sources import list_input_devices


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "devices",
        help="list audio input devices for 'coach live --device/--customer-device'",
        description=(
            "List the input devices PortAudio sees (index, name, channels, default rate). Pass an "
            "index or part of a name to 'coach live --device'. The customer's side of a softphone "
            "call is usually a 'monitor' or loopback input."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    devices = list_input_devices()
    if args.json:
        print(json.dumps(devices, ensure_ascii=False, indent=2))
        return 0
    if not devices:
        print("No audio input devices found (is a sound server running? on Linux: PulseAudio/PipeWire).")
        return 1
    print(f"{'':2}{'index':>5}  {'channels':>8}  {'rate':>6}  name")
    for dev in devices:
        mark = "*" if dev["default"] else " "
        print(f"{mark:2}{dev['index']:>5}  {dev['channels']:>8}  {dev['samplerate']:>6}  "
              f"{dev['name']}  ({dev['hostapi']})")
    print("\n* default input. Use 'coach live --device INDEX|NAME'; the customer's audio: "
          "--customer-device (a monitor/loopback input).")
    return 0
