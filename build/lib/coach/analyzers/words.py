"""Recognised words per speaker, with the bookkeeping the analyzers need.

Analyzers that look at words (backchannels, speech rate, the text of a
finding) must decide only once the words of the span can no longer change;
otherwise live and batch would disagree. Utterances of one speaker arrive in
time order, so the end of the latest one is a *watermark*: every word whose
midpoint lies before it is already known.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from coach.contract import Utterance

_CYRILLIC_VOWELS = set("аеёиоуыэюя")
_LATIN_VOWEL_GROUPS = re.compile(r"[aeiouy]+")
_STRIP = re.compile(r"[^\w\-]+")


def normalize(text: str) -> str:
    """Lower-case, ё -> е, punctuation removed (hyphens kept: "mm-hm", "ага-ага")."""
    return _STRIP.sub("", text.lower().replace("ё", "е")).strip("-")


_DIGITS = re.compile(r"\d+")
_UNITS = "ноль один два три четыре пять шесть семь восемь девять".split()
_TEENS = (
    "десять одиннадцать двенадцать тринадцать четырнадцать пятнадцать шестнадцать "
    "семнадцать восемнадцать девятнадцать"
).split()
_TENS = "_ _ двадцать тридцать сорок пятьдесят шестьдесят семьдесят восемьдесят девяносто"
_HUNDREDS = "_ сто двести триста четыреста пятьсот шестьсот семьсот восемьсот девятьсот"


def _below_thousand(n: int) -> list[str]:
    words = []
    if n >= 100:
        words.append(_HUNDREDS.split()[n // 100])
        n %= 100
    if 10 <= n < 20:
        words.append(_TEENS[n - 10])
    else:
        if n >= 20:
            words.append(_TENS.split()[n // 10])
            n %= 10
        if n:
            words.append(_UNITS[n])
    return words


def spell_ru_number(n: int) -> str:
    """Russian words for 0 <= n < 10**9 (case and gender approximate: for counting)."""
    if n == 0:
        return _UNITS[0]
    words: list[str] = []
    for size, name in ((10**6, "миллион"), (10**3, "тысяча")):
        if n >= size:
            head = n // size
            words += ([] if head == 1 else _below_thousand(head)) + [name]
            n %= size
    return " ".join(words + _below_thousand(n))


def syllables(text: str) -> int:
    """Syllables of a word: Russian vowels, Latin vowel groups, numbers spelled out.

    A vowel count is exact for Russian. Whisper often writes numbers as digits
    ("500"), which are said as words ("пятьсот", 2 syllables), so digit groups
    are spelled in Russian first; for other languages that is an estimate.
    """
    low = _DIGITS.sub(
        lambda m: " " + (spell_ru_number(int(m.group())) if len(m.group()) <= 9 else m.group()),
        text.lower(),
    )
    count = sum(1 for ch in low if ch in _CYRILLIC_VOWELS)
    count += len(_LATIN_VOWEL_GROUPS.findall(low))
    count += 2 * sum(1 for ch in low if ch.isdigit())  # beyond 10**9: a rough 2 per digit
    return count


@dataclass(frozen=True)
class TimedWord:
    text: str
    norm: str
    start: float
    end: float
    syllables: int

    @property
    def mid(self) -> float:
        return (self.start + self.end) / 2


def utterance_words(utt: Utterance) -> list[TimedWord]:
    """Words of an utterance; without word timestamps, spread the text evenly.

    Zero-length words are dropped: they are alignment failures, not speech
    (seen when Whisper repeats a phrase at the end of a decoded chunk and every
    repeated word gets the same timestamp), and counting them would make a
    normal line look impossibly fast.
    """
    out: list[TimedWord] = []
    if utt.words:
        for w in utt.words:
            text = w.text.strip()
            if normalize(text) and w.end > w.start:
                out.append(TimedWord(text, normalize(text), w.start, w.end, syllables(text)))
        return out
    tokens = [t for t in utt.text.split() if normalize(t)]
    if not tokens:
        return out
    step = max(utt.end - utt.start, 0.0) / len(tokens)
    for i, t in enumerate(tokens):
        s = utt.start + i * step
        out.append(TimedWord(t, normalize(t), s, s + step, syllables(t)))
    return out


class SpeakerWords:
    """All final words of one speaker, sorted by midpoint, plus the watermark."""

    def __init__(self) -> None:
        self.words: list[TimedWord] = []
        self._mids: list[float] = []
        self.watermark = 0.0
        self.utterances = 0

    def add(self, words: list[TimedWord], end: float) -> None:
        for w in words:
            i = bisect.bisect_right(self._mids, w.mid)
            self._mids.insert(i, w.mid)
            self.words.insert(i, w)
        self.watermark = max(self.watermark, end, *(w.end for w in words))
        self.utterances += 1

    def close(self) -> None:
        self.watermark = float("inf")

    def known_through(self, t: float) -> bool:
        return self.watermark >= t

    def between(self, start: float, end: float) -> list[TimedWord]:
        """Words whose midpoint lies in [start, end]."""
        lo = bisect.bisect_left(self._mids, start)
        hi = bisect.bisect_right(self._mids, end)
        return self.words[lo:hi]


def is_backchannel(words: list[TimedWord], backchannels: frozenset[str]) -> bool:
    """True when every word is a listener token ("угу", "ага-ага", "mm-hm")."""
    if not words:
        return False
    for w in words:
        if w.norm in backchannels:
            continue
        parts = [p for p in w.norm.split("-") if p]
        if not parts or not all(p in backchannels for p in parts):
            return False
    return True


def text_of(words: list[TimedWord]) -> str:
    return " ".join(w.text for w in words)
