"""What an evaluation counts: categories, spans, per-call truth and results, tallies and the report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coach.errors import CoachError

LINE_CATEGORIES = (
    "forbidden_phrase",
    "negative_phrasing",
    "diminutive",
    "filler_words",
    "interruption",
    "raised_voice",
    "speech_rate",
    "long_silence",
)
"""Line-level categories of the contract: findings with a time span."""
CALL_CATEGORIES = ("name_not_asked", "name_not_used", "no_greeting", "no_closing")
"""Call-level categories of the contract: a finding is there or not."""
CATEGORY_ORDER = LINE_CATEGORIES[:4] + CALL_CATEGORIES + LINE_CATEGORIES[4:]
"""Order of the rows in the tables (rules first, then analyzers)."""
TRUTH_SUFFIXES = (".json", ".yaml", ".yml")
BUILTIN_GROUPS = ("language", "folder", "results")
"""Grouping keys that need no tag: truth language, the audio's folder, the results folder."""


class EvalInputError(CoachError):
    """A truth or result file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class EvalOptions:
    """How findings are matched and grouped.

    `tolerance_s` widens both spans before the overlap test: ASR word times are
    often 0.5-1 s early after a pause, and a labeller's marks are not exact
    either, so exact overlap would count good findings as misses.
    """

    tolerance_s: float = 1.5
    group_by: tuple[str, ...] = ("language",)


@dataclass(frozen=True)
class Span:
    """A line-level event (truth or prediction) reduced to what matching needs."""

    category: str
    speaker: str | None
    start: float
    end: float
    text: str = ""


@dataclass
class TruthCall:
    """One labelled call."""

    path: Path
    stem: str
    language: str
    tags: dict[str, str]
    labelled: frozenset[str]
    call: dict[str, bool]
    events: list[Span]


@dataclass
class ResultCall:
    """One per-call result of `coach score`."""

    path: Path
    call: str
    stem: str
    folder: str
    results: str
    language: str | None
    line_events: list[Span]
    call_found: set[str]
    transcript: list[dict[str, Any]]


@dataclass
class Tally:
    """Counts for one category (or one total): duplicates are already inside `fp`."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    dup: int = 0

    def add(self, other: Tally) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.dup += other.dup

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        """2tp / (2tp + fp + fn): 0 when nothing was found right, None when there was nothing to find."""
        denom = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denom if denom else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp, "fp": self.fp, "fn": self.fn, "dup": self.dup,
            "precision": _round(self.precision), "recall": _round(self.recall), "f1": _round(self.f1),
        }


@dataclass
class Mismatch:
    """One false positive, duplicate or miss, for the `--errors` listing."""

    kind: str  # "fp", "dup" or "fn"
    call: str
    category: str
    speaker: str | None
    start: float | None
    end: float | None
    text: str
    heard: str


@dataclass
class Report:
    """Everything `coach eval` prints; `as_dict` is the `--json` output."""

    options: EvalOptions
    groups: dict[str, dict[str, dict[str, Tally]]]  # key -> value -> category -> tally
    overall: dict[str, Tally]
    calls: int
    languages: Counter
    missing_results: list[str]
    unlabelled_results: list[str]
    language_mismatch: list[tuple[str, str, str | None]]
    mismatches: list[Mismatch] = field(default_factory=list)

    def categories(self) -> list[str]:
        seen = set(self.overall)
        return [c for c in CATEGORY_ORDER if c in seen] + sorted(seen - set(CATEGORY_ORDER))

    def as_dict(self) -> dict[str, Any]:
        return {
            "tolerance_s": self.options.tolerance_s,
            "calls": self.calls,
            "languages": dict(self.languages),
            "missing_results": self.missing_results,
            "unlabelled_results": self.unlabelled_results,
            "language_mismatch": [
                {"call": c, "truth": t, "result": r} for c, t, r in self.language_mismatch
            ],
            "overall": summary_dict(self.overall),
            "groups": {
                key: {value: summary_dict(tallies) for value, tallies in sorted(values.items())}
                for key, values in self.groups.items()
            },
            "errors": [m.__dict__ for m in self.mismatches],
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def micro(tallies: dict[str, Tally]) -> Tally:
    """All categories' counts summed: dominated by the frequent categories."""
    total = Tally()
    for t in tallies.values():
        total.add(t)
    return total


def macro_f1(tallies: dict[str, Tally]) -> float | None:
    """Mean F1 of the categories that had something to find or were predicted."""
    values = [t.f1 for t in tallies.values() if t.f1 is not None]
    return sum(values) / len(values) if values else None


def summary_dict(tallies: dict[str, Tally]) -> dict[str, Any]:
    total = micro(tallies)
    return {
        "categories": {c: t.as_dict() for c, t in sorted(tallies.items())},
        "micro": total.as_dict(),
        "macro_f1": _round(macro_f1(tallies)),
    }


# --------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------


