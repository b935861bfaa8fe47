"""Recognised words per speaker, with the bookkeeping the analyzers need.

Analyzers that look at words (backchannels, speech rate, the text of a
finding) must decide only once the words of the span can no longer change;
otherwise live and batch would disagree. Each speaker's words carry a
*watermark*: every final word that starts before it has been delivered.
Utterances of one speaker arrive in time order, so the end of the latest one
raises it; so does the caller's promise (`CallAnalyzers.advance`) that no
word starting earlier will still come, which lets a decision be made while
the speaker is silent instead of when their next utterance arrives.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from coach.contract import Utterance

_CYRILLIC_VOWELS = set("аеёиоуыэюя")
# Latin vowels incl. Romanian ă â î, Norwegian æ ø å, Estonian õ ä ö ü (a group = a syllable)
_LATIN_VOWEL_GROUPS = re.compile(r"[aeiouyăâîæøåõäöüéèêáíóú]+")
_STRIP = re.compile(r"[^\w\-]+")


def normalize(text: str) -> str:
    """Lower-case, ё -> е, punctuation removed (hyphens kept: "mm-hm", "ага-ага")."""
    return _STRIP.sub("", text.lower().replace("ё", "е")).strip("-")


_DIGITS = re.compile(r"\d+")
# Signs Whisper writes for spoken words ("18%" was "восемнадцать процентов": 7 syllables, not 5):
# counted as the word, in the case a number most often takes before it.
_SYMBOLS = {
    "ru": {"%": "процентов", "№": "номер", "$": "долларов", "€": "евро", "₽": "рублей", "+": "плюс"},
    "en": {"%": "percent", "№": "number", "$": "dollars", "€": "euros", "£": "pounds", "&": "and",
           "+": "plus"},
}
_SYMBOLS_OTHER = {"%": "procent", "€": "euro", "$": "dollar", "+": "plus"}
_SYMBOL_CHARS = re.compile(r"[%№$€₽£&+]")
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


_EN_UNITS = "zero one two three four five six seven eight nine".split()
_EN_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _en_below_thousand(n: int) -> list[str]:
    words = []
    if n >= 100:
        words += [_EN_UNITS[n // 100], "hundred"]
        n %= 100
    if 10 <= n < 20:
        words.append(_EN_TEENS[n - 10])
    else:
        if n >= 20:
            words.append(_EN_TENS[n // 10])
            n %= 10
        if n:
            words.append(_EN_UNITS[n])
    return words


def spell_en_number(n: int) -> str:
    """English words for 0 <= n < 10**9 (for counting syllables)."""
    if n == 0:
        return _EN_UNITS[0]
    words: list[str] = []
    for size, name in ((10**6, "million"), (10**3, "thousand")):
        if n >= size:
            words += _en_below_thousand(n // size) + [name]
            n %= size
    return " ".join(words + _en_below_thousand(n))


_EN_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_EN_VOWELS = re.compile(r"[aeiouy]+")
_EN_SILENT_ES_ED = re.compile(r"[^aeiouy]e[sd]$")
_EN_SAID_ES_ED = re.compile(r"(?:s|x|z|ch|sh|ce|ge|se|ze)es$|[td]ed$|[^aeiouy]led$|hundred$")
# vowel pairs said as two syllables: radio, period, video, actual, going, saying
_EN_HIATUS = re.compile(r"(?<![tscgxlnq])i[aou](?!u)|(?<!q)eo|(?<![qg])u[ao]|(?<=[aeiouy])ing")
_EN_EXTRA = re.compile(r"[^aeiouy]ue$|^h?ours?$")  # value, our, hour


def english_syllables(word: str) -> int:
    """Syllables of one English word from its spelling, for a speaking rate.

    Vowel groups overcount English by about 9 % (silent final e in "make",
    "-es"/"-ed" in "makes", "used"); these corrections bring Whisper's words
    from real English calls to within 1 % of the CMU pronouncing dictionary
    (98 % of words exact; docs/analyzers.md). A heuristic, not a dictionary:
    compounds with a silent inner e ("lifetime") still count one high.
    """
    w = word.replace("'", "")
    n = len(_EN_VOWELS.findall(w))
    if n > 1 and w.endswith("e") and not w.endswith(("le", "ee", "ye", "oe", "ie")):
        n -= 1  # make, home (not: table, free)
    elif n > 1 and w.endswith("le") and w[-3] in "aeiouy":
        n -= 1  # mile, whale
    if n > 1 and _EN_SILENT_ES_ED.search(w) and not _EN_SAID_ES_ED.search(w):
        n -= 1  # makes, used (not: boxes, wanted, table(d))
    n += len(_EN_HIATUS.findall(w)) + (1 if _EN_EXTRA.search(w) else 0)
    return max(1, n) if w else 0


def syllables(text: str, language: str | None = None) -> int:
    """Syllables of a word or text: Russian vowels, Latin vowel groups, numbers and signs spelled out.

    A vowel count is exact for Russian. Whisper often writes numbers as digits
    ("500"), which are said as words ("пятьсот", 2 syllables), so digit groups
    are spelled first: in English for `language="en"`, else in Russian (for
    other languages an estimate); so are signs said as words ("%", "№", "$").
    English words get the spelling rules of `english_syllables`; other
    Latin-script languages count vowel groups.
    """
    speller = spell_en_number if language == "en" else spell_ru_number
    low = _DIGITS.sub(
        lambda m: " " + (speller(int(m.group())) if len(m.group()) <= 9 else m.group()) + " ",
        text.lower(),
    )
    if _SYMBOL_CHARS.search(low):
        symbols = _SYMBOLS.get(language or "ru", _SYMBOLS_OTHER)
        low = _SYMBOL_CHARS.sub(lambda m: " " + symbols.get(m.group(), "") + " ", low)
    count = sum(1 for ch in low if ch in _CYRILLIC_VOWELS)
    if language == "en":
        count += sum(english_syllables(w) for w in _EN_WORD.findall(low))
    else:
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


def utterance_words(utt: Utterance, language: str | None = None) -> list[TimedWord]:
    """Words of an utterance (syllables counted for `language`); without word timestamps,
    spread the text evenly.

    Zero-length words are dropped: they are alignment failures, not speech
    (seen when Whisper repeats a phrase at the end of a decoded chunk and every
    repeated word gets the same timestamp), and counting them would make a
    normal line look impossibly fast.
    """
    out: list[TimedWord] = []
    if utt.words:
        for w in utt.words:
            text = w.text.strip()
            norm = _spoken(text)
            if norm and w.end > w.start:
                out.append(TimedWord(text, norm, w.start, w.end, syllables(text, language)))
        return out
    tokens = [(t, norm) for t in utt.text.split() if (norm := _spoken(t))]
    if not tokens:
        return out
    step = max(utt.end - utt.start, 0.0) / len(tokens)
    for i, (t, norm) in enumerate(tokens):
        s = utt.start + i * step
        out.append(TimedWord(t, norm, s, s + step, syllables(t, language)))
    return out


def _spoken(text: str) -> str:
    """The word's normal form; a sign said as a word ("%" on its own) is its own form.

    Whisper writes "16 %" with the sign as a word of its own: dropped as
    punctuation, "шестнадцать процентов" counted 3 syllables, not 6.
    """
    return normalize(text) or "".join(_SYMBOL_CHARS.findall(text))


_LONGEST_WORD_S = 3.0


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

    def promise(self, t: float) -> None:
        """The caller promises no final word starting before `t` is still to come."""
        self.watermark = max(self.watermark, t)

    def close(self) -> None:
        self.watermark = float("inf")

    def known_through(self, t: float) -> bool:
        """True when every word whose midpoint is at or before `t` is known."""
        return self.watermark >= t

    def since(self, t: float) -> list[TimedWord]:
        """Words whose midpoint lies at or after `t`."""
        return self.words[bisect.bisect_left(self._mids, t) :]

    def between(self, start: float, end: float) -> list[TimedWord]:
        """Words whose midpoint lies in [start, end]."""
        lo = bisect.bisect_left(self._mids, start)
        hi = bisect.bisect_right(self._mids, end)
        return self.words[lo:hi]

    def coverage(self, start: float, end: float, pad: float = 0.0) -> float:
        """Share of [start, end] that lies within `pad` of one of the words (0..1).

        How much of a stretch of audio is this speaker's recognised speech: the
        other side's echo or hold music is energy, but Whisper rarely writes
        words for it. Words longer than `_LONGEST_WORD_S` are alignment failures
        and do not count.
        """
        return _coverage(self.between(start - _LONGEST_WORD_S, end + _LONGEST_WORD_S), start, end, pad)


class ProvisionalWords:
    """A speaker's final words plus the committed words of the utterance still being spoken.

    Live only: the acoustic previews (`Analyzer.preview`) read a speaker's
    words through this view, so a raised voice or an interruption can become a
    card before the utterance closes. Committed words rarely change, but the
    closing decode may still move them, which is why nothing judged through
    this view is ever recorded: the final words decide the call's result.
    The words are known through the end of the last committed word.
    """

    def __init__(self, final: SpeakerWords, committed: list[TimedWord]) -> None:
        self.final = final
        self.committed = sorted((w for w in committed if w.mid > final.watermark), key=lambda w: w.mid)
        self.watermark = max([final.watermark] + [w.end for w in self.committed[-1:]])

    def known_through(self, t: float) -> bool:
        return self.watermark >= t

    def between(self, start: float, end: float) -> list[TimedWord]:
        return self.final.between(start, end) + [w for w in self.committed if start <= w.mid <= end]

    def coverage(self, start: float, end: float, pad: float = 0.0) -> float:
        return _coverage(self.between(start - _LONGEST_WORD_S, end + _LONGEST_WORD_S), start, end, pad)


def _coverage(words: list[TimedWord], start: float, end: float, pad: float) -> float:
    """Share of [start, end] within `pad` of one of `words` (see SpeakerWords.coverage)."""
    if end <= start:
        return 0.0
    spans = sorted(
        (max(start, w.start - pad), min(end, w.end + pad))
        for w in words
        if w.end - w.start <= _LONGEST_WORD_S
    )
    covered, reach = 0.0, start
    for a, b in spans:
        a = max(a, reach)
        if b > a:
            covered += b - a
            reach = b
    return covered / (end - start)


# Letters that make a syllable, in the languages coach has packs for: a "word" without one is a
# sound, not a word.
VOWEL_LETTERS = frozenset("аеёиоуыэюяaeiouyăâîæøåäöõüéèêàáóú")


def is_backchannel(words: list[TimedWord], backchannels: frozenset[str]) -> bool:
    """True when every word is a listener token ("угу", "ага-ага", "mm-hm"), or a sound Whisper
    spelled as letters without a vowel: "MMGF" for a listener's "Mm-hm" (held-out set 24), "Mhm",
    "Хм". No word of a language is all consonants."""
    if not words:
        return False
    for w in words:
        if w.norm in backchannels or (w.norm.isalpha() and not VOWEL_LETTERS & set(w.norm)):
            continue
        parts = [p for p in w.norm.split("-") if p]
        if not parts or not all(p in backchannels for p in parts):
            return False
    return True


def text_of(words: list[TimedWord]) -> str:
    return " ".join(w.text for w in words)
