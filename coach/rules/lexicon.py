"""pymorphy3's "is this a dictionary word?", cached per word, for the rules that ask it on every line.

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

from coach.nlp import _morph_analyzer


@lru_cache(maxsize=100_000)
def known_word(word: str) -> bool:
    """Whether pymorphy3's dictionary holds the word (as `MorphAnalyzer.word_is_known(word)`)."""
    return _morph_analyzer().word_is_known(word)
