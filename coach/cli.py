"""The `coach` command line: one entry point, one module per sub-command.

Each module in `coach.commands` exposes `register(subparsers)`, which adds its
parser and sets `func` to the handler; handlers return the exit code. Keeping
the commands apart means a new command never touches the others.

Conventions every command follows: results go to stdout, everything else
(progress, warnings, errors) to stderr; `-v` shows more (and tracebacks), `-q`
only errors; a problem the user can fix is one line and exit 2; an unexpected
error is one line plus its traceback in the log file (and on screen with -v).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from pathlib import Path

from coach import __version__
from coach.errors import CoachError
from coach.paths import log_file
from coach.settings import apply_settings, load_settings

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

log = logging.getLogger("coach")


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors on stderr as one line and exit 2 (argparse's own rule)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_verbosity(parser: argparse.ArgumentParser, default: object = None) -> None:
    """-v/-q on the main parser and on every sub-command (so both `coach -v score` and
    `coach score -v` work)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="count", default=default,
                       help="say more: -v what coach does, -vv debug detail and tracebacks")
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="only errors: no progress bar, no summary")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="coach",
        description=(
            "Local speech coaching for contact-center agents: transcribe calls with "
            "Whisper on this machine, check the agent's speech against an editable "
            "rulebook, and show hints live or score recordings in batch. "
            "Nothing leaves the machine."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Run 'coach COMMAND --help' for the options of one command.\n\n"
            "Settings file: options set once (language, rules folder, microphone, port...) can\n"
            "live in ~/.config/coach/config.toml and ./coach.toml (or $COACH_CONFIG); flags win.\n"
            "Example:\n"
            "  language = \"ru\"\n"
            "  rules = [\"/srv/coach/company-rules\"]\n"
            "  [live]\n"
            "  device = \"Jabra\"\n"
            "  port = 8800\n"
            "See docs/settings.md."
        ),
    )
    parser.add_argument("--version", action="version", version=f"coach {__version__}")
    add_verbosity(parser, default=0)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
    for sub in subparsers.choices.values():
        add_verbosity(sub, default=argparse.SUPPRESS)
    return parser


def apply_settings_files(parser: argparse.ArgumentParser) -> list[Path]:
    """Defaults from the settings files (coach.settings); returns the files read."""
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    settings = load_settings(set(subparsers.choices))
    apply_settings(dict(subparsers.choices), settings)
    return settings.files


def setup_logging(verbose: int, quiet: bool) -> Path | None:
    """Warnings (or more with -v) on stderr; everything at INFO and up in the log file."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    screen = logging.StreamHandler(sys.stderr)
    screen.setLevel(level)
    screen.setFormatter(logging.Formatter("coach: %(message)s" if verbose == 0 else
                                          "%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    root.addHandler(screen)
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    except OSError:
        return None
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s: %(message)s"))
    root.addHandler(handler)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        files = apply_settings_files(parser)
    except CoachError as exc:
        print(f"coach: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    log_path = setup_logging(args.verbose or 0, bool(args.quiet))
    for path in files:
        log.info("settings from %s", path)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("coach: interrupted", file=sys.stderr)
        return 130
    except CoachError as exc:
        log.debug("error", exc_info=True)
        print(f"coach: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one line here; the traceback in the log (on screen with -v)
        log.info("unexpected error\n%s", traceback.format_exc().rstrip())
        where = f" (traceback in {log_path})" if log_path and not args.verbose else ""
        print(f"coach: unexpected {type(exc).__name__}: {exc}{where}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
