"""`coach plot CALL.json -o call.png`: draw a scored call's timeline."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="draw a scored call as a timeline picture",
        description=(
            "Draw both channels' speech (from the transcript of a per-call JSON written "
            "by 'coach score') on a timeline, with the findings marked as coloured spans: "
            "interruptions, raised voice, fast speech, dead air and the rule findings. "
            "Call-level findings are listed under the picture."
        ),
    )
    parser.add_argument("call", type=Path, metavar="CALL.json", help="per-call result JSON")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="picture to write; .png, .svg or .pdf (default: CALL with .png)",
    )
    parser.add_argument("--title", help="title instead of the call name and metrics")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coach.plot import load_result, plot_call  # matplotlib only when plotting

    result = load_result(args.call)
    out = args.output or args.call.with_suffix(".png")
    plot_call(result, out, title=args.title)
    print(out)
    return 0
