"""`coach report OUT -o report.html`: the QA lead's HTML report for scored calls."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_REPORT_NAME = "report.html"


def add_metadata_arguments(parser: argparse.ArgumentParser) -> None:
    """--manifest and --name-pattern, worded the same for `coach score` and `coach report`."""
    parser.add_argument(
        "--manifest",
        type=Path,
        default=None,
        metavar="CSV",
        help=(
            "call metadata: a CSV with a 'file' column (the recording: path or file name) and any of "
            "agent, call_id, started_at, queue, plus any other columns. Overrides a "
            "<stem>.meta.json next to the recording, which overrides --name-pattern"
        ),
    )
    parser.add_argument(
        "--name-pattern",
        default=None,
        metavar="TEMPLATE",
        help=(
            "read metadata from file names, e.g. '{agent}_{started_at:%%Y%%m%%d-%%H%%M%%S}_{call_id}' "
            "for ivanova_20240501-093000_77812.wav ({field} = any text, {field:FORMAT} = a strftime "
            "date/time)"
        ),
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write a self-contained HTML report for a folder of scored calls",
        description=(
            "Read the per-call results that 'coach score -o OUT' wrote (OUT/*.json and "
            "OUT/coach.sqlite) and write one HTML file that opens in a browser with no "
            "server and no network: totals, score distribution, findings by category, "
            "scores per agent/queue/team and their weekly trend, and the calls (sortable, "
            "filtered by date, group and category, exportable as CSV); click a call for its "
            "transcript with the findings highlighted and a player that jumps to each one. "
            "Labels follow the calls' language (English or Russian). Recordings are linked "
            "by a path relative to the HTML file."
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
    add_metadata_arguments(parser)
    parser.add_argument(
        "--agent-pattern",
        default=None,
        metavar="REGEX",
        help=(
            "older way to name agents: a regular expression on the file name whose group 'agent', "
            r"else group 1, is the agent id (e.g. '^(?P<agent>[^_]+)_'); weaker than the other sources"
        ),
    )
    parser.add_argument(
        "--lang",
        choices=("auto", "en", "ru"),
        default="auto",
        help="language of the page (default: the calls' most common language)",
    )
    parser.add_argument(
        "--transcripts",
        default=None,
        metavar="FORMATS",
        help=(
            "also write each call's transcript as txt, srt and/or vtt (comma-separated) into "
            "OUT/transcripts/ (or --transcripts-dir)"
        ),
    )
    parser.add_argument(
        "--transcripts-dir", type=Path, default=None, metavar="DIR", help="where --transcripts go"
    )
    parser.add_argument("--title", default=None, help="page title (default: 'Call quality report')")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from coach.metadata import MetadataSource
    from coach.report import ReportOptions, write_report_for_dir

    formats = None
    if args.transcripts:
        from coach.transcripts import parse_formats

        formats = parse_formats(args.transcripts)
    source = MetadataSource.from_options(args.manifest, args.name_pattern, agent_regex=args.agent_pattern)
    lang = None if args.lang == "auto" else args.lang
    options = ReportOptions(metadata=source, title=args.title, lang=lang)
    first, *rest = args.out
    path = write_report_for_dir(first, args.output, options, extra_dirs=rest, extra_dbs=args.db)
    print(f"report: {path}")
    if formats:
        from coach.transcripts import export_transcripts

        for folder in args.out:
            dest = args.transcripts_dir
            if dest is not None and rest:  # several OUT folders: one sub-folder each
                dest = dest / folder.name
            written = export_transcripts(folder, formats, dest)
            where = dest or folder / "transcripts"
            print(f"transcripts: {len(written)} file(s) in {where}")
    return 0
