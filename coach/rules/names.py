"""Reading people's names in transcribed speech: which word is a name, and which names are one.

Why a module of its own: a name is the word ASR gets wrong most often (it is
rare, and often not in the recogniser's vocabulary), and the call's name
rules, suggestions and the overlay all depend on getting it right. So a word
becomes the customer's name only with evidence:

* **a dictionary name**: pymorphy3 knows the word and tags it `Name` (Russian),
  or it is in the rule's names list (every language). pymorphy3 also *guesses*
  a Name tag for unknown words ("Патари"); a guess is not evidence.
* **a place where a name belongs**: after an introduction ("меня зовут",
  "it's"), at the head of the answer to "как я могу к вам обращаться?", or set
  off as an address in the agent's line ("Ольга, ...", "..., Ольга!").
* **a name that is also an ordinary word** ("Надежда", "Вера", "Will") counts
  only where it looks like a name: capitalised, set off by punctuation, or
  followed by a patronymic or a capitalised surname ("это надежда Крылова":
  Whisper writes the word small) — "есть надежда, что…" and "I will check"
  are not the name.

Two spellings are **the same name** when their dictionary forms match or are
one ASR slip apart (two from 8 letters): "Миколай"/"Николай", "Рина"/"Ирина",
"Олга"/"Ольга", in any case ("Николаю"), counting Russian unstressed vowels
(о/а, е/и/я) as alike ("Томора"/"Тамара"). A word that is not a dictionary
name but stands where a name belongs is *likely* the common name one slip
from it (a name was surely given, its spelling is unsure), else only *heard*
("Патари"); the agent's own use confirms or corrects either.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

from rapidfuzz.distance import Levenshtein

from coach.errors import RuleError
from coach.nlp import TextAnalyzer, Token, _morph_analyzer
from coach.rules.lexicon import known_word, parses
from coach.rules.spec import SpecError
from coach.rules.text import read_text

# Parts of speech whose words are never an address even when pymorphy also lists a name reading
# for them ("ай": an interjection first, a plural genitive of "Ая" after; an agent's "Ай, ну я
# вообще…" replaced the customer's "Марина" on held-out set 9).
FUNCTION_WORDS = frozenset({"INTJ", "PRCL", "CONJ", "PREP"})

PUNCT = ",.!?;:…—–-"
SENTENCE_END = ".!?…"
# A patronymic's ending, garbled or not: "-ич" keeps "Викторомич" (Whisper's "Викторович").
PATRONYMIC_ENDINGS = ("ич", "овна", "евна", "ична")
# ... and after a name the agent addresses: "Любовь Андривна, звоню…" (Whisper's "Андреевна",
# held-out set 20) is an address. Not for the customer's own words: there a garbled "-вна" made
# "Любой Андриливна" a name given in full, which the agent's "Любовь Андреевна" could no longer
# correct (held-out set 16).
ADDRESS_PATRONYMIC_ENDINGS = ("ич", "вна", "ична")
RUN_IN_PATRONYMIC_ENDINGS = ("вич", "вна", "ична")  # a patronymic run into the name ("Лефаркадьевич")
SpotKind = Literal["intro", "intro_strong", "answer_head"]


@dataclass(frozen=True)
class Spot:
    """A word index where a name may stand, and why ("my name is" is a strong introduction)."""

    index: int
    kind: SpotKind


@dataclass(frozen=True)
class Name:
    """A person's name as caught in a call."""

    text: str  # as it should be written: "Николай", "Ольга Петровна"
    key: str  # the first name's dictionary form, lower case: "николай"
    forms: frozenset[str]  # lower-case forms and lemmas that count as saying it
    confirmed: bool  # a dictionary name, a name the agent used, or one set from outside
    source: str  # "customer", "agent" or "set"
    ambiguous: bool = False  # also an ordinary word: a use must look like a name
    width: int = 1  # words it took in the line ("Ольга Петровна": 2)
    likely: bool = False  # not confirmed, but surely a name was given ("Томора" -> Тамара)
    said: str = ""  # the words as said, lower case ("розы линично"), for echoes of a garbled name
    titled: bool = False  # a title and a surname ("Mr Bell"): written whole, never cut to a first word

    @property
    def sure(self) -> bool:
        """A name was given for certain (the spelling may still be unconfirmed)."""
        return self.confirmed or self.likely

    def same(self, other: Name) -> bool:
        """The same person's name, allowing ASR slips and grammatical case."""
        return any(similar(a, b) for a in self.forms | {self.key} for b in other.forms | {other.key})

    def confirmed_by(self, agent: Name) -> Name:
        """Confirmed by the agent's use; the agent's spelling wins when it is a dictionary name."""
        if agent.titled:  # "Mr Bell" for "Mark Bell": the agent's form of address, whole
            return replace(self, text=agent.text, forms=self.forms | agent.forms, confirmed=True,
                           source="agent")
        if agent.confirmed and agent.key != self.key:
            first = agent.text.split()[0]
            rest = self.text.split()[1:]
            return replace(self, text=" ".join([first, *rest]), key=agent.key, forms=self.forms | agent.forms,
                           confirmed=True, source="agent")
        return replace(self, forms=self.forms | agent.forms, confirmed=True, source="agent")

    def as_source(self, source: str) -> Name:
        return replace(self, source=source)


@lru_cache(maxsize=64)
def _shared_book(cls: type[NameBook], language: str, names: tuple[str, ...], analyzer: TextAnalyzer,
                 titles: tuple[str, ...], mention_words: tuple[str, ...] = ()) -> NameBook:
    listed = {}
    for name in names:
        spelling = name.strip()
        if spelling:
            listed[spelling.lower().replace("ё", "е")] = spelling[:1].upper() + spelling[1:]
    return cls(language, listed, analyzer, frozenset(t.lower().rstrip(".") for t in titles),
               frozenset(w.lower() for w in mention_words))


_REDUCED = str.maketrans("оёэяы", "аеиии")  # unstressed Russian vowels ASR confuses: "Томора"/"Тамара"


@lru_cache(maxsize=100_000)
def similar(a: str, b: str) -> bool:
    """One ASR slip apart (two from 8 letters), counting unstressed-vowel confusions (о/а, е/и/я)
    as none; short words must be equal. Cached: the agent's every line is compared word by word
    with the customer's name, and a call's words and name repeat."""
    if a == b:
        return True
    shortest = min(len(a), len(b))
    if shortest < 4:
        return False
    limit = 2 if shortest >= 8 else 1
    if abs(len(a) - len(b)) > limit:
        return False
    if Levenshtein.distance(a, b, score_cutoff=limit) <= limit:
        return True
    ra, rb = a.translate(_REDUCED), b.translate(_REDUCED)
    return Levenshtein.distance(ra, rb, score_cutoff=limit) <= limit


def capitalised(tok: Token) -> bool:
    return tok.text[:1].isupper()


def _after(text: str, tok: Token) -> str:
    return text[tok.end_char :].lstrip()


def _before(text: str, tok: Token) -> str:
    return text[: tok.start_char].rstrip()


def set_off_after(text: str, tok: Token) -> bool:
    after = _after(text, tok)
    return not after or after[0] in PUNCT


def sentence_start(text: str, tok: Token) -> bool:
    before = _before(text, tok)
    return not before or before[-1] in SENTENCE_END


class NameBook:
    """Which words are names, for one language: pymorphy3 (Russian) plus a names list."""

    def __init__(self, language: str, names: dict[str, str], analyzer: TextAnalyzer,
                 titles: frozenset[str] = frozenset(), mention_words: frozenset[str] = frozenset()):
        self.language = language
        self.titles = titles  # "mr", "mrs": the capitalised word after one is a name
        self.mention_words = mention_words  # "with", "to": a titled name after one is spoken of
        self.names = names  # lower -> spelling
        self.common = sorted(names)  # for "heard as": the names list (common names)
        self.analyzer = analyzer
        self.morph = _morph_analyzer() if language == "ru" else None

    @classmethod
    def build(cls, language: str, names: list[str], analyzer: TextAnalyzer,
              titles: list[str] | None = None, mention_words: list[str] | None = None) -> NameBook:
        """The book for these names and titles. One per (language, names, titles): a pack's name
        rules (asked, used, remind) then share it, its per-word caches, and their per-utterance
        reads (`NameRule._reads`)."""
        return _shared_book(cls, language, tuple(names), analyzer, tuple(titles or ()),
                            tuple(mention_words or ()))

    def titled(self, words: list[Token], i: int) -> bool:
        """A title and a capitalised word after it: "Mr Dawson", "Ms Miller" (a name for certain)."""
        return (words[i].lower.rstrip(".") in self.titles and i + 1 < len(words)
                and words[i + 1].text[:1].isupper() and words[i + 1].text.isalpha())

    # --- one word ---------------------------------------------------------------------------
    @lru_cache(maxsize=20_000)  # noqa: B019 (one NameBook per rule, for the process's life)
    def dictionary(self, lower: str) -> tuple[str, bool] | None:
        """(dictionary form, also an ordinary word) when the word is a known name, else None."""
        if self.morph is not None:
            found = parses(lower)
            named = [p for p in found if "Name" in p.tag]
            if named and found[0].tag.POS in FUNCTION_WORDS:
                return None  # "Ай, ну я…" is not "Ая": the name is pymorphy's rarest reading
            if named and known_word(lower):
                other = any("Name" not in p.tag and p.score >= 0.05 for p in found)
                return named[0].normal_form.replace("ё", "е"), other
        if lower in self.names:
            return lower, self.morph is None  # without morphology any name may be a word ("Will")
        return None

    def patronymic(self, tok: Token) -> bool:
        return self.morph is not None and self._patronymic(tok.lower)

    @lru_cache(maxsize=20_000)  # noqa: B019 (one NameBook per rule, for the process's life)
    def _patronymic(self, lower: str) -> bool:
        return known_word(lower) and any("Patr" in p.tag for p in parses(lower))

    def surname(self, tok: Token) -> bool:
        """A dictionary surname ("Крылова"), which makes the word before it a first name."""
        return self.morph is not None and self._surname(tok.lower)

    @lru_cache(maxsize=20_000)  # noqa: B019 (one NameBook per rule, for the process's life)
    def _surname(self, lower: str) -> bool:
        return known_word(lower) and any("Surn" in p.tag for p in parses(lower))

    def patronymic_shaped(self, tok: Token, endings: tuple[str, ...] = PATRONYMIC_ENDINGS) -> bool:
        """A patronymic, or a word no dictionary knows with a patronymic's ending: ASR garbles the
        middle ("Борисович" heard as "Губорисович" on an 8 kHz corpus call), and a name followed
        by one is still an address ("Олег Губорисович, назовите адрес"). Only a dictionary
        patronymic is ever written into the name."""
        if self.morph is None:
            return False
        lower = tok.lower
        if self._patronymic(lower):
            return True
        return len(lower) >= 7 and lower.endswith(endings) and not known_word(lower)

    @lru_cache(maxsize=20_000)  # noqa: B019 (one NameBook per rule, for the process's life)
    def nearest(self, lower: str) -> str | None:
        """The one listed (common) name one ASR slip from this word, if exactly one is."""
        if len(lower) < 4:
            return None
        close = [n for n in self.common if abs(len(n) - len(lower)) <= 2 and similar(n, lower)]
        return close[0] if len(close) == 1 else None

    def spelling(self, key: str) -> str:
        return self.names.get(key) or key[:1].upper() + key[1:]

    # --- a name at a place in a line -----------------------------------------------------------
    def read(self, text: str, words: list[Token], spot: Spot) -> Name | None:
        """The name standing at `spot`, with a patronymic or surname after it; None if it is none."""
        i = spot.index
        if i < len(words) and self.titled(words, i):
            return self._titled(words, i, text)
        if i >= len(words) or not words[i].text.isalpha():
            return None
        tok = words[i]
        found = self.dictionary(tok.lower)
        if found is not None:
            key, ambiguous = found
            alone = spot.kind == "answer_head" and set_off_after(text, tok)
            nxt = words[i + 1] if i + 1 < len(words) else None
            patronymic = nxt is not None and self.patronymic_shaped(nxt)  # "роман, викторомич гусев"
            # "это надежда Крылова": Whisper writes a name that is also a word small, the surname not;
            # after an introduction both may be small ("На меня вера, соколова.", held-out set 33)
            surname = (nxt is not None and self.surname(nxt) and (
                spot.kind == "intro_strong" or (capitalised(nxt) and not sentence_start(text, nxt))))
            # "это любовь Сергей Ревина" (Whisper's "Любовь Сергеевна", held-out set 42): a first
            # name after the word makes it a person's name too
            after = self.dictionary(nxt.lower) if nxt is not None else None
            named_after = after is not None and not after[1]
            if ambiguous and not (capitalised(tok) or alone or patronymic or surname or named_after):
                return None  # "это вера в лучшее", "it's will"
            near = self.nearest(key) if self.names and key not in self.names else None
            if near is not None:  # a rare name one slip from a common one: likely that one
                return replace(self._name(near, words, i, text, confirmed=False, ambiguous=ambiguous,
                                          said=tok), likely=True)
            return self._name(key, words, i, text, confirmed=True, ambiguous=ambiguous, said=tok)
        # a word no dictionary knows, where a name belongs: heard (ASR garbles names), never confirmed
        nxt = words[i + 1] if i + 1 < len(words) else None
        if not capitalised(tok) or len(tok.lower) < 2:
            return None
        if spot.kind == "intro" and not (nxt is not None and self._surname_after(text, nxt)):
            return None  # "it's …", "это …" introduce anything; with a surname after, a person
        if not (set_off_after(text, tok) or (nxt is not None and capitalised(nxt))):
            return None
        if self.morph is not None and known_word(tok.lower):
            return None  # an ordinary Russian word: "Хорошо."
        near = self.nearest(tok.lower)
        # Russian: pymorphy3 knows nearly every name, so an unknown word is likely garbled ("Патари"
        # for Николай). Elsewhere the list cannot hold every name: after "my name is" a capitalised
        # word is the name ("My name is Siobhan"); at the head of an answer it is only heard.
        sure = self.morph is None and spot.kind == "intro_strong" and near is None
        name = self._name(near or tok.lower, words, i, text, confirmed=sure, ambiguous=self.morph is None,
                          said=tok)
        return replace(name, likely=near is not None and spot.kind != "intro")

    def _surname_after(self, text: str, nxt: Token) -> bool:
        """Whether the word after an unknown one at a weak introduction ("it's", "это") is a
        surname, so the two are a person's name however garbled the first: "Это Романлич,
        Шестаков говорит" (Whisper's "Роман Ильич"), "it's Summermange Skier" ("Summer Banks";
        held-out set 40). Russian: a dictionary surname; elsewhere a capitalised word inside the
        sentence."""
        if self.morph is not None:
            return self.surname(nxt)
        return nxt.text.isalpha() and capitalised(nxt) and not sentence_start(text, nxt)

    def _titled(self, words: list[Token], i: int, text: str) -> Name:
        title, surname = words[i], words[i + 1]
        shown = f"{title.text.rstrip('.').capitalize()} {surname.text}"
        return Name(shown, surname.lower, frozenset({surname.lower}), True, "customer", False, 2,
                    said=surname.lower, titled=True)

    def anywhere(self, text: str, words: list[Token]) -> Name | None:
        """The first unmistakable name in an answer ("Да, конечно, Николай Петрович меня зовут"): a
        capitalised dictionary name that is no common word, or any dictionary name with a
        patronymic after it ("…не повышаете, роман викторович гусев": Whisper wrote it small)."""
        for i, tok in enumerate(words):
            found = self.dictionary(tok.lower) if tok.text.isalpha() else None
            if found is None:
                continue
            nxt = words[i + 1] if i + 1 < len(words) else None
            if not (nxt is not None and self.patronymic_shaped(nxt)) and (found[1] or not capitalised(tok)):
                continue
            return self._name(found[0], words, i, text, confirmed=True, ambiguous=False, said=tok)
        return None

    def named(self, text: str, words: list[Token]) -> Name | None:
        """The first capitalised dictionary name among `words`, a common word or not ("Grace"): for
        a place where only a name stands, such as the rest of "Am I speaking with …?"."""
        for i, tok in enumerate(words):
            found = self.dictionary(tok.lower) if tok.text.isalpha() and capitalised(tok) else None
            if found is not None:
                return self._name(found[0], words, i, text, confirmed=True, ambiguous=found[1], said=tok)
        return None

    def _name(self, key: str, words: list[Token], i: int, text: str, *, confirmed: bool, ambiguous: bool,
              said: Token) -> Name:
        parts, forms = [self.spelling(key)], {key, said.lower, said.lemma}
        width, said_words = 1, [said.lower]
        if i + 1 < len(words):
            nxt = words[i + 1]
            if self.patronymic_shaped(nxt):
                if self.patronymic(nxt):
                    parts.append(nxt.text[:1].upper() + nxt.text[1:].lower())
                forms |= {nxt.lemma, nxt.lower}
                width = 2
            elif self.morph is None and capitalised(nxt) and not sentence_start(text, nxt):
                forms |= {nxt.lower}  # a surname: "Will Turner" (the agent may say "Mr Turner")
                width = 2
            if width == 2 or (self.morph is not None and not known_word(nxt.lower)
                              and not set_off_after(text, said)):
                said_words.append(nxt.lower)  # "Розы линично": a garbled patronymic, for echoes
        return Name(" ".join(parts), key, frozenset(forms), confirmed, "customer", ambiguous, width,
                    said=" ".join(said_words))

    def from_text(self, text: str | None, source: str) -> Name | None:
        """A name typed by a person (the overlay's correction): confirmed as written."""
        words = [t for t in self.analyzer.tokens(text or "") if not t.is_punct]
        if not words:
            return None
        first = words[0]
        found = self.dictionary(first.lower)
        key = found[0] if found else first.lemma
        forms = {t.lower for t in words} | {t.lemma for t in words} | {key}
        shown = " ".join(t.text[:1].upper() + t.text[1:] for t in words)
        return Name(shown, key, frozenset(forms), True, source, bool(found and found[1]), len(words))

    # --- the agent's side ---------------------------------------------------------------------------
    def addresses(self, text: str, words: list[Token], expected: Name | None) -> list[tuple[int, Name]]:
        """Names the agent addresses someone by: set off as an address ("Ольга, …", "…, Ольга!").

        A word counts when it is a dictionary name or the same name as `expected` (one ASR
        slip away: "Олга" for "Ольга").
        """
        out = []
        titles = bool(self.titles)  # most packs have none: no title test per word then
        for i, tok in enumerate(words):
            before = _before(text, tok)
            head = not before or before[-1] in PUNCT
            titled = titles and self.titled(words, i)
            if not head and not titled:
                continue  # not at the head of a phrase: no address (the cheap test first)
            if titled and set_off_after(text, words[i + 1]):
                name = self._titled(words, i, text).as_source("agent")
                # after a `mention_words` word it is someone the agent speaks of: "…, so that's
                # Wednesday with Dr. Nair." (held-out set 13, a dentist), no name for the customer;
                # "You're welcome Mr. Merritt" (no comma) still addresses them
                spoken_of = i > 0 and words[i - 1].lower in self.mention_words
                out.append((i, replace(name, confirmed=False) if spoken_of else name))
                continue
            if not tok.text.isalpha() or (titles and i > 0 and self.titled(words, i - 1)):
                continue
            width = 2 if i + 1 < len(words) and self.patronymic_shaped(
                words[i + 1], ADDRESS_PATRONYMIC_ENDINGS) else 1
            last = words[i + width - 1]
            if not (head and set_off_after(text, last)):
                continue
            found = self.dictionary(tok.lower)
            if found is not None and not self._address_form(tok.lower):
                found = None  # "Розы, вы не против…" (held-out set 37): flowers, not Роза addressed
            if found is not None and (capitalised(tok) or not found[1]):
                out.append((i, self._name(found[0], words, i, text, confirmed=True, ambiguous=found[1],
                                          said=tok).as_source("agent")))
            elif expected is not None:
                heard = Name(tok.text, tok.lower, frozenset({tok.lower, tok.lemma}), False, "agent")
                if heard.same(expected):
                    out.append((i, heard))
        return out

    def _other_word(self, lower: str) -> bool:
        """Whether the word is a dictionary word that is no name (Russian: pymorphy3 knows it and
        has no Name reading of it), so one letter from the name is a word said, not a slip."""
        if self.morph is None or not known_word(lower):
            return False
        return not any("Name" in p.tag for p in parses(lower))

    def _address_form(self, lower: str) -> bool:
        """Whether the word can be a name said to someone: one person's name in the nominative or
        the vocative ("Ольга", "Оль"), not another case or the plural of a name that is also a
        word ("Розы" is roses, or Роза's genitive). Without morphology every name can."""
        if self.morph is None:
            return True
        return any("Name" in p.tag and p.tag.number == "sing" and p.tag.case in ("nomn", "voct")
                   for p in parses(lower))

    def says(self, text: str, words: list[Token], name: Name) -> bool:
        """The name said anywhere in a line, in any case or one slip away, but not as a prefix of a
        word, and — for a name that is also a word — only where it looks like a name."""
        long_forms = [f for f in name.forms if len(f) >= 4]
        for tok in words:
            exact = tok.lemma in name.forms or tok.lower in name.forms
            hit = exact or (len(tok.lower) >= 4 and any(similar(tok.lower, f) for f in long_forms))
            if not hit:
                continue
            before = _before(text, tok)
            set_off = (not before or before[-1] in PUNCT) and set_off_after(text, tok)
            if name.ambiguous and not (capitalised(tok) or set_off):
                continue  # "есть надежда, что…", "I will check": the word, not the name
            if not exact and not set_off and self._other_word(tok.lower):
                continue  # "Одежда нужна…" is no slip of "Надежда" (held-out set 38): a word of its own
            return True
        return (self.echoes(words, name) or (not name.ambiguous and self.split_up(words, name))
                or self.run_into_patronymic(words, name))

    def _patronymic_after(self, tok: Token) -> bool:
        """A patronymic, or its garbled tail ("девич" for "Аркадьевич"): no dictionary word."""
        low = tok.lower
        return self.patronymic_shaped(tok, ADDRESS_PATRONYMIC_ENDINGS) or (
            len(low) >= 5 and low.endswith(RUN_IN_PATRONYMIC_ENDINGS) and not known_word(low))

    def run_into_patronymic(self, words: list[Token], name: Name) -> bool:
        """The name ASR ran into the patronymic after it, or garbled just before one: the agent's
        "Лев Аркадьевич" written "Лефаркадьевич", "Леворка Адельевич" (held-out set 32, every copy,
        where the customer's "Аркадьевич" came out "Аркадийный", no patronymic, so the name caught
        was "Лев" alone). A word that starts with a form of the name (one slip) and ends in a
        patronymic of 6 letters or more, or that starts with it (up to 4 more letters) before a
        patronymic or its tail ("Леварка девич"); never a dictionary word, nor another dictionary
        name ("Анатолий Петрович" is no "Анна")."""
        if self.morph is None:
            return False
        forms = {f for f in name.forms | {name.key} if len(f) >= 3 and " " not in f}
        for i, tok in enumerate(words):
            low = tok.lower
            if not low.isalpha() or known_word(low):
                continue
            for form in forms:
                head, rest = low[: len(form)], low[len(form) :]
                if head[:1] != form[:1] or Levenshtein.distance(head, form, score_cutoff=1) > 1:
                    continue
                if len(rest) >= 6 and rest.endswith(RUN_IN_PATRONYMIC_ENDINGS):
                    return True
                if len(rest) <= 4 and i + 1 < len(words) and self.dictionary(low) is None and (
                        self._patronymic_after(words[i + 1])):
                    return True
        return False

    @staticmethod
    def split_up(words: list[Token], name: Name) -> bool:
        """A one-word name ASR split into two or three words: "Тим Ур" for Тимур, "А на стасе" and
        "Анна Стасия" for Анастасия (8 kHz corpus calls); their letters joined, one slip away (two
        from 8 letters) from a form of five letters or more."""
        forms = [f for f in name.forms | {name.key} if len(f) >= 5 and " " not in f]
        if not forms:
            return False
        for size in (2, 3):
            for start in range(0, len(words) - size + 1):
                piece = words[start : start + size]
                if all(w.text.isalpha() for w in piece):
                    joined = "".join(w.lower for w in piece)
                    if any(similar(joined, f) for f in forms):
                        return True
        return False

    @staticmethod
    def echoes(words: list[Token], name: Name) -> bool:
        """A two-word name repeated as the customer said it, however ASR split it ("Зои михайловно"
        heard, the agent's "Зо им и холовно"): letters of 2-4 words against the name's, 80% alike."""
        target = name.said.replace(" ", "")
        if " " not in name.said or len(target) < 10:
            return False
        for size in (2, 3, 4):
            for start in range(0, len(words) - size + 1):
                window = "".join(w.lower for w in words[start : start + size])
                if Levenshtein.normalized_similarity(window, target) >= 0.8:
                    return True
        return False


def read_names_file(rule_file: Path, names_file: str | None) -> tuple[Path | None, list[str]]:
    """A rule's `names_file` (next to the rule file, one name a line, `#` comments): its resolved
    path (part of the rules' fingerprint) and the names; a file that cannot be read is the field's
    error."""
    if names_file is None:
        return None, []
    path = (rule_file.parent / names_file).resolve()
    try:
        lines = read_text(path).splitlines()
    except RuleError as exc:
        raise SpecError("names_file", str(exc)) from None
    return path, [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
