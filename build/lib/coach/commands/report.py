"""`coach report OUT -o report.html`: the trainer's HTML report for scored calls."""

from __future__ import annotations

import argparse
from pathlib import Path

from coach.report import DEFAULT_REPORT_NAME, ReportOptions, write_report_for_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report for a folder of scored calls",
        description=(
            "Read the per-call results that 'coach score -o OUT' wrote (OUT/*.json and "
            "OUT/coach.sqlite) and write one HTML file that opens in a browser with no "
            "server and no network: totals, score distribution, findings by category, "
            "per-agent aggregates, and the calls worst first; click a call for its "
            "transcript with the findings highlighted and a player that jumps to each one. "
            "Recordings are linked by a path relative to the HTML file."
        ),
    )
    parser.add_argument("out", type=Path, nargs="+", metavar="OUT", help="results folder(s)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help=f"HTML file to write (default: OUT/{DEFAULT_REPORT_NAME} of the first OUT)",
    )
    parser.add_argument(
        "--db",
        type=Path,
        action="append",
        default=[],
        metavar="SQLITE",
        help="also include every call of this results database (repeatable)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=None,
        metavar="CSV",
        help="CSV with columns call,agent (more allowed) naming each call's agent",
    )
    parser.add_argument(
        "--agent-pattern",
        default=None,
        metavar="REGEX",
        help=(
            "regular expression on the file name giving the agent id: its group 'agent', "
            r"else group 1 (e.g. '^(?P<agent>[^_]+)_' for 'ivanova_2024-05-01.wav')"
        ),
    )
    parser.add_argument("--title", default="Call quality report", help="page title")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    options = ReportOptions(manifest=args.manifest, agent_pattern=args.agent_pattern, title=args.title)
    first, *rest = args.out
    path = write_report_for_dir(first, args.output, options, extra_dirs=rest, extra_dbs=args.db)
    print(f"report: {path}")
    return 0
