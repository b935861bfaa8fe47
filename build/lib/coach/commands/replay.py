"""`coach replay CALL`: play a recording through the live pipeline, as if the call were live."""

from __future__ import annotations

import argparse
from pathlib import Path

from coach.audio import parse_channel_order
from coach.commands._live_common import add_common, run_call
from coach.live.sources import FileSource


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="replay a recorded call through the live overlay (training)",
        description=(
            "Play a recording into the live pipeline at real-time pace (or --speed) and show the "
            "overlay as an agent would have seen it during the call. At the end the overlay shows "
            "the call's timeline; click a finding to hear that moment. Messages on the websocket "
            "follow the live contract (docs/live.md)."
        ),
    )
    parser.add_argument("call", type=Path, metavar="CALL", help="the recording (wav, mp3, ogg, flac)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="playback speed (default 1.0 = real time; 2 = twice as fast; "
                             "0 = as fast as the machine can)")
    parser.add_argument("--channels", default="agent,customer", metavar="ORDER",
                        help="who is on the left and right channel: 'agent,customer' (default) or "
                             "'customer,agent'; a mono file is the agent only")
    parser.add_argument("--exit-at-end", action="store_true",
                        help="exit after the call's 'end' message instead of keeping the overlay up")
    add_common(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.speed < 0:
        print("coach: error: --speed must be 0 (as fast as possible) or more")
        return 2
    source = FileSource(args.call, parse_channel_order(args.channels), speed=args.speed)
    return run_call(args, source, args.call, "replay")
