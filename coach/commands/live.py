"""`coach live`: coach calls as they happen, from the microphone (and the customer's audio)."""

from __future__ import annotations

import argparse

from coach.commands._live_common import add_common, serve_calls
from coach.config import parse_channel_order
from coach.contract import AGENT, CUSTOMER
from coach.errors import CoachError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "live",
        help="live hints from the microphone, call after call, shown in a small overlay page",
        description=(
            "Listen to the agent's microphone (and, with --customer-device, the customer's audio), "
            "transcribe on this machine and show hints in the overlay at http://127.0.0.1:PORT/ "
            "within about a second of a problem phrase. Nothing leaves the machine. A call starts "
            "at the next speech (or by the overlay's button, F8, or POST /api/call/start) and ends "
            "by the button, POST /api/call/end or --auto-end; each is saved to --out. "
            "'coach devices' lists the input devices."
        ),
    )
    parser.add_argument("--device", default=None, metavar="NAME|INDEX",
                        help="the agent's microphone: an index or part of a name, or a sound-server "
                             "source name, from 'coach devices' (default: the system's default input)")
    parser.add_argument("--customer-device", default=None, metavar="NAME|INDEX",
                        help="a second input carrying the customer's audio, e.g. the monitor of the "
                             "softphone's output (a '.monitor' source in 'coach devices')")
    parser.add_argument("--channels", default=None, metavar="ORDER",
                        help="record --device as two channels: 'agent,customer' (left is the agent) "
                             "or 'customer,agent', e.g. a call recorder's stereo output")
    parser.add_argument("--auto-end", type=float, default=0.0, metavar="S",
                        help="end a call after S seconds with no speech on any channel (default 0: "
                             "only the button, the API or Ctrl-C end a call)")
    parser.add_argument("--start", choices=("speech", "manual"), default="speech",
                        help="with no call running: 'speech' (default) starts one at the next speech; "
                             "'manual' waits for the button, F8 or POST /api/call/start")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S seconds (default: until Ctrl-C)")
    add_common(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coach.live.calls import DeskOptions
    from coach.live.microphone import DeviceSpec, MicrophoneSource, parse_device

    if args.channels and args.customer_device:
        raise CoachError("use either --channels (one stereo device) or --customer-device, not both")
    if args.auto_end < 0:
        raise CoachError("--auto-end must be 0 (never) or more seconds")
    agent_speakers = parse_channel_order(args.channels) if args.channels else (AGENT,)
    devices = [DeviceSpec(parse_device(args.device), tuple(agent_speakers), "--device")]
    if args.customer_device:
        devices.append(DeviceSpec(parse_device(args.customer_device), (CUSTOMER,), "--customer-device"))
    source = MicrophoneSource(devices)
    options = DeskOptions(mode="live", auto_end_s=args.auto_end, start_on_speech=args.start == "speech",
                          out_dir=args.out, agent=args.agent)
    return serve_calls(args, "live", options, source=source)
