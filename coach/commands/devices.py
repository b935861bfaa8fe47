"""`coach devices`: the audio inputs `coach live` can record from, under the names --device takes."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "devices",
        help="list audio inputs for 'coach live --device/--customer-device'",
        description=(
            "List the input devices PortAudio sees (index, name, channels, default rate) and, where a "
            "sound server runs (PulseAudio, PipeWire), its sources, monitors included. Pass an index, "
            "part of a PortAudio name, or a source name to 'coach live --device'. The customer's "
            "side of a softphone call is the '.monitor' of the output the softphone plays to."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coach.live.devices import list_inputs

    devices = list_inputs()
    if args.json:
        print(json.dumps(devices, ensure_ascii=False, indent=2))
        return 0 if devices else 1
    if not devices:
        print("No audio input devices found (is a sound server running? on Linux: PulseAudio/PipeWire).")
        return 1
    portaudio = [d for d in devices if d["kind"] == "portaudio"]
    pulse = [d for d in devices if d["kind"] == "pulse"]
    if portaudio:
        print("PortAudio inputs (--device INDEX or part of the name):")
        print(f"{'':2}{'index':>5}  {'channels':>8}  {'rate':>6}  name")
        for dev in portaudio:
            mark = "*" if dev["default"] else " "
            print(f"{mark:2}{dev['index']:>5}  {dev['channels']:>8}  {dev['samplerate']:>6}  "
                  f"{dev['name']}  ({dev['hostapi']})")
        print("  * the default input")
    if pulse:
        print("\nSound-server sources (--device NAME; a monitor records what an output plays):")
        print(f"{'':2}{'channels':>8}  {'rate':>6}  name")
        for dev in pulse:
            what = "monitor" if dev["monitor"] else "input"
            about = f"  ({what}: {dev['description']})" if dev["description"] else f"  ({what})"
            print(f"{'':2}{dev['channels']:>8}  {dev['samplerate']:>6}  {dev['name']}{about}")
    print("\nThe agent: 'coach live --device ...'; the customer's audio: --customer-device (a monitor "
          "of the softphone's output), or one stereo device with --channels agent,customer.")
    return 0
