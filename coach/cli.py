"""The `coach` command line: one entry point, one module per sub-command.

Each module in `coach.commands` exposes `register(subparsers)`, which adds its
parser and sets `func` to the handler; handlers return the exit code. Keeping
the commands apart means a new command never touches the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from coach import __version__

COMMAND_MODULES = (
    "coach.commands.score",
    "coach.commands.models",
    "coach.commands.rules",
    "coach.commands.report",
    "coach.commands.plot",
    "coach.commands.live",
    "coach.commands.replay",
    "coach.commands.devices",
    "coach.commands.eval",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coach",
        description=(
            "Local speech coaching for contact-center agents: transcribe calls with "
            "Whisper on this machine, check the agent's speech against an editable "
            "rulebook, and show hints live or score recordings in batch. "
            "Nothing leaves the machine."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'coach COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"coach {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command not built yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("coach: interrupted", file=sys.stderr)
        return 130
    except CoachError as exc:
        print(f"coach: error: {exc}", file=sys.stderr)
        return 2


from coach.errors import CoachError  # noqa: E402  (after main for readability)

if __name__ == "__main__":
    sys.exit(main())
