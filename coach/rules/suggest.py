"""Suggestions built from what the agent said: only when a person could read them out.

A rewritten sentence ("Вы хотите узнать о наших акциях?", "Продиктуйте номер
заказа.") is the best suggestion there is, and the worst when ASR cut the
sentence short ("Вы хотите"), garbled a word ("…в нашей хактеях?") or the
agent rambled for thirty words: the agent reads a suggestion mid-sentence.
So a kind that rewrites the agent's words checks the result with `fits` and
`known_words`, and shows the rule's `fallback_suggestion` when it fails.
"""

from __future__ import annotations

import re

from coach.nlp import Token
from coach.rules.lexicon import known_word

MAX_WORDS = 10
WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")


def words_of(text: str) -> list[str]:
    return WORD.findall(text)


def fits(text: str, max_words: int = MAX_WORDS) -> bool:
    """Short enough to read mid-sentence, and more than a fragment."""
    count = len(words_of(text))
    return 2 <= count <= max_words


def known_words(text: str, language: str) -> bool:
    """Every word is a dictionary word (Russian: pymorphy3 knows it), so no ASR garble is repeated.

    Other languages have no dictionary here; a word of letters only, with a vowel, up to 15
    letters, passes (Whisper's English mistakes are real words, not garble).
    """
    words = words_of(text)
    if language == "ru":
        return all(known_word(w.lower()) for w in words)
    vowels = set("aeiouyăâîáéíóúåæøäöõü")
    return all(len(w) <= 15 and (len(w) <= 2 or set(w.lower()) & vowels) for w in words)


def sentence_text(text: str, words: list[Token], question: bool, replace: dict[int, str] | None = None,
                  drop: set[int] | None = None, start: int = 0) -> str:
    """The sentence of `words` (from index `start`) as said, with some words replaced or dropped,
    capitalised and ended with "?" or "."."""
    replace = replace or {}
    drop = drop or set()
    if start >= len(words):
        return ""
    out, pos, carried = [], words[start].start_char, ""
    for i in range(start, len(words)):
        tok = words[i]
        between = carried + text[pos : tok.start_char]
        pos = tok.end_char
        if i in drop:
            carried = between  # the space before a dropped word stays: "вам не|интересно" -> "вам интересно"
            continue
        carried = ""
        piece = replace.get(i, tok.text)
        out.append((between if out else "") + piece)
    body = " ".join("".join(out).split()).strip(" ,;:—–-")
    if not body:
        return ""
    return body[:1].upper() + body[1:] + ("?" if question else ".")
