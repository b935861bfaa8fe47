"""Finding a phrase in an utterance on lemmas, tolerant of ASR noise.

Three passes, cheapest first:
1. lemma sequence: the phrase's lemmas in order, with up to `max_gap` other
   words between them ("не надо на меня кричать" ~ "не надо кричать");
2. per-word fuzz: a word of 4+ letters may differ by one letter (two from 8),
   a two-letter word in its second letter ("нэ" ~ "не"); one-letter words
   must be exact, or "и в Новосибирске" would pass for "я в Новосибирске";
3. squashed window: the phrase's letters without spaces against a window of
   n-1 or n+1 words without spaces, which catches merged or split words
   ("некричите").
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein
from rapidfuzz.fuzz import partial_ratio

from coach.nlp import TextAnalyzer, Token


@dataclass(frozen=True)
class Phrase:
    """A phrase pattern, lemmatised once at load time."""

    text: str
    lemmas: tuple[str, ...]
    lowers: tuple[str, ...]
    squashed: str


def compile_phrase(text: str, analyzer: TextAnalyzer) -> Phrase:
    tokens = [t for t in analyzer.tokens(text) if not t.is_punct]
    lemmas = tuple(t.lemma for t in tokens)
    lowers = tuple(t.lower for t in tokens)
    return Phrase(text, lemmas, lowers, "".join(lowers))


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
    if len(lower) == 2:  # a two-letter word may differ only in its second letter
        return len(token.lower) == 2 and token.lower[0] == lower[0]
    return (
        Levenshtein.distance(token.lower, lower, score_cutoff=edits) <= edits
        or Levenshtein.distance(token.lemma, lemma, score_cutoff=edits) <= edits
    )


def find_phrase(
    phrase: Phrase, words: list[Token], max_gap: int, fuzzy: bool, squash_threshold: float = 0.87
) -> list[tuple[int, int]]:
    """Return (first, last) word-index spans where the phrase occurs (non-overlapping)."""
    spans: list[tuple[int, int]] = []
    n = len(phrase.lemmas)
    if n == 0 or not words:
        return spans
    i = 0
    while i < len(words):
        span = _match_from(phrase, words, i, max_gap, fuzzy)
        if span:
            spans.append(span)
            i = span[1] + 1
        else:
            i += 1
    if spans or not fuzzy or len(phrase.squashed) < 6:
        return spans
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
            score = Levenshtein.normalized_similarity(window, phrase.squashed)
            if score >= squash_threshold and (best is None or score > best[0]):
                best = (score, start, end)
    if best:
        spans.append((best[1], best[2]))
    return spans


def _match_from(
    phrase: Phrase, words: list[Token], start: int, max_gap: int, fuzzy: bool
) -> tuple[int, int] | None:
    if not word_matches(words[start], phrase.lemmas[0], phrase.lowers[0], fuzzy):
        return None
    pos = start
    for lemma, lower in zip(phrase.lemmas[1:], phrase.lowers[1:]):
        for nxt in range(pos + 1, min(len(words), pos + 2 + max_gap)):
            if word_matches(words[nxt], lemma, lower, fuzzy):
                pos = nxt
                break
        else:
            return None
    return start, pos


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]
