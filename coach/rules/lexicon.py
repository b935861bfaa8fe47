"""pymorphy3's answers for one word, cached per word, for the rules that ask them on every line.

`MorphAnalyzer.word_is_known` walks the dictionary's DAWG letter by letter
(with the ё/е substitutions) on every call, some 20 µs. The diminutive rules
ask it for nearly every word of every agent line (is the first half of an
ASR-split word a word?), the name rules and the suggestion checks for more:
a fifth of all rule time went there. Call-centre speech reuses a small
vocabulary, so the answer is kept per word; it never changes while the
process runs (the dictionary is read once, `coach.nlp._morph_analyzer`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from coach.nlp import _morph_analyzer


@lru_cache(maxsize=100_000)
def known_word(word: str) -> bool:
    """Whether pymorphy3's dictionary holds the word (as `MorphAnalyzer.word_is_known(word)`)."""
    return _morph_analyzer().word_is_known(word)


@lru_cache(maxsize=50_000)
def parses(word: str) -> tuple[Any, ...]:
    """`MorphAnalyzer.parse(word)`, as a tuple (shared: never to be changed). A new word is parsed
    by each of the three diminutive rules, twice each, and by the name book: once is enough."""
    return tuple(_morph_analyzer().parse(word))


@lru_cache(maxsize=20_000)
def dictionary_words(prefix: str) -> tuple[str, ...]:
    """Every word form of pymorphy3's dictionary that starts with `prefix` (its DAWG's prefix walk):
    the forms a garbled word may have been."""
    return tuple(_morph_analyzer().dictionary.words.keys(prefix))
