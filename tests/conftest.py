"""Shared fixtures: the real offline model, the committed fixture calls and their manifest.

Scoring is the slow part (the real Whisper model on real audio), so each
fixture call is scored once per test session and the results shared.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Before any test module imports numpy: importing coach pins the numerical path (coach.numerics:
# OpenBLAS's AVX2 kernel and numpy's loops are chosen when numpy loads). A test module that
# imports numpy first left the test process on the CPU's AVX-512 path, so `coach.score` here
# read a fixture call otherwise than a Ray actor or a `--jobs` worker did ("Сдравствуете" /
# "Сдравствуйте" on an AVX-512 machine, in the full suite only).
from coach import numerics as _pinned  # noqa: E402,F401  isort: skip (coach/__init__.py pins)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
CALLS = FIXTURES / "calls"
BAD = FIXTURES / "bad"


@pytest.fixture(scope="session")
def manifest() -> dict:
    return json.loads((CALLS / "manifest.json").read_text(encoding="utf-8"))


def phrase_rule_yaml(rule_id: str, phrases: str, match: str, no_match: str) -> str:
    """A company's minimal phrase rule as a YAML file holds it (lists in flow style, "[a, b]"):
    the one shape the rule-file tests mutate and the verification tests load."""
    return f"""id: {rule_id}
kind: phrase
category: forbidden_phrase
speaker: agent
severity: minor
message: m
suggestion: s
phrases: {phrases}
examples: {{match: {match}, no_match: {no_match}}}
"""


def call_lines(manifest: dict, name: str) -> list[dict]:
    return manifest["calls"][name]["lines"]


def find_line(manifest: dict, name: str, text_part: str) -> dict:
    for line in call_lines(manifest, name):
        if text_part.lower() in line["text"].lower():
            return line
    raise KeyError(f"{name}: no line containing {text_part!r}")


@pytest.fixture(scope="session")
def coach():
    """One loaded Coach for the session (the fixture calls are Russian)."""
    from coach import Coach, CoachConfig

    threads = int(os.environ.get("COACH_TEST_THREADS", "0"))
    return Coach.load(CoachConfig(language="ru", cpu_threads=threads))


@pytest.fixture(scope="session")
def scorer(coach):
    """The same loaded Coach, under the name older tests use (`scorer.transcriber`...)."""
    return coach


@pytest.fixture(scope="session")
def scored(coach):
    """scored('forbidden_agent.wav') -> the per-call result as the JSON on disk (computed once)."""
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            cache[name] = coach.score(CALLS / name).to_dict()
        return cache[name]

    return get


def play_dialogue(book, lines: list[str], finish: bool = True, duration: float | None = None):
    """Feed 'agent: ...' / 'customer: ...' / 'pause: N' lines to a Rulebook as one call, each line
    0.5 s after the last; return (state, findings), call-level ones too when `finish`."""
    from coach.rules import utterance_from_text
    from coach.rules.examples import dialogue, pause_seconds

    state = book.new_state()
    t, events = 0.0, []
    for who, text in dialogue(lines, "agent"):
        if who == "pause":
            t += pause_seconds(text)
            continue
        utt = utterance_from_text(text, who, start=t)
        t = utt.end + 0.5
        events += book.check_utterance(utt, state)
    if finish:
        state.duration_s = duration if duration is not None else t
        events += book.check_call(state)
    return state, events
