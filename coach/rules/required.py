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
not found. A phrase may hold `{name}`: any first name the language's name
dictionary knows (pymorphy3 for Russian), not followed by a patronymic, so
"Турагентство «Компас», добрый день, Алина, слушаю вас" introduces Алина by
"{name} слушаю" even when ASR garbled the company ("Тура янстого компос"); a
name with a patronymic is the customer being addressed ("Добрый день, Игорь
Викторович").

The opening is decided as soon as the agent speaks past it, so live shows
`no_greeting` early; the closing can only be judged when the call ends.
Either way it is the same finding, so live and batch agree.

A phrase may also hold `{company}`: a word written capitalised inside a
sentence (not its first word) that is no first name, no surname or
patronymic after a name or title, no "I", and no word of the rule's own
phrases. Whisper capitalises the proper nouns it hears, and an opening's
proper noun that is not a person is who answers: "Good morning, Atlas
Logistics, how can I help?", "Добрый день, Энергосбыт, слушаю вас" name a
company no list of company words can hold. An outbound opening's "Hello, is
that Mr Harris?" or "Добрый день, Ирина Петровна" stays a greeting without
an introduction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from coach.contract import AGENT, Utterance
from coach.nlp import Token, analyzer_for
from coach.rules.base import CALL, Hit, Rule, RuleContext, RuleSpec
from coach.rules.matching import Doc, Phrase, compile_phrase
from coach.rules.names import NameBook, capitalised, read_names_file
from coach.rules.negative import has_morphology
from coach.rules.opening_heard import greeting_heard
from coach.rules.spec import SpecError, spec_field
from coach.rules.state import mostly_in

NAME = "{name}"
NAME_WORD = "xfirstnamex"  # what a first name becomes for the `{name}` phrases (no word of any language)
COMPANY = "{company}"
COMPANY_WORD = "xcompanyx"  # what a proper noun that is no person becomes for `{company}` phrases
PLACEHOLDERS = {NAME: NAME_WORD, COMPANY: COMPANY_WORD}
PERSON_TAGS = frozenset({"Name", "Surn", "Patr"})  # pymorphy3: a person, not who answers the phone
# Words Whisper capitalises after a comma that name nobody: "Да, Алло, слушаю", "Yes, Hello?"
NOT_PROPER = frozenset({"i", "алло", "ало", "алле", "да", "нет", "ну", "вот", "так", "пожалуйста", "спасибо",
                        "извините", "hello", "hi", "hey", "yes", "yeah", "yep", "no", "okay", "ok", "oh",
                        "well", "so", "right", "sorry", "please", "sure"})
FUNCTION_POS = frozenset({"INTJ", "PRCL", "CONJ", "PREP", "NPRO", "PRED"})  # pymorphy3: no proper noun
TITLES = frozenset({"mr", "mrs", "ms", "miss", "mister", "dr", "sir", "madam", "господин", "госпожа"})
SENTENCE_END = ".!?…"


@dataclass(kw_only=True)
class RequiredSpec(RuleSpec):
    """Something the agent must say in a part of the call (see the module docstring)."""

    PLACEHOLDERS: ClassVar[dict[str, str]] = {"missing": "the labels of `require` not found"}

    part: Literal["opening", "closing"] = spec_field("the part of the call")
    require: dict[str, list[str]] = spec_field(
        "label -> phrases; labels appear in `{missing}`; `{name}` in a phrase stands for a first name, "
        "`{company}` for a proper noun that names no person (see below)",
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
    exact: list[str] = spec_field(
        "phrases of `require` matched only as written, without ASR slips: Whisper's \"heather\" for "
        "\"Hi there\" is one letter from \"weather\"", default=[], default_doc="none")
    names_file: str | None = spec_field(
        "first names for `{name}` and for telling a person from a company in `{company}` (a UTF-8 file, "
        "one name a line, path relative to the rule); Russian has pymorphy3's names besides",
        default=None, default_doc="none")


@dataclass
class _Part:
    """What the rule keeps of one call: decided yet, and the tokens of the utterances that may form
    the part (the speaker's first or last `max_utterances`), so judging reuses the rulebook's
    matching work instead of tokenising again."""

    decided: bool = False
    docs: list[tuple[Utterance, Doc]] = field(default_factory=list)
    done_at: float | None = None  # live checklist: when the part was satisfied (closing: so far)

    def doc_for(self, utt: Utterance) -> Doc | None:
        for u, doc in self.docs:
            if u is utt:
                return doc
        return None


def part_of_call(utterances: list[Utterance], speaker: str, turns: int, limit: int,
                 closing: bool, elsewhere: list[tuple[float, float]] | None = None) -> list[Utterance]:
    """The speaker's first (or, `closing`, last) `turns` turns, at most `limit` utterances of them.

    A turn is a run of the speaker's utterances not broken by anyone else. A line said mostly
    `elsewhere` is someone else's (see `RequiredRule.window`). Read from the start
    (or the end) and stopped as soon as the part is complete: the closing is re-judged on every
    agent line live, and regrouping the whole call each time made a long call cost more per line.
    """
    picked: list[Utterance] = []
    count, in_turn = 0, False
    for utt in reversed(utterances) if closing else utterances:
        if utt.speaker != speaker or mostly_in(utt, elsewhere):
            in_turn = False
            continue
        if not in_turn:
            if count == turns:
                break
            count, in_turn = count + 1, True
        picked.append(utt)
        if len(picked) == limit:
            break
    return picked[::-1] if closing else picked


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
            label: [compile_phrase(p, analyzer) for p in phrases if not _placeholder(p)]
            for label, phrases in spec.require.items()
        }
        # `{name}` / `{company}` phrases: matched on a copy of the line whose first names read
        # NAME_WORD and whose other proper nouns read COMPANY_WORD
        self.named: list[tuple[str, Phrase]] = [
            (label, compile_phrase(_filled(p), analyzer))
            for label, phrases in spec.require.items() for p in phrases if _placeholder(p)]
        self.names_path, names = read_names_file(ctx.file, spec.names_file)
        self.book = NameBook.build(self.language, names, analyzer) if self.named else None
        self.own_words = frozenset(  # a capitalised "Thank" or "Добрый" is no company
            w.lower for phrases in spec.require.values() for p in phrases
            for w in analyzer.tokens(_filled(p)) if not w.is_punct)
        self._labels_of: dict[Phrase, list[str]] = {}
        for label, phrases in self.require.items():
            for phrase in phrases:
                self._labels_of.setdefault(phrase, []).append(label)
        listed = {p for phrases in spec.require.values() for p in phrases}
        stray = [p for p in spec.exact if p not in listed]
        if stray:
            raise SpecError("exact", f"'{stray[0]}' is not a phrase of require")
        exact = set(spec.exact)
        self.exact = frozenset(p for phrases in self.require.values() for p in phrases if p.text in exact)
        unknown = [label for label in spec.must_have if label not in self.require]
        if unknown:
            raise SpecError("must_have", f"'{unknown[0]}' is not a label of require "
                                         f"({', '.join(self.require)})")
        self.must_have = list(spec.must_have)
        self.morph = has_morphology(self.language)  # `greeting_heard` tells a garble by the dictionary
        if spec.min_parts is not None:
            if spec.min_parts > len(self.require):
                raise SpecError("min_parts", f"must be at most the number of labels ({len(self.require)}), "
                                             f"got {spec.min_parts}")
            self.min_parts = spec.min_parts
        else:
            self.min_parts = len(self.require) if spec.match == "all" else 1

    # --- which utterances make the part ------------------------------------------------
    def window(self, utterances: list[Utterance], elsewhere: list[tuple[float, float]] | None = None
               ) -> list[Utterance]:
        """The utterances that make the part. On a mono call judged one voice, the closing is the
        agent's last turn without the lines its doubted two-way split heard from the other voice
        (`CallState.elsewhere`): read as the agent's, the customer's last words ("и вам…") were the
        agent's closing, with no thanks in it. On the one-voice mono copies of held-out sets 19-27
        (30 calls) that removes 2 false "no closing" and loses nothing. The opening is left as
        read: cut the same way it gained 2 right "no greeting" and lost 2, where the doubted
        split had the roles the wrong way round or put the agent's first words in a line it
        gave the customer."""
        if self.part != "closing":
            elsewhere = None
        speaker = AGENT if self.speaker == "any" else self.speaker
        return part_of_call(utterances, speaker, self.turns, self.max_utterances, self.part == "closing",
                            elsewhere)

    def _opening_over(self, utterances: list[Utterance]) -> bool:
        """True once the newest utterance is the speaker's and lies beyond the opening."""
        speaker = AGENT if self.speaker == "any" else self.speaker
        if not utterances or utterances[-1].speaker != speaker:
            return False
        return all(u is not utterances[-1] for u in self.window(utterances))

    # --- checks -------------------------------------------------------------------------
    def indexed_phrases(self) -> list[Phrase]:
        return [p for phrases in self.require.values() for p in phrases]

    @staticmethod
    def _part(state: Any, rule_id: str) -> _Part:
        """The rule's record of the call (made on first use, not on every line)."""
        part = state.facts.get(rule_id)
        if part is None:
            part = state.facts[rule_id] = _Part()
        return part

    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        part = self._part(state, self.id)
        if part.decided:
            return []
        speaker = AGENT if self.speaker == "any" else self.speaker
        if utt.speaker == speaker and isinstance(tokens, Doc):
            if self.part == "closing":
                part.docs = [*part.docs, (utt, tokens)][-self.max_utterances :]
            elif len(part.docs) < self.max_utterances:
                part.docs.append((utt, tokens))
            if self.checklist and (self.part == "closing" or part.done_at is None) and (
                    self._may_change(part, tokens)):
                self._tick(state, part, utt)
        if self.part != "opening" or not self._opening_over(state.utterances):
            return []
        part.decided = True
        return self._judge(self.window(state.utterances[:-1]), part)

    def check_call(self, state: Any) -> list[Hit]:
        part = self._part(state, self.id)
        if part.decided:
            return []
        part.decided = True
        return self._judge(self.window(state.utterances, getattr(state, "elsewhere", None)), part)

    def _judge(self, window: list[Utterance], part: _Part) -> list[Hit]:
        if not window:
            return []  # the agent never spoke: nothing to judge (and nothing to coach)
        missing = self._missing(window, part)
        if missing is None:
            return []
        said = " ".join(u.text for u in window)
        return [Hit(text=said[:200], call_level=True, details={"missing": missing}, judged_on=window)]

    def reread_spans(self, hit: Hit) -> tuple[str, list[tuple[float, float]]] | None:
        """The part's own words, to be read again before the part is reported missing.

        The opening is the call's first words, and Whisper base reads a call's first words worst:
        a short segment encoded on its own, with nothing before it ("Hello, Skyway Airlines" came
        out "The law, skyweigh airlines" in three English corpus calls, "my name is Emma" "my name
        in Emma" on an 8 kHz one). Read again in a window of its own with the speech that
        follows, it reads "Hello" where that was said; what was not said (a bare "Yeah?",
        "Да, слушаю") stays absent.
        """
        if not hit.judged_on:
            return None
        speaker = AGENT if self.speaker == "any" else self.speaker
        return speaker, [(u.start, u.end) for u in hit.judged_on]

    def after_reread(self, hit: Hit, text: str, state: Any, verify: Any = None) -> bool:
        """A label counts when either reading says it: the part may still miss some (the message
        then lists fewer), or none, and the finding goes (the checklist ticks the step). A greeting
        (`must_have`) neither reading wrote is asked of the audio when the opening starts with a
        garble that reads like one (coach.rules.opening_heard)."""
        found = set(self.require) - set(hit.details.get("missing", []))
        found |= self._labels(Doc(analyzer_for(self.language).tokens(text)))
        if self.part == "opening" and self.morph and hit.judged_on:
            for label in self.must_have:  # the greeting an 8 kHz line garbled past both readings
                heard = None if label in found else greeting_heard(
                    self.id, self.language, hit.judged_on[0], self.require[label], verify)
                if heard is not None:
                    found.add(label)
                    hit.details["greeting_heard"] = heard
        missing = [label for label in self.require if label not in found]
        if len(found) >= self.min_parts and not any(label in missing for label in self.must_have):
            part = self._part(state, self.id)
            if part.done_at is None and hit.judged_on:
                part.done_at = hit.judged_on[-1].end
            return False
        hit.details["missing"] = missing
        return True

    def _missing(self, window: list[Utterance], part: _Part) -> list[str] | None:
        """The labels not found, or None when the part satisfies the rule."""
        said: set[str] = set()
        for utt in window:
            doc = part.doc_for(utt)
            if doc is None:
                doc = Doc(analyzer_for(self.language).tokens(utt.text))
            said |= self._labels(doc)
        missing = [label for label in self.require if label not in said]
        enough = len(self.require) - len(missing) >= self.min_parts
        if enough and not any(label in missing for label in self.must_have):
            return None
        return missing

    def _labels(self, doc: Doc) -> frozenset[str]:
        """The labels one utterance says. Kept on its Doc: the closing's window slides over the
        same utterances line after line, and each is matched once, not once per line."""
        labels = doc.memo.get(self)
        if labels is None:
            if doc.index is not None and self in doc.index.rules:  # only phrases the index lets through
                labels_of = self._labels_of
                phrases = [(p, label) for p in doc.candidates(self.fuzzy) for label in labels_of.get(p, ())]
            else:
                phrases = [(p, label) for label, ps in self.require.items() for p in ps]
            found = {label for p, label in phrases
                     if doc.find(p, self.max_gap, self.fuzzy and p not in self.exact)}
            if self.named and not {label for label, _ in self.named} <= found:
                found |= self._named_labels(doc)
            labels = doc.memo[self] = frozenset(found)
        return labels

    def _named_labels(self, doc: Doc) -> set[str]:
        """The labels of the `{name}` and `{company}` phrases: on the line's words with each first
        name (a dictionary name, capitalised if it is also a common word, no patronymic after it)
        read as NAME_WORD, and each other proper noun (see the module docstring) as COMPANY_WORD."""
        book = self.book
        assert book is not None
        words, named = doc.words, False
        starts = _sentence_starts(doc)
        tokens: list[Token] = []
        person = False  # the word before was a first name or a title: a surname follows
        for i, tok in enumerate(words):
            found = book.dictionary(tok.lower) if tok.text.isalpha() else None
            nxt = words[i + 1] if i + 1 < len(words) else None
            patronymic_next = nxt is not None and book.patronymic_shaped(nxt)
            if found is not None and (capitalised(tok) or not found[1]) and not patronymic_next:
                tokens.append(replace(tok, lower=NAME_WORD, lemma=NAME_WORD))
                named, person = True, True
                continue
            if self._proper(tok, id(tok) in starts, person or found is not None or patronymic_next):
                tokens.append(replace(tok, lower=COMPANY_WORD, lemma=COMPANY_WORD))
                named = True
            else:
                tokens.append(tok)
            person = found is not None or tok.lower.rstrip(".") in TITLES
        if not named:
            return set()
        copy = Doc(tokens)
        return {label for label, p in self.named if copy.find(p, self.max_gap, self.fuzzy)}

    def extra_files(self) -> list[Path]:
        return [self.names_path] if self.names_path else []

    def _proper(self, tok: Token, sentence_start: bool, person: bool) -> bool:
        """A proper noun that may name who answers: capitalised inside a sentence, alphabetic,
        no person's name or title, no word of the rule's own phrases."""
        return (not sentence_start and not person and capitalised(tok) and tok.text.isalpha()
                and len(tok.text) > 1 and tok.lower not in NOT_PROPER and tok.lower not in TITLES
                and tok.lower not in self.own_words
                and tok.lemma not in self.own_words and tok.pos not in FUNCTION_POS
                and not (tok.tags & PERSON_TAGS))

    def _may_change(self, part: _Part, doc: Doc) -> bool:
        """Whether this agent line can change the checklist step. A part not yet satisfied
        cannot become satisfied on a line that says none of its labels (the new window holds
        no label the last one lacked, and more labels only ever satisfy more), so the window
        is not rebuilt and re-read on every agent line; a satisfied closing can be undone by
        any line."""
        return part.done_at is not None or bool(self._labels(doc))

    def _tick(self, state: Any, part: _Part, utt: Utterance) -> None:
        """Live checklist: is the part satisfied by what the agent has said so far?"""
        window = self.window(state.utterances, getattr(state, "elsewhere", None))
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


def _placeholder(phrase: str) -> bool:
    return any(p in phrase for p in PLACEHOLDERS)


def _filled(phrase: str) -> str:
    for placeholder, word in PLACEHOLDERS.items():
        phrase = phrase.replace(placeholder, word)
    return phrase


def _sentence_starts(doc: Doc) -> set[int]:
    """ids of the words that open a sentence: the line's first word, and any after . ! ? …"""
    starts: set[int] = set()
    opening = True
    for tok in doc:
        if tok.is_punct:
            opening = opening or any(c in SENTENCE_END for c in tok.text)
            continue
        if opening:
            starts.add(id(tok))
        opening = False
    return starts
