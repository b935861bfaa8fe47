"""The contracts other tools read, in one place: words, utterances, events, the per-call
result, error rows and the websocket messages.

Every writer and reader in coach goes through these types, so the JSON on disk
and on the wire is built once and parsed once. The rule for change is the
contract's own: keys are only ever added. `CallResult.from_dict` keeps keys it
does not know in `extra`, so a result written by a newer coach survives a
round trip through an older one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

AGENT = "agent"
CUSTOMER = "customer"
SPEAKERS = (AGENT, CUSTOMER)


class Severity(StrEnum):
    """How bad a finding is; one scale for rules and analyzers, mildest first."""

    INFO = "info"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info .. 3 for critical: sort worst first with `-rank`."""
        return list(Severity).index(self)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(s.value for s in cls)

    @classmethod
    def rank_of(cls, value: str | None) -> int:
        """Rank of a severity string from a file; unknown values rank below info."""
        try:
            return cls(value).rank
        except ValueError:
            return -1


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Utterance:
        return cls(
            speaker=str(data.get("speaker", AGENT)),
            start=float(data.get("start") or 0.0),
            end=float(data.get("end") or 0.0),
            text=str(data.get("text", "")),
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass
class Event:
    """A finding: which rule fired, on whom, when, and what to say instead.

    `start`/`end` are None for call-level findings (e.g. no greeting).
    `details` holds the figure or the words behind it (an added key).
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

    @property
    def call_level(self) -> bool:
        return self.start is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "category": self.category,
            "rule": self.rule,
            "speaker": self.speaker,
            "start": _round(self.start),
            "end": _round(self.end),
            "severity": str(self.severity),
            "text": self.text,
            "message": self.message,
            "suggestion": self.suggestion,
        }
        if self.details:
            out["details"] = self.details
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        def time(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            category=str(data.get("category", "")),
            rule=str(data.get("rule", "")),
            speaker=str(data.get("speaker", AGENT)),
            start=time("start"),
            end=time("end"),
            severity=str(data.get("severity", Severity.INFO.value)),
            text=str(data.get("text") or ""),
            message=str(data.get("message") or ""),
            suggestion=str(data.get("suggestion") or ""),
            details=dict(data.get("details") or {}),
        )


def event_order(event: Event) -> tuple:
    """Time order with call-level findings last, as the per-call JSON lists them."""
    return (event.start is None, event.start if event.start is not None else 0.0, event.rule)


# Keys of the per-call result in the order they are written: the contract's keys first.
CONTRACT_KEYS = ("call", "duration_s", "language", "channels", "model", "transcript", "events",
                 "metrics", "score")


@dataclass
class CallResult:
    """The per-call result (`OUT/<stem>.json`): the contract of docs/contracts.md plus added keys.

    The contract keys are fields; everything added since (fingerprint, notes,
    activity, meta, ...) is in `extra`, written after them in insertion order.
    """

    call: str
    duration_s: float
    language: str
    channels: dict[str, int]
    model: dict[str, Any]
    transcript: list[Utterance]
    events: list[Event]
    metrics: dict[str, Any]
    score: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """An added key (`fingerprint`, `notes`, `meta`...), or `default`."""
        return self.extra.get(key, default)

    @property
    def fingerprint(self) -> str | None:
        return self.extra.get("fingerprint")

    @property
    def total_score(self) -> float | None:
        return self.score.get("total")

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.extra.get("meta") or {})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "call": self.call,
            "duration_s": round(self.duration_s, 2),
            "language": self.language,
            "channels": self.channels,
            "model": self.model,
            "transcript": [u.to_dict() for u in self.transcript],
            "events": [e.to_dict() for e in self.events],
            "metrics": _finite(self.metrics),
            "score": self.score,
        }
        for key, value in self.extra.items():
            if key not in out:
                out[key] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallResult:
        if not isinstance(data, dict) or "call" not in data:
            raise ValueError("not a coach per-call result (no 'call' key)")
        return cls(
            call=str(data["call"]),
            duration_s=float(data.get("duration_s") or 0.0),
            language=str(data.get("language") or ""),
            channels=dict(data.get("channels") or {}),
            model=dict(data.get("model") or {}),
            transcript=[Utterance.from_dict(u) for u in data.get("transcript") or []],
            events=[Event.from_dict(e) for e in data.get("events") or []],
            metrics=dict(data.get("metrics") or {}),
            score=dict(data.get("score") or {}),
            extra={k: v for k, v in data.items() if k not in CONTRACT_KEYS},
        )

    @classmethod
    def load(cls, path: Path) -> CallResult:
        """Read one result file; ValueError (with the path) when it is not one."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: cannot read a coach result: {exc}") from exc


def _finite(metrics: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities are not JSON: a metric that could not be measured is null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


@dataclass
class ErrorRow:
    """One line of `OUT/errors.jsonl`: an input that could not be scored, and why."""

    call: str
    error: str
    time: str

    def to_json(self) -> str:
        return json.dumps({"call": self.call, "error": self.error, "time": self.time},
                          ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorRow:
        return cls(call=str(data.get("call", "")), error=str(data.get("error", "")),
                   time=str(data.get("time", "")))


# --- websocket messages (docs/contracts.md, "Websocket messages") -----------------------------
def session_message(language: str, t0: float, speed: float, **info: Any) -> dict[str, Any]:
    """The first message of a call: `t0` is the unix time of audio t=0."""
    return {"type": "session", "language": language, "t0": t0, "speed": speed, **info}


def transcript_message(utt: Utterance) -> dict[str, Any]:
    return {"type": "transcript", **utt.to_dict(), "final": utt.final}


def event_message(event: Event, emitted_at: float, hint: bool = False, **extra: Any) -> dict[str, Any]:
    """A finding as it is pushed; `hint` marks live-only advice that is not a finding."""
    msg = {"type": "event", **event.to_dict(), "emitted_at": emitted_at, **extra}
    if hint:
        msg["hint"] = True
    return msg


def metrics_message(metrics: dict[str, Any], **figures: Any) -> dict[str, Any]:
    return {"type": "metrics", **_finite(metrics), **figures}


def status_message(source: str, state: str, message: str = "", **extra: Any) -> dict[str, Any]:
    """Something about the machinery, not the call: a device lost, the pipeline stopped."""
    return {"type": "status", "source": source, "state": state, "message": message, **extra}


def end_message(duration_s: float, events: int, **extra: Any) -> dict[str, Any]:
    return {"type": "end", "duration_s": round(duration_s, 2), "events": events, **extra}


def call_message(state: str, **info: Any) -> dict[str, Any]:
    """Where the desk is between calls: `state` is "idle" (no call: waiting for speech, the
    button or the API), "starting" or "ending"; `info` carries `language`, `reason`, the
    call's `call_id`/`agent` and, once ended, where its result was `saved`."""
    return {"type": "call", "state": state, **info}


def feedback_message(rule: str, start: float | None, at: float, **extra: Any) -> dict[str, Any]:
    """An agent's "not helpful" on a card, as stored with the call's result (`feedback`)."""
    return {"type": "feedback", "rule": rule, "start": _round(start), "at": round(at, 3), **extra}


def checklist_message(items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """The call's required steps (greeting, name asked, name used, closing), sent when one is
    ticked or unticked: `items` are `{"id", "label", "done", "at"}` in call order, labels in the
    call's language; `done`/`total` count them for a compact display."""
    done = sum(1 for item in items if item.get("done"))
    return {"type": "checklist", "items": items, "done": done, "total": len(items), **extra}


def cue_message(event: Event, emitted_at: float, **extra: Any) -> dict[str, Any]:
    """Live advice that is not a finding (never in the result's events, never scored):
    `cue` is "positive" (a recommended phrase was used: praise) or "prompt" (the customer is
    angry or complains: `suggestion` is the phrase to say first). The event's fields as in an
    `event` message."""
    cue = str(event.details.get("cue") or "positive")
    return {"type": "cue", "cue": cue, **event.to_dict(), "emitted_at": emitted_at, **extra}


def name_message(name: str | None, confirmed: bool, set_: bool = False, **extra: Any) -> dict[str, Any]:
    """What the call knows of the customer's name: `confirmed` (fit for suggestions) or only
    heard (ASR garbles names: the overlay offers a correction); `set` when a person gave it
    (the overlay's correction, the API)."""
    return {"type": "name", "name": name, "confirmed": bool(confirmed), "set": bool(set_), **extra}
