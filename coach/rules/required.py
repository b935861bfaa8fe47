"""`kind: required`: something the agent must say in a part of the call.

The opening must greet and introduce ("Здравствуйте! Компания Телеком, меня
зовут Алексей") -> `no_greeting`; the closing must thank or say goodbye
("Спасибо за звонок! Всего доброго!") -> `no_closing`. Both are call-level
findings (start/end null), with the words the agent did say as `text`.

A part is counted in the agent's turns — a turn is the agent's utterances
between two customer utterances, however ASR split them — and capped in
utterances, because a mono recording has no customer turns to end one:

* `part: opening`: the agent's first `turns` turns (at most `max_utterances`);
* `part: closing`: the agent's last `turns` turns (at most `max_utterances`).

`require` maps a label to phrases (matched like `kind: phrase`, on lemmas and
ASR-tolerant); with `match: all` every label needs one of its phrases, with
`match: any` one label is enough. `{missing}` in the message lists the labels
not found.

The opening is decided as soon as the agent speaks past it, so live shows
`no_greeting` early; the closing can only be judged when the call ends.
Either way it is the same finding, so live and batch agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from coach.contract import AGENT, Utterance
from coach.nlp import Token, analyzer_for
from coach.rules.base import CALL, Hit, Rule, RuleContext, RuleSpec
from coach.rules.matching import Doc, Phrase, compile_phrase, find_phrase
from coach.rules.spec import SpecError, spec_field


@dataclass(kw_only=True)
class RequiredSpec(RuleSpec):
    """Something the agent must say in a part of the call (see the module docstring)."""

    PLACEHOLDERS: ClassVar[dict[str, str]] = {"missing": "the labels of `require` not found"}

    part: Literal["opening", "closing"] = spec_field("the part of the call")
    require: dict[str, list[str]] = spec_field(
        "label -> phrases; labels appear in `{missing}`",
        hint="map a label to a list of phrases, e.g. {greeting: [здравствуйте, добрый день]}")
    match: Literal["all", "any"] = spec_field("`all`: every label needs a phrase; `any`: one label is "
                                              "enough", default="all")
    min_parts: int | None = spec_field("how many labels must be found (overrides `match`): 2 of "
                                       "greeting, company, own name", default=None, minimum=1,
                                       default_doc="all labels for match all, 1 for any")
    must_have: list[str] = spec_field("labels that must be among those found (the greeting itself)",
                                      default=[], default_doc="none")
    turns: int = spec_field("the agent's first / last N turns", default=1, minimum=1)
    max_utterances: int = spec_field("at most this many utterances of them", default=3, minimum=1)
    max_gap: int = spec_field("as for phrase", default=1, minimum=0)
    fuzzy: bool = spec_field("as for phrase", default=True)


@dataclass
class _Part:
    """What the rule keeps of one call: decided yet, and the tokens of the utterances that may form
    the part (the speaker's first or last `max_utterances`), so judging reuses the rulebook's
    matching work instead of tokenising again."""

    decided: bool = False
    docs: list[tuple[Utterance, Doc]] = field(default_factory=list)
    done_at: float | None = None  # live checklist: when the part was satisfied (closing: so far)

    def doc_for(self, utt: Utterance) -> Doc | None:
        return next((doc for u, doc in self.docs if u is utt), None)


def agent_turns(utterances: list[Utterance], speaker: str = AGENT) -> list[list[Utterance]]:
    """The speaker's utterances grouped into turns (runs not broken by anyone else)."""
    turns: list[list[Utterance]] = []
    open_turn = False
    for utt in utterances:
        if utt.speaker == speaker:
            if open_turn:
                turns[-1].append(utt)
            else:
                turns.append([utt])
                open_turn = True
        else:
            open_turn = False
    return turns


class RequiredRule(Rule):
    """Fires once per call when the required phrases are missing from a part of the call."""

    kind: ClassVar[str] = "required"
    level: ClassVar[str] = CALL
    Spec: ClassVar[type[RuleSpec]] = RequiredSpec
    can_checklist: ClassVar[bool] = True

    def __init__(self, spec: RequiredSpec, ctx: RuleContext):
        super().__init__(spec, ctx)
        self.part = spec.part
        self.match = spec.match
        self.turns = spec.turns
        self.max_utterances = spec.max_utterances
        self.max_gap = spec.max_gap
        self.fuzzy = spec.fuzzy
        analyzer = analyzer_for(self.language)
        self.require: dict[str, list[Phrase]] = {
            label: [compile_phrase(p, analyzer) for p in phrases] for label, phrases in spec.require.items()
        }
        unknown = [label for label in spec.must_have if label not in self.require]
        if unknown:
            raise SpecError("must_have", f"'{unknown[0]}' is not a label of require "
                                         f"({', '.join(self.require)})")
        self.must_have = list(spec.must_have)
        if spec.min_parts is not None:
            if spec.min_parts > len(self.require):
                raise SpecError("min_parts", f"must be at most the number of labels ({len(self.require)}), "
                                             f"got {spec.min_parts}")
            self.min_parts = spec.min_parts
        else:
            self.min_parts = len(self.require) if spec.match == "all" else 1

    # --- which utterances make the part ------------------------------------------------
    def window(self, utterances: list[Utterance]) -> list[Utterance]:
        speaker = AGENT if self.speaker == "any" else self.speaker
        turns = agent_turns(utterances, speaker)
        if self.part == "opening":
            return [u for turn in turns[: self.turns] for u in turn][: self.max_utterances]
        picked = [u for turn in turns[-self.turns :] for u in turn]
        return picked[-self.max_utterances :]

    def _opening_over(self, utterances: list[Utterance]) -> bool:
        """True once the newest utterance is the speaker's and lies beyond the opening."""
        speaker = AGENT if self.speaker == "any" else self.speaker
        if not utterances or utterances[-1].speaker != speaker:
            return False
        return all(u is not utterances[-1] for u in self.window(utterances))

    # --- checks -------------------------------------------------------------------------
    def indexed_phrases(self) -> list[Phrase]:
        return [p for phrases in self.require.values() for p in phrases]

    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        part: _Part = state.facts.setdefault(self.id, _Part())
        if part.decided:
            return []
        speaker = AGENT if self.speaker == "any" else self.speaker
        if utt.speaker == speaker and isinstance(tokens, Doc):
            if self.part == "closing":
                part.docs = [*part.docs, (utt, tokens)][-self.max_utterances :]
            elif len(part.docs) < self.max_utterances:
                part.docs.append((utt, tokens))
            if self.checklist and (self.part == "closing" or part.done_at is None):
                self._tick(state, part, utt)
        if self.part != "opening" or not self._opening_over(state.utterances):
            return []
        part.decided = True
        return self._judge(self.window(state.utterances[:-1]), part)

    def check_call(self, state: Any) -> list[Hit]:
        part: _Part = state.facts.setdefault(self.id, _Part())
        if part.decided:
            return []
        part.decided = True
        return self._judge(self.window(state.utterances), part)

    def _judge(self, window: list[Utterance], part: _Part) -> list[Hit]:
        if not window:
            return []  # the agent never spoke: nothing to judge (and nothing to coach)
        missing = self._missing(window, part)
        if missing is None:
            return []
        said = " ".join(u.text for u in window)
        return [Hit(text=said[:200], call_level=True, details={"missing": missing})]

    def _missing(self, window: list[Utterance], part: _Part) -> list[str] | None:
        """The labels not found, or None when the part satisfies the rule."""
        analyzer = analyzer_for(self.language)
        docs = [part.doc_for(u) or Doc(analyzer.tokens(u.text)) for u in window]
        found = {
            label: any(
                find_phrase(p, doc.words, self.max_gap, self.fuzzy, doc=doc)
                for p in phrases for doc in docs
            )
            for label, phrases in self.require.items()
        }
        missing = [label for label, ok in found.items() if not ok]
        enough = len(found) - len(missing) >= self.min_parts
        if enough and not any(label in missing for label in self.must_have):
            return None
        return missing

    def _tick(self, state: Any, part: _Part, utt: Utterance) -> None:
        """Live checklist: is the part satisfied by what the agent has said so far?"""
        window = self.window(state.utterances)
        if not any(u is utt for u in window):
            if self.part == "closing":
                part.done_at = None  # the agent spoke on: the closing is still to come
            return
        if self._missing(window, part) is None:
            if part.done_at is None:
                part.done_at = utt.end
        elif self.part == "closing":
            part.done_at = None

    def checklist_done(self, state: Any) -> float | None:
        part: _Part | None = state.facts.get(self.id)
        return part.done_at if part is not None else None

    def phase(self) -> int:
        return 0 if self.part == "opening" else 9

    def values(self, hit: Hit) -> dict[str, str]:
        return {"missing": ", ".join(hit.details.get("missing", []))}
