"""`coach score PATH... -o OUT`: score recorded calls in batch (the QA use case)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coach.audio import parse_channel_order
from coach.batch import BatchSummary, run_batch
from coach.scorer import ScoreOptions


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score recorded calls: per-call JSON, summary.csv, errors.jsonl, report",
        description=(
            "Transcribe each call with Whisper on this machine, check the agent's speech "
            "against the rulebook and the call analyzers, and write OUT/<call>.json per call "
            "(the per-call contract), OUT/summary.csv (one row per call) and OUT/errors.jsonl "
            "(one row per input that could not be scored). Calls already scored with the same "
            "audio, model, rules and options are skipped, so an interrupted batch can simply "
            "be run again. Exit code: 0 all scored, 1 some inputs failed, 2 usage/config error."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="audio files or folders (searched recursively for audio files)")
    parser.add_argument("-o", "--out", required=True, type=Path, metavar="OUT",
                        help="output folder (created if missing)")
    parser.add_argument("--model", default=None, metavar="NAME|DIR",
                        help="Whisper model: a name from models/manifest.toml (default: the "
                             "offline whisper-base), a local CTranslate2 folder, or a Hugging "
                             "Face repo id (needs network)")
    parser.add_argument("--language", default="ru", metavar="LANG",
                        help="language of the calls: ru (default), en, ro, nb, et, or 'auto' to "
                             "detect it once per call")
    parser.add_argument("--channels", default="agent,customer", metavar="ORDER",
                        help="who is on the left and right channel of stereo files: "
                             "'agent,customer' (default) or 'customer,agent'. Mono files are "
                             "treated as the agent only")
    parser.add_argument("--rules", action="append", default=[], metavar="DIR",
                        help="a company rules folder that adds to or overrides the built-in "
                             "packs by rule id (repeatable); may hold analyzers.yaml too")
    parser.add_argument("--scorecard", default=None, metavar="FILE",
                        help="scorecard YAML (default: rules/scorecards/default.yaml)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="score N calls in parallel; CPU threads are split between them "
                             "(default 1: one call at a time using all cores)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local",
                        help="'local' (default) or 'ray' to score on a Ray cluster")
    parser.add_argument("--address", default=None, metavar="ADDR",
                        help="Ray cluster address for --engine ray (default: start a local Ray)")
    parser.add_argument("--beam", type=int, default=1, metavar="N",
                        help="Whisper beam size (default 1: fastest; 5 is a little more accurate)")
    parser.add_argument("--asr-mode", choices=("fast", "batched", "sequential"), default="fast",
                        help="'fast' (default): short VAD segments batched and encoded only as long "
                             "as they are; 'batched': faster-whisper's batched pipeline; "
                             "'sequential': plain faster-whisper transcribe()")
    parser.add_argument("--force", action="store_true",
                        help="re-score calls even if OUT already holds an up-to-date result")
    parser.add_argument("--no-report", action="store_true",
                        help="do not write OUT/report.html at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.jobs < 1:
        print("coach: error: --jobs must be at least 1", file=sys.stderr)
        return 2
    options = ScoreOptions(
        model=args.model,
        language=args.language,
        channels=parse_channel_order(args.channels),
        rules_dirs=[str(Path(d)) for d in args.rules],
        scorecard=args.scorecard,
        beam_size=args.beam,
        asr_mode=args.asr_mode,
    )
    on_result = _store_writer(args.out)
    summary = run_batch(
        args.paths, args.out, options, jobs=args.jobs, force=args.force,
        progress=not args.quiet, engine=args.engine, ray_address=args.address,
        on_result=on_result,
    )
    if not args.no_report:
        _write_report(args.out)
    if not args.quiet:
        print_summary(summary, args.out)
    return 0 if summary.ok else 1


def _store_writer(out: Path):
    """Each scored call also goes into OUT/coach.sqlite when the store is available."""
    try:
        from coach.store import save_result
    except ImportError:
        return None
    db = out / "coach.sqlite"
    return lambda json_path, result: save_result(db, result, json_path)


def _write_report(out: Path) -> None:
    try:
        from coach.report import write_report_for_dir
    except ImportError:
        return
    write_report_for_dir(out, out / "report.html")


def print_summary(summary: BatchSummary, out: Path) -> None:
    """A short human-readable account of the findings, worst calls first."""
    results = sorted(summary.results.values(), key=lambda r: r.get("score", {}).get("total", 100))
    print()
    print(f"Scored {len(summary.scored)} call(s), skipped {len(summary.skipped)} already scored, "
          f"{len(summary.failed)} failed ({summary.wall_s:.1f} s). Results in {out}/")
    for result in results:
        events = result.get("events", [])
        print(f"\n{result['call']}  score {result['score']['total']}/100  "
              f"{result['duration_s']:.0f} s  {len(events)} finding(s)")
        for event in events:
            when = f"{event['start']:6.1f}s" if event.get("start") is not None else "  call "
            print(f"  {when}  [{event['severity']}] {event['category']}: {event['message']}")
            if event.get("text") and event.get("start") is not None:
                print(f"           said: «{event['text']}»")
            if event.get("suggestion"):
                print(f"           try:  «{event['suggestion']}»")
    for _path, reason in summary.failed:
        print(f"\nFAILED {reason}")
