"""`coach rules check|test|explain`: tools for the people who write the rules."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coach.errors import RuleError
from coach.paths import rules_root
from coach.rules import Rulebook
from coach.rules.examples import run_rule_examples
from coach.rules.loader import build_rule, documents, rule_files


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rules",
        help="validate, test and explain rule packs",
        description="Tools for rule authors: validate rule files, run their examples, and see "
                    "which rules fire on a sentence.",
    )
    sub = parser.add_subparsers(dest="rules_action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate every rule file in DIR (errors name file "
                                         "and field)")
    check.add_argument("dir", nargs="?", type=Path, default=None,
                       help="rules folder (default: the built-in rules/)")
    check.set_defaults(func=run_check)
    test = sub.add_parser("test", help="run every rule's match/no_match examples, like a test "
                                       "runner")
    test.add_argument("dir", nargs="?", type=Path, default=None,
                      help="rules folder (default: the built-in rules/)")
    test.add_argument("-v", "--verbose", action="store_true", help="list passing examples too")
    test.set_defaults(func=run_test)
    explain = sub.add_parser("explain", help="which rules fire on a sentence, on which words")
    explain.add_argument("text", help="the sentence, as the agent (or --speaker) would say it")
    explain.add_argument("--lang", default="ru", help="language pack (default ru)")
    explain.add_argument("--speaker", default="agent", choices=("agent", "customer"),
                         help="who says it (default agent)")
    explain.add_argument("--rules", action="append", default=[], type=Path, metavar="DIR",
                         help="company rules folder on top of the built-in packs")
    explain.set_defaults(func=run_explain)


def _language_of(path: Path, root: Path) -> str:
    """rules/ru/forbidden/x.yaml -> 'ru'; a company folder without language dirs -> 'ru'."""
    try:
        first = path.relative_to(root).parts[0]
    except ValueError:
        return "ru"
    return first if len(first) in (2, 3) and first.isalpha() else "ru"


def _load_all(folder: Path):
    rules, errors = [], []
    for path in rule_files(folder):
        try:
            for data in documents(path):
                if isinstance(data, dict) and data.get("disabled") is True:
                    continue
                rules.append(build_rule(data, path, _language_of(path, folder)))
        except RuleError as exc:
            errors.append(str(exc))
    return rules, errors


def run_check(args: argparse.Namespace) -> int:
    folder = args.dir or rules_root()
    if not folder.is_dir():
        print(f"coach: error: {folder}: rules folder not found", file=sys.stderr)
        return 2
    rules, errors = _load_all(folder)
    for error in errors:
        print(error)
    print(f"{len(rules)} rule(s) valid, {len(errors)} file(s) with errors in {folder}")
    return 1 if errors else 0


def run_test(args: argparse.Namespace) -> int:
    folder = args.dir or rules_root()
    rules, errors = _load_all(folder)
    for error in errors:
        print(f"ERROR {error}")
    passed = failed = 0
    for rule in rules:
        for result in run_rule_examples(rule):
            if result.passed:
                passed += 1
                if args.verbose:
                    print(result.describe())
            else:
                failed += 1
                print(result.describe())
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or errors else 0


def run_explain(args: argparse.Namespace) -> int:
    book = Rulebook.load(args.lang, list(args.rules))
    tokens, explanations = book.explain(args.text, args.speaker)
    print("tokens: " + " ".join(f"{t.text}[{t.lemma}{'/' + t.pos if t.pos else ''}]"
                                for t in tokens if not t.is_punct))
    if not explanations:
        print(f"no rule fires ({len(book.rules)} rules checked)")
        return 0
    for ex in explanations:
        e = ex.event
        print(f"{e.rule} ({e.category}, {e.severity}) on «{e.text}» lemmas {ex.lemmas}")
        print(f"    {e.message}")
        if e.suggestion:
            print(f"    try: «{e.suggestion}»")
        print(f"    file: {ex.rule.ctx.file}")
    return 0
