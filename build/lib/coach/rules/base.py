"""The rule model shared by every kind: common fields, validation, and how a hit becomes an Event.

A rule file is YAML with `id`, `kind`, `category`, `speaker`, `severity`,
`message`, `suggestion` and `examples: {match, no_match}`; each kind adds its
own fields. Validation errors name the file and the field, because the
people editing these files are QA leads, not programmers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from coach.contract import AGENT, CUSTOMER, Event, Severity, Utterance
from coach.errors import RuleError
from coach.nlp import Token

SEVERITIES = Severity.names()
SPEAKER_CHOICES = (AGENT, CUSTOMER, "any")
LINE, CALL = "line", "call"


@dataclass
class Hit:
    """A rule firing on a span of tokens (line level) or on the whole call (span None).

    `utterance` names the utterance the tokens belong to when it is not the one
    being checked (a filler rate crossed now reports earlier fillers too);
    `call_level` makes a call-level finding (start/end null) even when it is
    decided during the call; `at` places a live hint at a moment in time.
    """

    tokens: list[Token] | None = None
    text: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    utterance: Utterance | None = None
    call_level: bool = False
    at: float | None = None


@dataclass
class RuleContext:
    """Where a rule came from, for error messages and `coach rules explain`."""

    file: Path
    language: str


class FieldReader:
    """Reads typed fields from a rule's YAML mapping, raising RuleError(file, field)."""

    def __init__(self, data: dict[str, Any], file: Path):
        self.data = data
        self.file = file

    def fail(self, name: str, problem: str) -> RuleError:
        rule_id = self.data.get("id", "?")
        return RuleError(f"{self.file}: rule '{rule_id}', field '{name}': {problem}")

    def str(self, name: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self.data.get(name, default)
        if value is None:
            raise self.fail(name, "is required")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, "must be a non-empty string")
        if choices and value not in choices:
            raise self.fail(name, f"must be one of {', '.join(choices)}, got '{value}'")
        return value

    def str_list(self, name: str, required: bool = True) -> list[str]:
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.fail(name, "is required (a list of strings)")
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(name, "must be a list of non-empty strings")
        return value

    def number(self, name: str, default: float, minimum: float | None = None) -> float:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(name, f"must be a number, got {value!r}")
        if minimum is not None and value < minimum:
            raise self.fail(name, f"must be >= {minimum}, got {value}")
        return float(value)

    def bool(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, f"must be true or false, got {value!r}")
        return value


class Rule:
    """Base of every rule kind. Subclasses set `kind`, `level` and implement a check."""

    kind: ClassVar[str] = ""
    level: ClassVar[str] = LINE
    COMMON_FIELDS: ClassVar[set[str]] = {
        "id", "kind", "category", "speaker", "severity", "message", "suggestion",
        "examples", "source", "description", "disabled", "language",
    }
    KIND_FIELDS: ClassVar[set[str]] = set()

    def __init__(self, data: dict[str, Any], ctx: RuleContext):
        reader = FieldReader(data, ctx.file)
        self.reader = reader
        self.ctx = ctx
        # Unknown fields first: a typo ("mesage") is the likeliest cause of a missing field.
        unknown = set(data) - self.COMMON_FIELDS - self.KIND_FIELDS
        if unknown:
            allowed = ", ".join(sorted(self.COMMON_FIELDS | self.KIND_FIELDS))
            raise reader.fail(sorted(unknown)[0], f"unknown field (allowed: {allowed})")
        self.id = reader.str("id")
        self.category = reader.str("category")
        self.speaker = reader.str("speaker", default=AGENT, choices=SPEAKER_CHOICES)
        self.severity = reader.str("severity", choices=SEVERITIES)
        self.message = reader.str("message")
        self.suggestion = data.get("suggestion") or ""
        if not isinstance(self.suggestion, str):
            raise reader.fail("suggestion", "must be a string")
        self.source = data.get("source", "")
        self.language = data.get("language", ctx.language)
        self.examples = self._read_examples(data.get("examples"), reader)

    @staticmethod
    def _read_examples(value: Any, reader: FieldReader) -> dict[str, list]:
        if not isinstance(value, dict):
            raise reader.fail("examples", "is required: {match: [...], no_match: [...]}")
        out: dict[str, list] = {}
        for key in ("match", "no_match"):
            items = value.get(key)
            if not isinstance(items, list) or not items:
                raise reader.fail(f"examples.{key}", "needs at least one example")
            for item in items:
                ok = isinstance(item, str) or (
                    isinstance(item, list) and all(isinstance(x, str) for x in item)
                )
                if not ok:
                    raise reader.fail(
                        f"examples.{key}",
                        "each example is a sentence, or a list of 'agent: ...'/'customer: ...' lines",
                    )
                for line in item if isinstance(item, list) else []:
                    head, _, rest = line.partition(":")
                    if head.strip() == "pause" and not _is_seconds(rest):
                        raise reader.fail(f"examples.{key}", f"'{line}': a pause needs seconds, "
                                                             "e.g. 'pause: 40'")
            out[key] = items
        extra = set(value) - {"match", "no_match"}
        if extra:
            raise reader.fail("examples", f"unknown key '{sorted(extra)[0]}'")
        return out

    def applies_to(self, speaker: str) -> bool:
        return self.speaker == "any" or self.speaker == speaker

    # --- checks: override one or both -------------------------------------------------
    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        return []

    def check_call(self, state: Any) -> list[Hit]:
        return []

    def check_time(self, state: Any, now: float) -> list[Hit]:
        """Live hints that depend on time passing, not on a new utterance (polled)."""
        return []

    def extra_files(self) -> list[Path]:
        """Data files besides the rule's YAML (a names list): part of the rulebook fingerprint."""
        return []

    # --- turning hits into events ----------------------------------------------------------
    def format(self, template: str, state: Any) -> str:
        name = getattr(state, "customer_name", None)
        if "{name}" in template:
            return template.replace("{name}", name) if name else _drop_name(template)
        return template

    def event(self, hit: Hit, utt: Utterance | None, state: Any) -> Event:
        start = end = hit.at
        speaker = self.speaker if self.speaker != "any" else (utt.speaker if utt else AGENT)
        text = hit.text
        if utt is not None:
            speaker = utt.speaker
            if hit.tokens:
                words = words_for_tokens(utt, hit.tokens)
                if words:
                    start, end = words[0].start, words[-1].end
                    text = text or " ".join(w.text for w in words)
            if start is None:
                start, end = utt.start, utt.end
                text = text or utt.text
        return Event(
            category=self.category,
            rule=self.id,
            speaker=speaker,
            start=start,
            end=end,
            severity=self.severity,
            text=clean_text(text),
            message=self.format(self.message, state),
            suggestion=self.format(self.suggestion, state),
            details=hit.details,
        )


def _is_seconds(text: str) -> bool:
    try:
        return float(text.strip().removesuffix("s").strip()) >= 0
    except ValueError:
        return False


def _drop_name(template: str) -> str:
    """'{name}, я помогу' without a known name -> 'я помогу' (capitalised)."""
    text = template.replace(", {name}", "").replace("{name}, ", "").replace("{name}", "")
    text = " ".join(text.split())
    return text[:1].upper() + text[1:]


def clean_text(text: str) -> str:
    return " ".join(text.replace("\n", " ").split()).strip(" ,.!?;:").lower()


def words_for_tokens(utt: Utterance, tokens: list[Token]):
    """Map token character spans (in utt.text) back to the timed words they came from."""
    if not utt.words:
        return []
    lo, hi = tokens[0].start_char, tokens[-1].end_char
    out, pos = [], 0
    for word in utt.words:
        w_start = utt.text.find(word.text, pos)
        if w_start < 0:
            continue
        w_end = w_start + len(word.text)
        pos = w_end
        if w_end > lo and w_start < hi:
            out.append(word)
    return out
