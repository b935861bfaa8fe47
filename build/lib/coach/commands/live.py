"""`coach live`: coach a call as it happens, from the microphone (and the customer's audio)."""

from __future__ import annotations

import argparse

from coach.audio import parse_channel_order
from coach.commands._live_common import add_common, run_call
from coach.contract import AGENT, CUSTOMER
from coach.live.sources import DeviceSpec, MicrophoneSource, parse_device


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "live",
        help="live hints from the microphone, shown in a small overlay page",
        description=(
            "Listen to the agent's microphone (and, with --customer-device, the customer's audio), "
            "transcribe on this machine and show hints in the overlay at http://127.0.0.1:PORT/ "
            "within about a second of a problem phrase. Nothing leaves the machine. "
            "'coach devices' lists the input devices."
        ),
    )
    parser.add_argument("--device", default=None, metavar="NAME|INDEX",
                        help="the agent's microphone: index or part of the name from 'coach devices' "
                             "(default: the system's default input)")
    parser.add_argument("--customer-device", default=None, metavar="NAME|INDEX",
                        help="a second input carrying the customer's audio, e.g. a loopback or the "
                             "monitor of the softphone's output")
    parser.add_argument("--channels", default=None, metavar="ORDER",
                        help="record --device as two channels: 'agent,customer' (left is the agent) "
                             "or 'customer,agent', e.g. a call recorder's stereo output")
    parser.add_argument("--duration", type=float, default=None, metavar="S",
                        help="stop after S seconds (default: until Ctrl-C)")
    add_common(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.channels and args.customer_device:
        print("coach: error: use either --channels (one stereo device) or --customer-device")
        return 2
    agent_speakers = parse_channel_order(args.channels) if args.channels else (AGENT,)
    devices = [DeviceSpec(parse_device(args.device), tuple(agent_speakers))]
    if args.customer_device:
        devices.append(DeviceSpec(parse_device(args.customer_device), (CUSTOMER,)))
    source = MicrophoneSource(devices)
    return run_call(args, source, None, "live")
