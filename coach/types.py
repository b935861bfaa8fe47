"""Core data shared by every stage: words, utterances and events.

These are plain dataclasses so that the batch scorer, the live pipeline and
the report all speak the same language. `Event.to_dict` produces exactly the
per-call JSON contract of design.md (field names and order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AGENT = "agent"
CUSTOMER = "customer"
SPEAKERS = (AGENT, CUSTOMER)


@dataclass
class Word:
    """One recognised word with its time span in call seconds."""

    text: str
    start: float
    end: float
    probability: float = 1.0


@dataclass
class Utterance:
    """A stretch of speech by one speaker (a Whisper segment, or a live commit)."""

    speaker: str
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    final: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "speaker": self.speaker,
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "text": self.text,
        }


@dataclass
class Event:
    """A finding: which rule fired, on whom, when, and what to say instead.

    `start`/`end` are None for call-level findings (e.g. no greeting).
    """

    category: str
    rule: str
    speaker: str
    start: float | None
    end: float | None
    severity: str
    text: str
    message: str
    suggestion: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "category": self.category,
            "rule": self.rule,
            "speaker": self.speaker,
            "start": None if self.start is None else round(self.start, 2),
            "end": None if self.end is None else round(self.end, 2),
            "severity": self.severity,
            "text": self.text,
            "message": self.message,
            "suggestion": self.suggestion,
        }
        if self.details:
            out["details"] = self.details
        return out
