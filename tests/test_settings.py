"""Settings files: options set once, flags still win, mistakes named in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from coach.cli import apply_settings_files, build_parser
from coach.errors import CoachError

COACH = [sys.executable, "-m", "coach"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("COACH_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def parse(*argv: str):
    parser = build_parser()
    files = apply_settings_files(parser)
    return parser.parse_args(list(argv)), files


def test_user_file_then_local_file_then_flags(home):
    user = home / "config" / "coach" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('language = "en"\nrules = ["/srv/rules"]\n[live]\nport = 9000\n', encoding="utf-8")
    (home / "coach.toml").write_text('[score]\njobs = 2\n[live]\ndevice = "Jabra"\n', encoding="utf-8")
    args, files = parse("score", "calls", "-o", "out")
    assert files == [user, home / "coach.toml"]
    assert (args.language, args.jobs, args.rules) == ("en", 2, ["/srv/rules"])
    args, _ = parse("score", "calls", "-o", "out", "--language", "ru", "--jobs", "1")
    assert (args.language, args.jobs) == ("ru", 1)  # flags win
    args, _ = parse("live")
    assert (args.port, args.device, args.language) == (9000, "Jabra", "en")


def test_coach_config_names_one_file(home, monkeypatch):
    (home / "coach.toml").write_text('language = "en"\n', encoding="utf-8")
    other = home / "desk.toml"
    other.write_text('language = "ru"\n', encoding="utf-8")
    monkeypatch.setenv("COACH_CONFIG", str(other))
    args, files = parse("score", "calls", "-o", "out")
    assert files == [other] and args.language == "ru"


@pytest.mark.parametrize("text, message", [
    ('languag = "en"\n', "languag: no command has this option"),
    ('[score]\njobs = "many"\n', "jobs: 'many' is not valid"),
    ('[score]\nport = 1\n', "[score] port: 'coach score' has no such option"),
    ('[scor]\njobs = 1\n', "[scor]: no such command"),
    ('[score]\nasr_mode = "slow"\n', "asr_mode: must be one of fast, batched, sequential"),
    ("language = \n", "not valid TOML"),
])
def test_mistakes_are_one_line_naming_the_file(home, text, message):
    (home / "coach.toml").write_text(text, encoding="utf-8")
    with pytest.raises(CoachError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse("score", "calls", "-o", "out")
    proc = subprocess.run([*COACH, "score", "x", "-o", "y"], cwd=home, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "coach.toml" in proc.stderr


def test_help_mentions_the_settings_file():
    proc = subprocess.run([*COACH, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "coach.toml" in proc.stdout and "config.toml" in proc.stdout
