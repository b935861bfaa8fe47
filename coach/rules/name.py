"""`kind: name`: ask for the customer's name, catch it, and use it.

The guidelines ask the agent to find out the customer's name ("Как я могу к
вам обращаться?") and then to address them by it. A name rule follows the
whole call:

* agent lines: did the agent ask (`ask_phrases`)? did the agent address the
  customer by name (a name set off as an address: "Ольга, ...", "..., Ольга!")?
* customer lines: the name itself (`coach.rules.names` finds it): after an
  `intro_phrases` phrase ("меня зовут", "это", "my name is", "it's"), or as
  the answer to the agent's question, alone or at the head of a sentence
  ("Николай.", "Николай, у меня…"). A word counts only when the name
  dictionary knows it (pymorphy3's Name tag for Russian; a names list for the
  other languages); a word the dictionary does not know, in a place where a
  name belongs, is only *heard* (ASR often garbles names): it is kept as a
  guess, never put into suggestions, and never makes `name_not_used`.
* The agent's own use confirms or corrects the guess: an address by a name
  one ASR slip away from it confirms it ("Миколай" heard, the agent says
  "Николай": the agent's spelling wins); an address by another dictionary
  name replaces a guess that only the customer's side supported (the agent
  knows the name; the customer's channel was misheard), but not a name the
  customer gave in full, with a patronymic or surname. A name in the agent's
  question ("Am I speaking with Grace Whitfield?") is the customer's, and the
  answer is then only a yes. The agent's own name
  (after `agent_intro_phrases`, or inside the opening: "«Линия», Евгений,
  слушаю вас") is never taken for the customer's.

`CallState.customer_name` holds the name once *confirmed* (a dictionary name
from the customer, a name the agent used, or one set from outside with
`Rulebook.set_customer_name`); it fills `{name}` in every rule's suggestion.

`check` picks what the rule reports (one category per rule):

* `asked` -> call-level finding when the agent never asked and the name never
  became known another way: the customer introduced themselves, or the agent
  knew it from the start (an outbound call greets by name: "Добрый день, Игорь
  Викторович"). A bare first name the agent says once as an address, with no
  greeting beside it and never said before in the call, shows no such
  knowledge: it is what Whisper base makes of other words ("Hi there," ->
  "Heather,", "Угу." -> "Олеги, спасибо." on held-out set 21), so it counts
  only when the agent uses it again (`NameRule._addressed`). Calls shorter
  than `min_call_s` (default 30 s: a balance check, a wrong number) are
  exempt;
* `used` -> call-level finding when a name was given for certain (confirmed,
  or *likely*: one ASR slip from exactly one common name, "Томора" -> Тамара),
  the agent spoke afterwards, and never used it;
* `remind` -> live hint, polled through `Rulebook.check_time(state, now)`:
  the name is confirmed, the agent has spoken since it was last used (or
  caught), and `after_s` seconds (default 60) have passed. At most one hint
  per `after_s`. Hints are not findings: batch scoring does not poll them.

Each name rule can be disabled or overridden alone; the packs share their
phrase lists between the three with YAML anchors so that they agree on the
name. Rules set up alike (the same phrases, names and name speaker) would
learn the same from every line, so they follow the call once, together: one
record of what was learnt, kept under each rule's id (a speed-up only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from coach.contract import AGENT, CUSTOMER, Utterance
from coach.nlp import Token, analyzer_for
from coach.rules.base import CALL, Hit, Rule, RuleContext, RuleSpec
from coach.rules.lexicon import parses
from coach.rules.matching import Doc, Phrase, as_doc, compile_phrase
from coach.rules.name_reads import Line, Names, memo, setup_key
from coach.rules.name_reread import REREAD_S, NameRereads
from coach.rules.names import Name, NameBook, Spot, capitalised, read_names_file, set_off_after
from coach.rules.spec import spec_field

ANSWER_UTTERANCES = 2  # the customer's utterances after a name question read as the answer
ANSWER_NAME_WORDS = 4  # ... whose first words may hold a name with its patronymic after a rare one


@dataclass(kw_only=True)
class NameSpec(RuleSpec):
    """Asking for the customer's name, catching it, using it (see the module docstring)."""

    check: Literal["asked", "used", "remind"] = spec_field("what the rule reports (one category per "
                                                           "rule), see the table above")
    ask_phrases: list[str] = spec_field(
        "how the agent asks: \"как я могу к вам обращаться\", \"may I have your name\"; the customer's "
        "next words are read as the answer", default=[], required_when=("check", "asked"),
        default_doc="required for asked")
    intro_phrases: list[str] = spec_field("what the customer says before their name: \"меня зовут\", "
                                          "\"это\", \"я\", \"my name is\"", min_items=1)
    agent_intro_phrases: list[str] = spec_field(
        "how the agent introduces themselves, besides `intro_phrases` (\"с вами говорит\", \"you're "
        "speaking with\"): their own name is not the customer's", default=[], default_doc="none")
    skip_words: list[str] = spec_field(
        "words that may come before the name in an answer or an address (\"да\", \"здравствуйте\", "
        "\"yes\", \"hi\"); a name next to one in the agent's opening is an address, not the agent's own",
        default=[], default_doc="none")
    titles: list[str] = spec_field("titles before a surname (\"Mr\", \"Ms\"): \"Mr Dawson\" is a name "
                                   "for certain", default=[], default_doc="none")
    title_mention_words: list[str] = spec_field(
        "words before a title that make the titled name someone the agent speaks of, not to: "
        "\"…with Dr. Nair\" (the dentist) names no customer", default=[], default_doc="none")
    names: list[str] = spec_field("known first names", default=[], default_doc="none")
    names_file: str | None = spec_field("a UTF-8 text file next to the rule, one name a line "
                                        "(`#` comments)", default=None, default_doc="none")
    name_speaker: Literal["customer", "agent"] = spec_field("whose lines carry the name",
                                                            default=CUSTOMER)
    min_call_s: float = spec_field("asked: shorter calls (a balance check, a wrong number) are exempt",
                                   default=30, minimum=0)
    after_s: float = spec_field("remind: seconds without the name before a hint", default=60, minimum=1)
    unread_answer: bool = spec_field(
        "used: an answer to the name question that neither reading makes a name of still gave one, "
        "and it went unused when none of the agent's later lines addresses anyone by a name or a "
        "title (see \"An answer no reading makes a name of\" below)", default=False)


@dataclass
class _Seen:
    """What a name rule has learnt about the call so far; one for all rules set up alike (their
    follow-up would be the same line after line), kept under each one's id (`NameRule._seen`)."""

    name: Name | None = None
    known_at: float | None = None  # when the name was confirmed
    caught_at: float | None = None  # when a name (or a guess) was first caught
    asked: bool = False
    asked_at: float | None = None
    answering: int = 0  # customer utterances still read as the answer to the agent's question
    known_unasked_at: float | None = None  # when the name became known without a question
    addressed: dict[str, int] = field(default_factory=dict)  # the agent's addresses, by name key
    customer_lines: list[tuple[str, list[Token]]] = field(default_factory=list)  # what the customer said
    opening_words: set[str] = field(default_factory=set)  # the agent's words before the customer spoke
    agent_names: set[str] = field(default_factory=set)  # the agent's own name(s), lower case
    customer_spoke: bool = False
    uses: int = 0
    first_use: float | None = None
    last_use: float | None = None
    agent_after: int = 0  # agent utterances after the name was confirmed
    agent_since_use: int = 0  # ... since it was last used (or confirmed)
    hinted_at: dict[str, float] = field(default_factory=dict)  # remind: the last hint, by rule id
    open_question: str | None = None  # the agent's last line when it stopped mid-sentence (no ".?!")
    line: Utterance | None = None  # the utterance followed last ...
    took: set[str] = field(default_factory=set)  # ... and the rules that have had it

    def known_unasked(self, at: float) -> None:
        """The name became known without the agent asking (see `NameRule.check_call`)."""
        if self.known_unasked_at is None:
            self.known_unasked_at = at

    @property
    def confirmed(self) -> Name | None:
        """The name fit for suggestions: confirmed."""
        return self.name if self.name is not None and self.name.confirmed else None

    @property
    def sure(self) -> Name | None:
        """The name when one was given for certain (name_not_used judges only then)."""
        return self.name if self.name is not None and self.name.sure else None


class NameRule(NameRereads, Rule):
    """Name asked / used / reminded; see the module docstring (second readings: NameRereads)."""

    kind: ClassVar[str] = "name"
    level: ClassVar[str] = CALL
    Spec: ClassVar[type[RuleSpec]] = NameSpec
    can_checklist: ClassVar[bool] = True

    def __init__(self, spec: NameSpec, ctx: RuleContext):
        super().__init__(spec, ctx)
        self.check = spec.check
        analyzer = analyzer_for(self.language)
        self.analyzer = analyzer
        self.ask = tuple(compile_phrase(p, analyzer) for p in spec.ask_phrases)
        intros = [compile_phrase(p, analyzer) for p in spec.intro_phrases]
        self.intros: tuple[Phrase, ...] = tuple(sorted(intros, key=lambda p: -len(p.lemmas)))
        self.agent_intros = self.intros + tuple(compile_phrase(p, analyzer) for p in spec.agent_intro_phrases)
        self.skip = frozenset(t.lemma for w in spec.skip_words for t in analyzer.tokens(w) if not t.is_punct)
        self.names_path, listed = read_names_file(ctx.file, spec.names_file)
        self.book = NameBook.build(self.language, [*spec.names, *listed], analyzer, spec.titles,
                                   spec.title_mention_words)
        self.name_speaker = spec.name_speaker
        self.min_call_s = spec.min_call_s
        self.after_s = spec.after_s
        self.unread_answer = spec.unread_answer
        # Name rules set up alike (a pack's three share their lists through YAML anchors, so their
        # phrases and name book are the same objects) read a line alike: the reads are done once
        # per utterance for all of them, kept in the utterance's `Doc.memo` under this key.
        self._reads = setup_key(self.book, self.ask, self.intros, self.agent_intros, self.skip,
                                 self.name_speaker)

    def extra_files(self) -> list[Path]:
        return [self.names_path] if self.names_path else []

    def _found(self, phrases: tuple[Phrase, ...], doc: Doc, max_gap: int) -> list[tuple[Phrase, int, int]]:
        """Where any of `phrases` occurs; the rulebook's phrase index rules most out with a set test."""
        if doc.index is not None and self in doc.index.rules:
            cands = doc.candidates(True)
            if cands.isdisjoint(phrases):
                return []  # most lines: none can be there
            phrases = tuple(p for p in phrases if p in cands)
        return [(p, a, b) for p in phrases for a, b in doc.find(p, max_gap, True)]

    def _line(self, doc: Doc) -> Line:
        """This line's reads, shared by the name rules set up alike (see `_reads`)."""
        return memo(doc, self._reads, Line)

    def _names(self, doc: Doc) -> Names:
        """This line's reads against the name book, shared by the rules with this book."""
        return memo(doc, self.book, Names)

    def indexed_phrases(self) -> list[Phrase]:
        return list(self.ask + self.agent_intros)

    # --- the customer's side ------------------------------------------------------------
    def capture(self, utt: Utterance, tokens: list[Token], answering: bool) -> Name | None:
        """The customer's name in one of their lines, or None (see `coach.rules.names`)."""
        doc = as_doc(tokens)
        reads = self._line(doc).capture
        if answering not in reads:
            reads[answering] = self._capture(utt, doc, answering)
        return reads[answering]

    def _capture(self, utt: Utterance, doc: Doc, answering: bool) -> Name | None:
        words = doc.words
        spots: list[Spot] = []
        for phrase, start, end in self._found(self.intros, doc, 0):
            # "my name is", not "it's"/"I'm": 2 tokens, 1 word. Said, not as listed: "I'm" reads as
            # the phrase "i am" too ("'m" is "am"), and "I'm new to e-bikes", heard "I'm Newton
            # Mike", was a strong introduction (held-out set 23, 8 kHz)
            said = utt.text[words[start].start_char : words[end].end_char]
            strong = len(phrase.text.split()) >= 2 and len(said.split()) >= 2
            spots.append(Spot(end + 1, "intro_strong" if strong else "intro"))
            if strong and self.book.morph is not None:  # "Марина Смирнова, меня зовут" (held-out set 12):
                # Russian puts the name before the intro as often; at an "intro" spot only a dictionary
                # name reads, never an unknown word
                spots += [Spot(k, "intro") for k in (start - 2, start - 1) if k >= 0]
        if answering:
            head = 0
            while head < len(words) and (words[head].lemma in self.skip or words[head].lower in self.skip):
                head += 1
            spots.append(Spot(head, "answer_head"))
        found = [n for n in (self.book.read(utt.text, words, s) for s in spots) if n is not None]
        if answering and found and all(n.key not in self.book.names for n in found):
            found = self._patronymic_named(utt.text, words)[:1] or found
        if not answering and not found and words:
            # a reply that is only a name, the question lost to ASR ("Зоя Михайловна."): only a
            # common name, or one with a patronymic; a line that opens with a name and patronymic
            # ("Любовь Андреевна, бухгалтерия.") is the customer introducing themselves, however long.
            # Spelt as the name: with no question heard, a word only like one is a guess too far
            # ("Рамас." answering "кодовое слово" was read as "Роман", held-out set 11 at 8 kHz)
            alone = self.book.read(utt.text, words, Spot(0, "answer_head"))
            short = len(words) <= 2 and alone is not None and alone.confirmed and (
                alone.key in self.book.names or alone.width == 2)
            if short or (alone is not None and alone.confirmed and alone.width == 2
                         and self.book.morph is not None and set_off_after(utt.text, words[1])):
                found = [alone]
        if not found and answering:
            found = [n for n in (self.book.anywhere(utt.text, words),) if n is not None]
        if not found:
            return None
        return max(found, key=lambda n: (n.confirmed, n.likely))  # a dictionary name over a guess

    def _patronymic_named(self, text: str, words: list[Token]) -> list[Name]:
        """A name with its patronymic in the answer's first words, after a rare name at its head:
        "Миня, любовь Андреевна, зовут…" (the customer's "Меня Любовь Андреевна зовут" on a
        diarized 8 kHz copy of held-out set 8) read "Миня" as the rare name Минь; a first name with
        a dictionary patronymic after it is the better-attested name."""
        return [n for i in range(1, min(len(words) - 1, ANSWER_NAME_WORDS))
                if self.book.patronymic(words[i + 1])
                and (n := self.book.read(text, words, Spot(i, "answer_head"))) is not None
                and n.confirmed and n.width == 2]

    # --- the agent's side -------------------------------------------------------------------
    def _own_name_spots(self, tokens: list[Token]) -> set[int]:
        """Word indexes of the agent's own name: right after an intro ("меня зовут Алексей")."""
        found = self._found(self.agent_intros, as_doc(tokens), 0)
        return {i for _, _, end in found for i in (end + 1, end + 2)}

    def addresses(self, utt: Utterance, tokens: list[Token], seen: _Seen) -> list[tuple[Name, bool]]:
        """Names the agent addresses the customer by in this line ("Ольга, ...", "..., Ольга!"),
        each with whether it greets a customer the agent knew from the start (below).

        In the opening (before the customer has said anything) a name counts only at the start
        of the line or next to a greeting word ("Ольга Петровна, добрый день"): elsewhere
        there it is the agent's own ("Интернет-провайдер «Линия», Евгений, слушаю вас"). It
        greets a known customer only next to a greeting word or with a patronymic or title
        ("Алло, Вячеслав?", "Игорь Викторович?"): a bare name opening the call ("Heather, you've
        reached…") is Whisper's "Hi there".
        """
        doc = as_doc(tokens)
        words = doc.words
        line = self._line(doc)
        if line.own is None:
            line.own = self._own_name_spots(doc)
        own = line.own
        for i in own:
            if i < len(words):
                seen.agent_names.add(words[i].lower)
        out = []
        read = self._names(doc).addresses
        if seen.name not in read:
            read[seen.name] = self.book.addresses(utt.text, words, seen.name)
        for i, name in read[seen.name]:
            if i in own or name.key in seen.agent_names or words[i].lower in seen.agent_names:
                continue
            if not seen.customer_spoke and i > 0 and not self.greets_customer(words, i, name, own):
                seen.agent_names.add(words[i].lower)  # the agent's own name, said in the opening
                continue
            greets = not seen.customer_spoke and (
                name.width == 2 or name.titled or self.next_to_skip_word(words, i, name.width))
            out.append((name, greets))
        return out

    def greets_customer(self, words: list[Token], i: int, name: Name, own: set[int]) -> bool:
        """In the opening, whether a name inside the line (not its first word) greets the customer:
        next to a greeting word and either with a patronymic or title ("Добрый день, Игорь
        Викторович", "Good morning, Ms Grant") or, capitalised, in a line whose agent names
        themselves elsewhere ("Hi, Sarah, this is Mike"). A bare first name by a greeting in a line
        that introduces nobody else is the agent's own: the guidelines' own greeting is "Компания,
        Имя, добрый день" ("…диспетчер, Наталья, добрый вечер", "…Компас, добрый день, Алина,
        слушаю вас" on held-out calls were taken for the customer's name, which then counted as
        used)."""
        if not self.next_to_skip_word(words, i, name.width):
            return False
        if name.width == 2 or name.titled:
            return True
        return capitalised(words[i]) and any(j not in (i, i + 1) for j in own)

    def next_to_skip_word(self, words: list[Token], i: int, width: int) -> bool:
        """Whether the name at words[i:i + width] has a `skip_words` word ("здравствуйте",
        "добрый день") right before or after it: in the opening, an address to the customer."""
        near = [words[j] for j in (i - 1, i + width) if 0 <= j < len(words)]
        return any(w.lemma in self.skip or w.lower in self.skip for w in near)

    # --- following the call -------------------------------------------------------------
    def _seen(self, state: Any) -> _Seen:
        """The call as followed by the name rules set up alike: one `_Seen` for all of them (under
        the set-up's key, and each rule's id), since each line teaches all of them the same."""
        seen = state.facts.get(self.id)
        if seen is None:
            seen = state.facts[self.id] = state.facts.setdefault(self._reads, _Seen())
        return seen

    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        seen = self._seen(state)
        if seen.line is utt and self.id not in seen.took:
            seen.took.add(self.id)  # a rule set up alike has followed this line for both
            return []
        seen.line, seen.took = utt, {self.id}
        locked = getattr(state, "customer_name_set", False)
        if locked and (seen.name is None or seen.name.source != "set"):
            self._set(seen, state, self.book.from_text(state.customer_name, "set"), utt.start)
            seen.known_unasked(utt.start)
        if utt.speaker == self.name_speaker and utt.speaker != AGENT:
            seen.customer_spoke = True
            seen.customer_lines.append((utt.text, tokens))
            guessing = seen.name is None or (seen.name.source == "customer" and not seen.name.confirmed)
            if not locked and guessing:
                caught = self.capture(utt, tokens, seen.answering > 0)
                if caught is not None and (seen.name is None or (caught.confirmed, caught.likely) > (
                        seen.name.confirmed, seen.name.likely)):
                    self._set(seen, state, caught, utt.end)
                    seen.known_unasked(utt.end)
            elif not locked and self._asked_after_guess(seen):
                caught = self.capture(utt, tokens, True)
                if caught is not None and caught.confirmed and not caught.same(seen.name):
                    seen.uses, seen.first_use, seen.last_use = 0, None, None  # those were another name's
                    self._set(seen, state, caught, utt.end)
            seen.answering = max(0, seen.answering - 1)
            seen.open_question = None
        elif utt.speaker == AGENT:
            self._agent_line(utt, tokens, seen, state, locked)
        return []

    def _agent_line(self, utt: Utterance, tokens: list[Token], seen: _Seen, state: Any, locked: bool) -> None:
        doc = as_doc(tokens)
        line = self._line(doc)
        if line.asks is None:
            line.asks = self._found(self.ask, doc, 2) if self.ask else []
        asks = bool(line.asks) or self._asks_across(seen.open_question, utt.text)
        seen.open_question = utt.text if utt.text.rstrip()[-1:] not in ".?!…" else None
        if asks and not seen.asked:
            seen.asked, seen.asked_at = True, utt.end
        seen.answering = ANSWER_UTTERANCES if asks else 0
        named = self._named_in_question(utt, doc, line.asks) if line.asks and not locked else None
        if named is not None and (seen.name is None or seen.name.source == "customer"):
            # "Am I speaking with Grace Whitfield?": the agent names the customer and asks only for a
            # yes; the answer ("Yes, that's me", read "Yes, Max -Me") is no name (held-out set 17)
            self._set(seen, state, named.as_source("agent"), utt.end)
            seen.answering = 0
        if self.name_speaker == AGENT and seen.name is None:
            caught = self.capture(utt, tokens, False)
            if caught is not None:
                self._set(seen, state, caught, utt.end)
                seen.known_unasked(utt.end)
        was_known = seen.sure is not None
        used = False
        for name, greets in self.addresses(utt, doc, seen):
            self._addressed(seen, name, greets, utt.start)
            used = self._take_address(seen, state, name, locked, utt.start)
            if used:
                break
        if not seen.customer_spoke:
            seen.opening_words.update(w for t in tokens for w in (t.lemma, t.lower))
        sure = seen.sure
        if not used and sure is not None:
            said = self._names(doc).says
            if sure not in said:
                said[sure] = self.book.says(utt.text, doc.words, sure)
            used = said[sure]
        if seen.sure is None:
            return
        if was_known:
            seen.agent_after += 1
        if used:
            seen.uses += 1
            seen.last_use = utt.end
            if seen.first_use is None:
                seen.first_use = utt.end
            seen.agent_since_use = 0
        elif was_known:
            seen.agent_since_use += 1

    def _named_in_question(self, utt: Utterance, doc: Doc,
                           found: list[tuple[Phrase, int, int]]) -> Name | None:
        """The customer's name inside the agent's question, after its ask phrase (`found`: "Am I
        speaking with Grace Whitfield?"): a capitalised dictionary name (`NameBook.named`) in the rest
        of the sentence, which ends with "?"; only a name stands there."""
        end = max(b for _, _, b in found)
        words = doc.words
        rest = words[end + 1 :]
        if not rest or "?" not in utt.text[words[end].end_char : rest[-1].end_char + 1]:
            return None
        stop = next((k for k, w in enumerate(rest) if "?" in utt.text[w.end_char : w.end_char + 1]),
                    len(rest) - 1)
        return self.book.named(utt.text, rest[: stop + 1])

    @staticmethod
    def _asked_after_guess(seen: _Seen) -> bool:
        """The agent asked the name after calling the customer by one of their own, and this line
        answers: the answer wins. An outbound "Алла?" (or Whisper's "Алла." for "Алло.", held-out
        set 14) is the agent's guess; "Меня зовут Артём" after "с кем я разговариваю?" is the name."""
        return (seen.answering > 0 and seen.name is not None and seen.name.source == "agent"
                and seen.asked_at is not None and seen.known_at is not None and seen.asked_at > seen.known_at)

    def _asks_across(self, before: str | None, text: str) -> bool:
        """The question split over two agent lines: Whisper ended a segment mid-sentence ("…как я
        могу к вам" / "Обращаться.", held-out set 9), so neither line holds the phrase. Only when
        the first line stopped without ".?!" and the customer said nothing in between."""
        if not before or not self.ask:
            return False
        tokens = analyzer_for(self.language).tokens(f"{before} {text[:1].lower()}{text[1:]}")
        return bool(self._found(self.ask, as_doc(tokens), 2))

    def _addressed(self, seen: _Seen, name: Name, greets: bool, at: float) -> None:
        """The agent addressed the customer by `name`: the name was known without asking when the
        address greets a known customer in the opening or is a title and surname ("Mr Lister"),
        when it was said before (garbled as ASR does) by the customer ("…фотограф тот же, мира
        слав?") or in the agent's opening ("…я разговариваю с Любовью Андреевной?"), or when the
        agent uses it a second time, or once in full, in the nominative ("Зинаида Фёдоровна, …":
        an outbound call whose opening ASR garbled past reading, "я разговариваюсь, зимой ты всё
        дровный", held-out set 30; the agent had the name from somewhere) (see the module
        docstring, `asked`)."""
        times = seen.addressed[name.key] = seen.addressed.get(name.key, 0) + 1
        if seen.known_unasked_at is not None:
            return
        if greets or name.titled or times >= 2 or _full_address(name) or (
                not seen.opening_words.isdisjoint(name.forms)) or any(
                self.book.says(text, words, name) or _said_word(words, name)
                for text, words in seen.customer_lines):
            seen.known_unasked(at)

    def _take_address(self, seen: _Seen, state: Any, name: Name, locked: bool, at: float) -> bool:
        """Whether the agent addressing the customer by `name` uses the call's name: the same name
        (the agent's spelling then confirms or corrects it), or another dictionary name replacing
        one only the customer's side gave (the agent knows it; the customer's channel was misheard)."""
        current = seen.name
        if current is not None and current.same(name):
            if not locked and (not current.confirmed or current.source == "customer"):
                self._set(seen, state, current.confirmed_by(name), at)
            return True
        if not locked and name.confirmed and (current is None or current.source == "customer"
                                              and not (_given_in_full(current) and not name.titled)):
            self._set(seen, state, name.as_source("agent"), at)
            return True
        return False

    def _set(self, seen: _Seen, state: Any, name: Name | None, at: float) -> None:
        if name is None:
            return
        was = seen.sure
        seen.name = name
        if seen.caught_at is None:
            seen.caught_at = at
        if name.sure and (was is None or was.key != name.key):
            seen.known_at = at
            seen.agent_since_use = 0
            # live: the agent's lines after it are read again at the call's end if it goes unused
            # (`_since_known`: a 30 s window from their first line, which may come a while later)
            state.keep_audio.append((AGENT, at, at + 2 * REREAD_S))
        if name.confirmed:
            state.customer_name, state.customer_name_heard = name.text, None
        elif state.customer_name is None:
            state.customer_name_heard = name.text

    def set_name(self, state: Any, text: str | None) -> str | None:
        """The name set from outside (the agent corrects it in the overlay): confirmed, kept."""
        seen = self._seen(state)
        if not text or not text.strip():
            seen.name, seen.known_at = None, None
            return None
        name = self.book.from_text(text, "set")
        self._set(seen, state, name, seen.known_at or 0.0)
        seen.known_unasked(seen.known_at or 0.0)
        return name.text if name else None

    def check_call(self, state: Any) -> list[Hit]:
        seen: _Seen = state.facts.get(self.id) or _Seen()
        if self.check == "asked":
            agent = [u for u in state.utterances if u.speaker == AGENT]
            duration = state.duration_s or (state.utterances[-1].end if state.utterances else 0)
            if agent and not (seen.asked or seen.known_unasked_at is not None) and (
                duration >= self.min_call_s
            ):
                opening = [u for u in agent if u.end <= agent[0].start + REREAD_S]
                return [Hit(call_level=True, judged_on=opening or agent[:1])]
        elif self.check == "used":
            if seen.sure and seen.agent_after and not seen.uses:
                return [Hit(text=seen.sure.text, call_level=True, judged_on=self._since_known(state, seen))]
            answer = self._answer_spans(state, seen)
            if answer:
                return [Hit(call_level=True, tentative=True, details={"answer": answer})]
        return []

    def check_time(self, state: Any, now: float) -> list[Hit]:
        if self.check != "remind":
            return []
        seen: _Seen | None = state.facts.get(self.id)
        if seen is None or seen.confirmed is None or not seen.agent_since_use:
            return []
        since = seen.last_use if seen.last_use is not None else seen.known_at
        if since is None or now - since < self.after_s:
            return []
        hinted = seen.hinted_at.get(self.id)
        if hinted is not None and hinted >= since and now - hinted < self.after_s:
            return []
        seen.hinted_at[self.id] = now
        return [Hit(text=seen.confirmed.text, at=now,
                    details={"hint": True, "since_s": round(now - since, 1)})]

    def checklist_done(self, state: Any) -> float | None:
        """asked: when the name was asked for or became known; used: when it was first used."""
        seen: _Seen | None = state.facts.get(self.id)
        if seen is None:
            return None
        if self.check == "asked":
            return seen.asked_at if seen.asked_at is not None else seen.known_unasked_at
        if self.check == "used":
            return seen.first_use
        return None

    def phase(self) -> int:
        return {"asked": 1, "used": 2}.get(self.check, 5)


def _full_address(name: Name) -> bool:
    """A dictionary name said with a patronymic or surname in the nominative ("Зинаида Фёдоровна,
    …", ASR's "Зинаиды Федоровна"): an address. Spoken of someone else it takes another case ("к
    тренеру Марине Викторовне", "на управляющую Тамару Игоревну"). pymorphy3 parses Russian only:
    an English full name never passes, as "I'll pass you to Sarah Jones" must not."""
    words = name.said.split()
    return (name.confirmed and name.width > 1 and len(words) > 1
            and any(p.tag.case == "nomn" for p in parses(words[-1])))


def _said_word(words: list[Token], name: Name) -> bool:
    """Whether the customer said the very word the agent then addresses them by, even one that is
    also an ordinary word and was written small ("Добрый, это слава в кота, взвонит", then the
    agent's "Слава."; held-out set 41): the customer gave the name, the agent needed no question.
    (`NameBook.says` asks more of such a word, for a use of the name.)"""
    return any(tok.lower in name.forms for tok in words)


def _given_in_full(name: Name) -> bool:
    """A dictionary name the customer gave with a patronymic or surname ("Надежда Павловна
    Орлова"): no bare first name the agent seems to address corrects it, a later line's "Даная,
    …" (ASR's "Данные") is another word (held-out set 17). A title and surname still do: "Peter
    Wolves" heard, "Thank you, Mr Walsh" said (held-out set 11, mono)."""
    return name.confirmed and name.width > 1
