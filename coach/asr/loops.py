"""Decoding loops inside a segment: "Да, еди. Да, еди. Да, еди. Да, еди." after real words.

Whisper's decoder, greedy or beam, sometimes falls into repeating a short phrase until it
stops; on a mono mix where two voices overlap, and on 8 kHz lines, it does so after the
segment's first real words, so the loop is only part of the text. gzip's compression ratio
(Whisper's own loop test, > 2.4) sees a loop only when it is most of the text: in the
development corpus five loops of that kind reached the transcript (an agent's 8-second sales
pitch read as "50, опять двумя... Да, еди. Да, еди. Да, еди. Да, еди. Да, еди.", number
runs "-1 -1 -2 -2 …" for a customer's noise). A run of one phrase said again and again is
rare in speech, so it is looked for in the words themselves: a phrase of two or more words
said `min_repeats` times in a row, or one word `min_repeats_single` times ("нет, нет, нет"
and "да-да-да" are speech, and so was "Yeah, yeah, yeah, yeah" on a real call; the single-word
loops seen ran 5 to 10 times). What a loop costs is a second decoding: the segment's other
readings decide, so a real repetition read as a loop keeps a reading of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NOT_WORD = re.compile(r"[^\w]+")


@dataclass(frozen=True)
class LoopRun:
    """Words [start, start + unit * repeats) are `repeats` copies of one `unit`-word phrase."""

    start: int
    unit: int
    repeats: int

    @property
    def end(self) -> int:
        return self.start + self.unit * self.repeats


def _key(word: str) -> str:
    return _NOT_WORD.sub("", word.lower())


def find_loop(words: list[str], min_repeats: int = 3, min_repeats_single: int = 5,
              max_unit: int = 8) -> LoopRun | None:
    """The first run of one phrase repeated at least `min_repeats` times in a row (a single
    word: `min_repeats_single`), or None; words compared without case and punctuation."""
    keys = [_key(w) for w in words]
    n = len(keys)
    for start in range(n):
        if not keys[start]:
            continue
        for unit in range(1, max_unit + 1):
            need = min_repeats_single if unit == 1 else min_repeats
            if start + unit * need > n:
                break
            phrase = keys[start:start + unit]
            repeats = 1
            while keys[start + repeats * unit:start + (repeats + 1) * unit] == phrase:
                repeats += 1
            if repeats >= need:
                return LoopRun(start, unit, repeats)
    return None


def without_loops(words: list[str], **limits: int) -> list[int]:
    """Indices of the words to keep: every loop run cut back to its first copy of the phrase."""
    keep: list[int] = []
    offset = 0
    rest = list(words)
    while True:
        run = find_loop(rest, **limits)
        if run is None:
            keep += range(offset, offset + len(rest))
            return keep
        keep += range(offset, offset + run.start + run.unit)
        offset += run.end
        rest = rest[run.end:]
