"""The phrase index of one rulebook: which phrase words each distinct word matches, and which
phrases a line's words or letters could hold (`coach.rules.matching.Doc` asks it per line).

Kept apart from the matching itself (`coach.rules.matching`): the index is a speed-up only, and
every answer it gives is one the matcher would give word by word (see `PhraseIndex.matches`).
"""

from __future__ import annotations

from collections import Counter

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from coach.nlp import Token
from coach.rules.matching import Key, Phrase, word_matches


class PhraseIndex:
    """Every phrase word of one rulebook, and which of them each distinct token matches.

    The answer for a token depends only on its (lower, lemma), and call-centre
    speech reuses a small vocabulary, so it is computed once per word. `rules`
    are the rules all of whose phrases are registered (they may decide from
    `Doc.candidates` alone).
    """

    def __init__(self) -> None:
        self.phrases: set[Phrase] = set()
        self.rules: set[object] = set()
        self.keys: set[Key] = set()
        self._cache: dict[tuple[str, str], tuple[frozenset[Key], frozenset[Key]]] = {}
        self._lowers: list[str] = []
        self._lemmas: list[str] = []
        self._by_lower: dict[str, list[Key]] = {}
        self._by_lemma: dict[str, list[Key]] = {}
        self.phrases_by_anchor: dict[Key, list[Phrase]] = {}  # by each phrase's rarest-looking word
        self.squashable: list[Phrase] = []  # phrases the squashed pass may find (6+ letters)
        self._by_gram: dict[str, list[Phrase]] | None = None  # see `phrases_by_gram`
        self.gram_hits: dict[Phrase, int] = {}  # ... and the signature trigrams a candidate holds
        self.unfiltered: list[Phrase] = []  # squashed pass possible, trigram test says nothing

    def register_rule(self, rule: object, phrases: list[Phrase]) -> None:
        for phrase in phrases:
            self.register(phrase)
        self.rules.add(rule)

    def register(self, phrase: Phrase) -> None:
        if phrase in self.phrases:
            return
        self.phrases.add(phrase)
        if phrase.keys:  # the longest word: "кричите", not "не", so few phrases share an anchor
            anchor = max(phrase.keys, key=lambda k: (len(k[1]), k))
            self.phrases_by_anchor.setdefault(anchor, []).append(phrase)
        if len(phrase.squashed) >= 6:
            if phrase.min_grams <= 0:
                self.unfiltered.append(phrase)
            self.squashable.append(phrase)
            self._by_gram = None
        new = phrase.keys - self.keys
        if not new:
            return
        self.keys |= new
        for key in new:
            self._by_lemma.setdefault(key[0], []).append(key)
            self._by_lower.setdefault(key[1], []).append(key)
        self._lemmas = list(self._by_lemma)
        self._lowers = list(self._by_lower)
        self._cache.clear()

    @property
    def phrases_by_gram(self) -> dict[str, list[Phrase]]:
        """Each squashable phrase under a few of its trigrams, its signature: a line holding at
        least `min_grams` of the phrase's G trigrams holds `gram_hits[phrase]` of these (of the
        G - min_grams + 2 rarest among the rulebook's phrases, at most G, at least two are there,
        or `min_grams` when that is less). So a line's trigrams find every phrase the squashed pass
        may need, and only a phrase seen that often is counted exactly (`Doc._by_grams`)."""
        if self._by_gram is None:
            seen = Counter(g for p in self.squashable for g in p.grams)
            self._by_gram, self.gram_hits = {}, {}
            for phrase in self.squashable:
                if phrase.min_grams > 0:
                    size = min(len(phrase.grams), len(phrase.grams) - phrase.min_grams + 2)
                    self.gram_hits[phrase] = size - (len(phrase.grams) - phrase.min_grams)
                    for gram in sorted(phrase.grams, key=lambda g: (seen[g], g))[:size]:
                        self._by_gram.setdefault(gram, []).append(phrase)
        return self._by_gram

    def matches(self, token: Token) -> tuple[frozenset[Key], frozenset[Key]]:
        """(keys matched exactly, keys matched allowing ASR slips) for one token.

        For every registered key exactly what `word_matches(token, *key, fuzzy)` answers: the word
        pass reads it instead of comparing letters (`Doc.word_keys`). Every key `word_matches` can
        accept is within two edits of the token's form or lemma, which `_compute` gathers first.
        """
        cache_key = (token.lower, token.lemma)
        found = self._cache.get(cache_key)
        if found is None:
            found = self._compute(token)
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[cache_key] = found
        return found

    def _compute(self, token: Token) -> tuple[frozenset[Key], frozenset[Key]]:
        exact = set(self._by_lemma.get(token.lemma, ())) | set(self._by_lower.get(token.lower, ()))
        candidates: set[Key] = set()
        for text, pool, by in ((token.lower, self._lowers, self._by_lower),
                               (token.lemma, self._lemmas, self._by_lemma)):
            for match, _score, _i in process.extract(
                text, pool, scorer=Levenshtein.distance, score_cutoff=2, limit=None
            ):
                candidates.update(by[match])
        fuzzy = exact | {k for k in candidates if word_matches(token, k[0], k[1], True)}
        return frozenset(exact), frozenset(fuzzy)
