"""`coach eval RESULTS... --truth TRUTH`: precision, recall and F1 of the findings per category."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from coach.evaluation import EvalOptions, evaluate, format_report, load_results, load_truth


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="compare scored calls with labelled truth: precision, recall, F1 per category",
        description=(
            "Compare the per-call JSONs written by 'coach score' with truth files your team "
            "labelled (one JSON or YAML per call; format in docs/eval.md) and print, per "
            "category, true positives, false positives (duplicates among them), misses, "
            "precision, recall and F1, then micro and macro F1, overall and per group. "
            "Results are matched to truth files by the stem of the audio file name. "
            "Exit code: 0 done, 2 bad input (the message names the file)."
        ),
    )
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS",
                        help="results folder(s) of 'coach score' (or single per-call JSON files)")
    parser.add_argument("--truth", required=True, action="append", type=Path, metavar="PATH",
                        help="truth folder (searched recursively for *.json, *.yaml) or file; repeatable")
    parser.add_argument("--tolerance", type=float, default=EvalOptions.tolerance_s, metavar="S",
                        help="a finding matches a truth event when their spans, each widened by S "
                             "seconds, overlap (default %(default)s)")
    parser.add_argument("--by", action="append", default=None, metavar="KEY",
                        help="also give F1 per group: 'language' (default), 'folder' (the audio's "
                             "folder, e.g. a corpus variant), 'results' (which RESULTS folder) or any "
                             "tag of the truth files; repeatable")
    parser.add_argument("--errors", action="store_true",
                        help="list every false positive, duplicate and miss with what the ASR heard")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of tables")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.tolerance < 0:
        print("coach: error: --tolerance must be 0 or more seconds", file=sys.stderr)
        return 2
    group_by = tuple(dict.fromkeys(args.by or ["language"]))
    options = EvalOptions(tolerance_s=args.tolerance, group_by=group_by)
    truths = load_truth(args.truth)
    results = load_results(args.results)
    report = evaluate(results, truths, options)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_report(report, errors=args.errors))
    return 0

