"""Options people set once, in a TOML file, under the command-line flags.

IT sets a desktop up once (microphone names, port, language, the company's
rules folder) instead of on every command line. Files, later ones winning:

1. the user's file: `$XDG_CONFIG_HOME/coach/config.toml` (~/.config/coach/config.toml);
2. `./coach.toml` in the folder coach runs in;
3. `$COACH_CONFIG`, when set (then 1 and 2 are not read).

Flags given on the command line win over all of them. Top-level keys apply to
every command that has that option; a table per command applies to it only:

    language = "ru"
    rules = ["/srv/coach/company-rules"]

    [live]
    device = "Jabra"
    customer_device = "Monitor of Built-in Audio"
    port = 8800

Keys are the long option names with '-' or '_' (`--customer-device` ->
`customer_device`). An unknown key or a wrong type is a one-line error
naming the file and the key.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coach.errors import CoachError

# Options that make no sense in a file (per-run, or positional).
NOT_SETTABLE = {"help", "func", "paths", "out", "call", "calls", "version", "force", "text",
                "dir", "json", "verbose", "quiet"}


@dataclass
class Settings:
    files: list[Path] = field(default_factory=list)
    common: dict[str, tuple[Any, Path]] = field(default_factory=dict)
    by_command: dict[str, dict[str, tuple[Any, Path]]] = field(default_factory=dict)


def config_files(cwd: Path | None = None) -> list[Path]:
    explicit = os.environ.get("COACH_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise CoachError(f"COACH_CONFIG={explicit}: file not found")
        return [path]
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    candidates = [home / "coach" / "config.toml", (cwd or Path.cwd()) / "coach.toml"]
    return [p for p in candidates if p.is_file()]


def load_settings(commands: set[str], cwd: Path | None = None) -> Settings:
    settings = Settings()
    for path in config_files(cwd):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise CoachError(f"{path}: cannot read the settings file: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise CoachError(f"{path}: not valid TOML: {exc}") from exc
        settings.files.append(path)
        for key, value in data.items():
            if isinstance(value, dict):
                if key not in commands:
                    known = ", ".join(sorted(commands))
                    raise CoachError(f"{path}: [{key}]: no such command (known: {known})")
                table = settings.by_command.setdefault(key, {})
                for sub, item in value.items():
                    table[_dest(sub)] = (item, path)
            else:
                settings.common[_dest(key)] = (value, path)
    return settings


def _dest(key: str) -> str:
    return key.replace("-", "_")


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Settable options by long name ('customer_device' for --customer-device)."""
    out = {}
    for action in parser._actions:
        names = [o for o in action.option_strings if o.startswith("--")]
        if names and action.dest not in NOT_SETTABLE:
            out[_dest(names[0][2:])] = action
    return out


def _convert(action: argparse.Action, value: Any, path: Path, key: str) -> Any:
    """A file value as argparse would have produced it from the command line."""
    where = f"{path}: {key}"
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        if not isinstance(value, bool):
            raise CoachError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(action, argparse._AppendAction):
        items = value if isinstance(value, list) else [value]
        return [_one(action, v, where) for v in items]
    return _one(action, value, where)


def _one(action: argparse.Action, value: Any, where: str) -> Any:
    if isinstance(value, list | dict):
        raise CoachError(f"{where}: expected a single value, got {value!r}")
    try:
        converted = action.type(value) if action.type is not None else value
    except (TypeError, ValueError) as exc:
        raise CoachError(f"{where}: {value!r} is not valid ({exc})") from None
    if action.type is None and not isinstance(value, str) and isinstance(action.default, str):
        converted = str(value)
    if action.choices is not None and converted not in action.choices:
        raise CoachError(f"{where}: must be one of {', '.join(map(str, action.choices))}, got {value!r}")
    return converted


def apply_settings(subparsers: dict[str, argparse.ArgumentParser], settings: Settings) -> None:
    """Make the files' values the defaults of each command (so flags still win)."""
    for key, (_, path) in settings.common.items():
        if not any(key in _actions(p) for p in subparsers.values()):
            raise CoachError(f"{path}: {key}: no command has this option")
    for command, parser in subparsers.items():
        actions = _actions(parser)
        values = {k: v for k, v in settings.common.items() if k in actions}
        for key, item in settings.by_command.get(command, {}).items():
            if key not in actions:
                raise CoachError(f"{item[1]}: [{command}] {key}: 'coach {command}' has no such option")
            values[key] = item
        defaults = {actions[k].dest: _convert(actions[k], v, p, k) for k, (v, p) in values.items()}
        parser.set_defaults(**defaults)
