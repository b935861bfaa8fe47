"""Shared fixtures: the real offline model, the committed fixture calls and their manifest.

Scoring is the slow part (the real Whisper model on real audio), so each
fixture call is scored once per test session and the results shared.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
CALLS = FIXTURES / "calls"
BAD = FIXTURES / "bad"


@pytest.fixture(scope="session")
def manifest() -> dict:
    return json.loads((CALLS / "manifest.json").read_text(encoding="utf-8"))


def call_lines(manifest: dict, name: str) -> list[dict]:
    return manifest["calls"][name]["lines"]


def find_line(manifest: dict, name: str, text_part: str) -> dict:
    for line in call_lines(manifest, name):
        if text_part.lower() in line["text"].lower():
            return line
    raise KeyError(f"{name}: no line containing {text_part!r}")


@pytest.fixture(scope="session")
def scorer():
    from coach.scorer import CallScorer, ScoreOptions

    threads = int(os.environ.get("COACH_TEST_THREADS", "0"))
    return CallScorer(ScoreOptions(cpu_threads=threads))


@pytest.fixture(scope="session")
def scored(scorer):
    """scored('forbidden_agent.wav') -> the per-call result dict (computed once)."""
    cache: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in cache:
            cache[name] = scorer.score(CALLS / name)
        return cache[name]

    return get
