"""The rule model shared by every kind: the common spec, examples, and how a hit becomes an Event.

A rule file is YAML; `RuleSpec` below declares the fields every rule has,
and each kind's spec (a subclass) adds its own. The loader decodes a file
into the kind's spec with `coach.rules.spec.decode`, so validation errors
name the file, the rule and the field: the people editing these files are
QA leads, not programmers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from coach.contract import AGENT, Event, Utterance, Word
from coach.errors import RuleError
from coach.nlp import Token
from coach.rules.matching import Phrase
from coach.rules.spec import SpecError, check_placeholders, decode, spec_field

LINE, CALL = "line", "call"
SeverityName = Literal["info", "minor", "major", "critical"]  # Severity.names(); a test keeps them equal
SpeakerName = Literal["agent", "customer", "any"]
PAUSE = "pause"


@dataclass(frozen=True)
class Example:
    """One example: a line said by the rule's speaker, or a short dialogue.

    A match example may also say what the finding must be: `span`, the words
    it points at (as the event's `text` shows them: lower case, no end
    punctuation), and `suggestion`, the suggestion as rendered (name filled in).
    """

    text: str | tuple[str, ...]
    span: str | None = None
    suggestion: str | None = None

    DOC_TYPE: ClassVar[str] = "list"
    SHAPE: ClassVar[str] = ("each example is a sentence, a list of 'agent: ...'/'customer: ...'/"
                            "'pause: N' lines, or {text: ..., span: ..., suggestion: ...}")

    @property
    def shown(self) -> str:
        return self.text if isinstance(self.text, str) else " / ".join(self.text)

    @classmethod
    def decode(cls, value: Any, name: str) -> Example:
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"text", "span", "suggestion"})
            if unknown:
                raise SpecError(name, f"unknown key '{unknown[0]}' in an example (allowed: text, span, "
                                      "suggestion)")
            if value.get("text") is None:
                raise SpecError(name, "an example mapping needs 'text'")
            inner = cls.decode(value["text"], name)
            for key in ("span", "suggestion"):
                if key in value and not (isinstance(value[key], str) and value[key].strip()):
                    raise SpecError(name, f"'{key}' must be a non-empty text")
            return cls(inner.text, value.get("span"), value.get("suggestion"))
        if isinstance(value, str) and value.strip():
            return cls(value)
        if isinstance(value, list) and value and all(isinstance(x, str) for x in value):
            for line in value:
                head, _, rest = line.partition(":")
                if head.strip() == PAUSE and not _is_seconds(rest):
                    raise SpecError(name, f"'{line}': a pause needs seconds, e.g. 'pause: 40'")
            return cls(tuple(value))
        raise SpecError(name, cls.SHAPE)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        line = {"type": "string", "pattern": r"\S"}
        dialogue = {"type": "array", "minItems": 1, "items": {"type": "string"},
                    "description": "a dialogue: 'agent: ...', 'customer: ...', 'pause: N' lines"}
        return {"anyOf": [
            {**line, "description": "a sentence said by the rule's speaker"},
            dialogue,
            {"type": "object", "required": ["text"], "additionalProperties": False,
             "description": "an example with the finding it must give",
             "properties": {
                 "text": {"anyOf": [line, dialogue]},
                 "span": {**line, "description": "the words the finding points at (lower case)"},
                 "suggestion": {**line, "description": "the suggestion as rendered"},
             }},
        ]}


@dataclass(kw_only=True)
class Examples:
    """`examples: {match: [...], no_match: [...]}`: the rule's own tests."""

    match: list[Example] = spec_field("examples that must make the rule fire", min_items=1)
    no_match: list[Example] = spec_field("examples that must not", min_items=1)

    def validate(self) -> None:
        for example in self.no_match:
            if example.span or example.suggestion:
                raise SpecError("examples.no_match", f"'{example.shown}': span and suggestion belong "
                                                     "to match examples")


@dataclass(kw_only=True)
class RuleSpec:
    """The fields every rule has, whatever its kind."""

    PLACEHOLDERS: ClassVar[dict[str, str]] = {
        "name": "the customer's name once known (while unknown, the name and its comma are left out)",
    }

    id: str = spec_field("unique name, `<lang>.<group>.<name>` by convention")
    kind: str = spec_field("the check, see [Kinds](#kinds)")
    category: str = spec_field("what the finding counts as in the per-call JSON and the scorecard; "
                               "new categories are allowed")
    speaker: SpeakerName = spec_field("whose speech the rule judges; a customer line never makes an "
                                      "agent finding", default=AGENT)
    severity: SeverityName = spec_field("how bad a finding is")
    message: str = spec_field("what is wrong, shown to the agent and QA", template=True)
    suggestion: str = spec_field("**a concrete phrase the agent can say instead**", default="",
                                 template=True, default_doc="none")
    fallback_suggestion: str = spec_field(
        "shown instead of `suggestion` when the kind cannot make its rewrite of the agent's words "
        "readable (cut off, over 10 words, or words the dictionary does not know: ASR garble)",
        default="", template=True, default_doc="none")
    examples: Examples = spec_field("the rule's own tests, see [Examples](#examples)",
                                    hint="{match: [...], no_match: [...]}")
    early: bool | None = spec_field(
        "live: also check the words of an utterance still being spoken, for a hint before it ends; "
        "only kinds that decide on one utterance alone (phrase, negative, diminutive) can",
        default=None, default_doc="true for phrase, negative, diminutive; false otherwise")
    source: str = spec_field("where the rule comes from (guideline, line)", default="",
                             default_doc="none")
    description: str = spec_field("free text for the people who maintain the rule", default="",
                                  default_doc="none")
    language: str | None = spec_field("the language its phrases are written in", default=None,
                                      default_doc="the pack's folder")
    disabled: bool = spec_field("`true` (with just an `id`) switches a rule of an earlier folder off",
                                default=False)
    checklist: str | None = spec_field(
        "a label for the live checklist of the call's required steps (\"Приветствие\"): the step is "
        "done once the rule is satisfied; kinds required and name only", default=None, default_doc="none")
    cue: Literal["positive", "prompt"] | None = spec_field(
        "makes the rule a cue, not a finding: `positive` for a recommended phrase the agent said "
        "(\"Правильно ли я понимаю...\"), `prompt` for customer words the agent should answer (its "
        "suggestion is the answer); cues come from `Rulebook.cues`, never from `check_utterance`; "
        "kind phrase only", default=None, default_doc="none (a finding)")

    @classmethod
    def placeholders(cls) -> dict[str, str]:
        """Every {placeholder} this kind fills in (the common ones and the kind's own)."""
        out: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            out.update(vars(klass).get("PLACEHOLDERS", {}))
        return out


@dataclass
class Hit:
    """A rule firing on a span of tokens (line level) or on the whole call (span None).

    `utterance` names the utterance the tokens belong to when it is not the one
    being checked (a filler rate crossed now reports earlier fillers too);
    `span` gives start/end directly when the finding covers words of several
    utterances (a filler episode); `call_level` makes a call-level finding
    (start/end null) even when it is decided during the call; `at` places a
    live hint at a moment in time.
    """

    tokens: list[Token] | None = None
    text: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    utterance: Utterance | None = None
    span: tuple[float, float] | None = None
    call_level: bool = False
    at: float | None = None
    judged_on: list[Utterance] | None = None  # a call-level finding's utterances (the opening)
    tentative: bool = False  # stands only if a second reading makes it (never made from text alone)
    # exact finds of the same rule this find displaced (it is longer, read with a slip): they stand
    # in its place if the audio rejects it ("just relax" under a slipped "needs to relax")
    beneath: list[Hit] = field(default_factory=list)


@dataclass
class RuleContext:
    """Where a rule came from, for error messages and `coach rules explain`."""

    file: Path
    language: str


class Rule:
    """Base of every rule kind. Subclasses set `kind`, `Spec`, `level` and implement a check.

    `can_run_early` marks kinds whose `check_utterance` reads nothing but the
    utterance (no call state written or read besides the customer's name), so
    `Rulebook.preview` may run them on a partial utterance.
    """

    kind: ClassVar[str] = ""
    level: ClassVar[str] = LINE
    Spec: ClassVar[type[RuleSpec]] = RuleSpec
    can_run_early: ClassVar[bool] = False
    can_checklist: ClassVar[bool] = False  # kinds that can say when a required step was done
    can_cue: ClassVar[bool] = False
    sees_every_speaker: ClassVar[bool] = False  # line rules that follow turns (filler episodes)
    yields_to: frozenset[str] = frozenset()  # rule ids whose finding in the sentence speaks for this one
    yields_nearby: bool = False  # ... or anywhere in the line, or just before (a companion phrase)

    def __init__(self, spec: RuleSpec, ctx: RuleContext):
        self.spec = spec
        self.ctx = ctx
        self.id = spec.id
        self.category = spec.category
        self.speaker = spec.speaker
        self.severity = spec.severity
        self.message = spec.message
        self.suggestion = spec.suggestion
        self.fallback_suggestion = spec.fallback_suggestion
        self.source = spec.source
        self.language = spec.language or ctx.language
        self.examples: dict[str, list[Example]] = {
            "match": spec.examples.match, "no_match": spec.examples.no_match,
        }
        if spec.early and not self.can_run_early:
            raise SpecError("early", f"kind '{self.kind}' cannot run early: it needs more than the "
                                     "words of one utterance")
        self.early = self.can_run_early if spec.early is None else spec.early
        self.checklist = spec.checklist
        if spec.checklist and not self.can_checklist:
            raise SpecError("checklist", f"kind '{self.kind}' has no step to tick off "
                                         "(kinds: required, name)")
        self.cue = spec.cue
        if spec.cue and not self.can_cue:
            raise SpecError("cue", f"kind '{self.kind}' cannot be a cue (kind: phrase)")

    @classmethod
    def from_data(cls, data: dict[str, Any], ctx: RuleContext) -> Rule:
        """Decode and validate one rule mapping; any problem is a RuleError naming file, rule, field."""
        try:
            spec = decode(cls.Spec, data)
            check_placeholders(spec, cls.Spec.placeholders())
            return cls(spec, ctx)
        except SpecError as exc:
            rule_id = data.get("id", "?") if isinstance(data, dict) else "?"
            raise RuleError(f"{ctx.file}: rule '{rule_id}', {exc}") from None

    def require_fallback(self, *placeholders: str) -> None:
        """A suggestion built from the agent's words needs a fallback for when they cannot be used."""
        used = [name for name in placeholders if "{" + name + "}" in self.suggestion]
        if used and not self.fallback_suggestion:
            raise SpecError("fallback_suggestion", f"is required when the suggestion uses {{{used[0]}}} "
                                                   "(shown when the words cannot be rewritten well)")

    def applies_to(self, speaker: str) -> bool:
        return self.speaker == "any" or self.speaker == speaker

    def use_fillers(self, fillers: tuple[Rule, ...]) -> None:
        """The rulebook's filler rules, given to every rule once the rulebook is built; kinds that
        match phrases read a line without its fillers too (`Doc.without_fillers`)."""

    # --- checks: override one or both -------------------------------------------------
    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        return []

    def check_call(self, state: Any) -> list[Hit]:
        return []

    def check_time(self, state: Any, now: float) -> list[Hit]:
        """Live hints that depend on time passing, not on a new utterance (polled)."""
        return []

    def checklist_done(self, state: Any) -> float | None:
        """For a checklist step: the call time it was done at, or None while it is not done."""
        return None

    checklist_phase: ClassVar[int] = 5  # where the step stands in a call (opening 0 ... closing 9)

    def phase(self) -> int:
        return self.checklist_phase

    def live_count(self, state: Any) -> int | None:
        """How many occurrences this rule has counted in the call so far; None if it counts nothing."""
        return None

    def verification_candidates(self, utt: Utterance, tokens: list[Token], hits: list[Hit],
                                floor: float) -> list[Any]:
        """Finds for the audio to settle (coach.rules.candidates): none for most kinds."""
        return []

    rereads_lines: ClassVar[bool] = False  # judges single words: a line it asks about is read again too

    def wants_line_reread(self, utt: Utterance, tokens: list[Token], hits: list[Hit]) -> bool:
        """Whether this line should be read again on its own audio before its findings are made
        (rules with `rereads_lines`; all of them then judge the second reading too)."""
        return False

    def finding_key(self, hit: Hit) -> str:
        """What makes two findings of this rule on one line the same (the two readings of a line)."""
        return " ".join(t.lower for t in hit.tokens or [])

    def reread_spans(self, hit: Hit) -> tuple[str, list[tuple[float, float]]] | None:
        """(speaker, time spans) whose words, read again on the audio in a window of Whisper's
        own, could settle this finding (coach.verify.Verifier.reread); None: the text decides."""
        return None

    def after_reread(self, hit: Hit, text: str, state: Any, verify: Any = None) -> bool:
        """Whether the finding stands now that its spans read as `text` the second time; `verify`
        (`(utterance, candidates) -> verdicts`, coach.verify) lets a rule ask the audio too."""
        return True

    def hit_for(self, candidate: Any) -> Hit:
        """The Hit a near miss makes once the audio confirmed it (kinds that make near misses)."""
        raise NotImplementedError

    def beneath_candidate(self, utt: Utterance, hit: Hit) -> Any:
        """The candidate asking the audio about an exact find a rejected slip covered
        (`Hit.beneath`; kinds that set it)."""
        raise NotImplementedError

    def indexed_phrases(self) -> list[Phrase]:
        """Phrases matched per utterance, for the Rulebook's phrase index (a speed-up only)."""
        return []

    def phrase_gate(self) -> tuple[frozenset[Phrase], bool] | None:
        """(phrases, fuzzy) when `check_utterance` can find nothing on a line unless one of these
        (indexed) phrases is among the line's `Doc.candidates(fuzzy)`: the Rulebook then skips the
        rule on the other lines without calling it. None (the default): always called."""
        return None

    def extra_files(self) -> list[Path]:
        """Data files besides the rule's YAML (a names list): part of the rulebook fingerprint."""
        return []

    # --- turning hits into events ----------------------------------------------------------
    def values(self, hit: Hit) -> dict[str, str]:
        """The kind's own placeholder values for this hit ({positive}, {rate}...)."""
        return {}

    def suggestion_for(self, hit: Hit) -> str:
        """The rule's suggestion, or its fallback when the kind could not rewrite the words well."""
        if hit.details.get("fallback") and self.fallback_suggestion:
            return self.fallback_suggestion
        return self.suggestion

    def render(self, template: str, hit: Hit, state: Any) -> str:
        text = fill_name(template, getattr(state, "customer_name", None))
        for key, value in self.values(hit).items():
            text = text.replace("{" + key + "}", value)
        return text

    def event(self, hit: Hit, utt: Utterance | None, state: Any) -> Event:
        start = end = hit.at
        speaker = self.speaker if self.speaker != "any" else (utt.speaker if utt else AGENT)
        text = hit.text
        if utt is not None:
            speaker = utt.speaker
            if hit.span is not None:
                start, end = hit.span
            elif hit.tokens:
                words = words_for_tokens(utt, hit.tokens)
                if words:
                    start, end = words[0].start, words[-1].end
                    text = text or " ".join(w.text for w in words)
            if start is None:
                start, end = utt.start, utt.end
                text = text or utt.text
        details = hit.details
        if self.cue:
            details = {**details, "cue": self.cue}
        return Event(
            category=self.category,
            rule=self.id,
            speaker=speaker,
            start=start,
            end=end,
            severity=self.severity,
            text=clean_text(text),
            message=self.render(self.message, hit, state),
            suggestion=self.render(self.suggestion_for(hit), hit, state),
            details=details,
        )


def _is_seconds(text: str) -> bool:
    try:
        return float(text.strip().removesuffix("s").strip()) >= 0
    except ValueError:
        return False


def fill_name(template: str, name: str | None) -> str:
    """{name} -> the customer's name; without a known (confirmed) name '{name}, я помогу' -> 'Я
    помогу' and 'gave their name ({name}), but' -> 'gave their name, but' (no empty brackets)."""
    if "{name}" not in template:
        return template
    if name:
        return template.replace("{name}", name)
    text = template.replace(" ({name})", "").replace("({name})", "")
    text = text.replace(", {name}", "").replace("{name}, ", "").replace("{name}", "")
    text = " ".join(text.split())
    return text[:1].upper() + text[1:]


def clean_text(text: str) -> str:
    return " ".join(text.replace("\n", " ").split()).strip(" ,.!?;:").lower()


def char_spans(utt: Utterance) -> list[tuple[Word, int, int]]:
    """Each timed word with its character span in the utterance's text, found in order (a word
    the text does not hold, ASR's rare disagreement between the two, is left out)."""
    out, pos = [], 0
    for word in utt.words:
        at = utt.text.find(word.text, pos)
        if at < 0:
            continue
        pos = at + len(word.text)
        out.append((word, at, pos))
    return out


def words_for_tokens(utt: Utterance, tokens: list[Token]):
    """Map token character spans (in utt.text) back to the timed words they came from."""
    if not utt.words:
        return []
    lo, hi = tokens[0].start_char, tokens[-1].end_char
    return [word for word, start, end in char_spans(utt) if end > lo and start < hi]

