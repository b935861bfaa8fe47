"""`coach score PATH... -o OUT`: score recorded calls in batch (the QA use case)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from coach.commands._config import add_config_options, config_from_args
from coach.commands.report import add_metadata_arguments
from coach.config import CoachConfig
from coach.errors import CoachError

if TYPE_CHECKING:  # Whisper, spaCy and the rest load only when the command runs
    from coach.batch import BatchSummary
    from coach.engines import Engine


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score recorded calls: per-call JSON, summary.csv, errors.jsonl, report",
        description=(
            "Transcribe each call with Whisper on this machine, check the agent's speech "
            "against the rulebook and the call analyzers, and write OUT/<call>.json per call "
            "(the per-call contract), OUT/summary.csv (one row per call in OUT), OUT/errors.jsonl "
            "(one row per input that could not be scored), OUT/coach.sqlite and OUT/report.html. "
            "Calls already scored with the same audio, model, rules and options are skipped, so "
            "an interrupted batch can simply be run again. "
            "Exit code: 0 all scored, 1 some inputs failed, 2 usage/config error."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="audio files or folders (searched recursively for audio files)")
    parser.add_argument("-o", "--out", required=True, type=Path, metavar="OUT",
                        help="output folder (created if missing)")
    parser.add_argument("--channels", default="agent,customer", metavar="ORDER",
                        help="who is on the left and right channel of stereo files: "
                             "'agent,customer' (default) or 'customer,agent'")
    add_config_options(parser)
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="score N calls in parallel, each worker with its own model; CPU "
                             "threads are split between them (default 1: one call at a time, all "
                             "cores). Capped by cores and free memory")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="'local' (default) or 'ray' to score on a Ray cluster")
    parser.add_argument("--address", default=None, metavar="ADDR",
                        help="Ray cluster address for --engine ray (default: start a local Ray)")
    parser.add_argument("--force", action="store_true",
                        help="re-score calls even if OUT already holds an up-to-date result")
    parser.add_argument("--no-report", action="store_true",
                        help="do not write OUT/report.html at the end")
    add_metadata_arguments(parser)
    parser.add_argument("--csv", choices=("plain", "excel"), default="plain",
                        help="summary.csv as plain CSV (default) or for Excel with Russian regional "
                             "settings (UTF-8 with BOM, ';' separators, decimal commas)")
    parser.add_argument("--json", action="store_true",
                        help="print the batch summary as JSON on stdout (for scripts)")
    parser.set_defaults(func=run)


def make_engine(args: argparse.Namespace, config: CoachConfig) -> Engine:
    if args.engine == "ray":
        from coach.engines.ray import RayEngine

        return RayEngine(config, address=args.address)
    from coach.engines.local import LocalEngine

    return LocalEngine(config, jobs=args.jobs)


def run(args: argparse.Namespace) -> int:
    from coach.batch import run_batch
    from coach.core import Fingerprints
    from coach.metadata import MetadataSource

    if args.jobs < 1:
        raise CoachError("--jobs must be at least 1")
    config = config_from_args(args)
    fingerprints = Fingerprints.load(config)  # validates everything before any model loads
    metadata = MetadataSource.from_options(args.manifest, args.name_pattern)
    summary = run_batch(
        args.paths, args.out, make_engine(args, config), fingerprints.for_file,
        force=args.force, progress=not args.quiet, metadata=metadata, csv_style=args.csv,
    )
    if not args.no_report:
        _write_report(args.out)
    if args.json:
        print(json.dumps(summary_json(summary, args.out), ensure_ascii=False, indent=2))
    elif not args.quiet:
        print_summary(summary, args.out)
    return 0 if summary.ok else 1


def _write_report(out: Path) -> None:
    from coach.report import write_report_for_dir

    write_report_for_dir(out, out / "report.html")


def summary_json(summary: BatchSummary, out: Path) -> dict:
    return {
        "out": str(out),
        "scored": [str(p) for p in summary.scored],
        "skipped": [str(p) for p in summary.skipped],
        "failed": [{"call": str(p), "error": reason} for p, reason in summary.failed],
        "wall_s": round(summary.wall_s, 2),
        "calls": {name: {"call": r.call, "score": r.total_score, "events": len(r.events)}
                  for name, r in sorted(summary.results.items())},
    }


def print_summary(summary: BatchSummary, out: Path) -> None:
    """A short human-readable account of the findings, worst calls first."""
    results = sorted(summary.results.values(), key=lambda r: r.total_score or 0)
    print()
    print(f"Scored {len(summary.scored)} call(s), skipped {len(summary.skipped)} already scored, "
          f"{len(summary.failed)} failed ({summary.wall_s:.1f} s). Results in {out}/")
    for result in results:
        print(f"\n{result.call}  score {result.total_score}/100  "
              f"{result.duration_s:.0f} s  {len(result.events)} finding(s)")
        for event in result.events:
            when = f"{event.start:6.1f}s" if event.start is not None else "  call "
            print(f"  {when}  [{event.severity}] {event.category}: {event.message}")
            if event.text and event.start is not None:
                print(f"           said: «{event.text}»")
            if event.suggestion:
                print(f"           try:  «{event.suggestion}»")
    for _path, reason in summary.failed:
        print(f"\nFAILED {reason}", file=sys.stderr)
