"""`coach rules check|test|explain|schema`: tools for the people who write the rules.

`check` and `test` load a folder through the same loader as `coach score`
(`coach.rules.loader.load_rules`), with the built-in packs underneath, so
they report exactly the errors scoring would hit; the loader collects them
instead of stopping at the first, and each is one line naming the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from coach.errors import RuleError
from coach.paths import rules_root

if TYPE_CHECKING:  # the rule engine (spaCy, pymorphy3) loads when a rules command runs
    from coach.rules.base import Rule


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rules",
        help="validate, test and explain rule packs",
        description="Tools for rule authors: validate rule files, run their examples, see which "
                    "rules fire on a sentence, and get the JSON Schema for editors.",
    )
    sub = parser.add_subparsers(dest="rules_action", metavar="ACTION", required=True)
    folder_help = "rules folder (default: the built-in packs); a company folder is checked on top " \
                  "of the built-in packs, as `coach score --rules DIR` loads it"
    lang_help = "language to load the folder as (default: each language subfolder; 'ru' for a " \
                "folder without them)"
    check = sub.add_parser("check", help="validate every rule file in DIR (one line per bad file, "
                                         "naming file, rule and field; exit 1 if any)")
    check.add_argument("dir", nargs="?", type=Path, default=None, help=folder_help)
    check.add_argument("--language", "--lang", dest="lang", default=None, help=lang_help)
    check.set_defaults(func=run_check)
    test = sub.add_parser("test", help="run every rule's match/no_match examples, like a test "
                                       "runner")
    test.add_argument("dir", nargs="?", type=Path, default=None, help=folder_help)
    test.add_argument("--language", "--lang", dest="lang", default=None, help=lang_help)
    test.add_argument("-v", "--verbose", action="store_true", help="list passing examples too")
    test.set_defaults(func=run_test)
    explain = sub.add_parser("explain", help="which rules fire on a sentence, on which words")
    explain.add_argument("text", help="the sentence, as the agent (or --speaker) would say it")
    explain.add_argument("--language", "--lang", dest="lang", default="ru", help="language pack (default ru)")
    explain.add_argument("--speaker", default="agent", choices=("agent", "customer"),
                         help="who says it (default agent)")
    explain.add_argument("--rules", action="append", default=[], type=Path, metavar="DIR",
                         help="company rules folder on top of the built-in packs")
    explain.set_defaults(func=run_explain)
    schema = sub.add_parser("schema", help="print the JSON Schema of a rule file (for editors: see "
                                           "docs/rules.md)")
    schema.add_argument("-o", "--output", type=Path, default=None, help="write it to this file")
    schema.set_defaults(func=run_schema)


def load_folder(folder: Path | None, lang: str | None) -> tuple[Path, list[Rule], list[str]]:
    from coach.rules.loader import language_folders, load_rules

    """The rules defined in `folder` (as loaded on top of the built-in packs) and the errors found."""
    folder = folder or rules_root()
    if not folder.is_dir():
        raise RuleError(f"{folder}: rules folder not found")
    builtin = folder.resolve() == rules_root().resolve()
    languages = [lang] if lang else (list(language_folders(folder)) or ["ru"])
    rules: list[Rule] = []
    errors: list[str] = []
    inside = folder.resolve()
    for language in languages:
        found: list[RuleError] = []
        loaded = load_rules(language, None if builtin else [folder], errors=found)
        errors += [str(e) for e in found if str(e) not in errors]
        rules += [r for r in loaded.rules if r.ctx.file.resolve().is_relative_to(inside)]
    return folder, rules, errors


def run_check(args: argparse.Namespace) -> int:
    folder, rules, errors = load_folder(args.dir, args.lang)
    for error in errors:
        print(error)
    print(f"{len(rules)} rule(s) valid, {len(errors)} file(s) with errors in {folder}")
    return 1 if errors else 0


def run_test(args: argparse.Namespace) -> int:
    _, rules, errors = load_folder(args.dir, args.lang)
    for error in errors:
        print(f"ERROR {error}")
    passed = failed = 0
    for rule in rules:
        from coach.rules.examples import run_rule_examples

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
    from coach.rules import Rulebook

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


def run_schema(args: argparse.Namespace) -> int:
    from coach.rules.schema import schema_text

    text = schema_text()
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"{args.output}: cannot write: {exc.strerror or exc}") from None
    print(f"wrote {args.output}")
    return 0
