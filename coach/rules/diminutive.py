"""`kind: diminutive`: diminutive nouns ("документик", "звоночек", "заявочка") found by morphology.

A list of forms never ends: every noun has a diminutive, and agents coin new
ones ("кодик", "ссылочку", "окошечко"). So the rule asks pymorphy3 instead:
a noun whose dictionary form ends in a diminutive suffix (`suffixes`) is a
diminutive when the word left after taking the suffix off — with one of the
base endings the table gives — is itself a noun pymorphy3 knows, of the same
gender and animacy, and not a name:

    документик -> документ      звоночек -> звонок      заявочка -> заявка
    минуточка  -> минута        копеечка -> копейка     окошечко -> окошко

Gender and animacy keep out agent nouns and look-alikes: "заказчик"
(animate) is not a little "заказ", "мальчик" has no base "мальч", "чайник"
no base "чайн". A few words pass the test and are still ordinary words, or
mean something else than a small base: they go in `exceptions` ("график" is
not a little "граф", "счётчик" is a meter, "звёздочка" is the * key,
"карточка" is the ordinary word for a bank or clinic card). Irregular
diminutives the suffixes cannot derive ("денежки", "минутка", "чуточку")
are listed in `words` with the plain word to say instead.

One finding per diminutive word. The suggestion may use `{plain}`: the
sentence as said with the diminutive replaced by the plain word in the same
case and number ("Продиктуйте номерочек заказа" -> "Продиктуйте номер
заказа."), `{word}` (the diminutive as said) and `{base}` (the plain word in
the same form). When `{plain}` would be over 7 words, holds digits or words
the dictionary does not know (a long ASR sentence repeats its slips),
`fallback_suggestion` is shown instead ("Лучше сказать просто: «заявку».").
Russian only: the test needs pymorphy3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from rapidfuzz.distance import Levenshtein

from coach.contract import Utterance
from coach.nlp import Token, analyzer_for
from coach.rules.base import Hit, Rule, RuleContext, RuleSpec
from coach.rules.candidates import NEAR, NEAR_WORD_MARGIN, NEAR_WORD_MIN_MEAN, Candidate
from coach.rules.lexicon import dictionary_words as _dictionary_words
from coach.rules.lexicon import known_word, parses
from coach.rules.matching import Doc, as_doc
from coach.rules.negative import sentences
from coach.rules.spec import SpecError, spec_field
from coach.rules.suggest import fits, known_words, sentence_text

PROPER = frozenset({"Name", "Surn", "Patr", "Geox", "Orgn", "Trad", "Abbr"})
DEFAULT_SUFFIXES = {
    "ик": ["", "ь"], "чик": [""],  # документик, талончик; паролик, рублик (held-out set 23)
    "ьчик": [""],  # укольчик, чехольчик, журнальчик (held-out sets 2, 15, 23)
    "очек": ["ок", ""], "ечек": ["ек", "ок", ""],  # звоночек, номерочек, человечек
    "очка": ["ка", "а", "я"],  # заявочка, минуточка
    "ечка": ["ка", "йка", "ека", "а", "я", "ька"],  # копеечка, бумажечка, шпилечка
    "ичка": ["ица"],  # страничка
    "очко": ["ко", "о", "око"],  # окошечко; молочко (held-out set 14)
    "ечко": ["ко", "о", "це"], "ецо": ["о"],  # местечко, сердечко, письмецо
    "ишко": ["о", ""], "ишка": ["а", ""],  # пальтишко, домишко, работишка (held-out set 15)
    "ишки": ["а", "ы"],  # дровишки, штанишки: plural-only nouns (held-out set 27)
    "ышко": ["о"], "ико": ["о"],  # пятнышко, колёсико (held-out set 20)
    "ичок": ["ик"], "ачок": ["ак"], "ячок": ["як"],  # грузовичок (set 15), рюкзачок, коньячок
    "ычок": ["ык"], "учок": ["ук"],  # ярлычок (set 8), каблучки (set 24), сундучок
    "ичек": ["ик"],  # веничек (held-out set 23)
    "учек": ["ук"],  # фартучки (held-out set 38 script text)
    "ьице": ["ие", "ье"],  # заявленьице, платьице (held-out set 22)
    "чки": ["ки"],  # брючки: a plural-only noun, dictionary form plural (held-out set 22)
}
MASCULINE_SURFACE = ("ик", "чик", "очек", "ечек")
# case endings of a masculine "-ик" noun, longest first: an unknown form pymorphy3 guessed wrong
# ("анализики" as a feminine "анализика", "кодиком" as a name) is read off its surface
IK_INFLECTIONS = {"ами": {"plur", "ablt"}, "ом": {"sing", "ablt"}, "ов": {"plur", "gent"},
                  "ам": {"plur", "datv"}, "ах": {"plur", "loct"}, "а": {"sing", "gent"},
                  "у": {"sing", "datv"}, "е": {"sing", "loct"}, "и": {"plur", "nomn"}}
# case endings of a feminine "-ка" diminutive no dictionary holds ("предоплатка", held-out set 37):
# read off its surface when the word less "к" is a feminine noun ("предоплата"); a dictionary word is
# a noun in its own right ("водка", "палатка", "сумка" are no little "вода", "палата", "сума")
KA_INFLECTIONS = {"кой": {"sing", "ablt"}, "ка": {"sing", "nomn"}, "ки": {"sing", "gent"},
                  "ке": {"sing", "datv"}, "ку": {"sing", "accs"}}
# ... and of an unknown "-очка" word of a feminine thing ending "-а"/"-ка", or "-ечка" of one ending
# "-ь"/"-ка" ("ваточка" of "вата", "выписочка" of "выписка", "бронечка" of "бронь"); not "-очк-"
# on "-ь" or "-я": Whisper's "волочки" (of "наволочки") and "голочка" are no little "воля", "голь"
CHKA_BASE_TAILS = {"очк": ("а", "ка"), "ечк": ("ь", "ка")}
CHKA_MIN_STEM = 3  # "брон(ечку)"
OPENING_QUOTES = ("«", "„", "“")
QUOTES = frozenset({*OPENING_QUOTES, "»", "”", '"'})
SPLIT_SUFFIXES = frozenset({"ок", "ек", "ик"})  # a diminutive's suffix ASR wrote apart: "номер ок"
GUESSED_LEMMA_MIN_BASE = 5  # plain-word letters for an unknown "-ика" word guessed as its own lemma
PLAIN_MAX_WORDS = 7  # pymorphy3 misparses some ("номерочек")
NEAR_SIMILARITY = 0.75  # a garbled word this close to a dictionary diminutive is asked of the audio


@dataclass(kw_only=True)
class DiminutiveSpec(RuleSpec):
    """Diminutive nouns found by morphology (see the module docstring)."""

    PLACEHOLDERS: ClassVar[dict[str, str]] = {
        "plain": "the sentence as said with the plain word instead of the diminutive",
        "word": "the diminutive as said",
        "base": "the plain word, in the diminutive's case and number",
    }

    suffixes: dict[str, list[str]] = spec_field(
        "diminutive ending of a noun's dictionary form -> endings of the plain word to try",
        default=DEFAULT_SUFFIXES,
        default_doc=", ".join(DEFAULT_SUFFIXES) + " (see the table above)",  # never drifts from the code
        hint="e.g. {очка: [ка, а]}")
    exceptions: list[str] = spec_field("dictionary forms that only look diminutive (\"график\", "
                                       "\"счётчик\")", default=[], default_doc="none")
    words: dict[str, list[str]] = spec_field(
        "irregular diminutives (dictionary form) -> the plain word: {денежка: деньги}", default={},
        default_doc="none", hint="map a diminutive to its plain word, e.g. {минутка: минута}")
    bases: list[str] = spec_field("only diminutives of these plain words (a family with its own "
                                  "suggestion: минута, секунда)", default=[], default_doc="any")
    skip_bases: list[str] = spec_field("plain words whose diminutives another rule reports", default=[],
                                       default_doc="none")
    min_base: int = spec_field("the plain word has at least this many letters", default=3, minimum=2)
    ordinary_after: dict[str, list[str]] = spec_field(
        "diminutives (dictionary form) that are the thing's ordinary name once the call has named it in "
        "full, by either speaker: {машинка: [швейный, стиральный]} (\"швейная машинка\" said, the agent's "
        "\"машинка\" is no small car)", default={}, default_doc="none",
        hint="map a diminutive to the dictionary forms of the words that name the thing in full")


@dataclass(frozen=True)
class Found:
    """A diminutive: its dictionary form, the plain word's, and the plain word in the same form."""

    lemma: str
    base: str
    base_form: str


def _e(word: str) -> str:
    return word.replace("ё", "е")


@lru_cache(maxsize=50_000)
def _nouns(word: str) -> tuple[Any, ...]:
    """The word's readings as a common noun (no names, places...): the same for every diminutive
    rule, so worked out once per word for all of them."""
    return tuple(p for p in parses(word)
                 if p.tag.POS == "NOUN" and not (PROPER & set(str(p.tag).replace(" ", ",").split(","))))


class DiminutiveRule(Rule):
    """Fires on each diminutive noun; see the module docstring."""

    kind: ClassVar[str] = "diminutive"
    Spec: ClassVar[type[RuleSpec]] = DiminutiveSpec
    can_run_early: ClassVar[bool] = True

    def __init__(self, spec: DiminutiveSpec, ctx: RuleContext):
        super().__init__(spec, ctx)
        if self.language != "ru":
            raise SpecError("kind", f"diminutive needs Russian morphology (pymorphy3), not '{self.language}'")
        self.suffixes = sorted(((_e(k), [_e(v) for v in vs]) for k, vs in spec.suffixes.items()),
                               key=lambda kv: -len(kv[0]))
        self.exceptions = frozenset(_e(w.lower()) for w in spec.exceptions)
        self.words = {_e(k.lower()): _e(v[0].lower()) for k, v in spec.words.items() if v}
        self.bases = frozenset(_e(w.lower()) for w in spec.bases)
        self.skip_bases = frozenset(_e(w.lower()) for w in spec.skip_bases)
        self.min_base = spec.min_base
        self.ordinary_after = {_e(k.lower()): frozenset(_e(w.lower()) for w in v)
                               for k, v in spec.ordinary_after.items()}
        self.require_fallback("plain")
        self._cache: dict[str, Found | None] = {}
        self._stem_cache: dict[str, tuple[float, str, Found] | None] = {}
        analyzer_for(self.language)  # load the dictionaries now, not on the first call

    # --- one word ---------------------------------------------------------------------------
    def _base(self, base: str, dim: Any | None) -> Any | None:
        """The plain word's parse when it is a known noun agreeing with the diminutive."""
        if len(base) < self.min_base or not known_word(base):
            return None
        for p in _nouns(base):
            if _e(p.normal_form) != base:
                continue
            if dim is None and p.tag.gender == "masc":
                return p
            if dim is not None and p.tag.gender == dim.tag.gender and p.tag.animacy == dim.tag.animacy:
                return p
        return None

    def _inflect(self, base: Any, dim: Any | None, word: str) -> str:
        if dim is not None:
            grammemes = {g for g in (dim.tag.case, dim.tag.number) if g}
            form = base.inflect(grammemes) if grammemes else None
            if form is not None:
                return form.word
        return base.word if dim is None else word

    def analyse(self, word: str) -> Found | None:
        """The diminutive reading of one lower-case word, or None (cached: the vocabulary is small)."""
        if word in self._cache:
            return self._cache[word]
        found = self._analyse(word)
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[word] = found
        return found

    def _analyse(self, word: str) -> Found | None:
        lemmas = [_e(p.normal_form) for p in parses(word)]
        if self.exceptions.intersection(lemmas) or word in self.exceptions:
            return None
        head = _glued_head(word)
        if head is not None and (glued := self.analyse(head)) is not None:
            return glued  # "окошечково" is "окошечко во…" (held-out set 16); "паролик" is no "пароли к…"
        nouns = _nouns(word)
        for p in nouns:
            if _e(p.normal_form) in self.words:
                return self._listed(_e(p.normal_form), p)
        for lemma in [word, *lemmas]:  # listed forms of any part of speech ("чуточку")
            if lemma in self.words:
                return self._listed(lemma, None)
        if self._plain_reading(word, nouns):
            return None  # "статистику": a form of "статистика" too, not only of a little "статистик"
        for p in nouns:
            lemma = _e(p.normal_form)
            for suffix, endings in self.suffixes:
                if not lemma.endswith(suffix) or len(lemma) <= len(suffix):
                    continue
                stem = lemma[: -len(suffix)]
                if _run_together(word, len(stem)):
                    continue  # "фоточека" is "фото чека", not a guessed little "фот"
                for ending in endings:
                    base = self._base(stem + ending, p)
                    if base is not None:
                        return self._found(lemma, stem + ending, base, p, word)
        own_lemma = any(_e(p.normal_form) == word for p in nouns)
        if own_lemma and known_word(word):
            return None  # a dictionary noun in its own right ("заказчик", "мальчик")
        for suffix in MASCULINE_SURFACE:  # misparsed forms: "номерочек" read as a plural genitive
            if word.endswith(suffix) and len(word) > len(suffix):
                stem = word[: -len(suffix)]
                for ending in dict(self.suffixes).get(suffix, []):
                    base = self._base(stem + ending, None)
                    if base is not None:
                        return self._found(word, stem + ending, base, None, word)
        if not known_word(word):  # "-ик" only: an unknown "-чик" form is mostly a garbled real
            for ending in IK_INFLECTIONS:  # "-чик" noun ("дабчиков" for "датчиков"), not a little "даб"
                if word.endswith("ик" + ending) and len(word) > len(ending) + 4:
                    stem = word[: -len(ending) - 2]
                    if own_lemma and len(stem) < GUESSED_LEMMA_MIN_BASE:
                        continue  # pymorphy3 guessed the word its own lemma: only a long plain word
                        # ("сантиметрика", held-out set 31), not a garble of "матч", "септ" (8 kHz)
                    base = self._base(stem, None)
                    if base is not None:
                        form = base.inflect(IK_INFLECTIONS[ending])
                        return Found(stem + "ик", stem, form.word if form is not None else stem)
        if not known_word(word) and (found := self._unknown_ka(word)) is not None:
            return found
        return self._glued_lead(word)  # "ифоточку" is "и фоточку" (held-out set 17)

    def _unknown_ka(self, word: str) -> Found | None:
        """An unknown "-ка" word made of a feminine noun ("предоплатка" of "предоплата"): pymorphy3
        guesses it a masculine "предоплаток", so its surface is read (`KA_INFLECTIONS`)."""
        if (found := self._unknown_chka(word)) is not None:
            return found
        for ending, grammemes in KA_INFLECTIONS.items():
            stem = word[: -len(ending)]
            base = stem + "а"
            if not word.endswith(ending) or len(stem) < GUESSED_LEMMA_MIN_BASE or not known_word(base):
                continue
            for p in _nouns(base):
                if _e(p.normal_form) == base and p.tag.gender == "femn":
                    form = p.inflect(grammemes)
                    return Found(stem + "ка", base, form.word if form is not None else base)
        return None

    def _unknown_chka(self, word: str) -> Found | None:
        """An unknown "-очка"/"-ечка" word read off its surface the same way (`CHKA_BASE_TAILS`):
        "бронечку" of "бронь" (held-out set 42), which pymorphy3 guesses a name."""
        for ending, grammemes in KA_INFLECTIONS.items():
            for infix, tails in CHKA_BASE_TAILS.items():
                stem = word[: -len(ending) - len(infix) + 1]
                if not word.endswith(infix[:-1] + ending) or len(stem) < CHKA_MIN_STEM:
                    continue
                for base in (stem + tail for tail in tails):
                    for p in _nouns(base) if known_word(base) else ():
                        if _e(p.normal_form) == base and p.tag.gender == "femn" and p.tag.animacy == "inan":
                            form = p.inflect(grammemes)
                            return Found(stem + infix + "а", base, form.word if form is not None else base)
        return None

    def _glued_lead(self, word: str) -> Found | None:
        """The diminutive after a short conjunction or preposition Whisper ran into it
        ("ифоточку" for "и фоточку", "вфоточку", "дозаявочки" for "до заявочки"), when the word as
        written is none: only a rest that is a dictionary word or a listed diminutive, so a garble
        is not read as one."""
        if len(word) < 6 or known_word(word):
            return None
        for lead in (word[:1], word[:2]):
            rest = word[len(lead):]
            if lead not in GLUED_LEADS or len(rest) < 5:
                continue
            found = self.analyse(rest)
            # a one-letter lead only before a word the dictionary or the list holds; a two-letter
            # preposition also before an "-очк-"/"-ечк-" word ("заявочки", which pymorphy3 lacks,
            # of "заявка", which it has), not "-ик" ("отторник" is a garbled "вторник")
            if found is not None and (known_word(rest) or found.lemma in self.words
                                      or (len(lead) == 2 and CHK_INSIDE.search(rest) is not None)):
                return found
        return None

    def _plain_reading(self, word: str, nouns: tuple[Any, ...]) -> bool:
        """Whether a dictionary word is also a form of a noun with no diminutive suffix at all.

        "статистика", "статистику" are forms of "статистика" and of "статистик" (one who does
        statistics, which the suffix test reads as a little "статист"); "аналитика", "техники"
        likewise. The word said is then the ordinary noun. Only dictionary words: pymorphy3's
        guesses for an unknown word ("кодик") offer lemmas that mean nothing.
        """
        if not known_word(word):
            return False
        lemmas = {_e(p.normal_form) for p in nouns}
        if len(lemmas) < 2:
            return False
        return any(not any(lemma.endswith(suffix) for suffix, _ in self.suffixes) for lemma in lemmas)

    def _found(self, lemma: str, base: str, parse: Any, dim: Any | None, word: str) -> Found:
        """The diminutive and its plain word; a base that is itself a listed diminutive
        ("минуточка" -> "минутка" -> "минута", "номерочек" -> "номерок" -> "номер") is followed."""
        if base in self.words:
            return Found(lemma, self.words[base], self._listed(base, dim).base_form)
        return Found(lemma, base, self._inflect(parse, dim, word))

    def _listed(self, lemma: str, dim: Any | None) -> Found:
        plain = self.words[lemma]
        nouns = _nouns(plain)
        form = self._inflect(nouns[0], dim, plain) if nouns and dim is not None else plain
        return Found(lemma, plain, form)

    def wanted(self, found: Found) -> bool:
        if self.bases and found.base not in self.bases:
            return False
        return found.base not in self.skip_bases

    # --- a line -------------------------------------------------------------------------------
    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        doc = as_doc(tokens)
        hits = []
        seen = self._cache  # `analyse` without the call for a word seen before: this loop runs per word
        for words, asked, looks in _words_to_check(doc):
            for i, split in looks:
                tok = words[i]
                core = _core(tok)
                found = seen[core] if core in seen else self.analyse(core)
                tokens_hit = [tok]
                if found is not None and _split_off_letter(words, i):
                    found = None  # the longer word was said: "в торник", "с кидочку" (set 19)
                if found is None:
                    if not split or (core in SPLIT_SUFFIXES and _ends_a_phrase(utt.text, tok)):
                        continue  # "Адрес ок, всё верно": the English "OK", not "адресок"
                    found = self._joined(words[i - 1], tok, split)
                    if found is None:
                        continue
                    tokens_hit = [words[i - 1], tok]
                if not self.wanted(found) or self._named_in_full(found, utt, state):
                    continue
                # a word ASR split in two is named whole ("фоточка", not its tail "чку")
                word = core if len(tokens_hit) == 1 else found.lemma
                hits.append(self._hit(utt.text, words, asked, i, tokens_hit, found, word))
        return hits

    def _named_in_full(self, found: Found, utt: Utterance, state: Any) -> bool:
        """Whether the call has named the thing in full before or in this line (`ordinary_after`):
        after the customer's "У меня швейная машинка…", the agent's "машинка" is what everyone
        calls a sewing machine (held-out set 32, every copy), not a small car."""
        full = self.ordinary_after.get(found.lemma)
        if not full:
            return False
        analyzer = analyzer_for(self.language)
        lines = getattr(state, "utterances", [])
        facts = getattr(state, "facts", {})
        read, said = facts.get(f"{self.id}.said", (0, frozenset()))  # the call's words, read once
        said = said | {t.lemma for line in lines[read:] for t in analyzer.tokens(line.text)}
        facts[f"{self.id}.said"] = (len(lines), said)
        if not lines or lines[-1] is not utt:  # the engine records the line before its rules run
            said = said | {t.lemma for t in analyzer.tokens(utt.text)}
        return not full.isdisjoint(said)

    def _joined(self, prev: Token, tok: Token, split: int) -> Found | None:
        """The diminutive ASR split in two. With a part no dictionary word ("секун дочку"), the
        two joined. With two dictionary words ("секунд дочку", "минут очку": Whisper cuts where a
        word ends), only a diminutive of the first word's own noun, the letter at the cut read
        once or twice ("секунд|дочку" is "секундочку"), or the first word's case ending dropped
        ("секунду|дочку"): "пять минут дочка" is no "минуточка"."""
        tail = _core(tok)
        if split == GARBLED_SPLIT:
            found = self.analyse(prev.lower + tail)
            if found is None and tail.startswith("ч") and prev.lower[-1:] in VOWELS:
                # the suffix's "о"/"е" written as the first word's case ending: "минуты чку" is
                # "минуточку" (held-out set 32, 8 kHz); only a diminutive of that word
                for vowel in "ое":
                    joined = self.analyse(prev.lower[:-1] + vowel + tail)
                    if joined is not None and joined.base == prev.lemma:
                        return joined
            return found
        heads = [prev.lower]
        if prev.lower[-1] in VOWELS and len(prev.lower) > 4:
            heads.append(prev.lower[:-1])  # "секунду дочку" (held-out set 28): a case ending ASR added
        joins = []
        for head in heads:
            joins.append((head, head + tail))
            if head[-1] == tail[0]:
                joins.append((head, head + tail[1:]))
        for head, joined in joins:
            found = self.analyse(joined)
            if found is not None and (found.base == prev.lemma or _cut_base(head, prev, found)):
                return found
        return None

    def _hit(self, text: str, words: list[Token], asked: bool, i: int, tokens_hit: list[Token],
             found: Found, word: str) -> Hit:
        base_form = found.base_form
        if words[i].text[:1].isupper():
            base_form = base_form[:1].upper() + base_form[1:]
        plain = sentence_text(text, words, asked, replace={i: base_form},
                              drop={i - 1} if len(tokens_hit) == 2 else None)
        # the whole sentence back only when it is short and clean: a longer one repeats ASR's
        # slips ("У вам ссылку для сброса пары ли?"); then the plain word alone
        ok = fits(plain, PLAIN_MAX_WORDS) and not any(ch.isdigit() for ch in plain) and known_words(
            plain, self.language)
        return Hit(tokens=tokens_hit, details={
            "word": word, "lemma": found.lemma, "base": found.base, "base_form": found.base_form,
            "plain": plain if ok else "", "fallback": not ok,
        })

    def verification_candidates(self, utt: Utterance, tokens: list[Token], hits: list[Hit],
                                floor: float) -> list[Candidate]:
        """A word no dictionary knows that reads like a diminutive the dictionary has ("талончет":
        "талончик"; letters within `NEAR_SIMILARITY`, the start the same), or two words ASR split
        one into ("пас -партик": "паспортик"; either part no dictionary word, as `check_utterance`
        joins them): the audio decides whether the diminutive was said (coach.verify), as for a
        phrase rule's near miss. Both readings are the decoded line but for this word
        (`NEAR_WORD_MIN_MEAN`). A word that already ends like a diminutive ("минуточчик") is left
        to the line's second reading (`wants_line_reread`), which gives the word as said and its
        times; this is for the garbles that reading is not asked about. Such a word whose plain
        word is garbled as well ("пасмортик" for "паспортик": no dictionary holds either) is also
        asked of the audio, as the diminutive of the dictionary noun one letter from its stem
        (`_near_by_stem`): beam 5 read it "пасмортик" again."""
        doc = as_doc(tokens)
        taken = {id(t) for hit in hits for t in hit.tokens}
        out = []
        for words, asked in sentences(doc):
            cores = [_core(w) for w in words]
            for i, tok in enumerate(words):
                core = cores[i]
                if id(tok) in taken or not core.isalpha() or _split_off_letter(words, i):
                    continue  # "на волочки" is "наволочки", nothing garbled
                reads = [([tok], core)]
                split = i > 0 and len(core) >= 3 and cores[i - 1].isalpha()  # not "водоча и"
                if split and id(words[i - 1]) not in taken and not (
                        known_word(cores[i - 1]) and known_word(core)):
                    reads.append(([words[i - 1], tok], cores[i - 1] + core))
                best = None
                cut = (core == "к" and i > 0 and id(words[i - 1]) not in taken
                       and not (i + 1 < len(words) and "datv" in words[i + 1].tags))  # "машина к вам"
                if cut and (near := self._cut_ok(words[i - 1])) is not None:
                    best = (near, [words[i - 1], tok])
                for quoted, heard in reads:
                    if len(heard) < 6 or known_word(heard):
                        continue
                    # a diminutive's ending: the plain word inside may be garbled too ("пасмортик")
                    near = self._near_by_stem(heard) if _garbled_diminutive(heard) else \
                        self._near_diminutive(heard)
                    if near is not None and (best is None or near[0] > best[0][0]):
                        best = (near, quoted)
                if best is None:
                    continue
                (score, form, found), quoted = best
                said = form[:1].upper() + form[1:] if quoted[0].text[:1].isupper() else form
                hit = self._hit(utt.text, words, asked, i, quoted, found, form)
                if cut and quoted[-1] is tok:  # the "к" was half the word: the sentence cannot be said back
                    hit.details.update(plain="", fallback=True)
                out.append(Candidate(self.id, NEAR, form, quoted, quoted[0].start_char, quoted[-1].end_char,
                                     said=said, score=score, hit=hit, margin=NEAR_WORD_MARGIN,
                                     min_mean=NEAR_WORD_MIN_MEAN))
        return out

    def _cut_ok(self, prev: Token) -> tuple[float, str, Found] | None:
        """"адреса к" for "адресок", "номера к" for "номерок" (held-out set 28, three lines on
        all three copies): Whisper hears the "-ок" diminutive of a noun as the noun's plural and
        the preposition "к". Only the diminutive of that very noun, and only asked of the audio:
        "через два часа к вам приедут" is said as often. Never before a dative, which the "к"
        governs: "Тогда машина к вам приезжает первой" (held-out set 40, the audio took it)."""
        word = prev.lower
        if len(word) < 4 or word[-1] not in "ао" or not word.isalpha():
            return None
        form = word[:-1] + "ок"
        found = self.analyse(form)
        if found is None or not self.wanted(found) or found.base != prev.lemma:
            return None
        return Levenshtein.normalized_similarity(word + "к", form), form, found

    def hit_for(self, candidate: Candidate) -> Hit:
        return candidate.hit

    def _near_diminutive(self, word: str) -> tuple[float, str, Found] | None:
        """The dictionary diminutive (this rule's) closest to a garbled word (`_near_forms`)."""
        for score, form in _near_forms(word):
            found = self.analyse(form)
            if found is not None and self.wanted(found):
                return score, form, found
        return None

    def _near_by_stem(self, word: str) -> tuple[float, str, Found] | None:
        """The diminutive a garbled one was, when its plain word is garbled too: the word split
        as stem + one of this rule's suffixes + up to 3 letters of ending ("пасморт|ик|"), and a
        dictionary noun that starts like it (3 letters, or with one unstressed vowel of them read
        the other way: "чимодан|чик|ов" is "чемодан") and, less one of the suffix's base
        endings, differs from the stem in one letter inside it ("паспорт"; not the last, where
        suffixes alternate consonants and drop vowels) gives the form to ask the audio about
        ("паспортик"), if `analyse` takes it as this rule's diminutive. Closest first, then in
        letter order (the same every run); cached per word."""
        cache = self._stem_cache
        if word in cache:
            return cache[word]
        best: tuple[float, str, Found] | None = None
        if any(len(e) >= 5 and word.startswith(e[:-1]) for e in self.exceptions):
            cache[word] = None  # a form of an exception ("карточков"): no other diminutive ("корточков")
            return None
        for suffix, endings in self.suffixes:
            for core, tail in _surface_splits(word, suffix):
                cut = len(word) - len(tail)
                stem = word[: cut - len(core)]
                if len(stem) < max(3, self.min_base - 1):
                    continue
                for plain, varied in _stem_words_near(stem[:3]):
                    if varied and len(plain) < VARIED_MIN_PLAIN:
                        continue  # "сарика" (Whisper's "садика") is no little "сор"
                    for ending in endings:
                        near_stem = plain[: len(plain) - len(ending)]
                        if (ending and not plain.endswith(ending)) or len(near_stem) != len(stem):
                            continue
                        # one letter inside the stem: its last letter is where suffixes alternate
                        # and drop vowels ("звоноч|ик" is no "звон|чик"), ASR's own slips elsewhere
                        if near_stem[-1] != stem[-1] or Levenshtein.distance(near_stem, stem) != 1:
                            continue
                        form = near_stem + core + tail
                        found = self.analyse(form)
                        if found is None or not self.wanted(found):
                            continue
                        score = Levenshtein.normalized_similarity(word, form)
                        if best is None or (score, best[1]) > (best[0], form):
                            best = (score, form, found)
        if len(cache) > 20_000:
            cache.clear()
        cache[word] = best
        return best

    rereads_lines: ClassVar[bool] = True

    def wants_line_reread(self, utt: Utterance, tokens: list[Token], hits: list[Hit]) -> bool:
        """A line with a word no dictionary knows that ends like a diminutive and is none ("бы
        мажечку" for "бумажечку", "пасмортик" for "паспортик"): read again
        (`Rulebook._line_read_again`). Most diminutives are in no dictionary either."""
        words = as_doc(tokens).words
        looks = [_core(w) for w in words]
        return any(_garbled_diminutive(w) and self.analyse(w) is None for w in looks)

    def finding_key(self, hit: Hit) -> str:
        return str(hit.details.get("lemma", ""))

    def values(self, hit: Hit) -> dict[str, str]:
        return {"plain": hit.details.get("plain", ""), "word": hit.details.get("word", ""),
                "base": hit.details.get("base_form", "")}


# How the word before may be the first half of a diminutive ASR split in two (`_words_to_check`).
NO_SPLIT, GARBLED_SPLIT, WORDS_SPLIT = 0, 1, 2


GLUED_PREPOSITIONS = ("во", "в", "ко", "к", "со", "с")  # Whisper writes "окошечково вторник"
VOWELS = frozenset("аеёиоуыэюя")
# short words Whisper runs into the next: "ифоточку", "дозаявочки" (held-out set 34, 8 kHz)
GLUED_LEADS = frozenset([*"иавксуо", "до", "по", "на", "за", "из", "от", "об", "ко", "во", "со"])


def _glued_head(word: str) -> str | None:
    """The dictionary word before a preposition Whisper ran into it ("окошечково" for "окошечко
    во…"), when the word as written is none: the diminutive is the head, said in full."""
    if known_word(word):
        return None
    for tail in GLUED_PREPOSITIONS:
        head = word[: -len(tail)]
        if word.endswith(tail) and len(head) >= 5 and known_word(head):
            return head
    return None


def _cut_base(head: str, prev: Token, found: Found) -> bool:
    """Whether the first word, less the case ending ASR added, is the start of the diminutive's
    plain word: "миную точку" is "мину|точку", "минуточку" (held-out set 39), where "миную" is a
    verb of its own; "пять минут дочка" joins into no diminutive of "минута"."""
    return head != prev.lower and len(head) >= 4 and found.base.startswith(head)


def _ends_a_phrase(text: str, tok: Token) -> bool:
    """Whether punctuation or the line's end follows the word."""
    return text[tok.end_char :].lstrip()[:1] in ("", ",", ".", "!", "?", "…", ";", ":", "-", "—")


RUN_TOGETHER_MIN = 4  # letters of the second word: shorter pieces are everywhere ("очку", "чик")


def _run_together(word: str, stem_len: int) -> bool:
    """Whether a word no dictionary knows is two dictionary words written as one, cut past the
    diminutive's stem: "фоточека" is "фото чека" (held-out set 16), not pymorphy3's guess "фоточек",
    a little "фот". Whisper drops the space between short words. A cut inside the stem explains
    nothing ("выпи|сочку" in "выписочку"), and a real diminutive the dictionary lacks ("кодик",
    "анализики") has no such cut: its suffix is no word."""
    if known_word(word):
        return False
    return any(known_word(word[:k]) and known_word(word[k:])
               for k in range(stem_len + 1, len(word) - RUN_TOGETHER_MIN + 1))


def _core(tok: Token) -> str:
    """The word without the hyphens Whisper puts at a piece it heard as cut off ("секунд
    -дочку", held-out set 33 at 8 kHz; "пас -партик" for "паспортик")."""
    return tok.lower.strip("-")


def _split_kind(prev: Token, tok: Token) -> int:
    if not prev.text.isalpha():
        return NO_SPLIT
    if not (known_word(prev.lower) and known_word(_core(tok))):
        return GARBLED_SPLIT  # "секун дочку", "номер очек": a part is no dictionary word
    return WORDS_SPLIT  # "секунд дочку": both words; `DiminutiveRule._joined` is stricter then


def _words_to_check(doc: Doc) -> list[tuple[list[Token], bool, list[tuple[int, int]]]]:
    """Per sentence (`sentences`): its words, whether it asks, and the words worth a look (4+
    letters, or a 3-letter tail no dictionary word after a word: "фото чку" is "фоточку"), each
    with how the word before may be the first half of a diminutive ASR split in two
    (`_split_kind`). Once per line for all the diminutive rules (a pack has several: money,
    waiting, the rest)."""
    looks = doc.memo.get(_words_to_check)
    if looks is None:
        quoted = _quoted(doc)
        looks = doc.memo[_words_to_check] = [
            (words, asked, [(i, _split_kind(words[i - 1], tok) if i > 0 else NO_SPLIT)
                            for i, tok in enumerate(words) if _core(tok).isalpha() and (
                                len(_core(tok)) >= 4 or _garbled_tail(words, i))
                            and tok.start_char not in quoted])
            for words, asked in sentences(doc)]
    return looks


def _quoted(doc: Doc) -> frozenset[int]:
    """Where the words between quotes start: a name in quotes is the company's or a product's
    ("регистратор «Доменика»", held-out set 39), however diminutive it sounds."""
    inside = False
    starts = set()
    for tok in doc:
        if tok.text in QUOTES:
            inside = not inside if tok.text == '"' else tok.text in OPENING_QUOTES
        elif inside:
            starts.add(tok.start_char)
    return frozenset(starts) if not inside else frozenset()  # an unclosed quote says nothing


def _garbled_tail(words: list[Token], i: int) -> bool:
    """A 3-letter word no dictionary knows, after a word: the end of a diminutive ASR cut off
    ("Пришлите фото чку новых прав", held-out set 11); or a diminutive suffix written as a word
    of its own ("Это номер ок телефона", held-out set 32, 8 kHz: `DiminutiveRule._joined` takes
    it only as a diminutive of the word before)."""
    if i == 0 or not words[i - 1].text.isalpha():
        return False
    lower = _core(words[i])
    return (len(lower) == 3 and not known_word(lower)) or lower in SPLIT_SUFFIXES


@lru_cache(maxsize=20_000)
def _near_forms(word: str) -> tuple[tuple[float, str], ...]:
    """Dictionary words a garbled word may have been, closest first (then in letter order, the
    same every run): those that start with the word less its last 2-4 letters (at least 5 kept: a
    shorter start matches thousands), within 2 letters of its length and `NEAR_SIMILARITY` alike.
    The shortest start holds the longer ones' words too, so one prefix walk serves; once per word
    for all the diminutive rules of a pack (each then keeps the first it would report)."""
    keep = max(5, len(word) - 4)
    if len(word) - keep < 2:
        return ()
    scored = []
    for form in set(_dictionary_words(word[:keep])):
        if abs(len(form) - len(word)) <= 2:
            score = Levenshtein.normalized_similarity(word, form, score_cutoff=NEAR_SIMILARITY)
            if score:
                scored.append((score, form))
    return tuple(sorted(scored, key=lambda sf: (-sf[0], sf[1])))


def _surface_splits(word: str, suffix: str) -> list[tuple[str, str]]:
    """Where a dictionary-form suffix may sit in an inflected word, as (the suffix as written,
    the ending after it, up to 3 letters): "очка" as "очк" + "у" in "заявочку", "очек" as "очк"
    + "а" in "номерочка" (the fleeting vowel), "ик" as "ик" + "ом"."""
    cores = {suffix}
    if suffix[-1] in "аоя":
        cores.add(suffix[:-1])
    if suffix.endswith(("очек", "ечек")):
        cores.add(suffix[:-2] + "к")
    return [(core, word[len(word) - tail:] if tail else "") for core in sorted(cores) for tail in range(4)
            if len(word) - tail > len(core) and word[: len(word) - tail].endswith(core)]


@lru_cache(maxsize=2_000)
def _stem_words(start: str) -> tuple[str, ...]:
    """Dictionary word forms that start with `start` (3 letters): the plain words a garbled
    diminutive's stem may stand for (`analyse` then keeps only nouns in their dictionary form);
    sorted, so every run tries them in one order."""
    return tuple(sorted({_e(w) for w in _dictionary_words(start) if w.isalpha()}))


# Unstressed vowels Whisper writes either way ("чимоданчик" for "чемоданчик", held-out set 17): a
# garbled stem's start is looked up with each of them in place of the other.
REDUCED_VOWELS = {"е": "и", "и": "е", "я": "е", "о": "а", "а": "о"}
VARIED_MIN_PLAIN = 4  # letters of a plain word reached through a varied vowel: short ones are everywhere


def _stem_words_near(start: str) -> tuple[tuple[str, bool], ...]:
    """`_stem_words` of the start as written, then with one unstressed vowel in it read the other
    way (`REDUCED_VOWELS`), each word with whether its start was so varied."""
    varied = [start[:k] + REDUCED_VOWELS[ch] + start[k + 1 :]
              for k, ch in enumerate(start) if ch in REDUCED_VOWELS]
    return (tuple((w, False) for w in _stem_words(start))
            + tuple((w, True) for s in varied for w in _stem_words(s)))


GARBLED_ENDING = re.compile(r"(?:ик|чк|ечек|очек|ецо)[а-яё]{0,3}$")
CHK_INSIDE = re.compile(r"[оеё]ч(?:к|ек)[а-яё]{0,3}$")  # "заявочки", "листочек"


@lru_cache(maxsize=20_000)
def _garbled_diminutive(lower: str) -> bool:
    """A word of 6+ letters no dictionary knows, ending like a diminutive: worth a second reading."""
    if len(lower) < 6 or not lower.isalpha() or not GARBLED_ENDING.search(lower):
        return False
    return not known_word(lower)


def _split_off_letter(words: list[Token], i: int) -> bool:
    """The word is the rest of a longer one whose first letter ASR wrote as a preposition: "в
    торник" for "вторник" (held-out set 9), which reads as a diminutive of "торн". A one-letter
    word before it that makes a dictionary word with it ("вторник") means the longer word was
    said, and is read instead ("с кидочку" is "скидочку", held-out set 19); "с ключиком" joins
    into no word and stays. A two-letter preposition likewise: "На волочки тоже заменим" is
    "наволочки" (held-out set 41), no little "воля"."""
    if i == 0 or words[i - 1].end_char + 1 != words[i].start_char:
        return False
    lead = words[i - 1].lower
    if not (len(lead) == 1 or (len(lead) == 2 and lead in GLUED_LEADS)):
        return False
    return known_word(lead + words[i].lower)
