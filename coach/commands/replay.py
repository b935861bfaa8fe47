"""`coach replay CALL...`: play recordings through the live pipeline, one call after another."""

from __future__ import annotations

import argparse
from pathlib import Path

from coach.commands._live_common import add_common, serve_calls
from coach.config import parse_channel_order
from coach.errors import CoachError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="replay recorded calls through the live overlay (training)",
        description=(
            "Play recordings into the live pipeline at real-time pace (or --speed), each as its own "
            "call, and show the overlay as an agent would have seen it. After each call the overlay "
            "shows its scorecard and review; click a finding to hear that moment. --out saves each "
            "call's result. Messages on the websocket follow the live contract (docs/live.md)."
        ),
    )
    parser.add_argument("calls", type=Path, nargs="+", metavar="CALL",
                        help="recordings (wav, mp3, ogg, flac), played one after another")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="playback speed (default 1.0 = real time; 2 = twice as fast; "
                             "0 = as fast as the machine can)")
    parser.add_argument("--channels", default="agent,customer", metavar="ORDER",
                        help="who is on the left and right channel: 'agent,customer' (default) or "
                             "'customer,agent'; a mono file is the agent only")
    parser.add_argument("--pause", type=float, default=0.0, metavar="S",
                        help="seconds between two recordings, with the review on screen (default 0)")
    parser.add_argument("--exit-at-end", action="store_true",
                        help="exit after the last call's 'end' message instead of keeping the overlay up")
    add_common(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coach.live.calls import DeskOptions
    from coach.live.sources import FileSource

    if args.speed < 0:
        raise CoachError("--speed must be 0 (as fast as possible) or more")
    if args.pause < 0:
        raise CoachError("--pause must be 0 or more seconds")
    order = parse_channel_order(args.channels)
    recordings = [FileSource(path, order, speed=args.speed) for path in args.calls]  # bad files: now
    options = DeskOptions(mode="replay", out_dir=args.out, agent=args.agent, pause_s=args.pause)
    return serve_calls(args, "replay", options, recordings=recordings)
