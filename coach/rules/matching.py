"""Finding a phrase in an utterance on lemmas, tolerant of ASR noise.

Three passes, cheapest first:
1. lemma sequence: the phrase's lemmas in order, with up to `max_gap` other
   words between them ("не надо на меня кричать" ~ "не надо кричать");
2. per-word fuzz: a word of 4+ letters may differ by one letter (two from 8),
   a two-letter word in its second letter, for a like vowel ("нэ", "ни" ~
   "не", but not "на"); one-letter words
   must be exact, or "и в Новосибирске" would pass for "я в Новосибирске";
   a difference that is only a prefix is not a slip: it flips the meaning
   ("неправильно" / "правильно"), unless the longer word is no Russian word
   at all ("издравствуйте": ASR glued a sound on);
3. squashed window: the phrase's letters without spaces against a window of
   n-1 or n+1 words without spaces, which catches merged or split words
   ("некричите").

Speed (rules must never limit live use): every utterance is wrapped once in a
`Doc` shared by all rules. Each distinct word is compared once against every
phrase word of the rulebook (`coach.rules.index.PhraseIndex`, owned by the
Rulebook, so a company's phrases never reach another rulebook), so per
utterance a phrase costs a set test: its word-level pass runs only if every one
of its words matched some token, and its squashed pass only if enough of its
letter trigrams occur in the utterance. Both tests are necessary conditions of
the passes they guard, and the word pass itself looks each word's matches up
instead of comparing letters again (the index holds exactly what
`word_matches` answers), so they change speed, never results; a phrase the
index does not hold is simply matched without them. What several rules ask of
one line (a phrase's spans, its sentences, the name reads) is kept on the Doc.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rapidfuzz.distance import Levenshtein
from rapidfuzz.fuzz import partial_ratio

from coach.nlp import TextAnalyzer, Token
from coach.rules.lexicon import known_word

if TYPE_CHECKING:
    from coach.rules.index import PhraseIndex

SQUASH_THRESHOLD = 0.87
Key = tuple[str, str]  # (lemma, lower) of one phrase word


@dataclass(frozen=True, eq=False)
class Phrase:
    """A phrase pattern, lemmatised once at load time (compared and hashed by identity)."""

    text: str
    lemmas: tuple[str, ...]
    lowers: tuple[str, ...]
    squashed: str
    keys: frozenset[Key] = frozenset()
    grams: frozenset[str] = frozenset()
    min_grams: int = 0


def _trigrams(text: str) -> frozenset[str]:
    return frozenset({text[i : i + 3] for i in range(len(text) - 2)})


def _min_grams(squashed: str, grams: frozenset[str], threshold: float) -> int:
    """Distinct trigrams that must survive for a squashed match at `threshold`.

    A window within the threshold is at most `d` edits from the phrase (the
    window may be up to len/threshold long), and one edit breaks at most three
    trigrams, so at least len(grams) - 3d distinct trigrams remain intact.
    """
    longest = len(squashed) / threshold
    d = int((1 - threshold) * longest + 1e-9)
    return max(0, len(grams) - 3 * d)


@lru_cache(maxsize=50_000)
def compile_phrase(text: str, analyzer: TextAnalyzer) -> Phrase:
    """The phrase as lemmas, lower-cased forms and letter trigrams, computed once at load.

    One Phrase per text and analyzer: rules that list the same phrase (the three name rules
    share theirs through YAML anchors) get the same object, so an utterance's `Doc.find`
    matches it once for all of them.
    """
    tokens = [t for t in analyzer.tokens(text) if not t.is_punct]
    lemmas = tuple(t.lemma for t in tokens)
    lowers = tuple(t.lower for t in tokens)
    squashed = "".join(lowers)
    grams = _trigrams(squashed)
    return Phrase(
        text, lemmas, lowers, squashed, frozenset(zip(lemmas, lowers)), grams,
        _min_grams(squashed, grams, SQUASH_THRESHOLD),
    )


def _allowed_edits(length: int) -> int:
    if length < 4:
        return 1 if length == 2 else 0  # "нэ" ~ "не"; one-letter words must be exact
    return 1 if length < 8 else 2


def word_matches(token: Token, lemma: str, lower: str, fuzzy: bool) -> bool:
    if token.lemma == lemma or token.lower == lower:
        return True
    if not fuzzy:
        return False
    edits = _allowed_edits(len(lower))
    if edits == 0:
        return False
    if len(lower) == 2:  # a two-letter word may differ only in its second letter, a like vowel
        t = token.lower
        return len(t) == 2 and t[0] == lower[0] and _LIKE_VOWELS.get(t[1], t[1]) == _LIKE_VOWELS.get(
            lower[1], lower[1])
    if _near(token.lower, lower, edits):
        return True
    # by the lemma only when the word said is no dictionary word: a garble's guessed lemma may be a
    # slip of the phrase's, but a real word's lemma one letter off is another word ("вы знаете" is
    # no "вас зовут": знать / звать, held-out set 35)
    return _near(token.lemma, lemma, edits) and not _real_other_word(token.lower, token.lemma, lemma)


def _russian(word: str) -> bool:
    """Whether the word has Cyrillic letters: only those can be asked of pymorphy3's dictionary."""
    return any("а" <= ch <= "я" for ch in word)


@lru_cache(maxsize=50_000)
def _real_other_word(word: str, lemma: str, phrase_lemma: str) -> bool:
    return lemma != phrase_lemma and _russian(word) and known_word(word)


# Negative particles of the packs' languages: a phrase with one and a window without it say
# opposite things, however close their letters (and the audio of "can"/"can't" is close too).
NEGATIONS = frozenset({"не", "ни", "нет", "not", "n't", "nt", "no", "never", "cannot", "nu", "ikke", "ei",
                       "pole", "mitte"})



def negations(words: Iterable[str]) -> int:
    """How many of these (lower-cased) words are negative particles."""
    return sum(1 for w in words if w in NEGATIONS)


# Vowels ASR confuses in short unstressed words: "нэ"/"ни" for "не", but "на" is another word.
_LIKE_VOWELS = {c: group[0] for group in ("еэиёы", "аоя", "ую", "ei", "ao") for c in group}


def _near(a: str, b: str, edits: int) -> bool:
    """Within `edits`, but not by a prefix alone: "неправильно" is not a slip of "правильно".

    Unless the longer word is no word at all: ASR glues a sound onto a word it hears badly
    ("издравствуйте" for "здравствуйте"); a Russian word pymorphy3 does not know, whose extra
    beginning is not a negation ("не", "ни": "некричите" is "не кричите"), is a slip.
    """
    if Levenshtein.distance(a, b, score_cutoff=edits) > edits:
        return False
    if a == b or not (a.endswith(b) or b.endswith(a)):
        return True
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return _glued_noise(longer, longer[: len(longer) - len(shorter)])


@lru_cache(maxsize=20_000)
def _glued_noise(word: str, head: str) -> bool:
    if head.startswith(("не", "ни")) or not _russian(word):
        return False
    return not known_word(word)


class Doc(list):
    """One utterance's tokens (it is the token list) plus what matchers share, computed once.

    `index` is the rulebook's phrase index; without one, phrases are matched
    without the index shortcuts (same results, slower).
    """

    def __init__(self, tokens: list[Token], index: PhraseIndex | None = None):
        super().__init__(tokens)
        self.index = index
        self.words: list[Token] = [t for t in tokens if not t.is_punct]
        self.squashed = "".join([w.lower for w in self.words])
        self._grams: frozenset[str] | None = None
        self._keys: dict[bool, frozenset[Key]] = {}
        self._word_keys: dict[bool, list[frozenset[Key]]] = {}
        self._word_candidates: dict[bool, set[Phrase]] = {}
        self._squash_candidates: set[Phrase] | None = None
        self._candidates: dict[bool, set[Phrase]] = {}
        self._found: dict[tuple[Phrase, int, bool], tuple[tuple[int, int], ...]] = {}
        self.memo: dict[object, object] = {}  # other per-utterance results rules share (name reads...)

    def without_fillers(self, fillers: tuple[Any, ...]) -> tuple[Doc, list[int]] | None:
        """This line with the filler words the `fillers` rules find taken out (their
        `occurrences`), and each remaining word's index among `words`; None when it has none.

        "я тут, как бы, только вторую неделю" is "я тут только вторую неделю" said with a filler in
        it: a phrase rule reads this copy too, so a filler does not use up its `max_gap`. Computed
        once per line for every phrase rule of the rulebook (they share its filler rules)."""
        key = ("without_fillers", *map(id, fillers))
        if key in self.memo:
            return self.memo[key]  # type: ignore[return-value]
        out: tuple[Doc, list[int]] | None = None
        drop: set[int] = set()
        for rule in fillers:
            runs, _ = rule.occurrences(self)
            drop.update(id(tok) for run in runs for tok in run.tokens)
        if drop:
            shorter = Doc([t for t in self if id(t) not in drop], self.index)
            where = {id(w): i for i, w in enumerate(self.words)}
            out = (shorter, [where[id(w)] for w in shorter.words])
        self.memo[key] = out
        return out

    def find(self, phrase: Phrase, max_gap: int, fuzzy: bool) -> tuple[tuple[int, int], ...]:
        """`find_phrase` on this utterance's words, computed once per (phrase, max_gap, fuzzy):
        several rules match the same phrases (name, greeting and closing rules)."""
        key = (phrase, max_gap, fuzzy)
        spans = self._found.get(key)
        if spans is None:
            spans = self._found[key] = tuple(find_phrase(phrase, self.words, max_gap, fuzzy, doc=self))
        return spans

    @property
    def grams(self) -> frozenset[str]:
        if self._grams is None:
            self._grams = _trigrams(self.squashed)
        return self._grams

    def word_keys(self, fuzzy: bool) -> list[frozenset[Key]]:
        """Per word, the indexed phrase words it matches: for those, what `word_matches` answers,
        looked up once per distinct word (`PhraseIndex.matches`) instead of computed per phrase."""
        keys = self._word_keys.get(fuzzy)
        if keys is None:
            index = self.index
            assert index is not None, "word_keys needs a Doc built with the rulebook's index"
            keys = self._word_keys[fuzzy] = [index.matches(w)[1 if fuzzy else 0] for w in self.words]
        return keys

    def matched_keys(self, fuzzy: bool) -> frozenset[Key]:
        keys = self._keys.get(fuzzy)
        if keys is None:
            keys = self._keys[fuzzy] = frozenset().union(*self.word_keys(fuzzy))
        return keys

    def candidates(self, fuzzy: bool) -> set[Phrase]:
        """Indexed phrases that either pass could find here (see `may_match`)."""
        out = self._candidates.get(fuzzy)
        if out is None:
            cands = self._word_candidates.get(fuzzy)
            if cands is None:
                cands = self._word_candidates[fuzzy] = self._by_words(fuzzy)
            if fuzzy:
                if self._squash_candidates is None:
                    self._squash_candidates = self._by_grams()
                cands = cands | self._squash_candidates
            out = self._candidates[fuzzy] = cands
        return out

    def may_match(self, phrase: Phrase, fuzzy: bool) -> bool:
        """False only when neither the word pass nor the squashed pass can find the phrase.

        Decided for all indexed phrases at once, from inverted indexes: a
        phrase is a word-pass candidate when every one of its words matched
        some token, a squashed-pass candidate when enough of its trigrams occur.
        The phrase must be in the index (`find_phrase` checks).
        """
        cands = self._word_candidates.get(fuzzy)
        if cands is None:
            cands = self._word_candidates[fuzzy] = self._by_words(fuzzy)
        if phrase in cands:
            return True
        if not fuzzy or len(phrase.squashed) < 6:
            return False
        if self._squash_candidates is None:
            self._squash_candidates = self._by_grams()
        return phrase in self._squash_candidates

    def _by_words(self, fuzzy: bool) -> set[Phrase]:
        keys = self.matched_keys(fuzzy)
        by_anchor = self.index.phrases_by_anchor
        return {
            phrase
            for key in keys
            for phrase in by_anchor.get(key, ())
            if phrase.keys <= keys
        }

    def _by_grams(self) -> set[Phrase]:
        """Phrases with at least `min_grams` of their trigrams in this line (and the unfiltered)."""
        index = self.index
        grams = self.grams
        get = index.phrases_by_gram.get
        need = index.gram_hits
        hits: dict[Phrase, int] = {}
        out = set(index.unfiltered)
        for gram in grams:
            for phrase in get(gram, ()):
                count = hits[phrase] = hits.get(phrase, 0) + 1
                if count == need[phrase] and len(phrase.grams & grams) >= phrase.min_grams:
                    out.add(phrase)
        return out


def as_doc(tokens: list[Token]) -> Doc:
    return tokens if isinstance(tokens, Doc) else Doc(tokens)


def find_phrase(
    phrase: Phrase,
    words: list[Token],
    max_gap: int,
    fuzzy: bool,
    squash_threshold: float = SQUASH_THRESHOLD,
    doc: Doc | None = None,
) -> list[tuple[int, int]]:
    """Return (first, last) word-index spans where the phrase occurs (non-overlapping).

    `doc` (whose `.words` must be `words`) enables the index shortcuts.
    """
    spans: list[tuple[int, int]] = []
    n = len(phrase.lemmas)
    if n == 0 or not words:
        return spans
    if doc is not None and (doc.index is None or phrase not in doc.index.phrases):
        doc = None  # the index knows only the phrases of its rulebook
    if doc is not None and squash_threshold == SQUASH_THRESHOLD and not doc.may_match(phrase, fuzzy):
        return spans
    if doc is not None and phrase.keys <= doc.matched_keys(fuzzy):
        spans = _spans_by_keys(phrase, doc.word_keys(fuzzy), max_gap)
    elif doc is None:
        i = 0
        while i < len(words):
            span = _match_from(phrase, words, i, max_gap, fuzzy)
            if span:
                spans.append(span)
                i = span[1] + 1
            else:
                i += 1
    if spans:  # a word let in by `max_gap` must not negate the phrase: "i'm not new" is no "i'm new"
        allowed = negations(phrase.lowers)
        spans = [(a, b) for a, b in spans if negations(w.lower for w in words[a : b + 1]) <= allowed]
    if spans or not fuzzy or len(phrase.squashed) < 6:
        return spans
    if doc is not None:
        if squash_threshold == SQUASH_THRESHOLD and len(phrase.grams & doc.grams) < phrase.min_grams:
            return spans
        utter_squashed = doc.squashed
    else:
        utter_squashed = "".join(w.lower for w in words)
    if partial_ratio(phrase.squashed, utter_squashed) < squash_threshold * 100:
        return spans
    # Compare the squashed phrase against squashed windows of words.
    best: tuple[float, int, int] | None = None
    for start in range(len(words)):
        for size in (n - 1, n + 1):  # equal word counts were handled word by word
            if size < 1:
                continue
            end = start + size - 1
            if end >= len(words):
                break
            window = "".join(w.lower for w in words[start : end + 1])
            if window[0] != phrase.squashed[0] or window[-1] != phrase.squashed[-1]:
                continue  # a dropped or extra first/last word is a different phrase
            if not _same_negation(phrase, words[start : end + 1], window):
                continue  # "can see it from here" is one letter from "can't see it from here"
            score = Levenshtein.normalized_similarity(window, phrase.squashed)
            if score >= squash_threshold and (best is None or score > best[0]):
                best = (score, start, end)
    if best:
        spans.append((best[1], best[2]))
    return spans


def _same_negation(phrase: Phrase, window_words: list[Token], window: str) -> bool:
    """Whether a squashed window is negated as the phrase is: "can see it from here" is one letter
    from "can't see it from here" and says the opposite. A negated phrase needs a negative particle
    in the window, as a word ("cannot" for "can't") or merged into one ("некричите", "cant"); a
    phrase without one takes a window's particle only inside its own letters ("not thing i can
    do" is "nothing i can do"); apostrophes aside."""
    def bare(text: str) -> str:
        return text.replace("'", "")

    particles = [bare(w) for w in phrase.lowers if w in NEGATIONS]
    negations = [bare(w.lower) for w in window_words if w.lower in NEGATIONS]
    letters, said = bare(phrase.squashed), bare(window)
    if particles:
        return bool(negations) or all(p in said for p in particles)
    return all(n in letters for n in negations)


def _spans_by_keys(phrase: Phrase, keys_at: list[frozenset[Key]], max_gap: int) -> list[tuple[int, int]]:
    """The word pass of `find_phrase` for a phrase of the Doc's index: `_match_from` at every
    start, with each `word_matches` answered by a set lookup in `keys_at` (`Doc.word_keys`)."""
    spans: list[tuple[int, int]] = []
    keys = list(zip(phrase.lemmas, phrase.lowers))
    first, rest = keys[0], keys[1:]
    count = len(keys_at)
    i = 0
    while i < count:
        if first not in keys_at[i]:
            i += 1
            continue
        last = i
        for key in rest:
            for nxt in range(last + 1, min(count, last + 2 + max_gap)):
                if key in keys_at[nxt]:
                    last = nxt
                    break
            else:
                last = -1
                break
        if last < 0:
            i += 1
        else:
            spans.append((i, last))
            i = last + 1
    return spans


def _match_from(
    phrase: Phrase, words: list[Token], start: int, max_gap: int, fuzzy: bool
) -> tuple[int, int] | None:
    positions = match_positions(phrase, words, start, max_gap, fuzzy)
    return (positions[0], positions[-1]) if positions else None


def match_positions(
    phrase: Phrase, words: list[Token], start: int, max_gap: int, fuzzy: bool
) -> list[int] | None:
    """The word index each phrase word matched, the first at `start`, or None (the word pass)."""
    if not word_matches(words[start], phrase.lemmas[0], phrase.lowers[0], fuzzy):
        return None
    positions = [start]
    for lemma, lower in zip(phrase.lemmas[1:], phrase.lowers[1:]):
        for nxt in range(positions[-1] + 1, min(len(words), positions[-1] + 2 + max_gap)):
            if word_matches(words[nxt], lemma, lower, fuzzy):
                positions.append(nxt)
                break
        else:
            return None
    return positions


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]
