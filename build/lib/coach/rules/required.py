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

from typing import Any, ClassVar

from coach.contract import AGENT, Event, Utterance
from coach.nlp import Token, analyzer_for
from coach.rules.base import CALL, Hit, Rule, RuleContext
from coach.rules.matching import Doc, Phrase, compile_phrase, find_phrase


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
    """Fires once per call when the required phrases are missing from a part of the call.

    Fields: `part` (opening | closing), `require` (label -> phrases),
    `match` (all | any, default all), `turns` (default 1), `max_utterances`
    (default 3), `max_gap` (default 1), `fuzzy` (default true).
    """

    kind: ClassVar[str] = "required"
    level: ClassVar[str] = CALL
    KIND_FIELDS: ClassVar[set[str]] = {
        "part", "require", "match", "turns", "max_utterances", "max_gap", "fuzzy",
    }

    def __init__(self, data: dict[str, Any], ctx: RuleContext):
        super().__init__(data, ctx)
        r = self.reader
        self.part = r.str("part", choices=("opening", "closing"))
        self.match = r.str("match", default="all", choices=("all", "any"))
        self.turns = int(r.number("turns", 1, minimum=1))
        self.max_utterances = int(r.number("max_utterances", 3, minimum=1))
        self.max_gap = int(r.number("max_gap", 1, minimum=0))
        self.fuzzy = r.bool("fuzzy", True)
        require = data.get("require")
        if not isinstance(require, dict) or not require:
            raise r.fail("require", "must map a label to a list of phrases, e.g. "
                                    "{greeting: [здравствуйте, добрый день]}")
        analyzer = analyzer_for(self.language)
        self.require: dict[str, list[Phrase]] = {}
        for label, phrases in require.items():
            if isinstance(phrases, str):
                phrases = [phrases]
            if not isinstance(phrases, list) or not phrases or not all(
                isinstance(p, str) and p.strip() for p in phrases
            ):
                raise r.fail(f"require.{label}", "must be a list of non-empty phrases")
            self.require[str(label)] = [compile_phrase(p, analyzer) for p in phrases]

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
    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        if self.part != "opening" or state.facts.get(self.id) or not self._opening_over(
            state.utterances
        ):
            return []
        state.facts[self.id] = "decided"
        return self._judge(self.window(state.utterances[:-1]))

    def check_call(self, state: Any) -> list[Hit]:
        if state.facts.get(self.id):
            return []
        state.facts[self.id] = "decided"
        return self._judge(self.window(state.utterances))

    def _judge(self, window: list[Utterance]) -> list[Hit]:
        if not window:
            return []  # the agent never spoke: nothing to judge (and nothing to coach)
        analyzer = analyzer_for(self.language)
        docs = [Doc(analyzer.tokens(u.text), self.language) for u in window]
        found = {
            label: any(
                find_phrase(p, doc.words, self.max_gap, self.fuzzy, doc=doc)
                for p in phrases for doc in docs
            )
            for label, phrases in self.require.items()
        }
        missing = [label for label, ok in found.items() if not ok]
        ok = not missing if self.match == "all" else len(missing) < len(found)
        if ok:
            return []
        said = " ".join(u.text for u in window)
        return [Hit(text=said[:200], call_level=True, details={"missing": missing})]

    def event(self, hit: Hit, utt: Utterance | None, state: Any) -> Event:
        event = super().event(hit, utt, state)
        missing = ", ".join(hit.details.get("missing", []))
        event.message = event.message.replace("{missing}", missing)
        event.suggestion = event.suggestion.replace("{missing}", missing)
        return event
