"""`kind: name`: ask for the customer's name, catch it, and use it.

The guidelines ask the agent to find out the customer's name ("Как я могу к
вам обращаться?") and then to address them by it. A name rule follows the
whole call:

* agent lines: did the agent ask (`ask_phrases`)? once the name is known,
  did the agent say it (its lemma, or one ASR slip away: "Олга")?
* customer lines: the name itself, caught after an `intro_phrases` phrase
  ("меня зовут", "это", "my name is"): a word pymorphy3 tags `Name`, a word
  from `names`/`names_file`, or — after an intro of two or more words as
  written, "меня зовут", "my name is" (not "it's") — any capitalised word
  ("My name is Siobhan"). A patronymic that follows is
  kept ("Ольга Петровна"). The first name caught becomes
  `CallState.customer_name`, which fills `{name}` in every rule's suggestion.

`check` picks what the rule reports (one category per rule):

* `asked` -> call-level finding when the agent never asked and the name never
  became known another way (the customer introduced themselves, or the agent
  already addressed them by name, as on outbound calls); calls shorter than
  `min_call_s` (default 30 s: a balance check, a wrong number) are exempt;
* `used` -> call-level finding when the name was known, the agent spoke
  afterwards, and never used it;
* `remind` -> live hint, polled through `Rulebook.check_time(state, now)`:
  the name is known, the agent has spoken since it was last used (or caught),
  and `after_s` seconds (default 60) have passed. At most one hint per
  `after_s`. Hints are not findings: batch scoring does not poll them.

Each name rule follows the call on its own (state under its id), so any of
them can be disabled or overridden alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from rapidfuzz.distance import Levenshtein

from coach.contract import AGENT, CUSTOMER, Utterance
from coach.errors import RuleError
from coach.nlp import Token, analyzer_for
from coach.rules.base import CALL, Hit, Rule, RuleContext, RuleSpec
from coach.rules.matching import Phrase, as_doc, compile_phrase, find_phrase
from coach.rules.spec import SpecError, spec_field
from coach.rules.text import read_text

PUNCT = ",.!?;:…—–-"


@dataclass(kw_only=True)
class NameSpec(RuleSpec):
    """Asking for the customer's name, catching it, using it (see the module docstring)."""

    check: Literal["asked", "used", "remind"] = spec_field("what the rule reports (one category per "
                                                           "rule), see the table above")
    ask_phrases: list[str] = spec_field("how the agent asks: \"как я могу к вам обращаться\", \"may I "
                                        "have your name\"", default=[], required_when=("check", "asked"),
                                        default_doc="required for asked")
    intro_phrases: list[str] = spec_field("what the customer says before their name: \"меня зовут\", "
                                          "\"это\", \"я\", \"my name is\"", min_items=1)
    agent_intro_phrases: list[str] = spec_field(
        "how the agent introduces themselves, besides `intro_phrases` (\"с вами говорит\", \"you're "
        "speaking with\"): their own name is not the customer's", default=[], default_doc="none")
    names: list[str] = spec_field("known first names", default=[], default_doc="none")
    names_file: str | None = spec_field("a UTF-8 text file next to the rule, one name a line "
                                        "(`#` comments)", default=None, default_doc="none")
    name_speaker: Literal["customer", "agent"] = spec_field("whose lines carry the name",
                                                            default=CUSTOMER)
    min_call_s: float = spec_field("asked: shorter calls (a balance check, a wrong number) are exempt",
                                   default=30, minimum=0)
    after_s: float = spec_field("remind: seconds without the name before a hint", default=60, minimum=1)


@dataclass
class _Seen:
    """What one name rule has learnt about the call so far."""

    name: str | None = None
    lemmas: frozenset[str] = frozenset()
    known_at: float | None = None
    asked: bool = False
    addressed: bool = False  # the agent called someone by name before any was caught
    uses: int = 0
    last_use: float | None = None
    agent_after: int = 0  # agent utterances after the name became known
    agent_since_use: int = 0  # ... since it was last used (or caught)
    hinted_at: float | None = None


class NameRule(Rule):
    """Name asked / used / reminded; see the module docstring."""

    kind: ClassVar[str] = "name"
    level: ClassVar[str] = CALL
    Spec: ClassVar[type[RuleSpec]] = NameSpec

    def __init__(self, spec: NameSpec, ctx: RuleContext):
        super().__init__(spec, ctx)
        self.check = spec.check
        analyzer = analyzer_for(self.language)
        self.analyzer = analyzer
        self.ask = [compile_phrase(p, analyzer) for p in spec.ask_phrases]
        intros = [compile_phrase(p, analyzer) for p in spec.intro_phrases]
        self.intros: list[Phrase] = sorted(intros, key=lambda p: -len(p.lemmas))
        self.agent_intros = self.intros + [compile_phrase(p, analyzer) for p in spec.agent_intro_phrases]
        self.names_path: Path | None = None
        names = [n.lower() for n in spec.names]
        if spec.names_file is not None:
            self.names_path = (ctx.file.parent / spec.names_file).resolve()
            try:
                lines = read_text(self.names_path).splitlines()
            except RuleError as exc:
                raise SpecError("names_file", str(exc)) from None
            names += [ln.strip().lower() for ln in lines if ln.strip() and not ln.startswith("#")]
        self.names = frozenset(names)
        self.name_speaker = spec.name_speaker
        self.min_call_s = spec.min_call_s
        self.after_s = spec.after_s

    def extra_files(self) -> list[Path]:
        return [self.names_path] if self.names_path else []

    def indexed_phrases(self) -> list[Phrase]:
        return self.ask + self.agent_intros

    # --- recognising names ------------------------------------------------------------
    def looks_like_name(self, tok: Token, strong: bool) -> bool:
        if not tok.text[:1].isalpha():
            return False
        if "Name" in tok.tags or tok.lower in self.names or tok.lemma in self.names:
            return True
        return strong and tok.text[:1].isupper() and tok.text.isalpha()

    def capture(self, tokens: list[Token]) -> tuple[str, frozenset[str]] | None:
        """(name as it should be written, forms that count as using it), or None."""
        doc = as_doc(tokens)
        words = doc.words
        for phrase in self.intros:
            strong = len(phrase.text.split()) >= 2  # "my name is", not "it's"/"I'm": 2 tokens, 1 word
            for _, end in find_phrase(phrase, words, 0, True, doc=doc):
                if end + 1 >= len(words) or not self.looks_like_name(words[end + 1], strong):
                    continue
                tok = words[end + 1]
                name = tok.lemma if "Name" in tok.tags else tok.lower
                parts, forms = [name[:1].upper() + name[1:]], {tok.lemma, tok.lower}
                if end + 2 < len(words) and "Patr" in words[end + 2].tags:
                    patr = words[end + 2]
                    parts.append(patr.text[:1].upper() + patr.text[1:].lower())
                    forms |= {patr.lemma, patr.lower}
                return " ".join(parts), frozenset(forms)
        return None

    def says_name(self, tokens: list[Token], forms: frozenset[str]) -> bool:
        """The name in any case, or one ASR slip away ("Олга"), but not as a prefix of a word."""
        long_forms = [f for f in forms if len(f) >= 4]
        for w in as_doc(tokens).words:
            if w.lemma in forms or w.lower in forms:
                return True
            if len(w.lower) >= 4 and any(
                abs(len(w.lower) - len(f)) <= 1 and Levenshtein.distance(w.lower, f, score_cutoff=1) <= 1
                for f in long_forms
            ):
                return True
        return False

    def addresses_someone(self, utt: Utterance, tokens: list[Token]) -> bool:
        """The agent calls someone by a name ("Ольга Петровна, здравствуйте"), not their own."""
        doc = as_doc(tokens)
        words = doc.words
        after_intro = {
            end + 1 for p in self.agent_intros for _, end in find_phrase(p, words, 0, True, doc=doc)
        }
        text = utt.text
        for i, w in enumerate(words):
            if i in after_intro or i - 1 in after_intro or not self.looks_like_name(w, False):
                continue
            before = text[: w.start_char].rstrip()
            after = text[w.end_char :].lstrip()
            if not before or before[-1] in PUNCT or not after or after[0] in PUNCT:
                return True
        return False

    # --- following the call -------------------------------------------------------------
    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        seen: _Seen = state.facts.setdefault(self.id, _Seen())
        if utt.speaker == self.name_speaker and seen.name is None:
            caught = self.capture(tokens)
            if caught:
                seen.name, seen.lemmas = caught
                seen.known_at = utt.end
                if state.customer_name is None:
                    state.customer_name = seen.name
        elif utt.speaker == AGENT:
            doc = as_doc(tokens)
            if self.ask and not seen.asked and any(
                find_phrase(p, doc.words, 2, True, doc=doc) for p in self.ask
            ):
                seen.asked = True
            if seen.name is not None:
                seen.agent_after += 1
                if self.says_name(doc, seen.lemmas):
                    seen.uses += 1
                    seen.last_use = utt.end
                    seen.agent_since_use = 0
                else:
                    seen.agent_since_use += 1
            elif not seen.addressed and self.check == "asked":
                seen.addressed = self.addresses_someone(utt, doc)
        return []

    def check_call(self, state: Any) -> list[Hit]:
        seen: _Seen = state.facts.get(self.id) or _Seen()
        if self.check == "asked":
            agent = [u for u in state.utterances if u.speaker == AGENT]
            duration = state.duration_s or (state.utterances[-1].end if state.utterances else 0)
            if agent and not (seen.asked or seen.name or seen.addressed) and (
                duration >= self.min_call_s
            ):
                return [Hit(call_level=True)]
        elif self.check == "used":
            if seen.name and seen.agent_after and not seen.uses:
                return [Hit(text=seen.name, call_level=True)]
        return []

    def check_time(self, state: Any, now: float) -> list[Hit]:
        if self.check != "remind":
            return []
        seen: _Seen | None = state.facts.get(self.id)
        if seen is None or seen.name is None or not seen.agent_since_use:
            return []
        since = seen.last_use if seen.last_use is not None else seen.known_at
        if since is None or now - since < self.after_s:
            return []
        if seen.hinted_at is not None and seen.hinted_at >= since and (
            now - seen.hinted_at < self.after_s
        ):
            return []
        seen.hinted_at = now
        return [Hit(text=seen.name, at=now,
                    details={"hint": True, "since_s": round(now - since, 1)})]
