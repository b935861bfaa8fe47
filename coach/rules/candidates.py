"""What a rule asks the audio about: finds that text alone cannot settle (coach.verify answers).

Whisper garbles words it hears badly ("я прекрасчу разговор", "Come down, sir"), and the
matcher's slip tolerance is a guess from letters. Two kinds of find are worth a look at the
audio, and only these (everything else is decided by text, as before):

* `near`: a phrase the rule did not find, but a window of words that reads almost like it
  (`near_miss` below): if the audio fits the phrase about as well as the
  decoded words, it was said, and the rule fires;
* `fuzzy`: a phrase the rule did find, but only with slips allowed (no exact lemma match): if
  the audio fits the phrase's exact words much worse than the decoded ones, the words were
  something else ("на него" is not a slip of "на меня"), and the find is dropped.

Each candidate carries the utterance text with the phrase put in place of its span, so the
verifier compares two readings of the same stretch of audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from rapidfuzz.distance import Levenshtein
from rapidfuzz.fuzz import partial_ratio

from coach.nlp import Token
from coach.rules.matching import Phrase, negations

NEAR, FUZZY = "near", "fuzzy"

# Near misses (for checking against the audio, coach.verify). The squashed pass accepts a window
# at SQUASH_THRESHOLD; a window scoring from NEAR_MISS_FLOOR up, or any score when the word pass
# and the squashed pass's own guards turned it down, is a phrase ASR may have garbled past what
# text alone can tell ("прекрасчу разговор", "Come down"). Only phrases of NEAR_MISS_MIN_LETTERS
# letters or more: in a shorter one a letter or two is a different word.
NEAR_MISS_FLOOR = 0.60  # calibrated on stereo16k (bench/verify_phrases.py): "Come down" scores 0.62
NEAR_MISS_MIN_LETTERS = 8
# One garbled word read as the dictionary word it is closest to (a negative offer's "противо" as
# "против", a diminutive's "талончет" as "талончик"): both readings are the decoded line but for
# that word, so a garbled rest of the line lowers both alike (the corpus line with "против" read at
# a mean of -1.50, past the phrase near misses' -1.5; the test clips -0.75 and -1.37); on audio that
# says something else entirely the word's reading means -5.8 to -6.5, though it still scores above
# the garble (a dictionary word reads better than a garble on any audio: the margin cannot tell).
NEAR_WORD_MIN_MEAN = -2.5
# ...and the word's reading may fall at most this far below the garble's: one word differs, so a
# wrong word costs its own tokens only (a phrase near miss may differ in several, hence the
# verifier's 6). Development corpus: the true ones -1.2 ("против"), +5.2 ("талончик") and -4.7
# ("пасмортик" read as "паспортик", stereo16k; 4 nats, the first choice, lost it), the test clips
# -2.4 and +3.1; a false one -7.6 ("пункт водоча и" read as "водочки", tel8k).
NEAR_WORD_MARGIN = 5.0


def near_miss(
    phrase: Phrase, words: list[Token], max_gap: int, floor: float = NEAR_MISS_FLOOR,
    utter_squashed: str | None = None,
) -> tuple[float, int, int] | None:
    """(score, first, last): the window of words whose letters read most like the phrase's.

    Scored as the squashed pass scores (normalised Levenshtein similarity of the letters without
    spaces), over windows of n-1 to n+max_gap+1 words (a dropped, split or inserted word), without
    the squashed pass's first/last-letter guard: the audio decides instead. None below `floor`.
    The best score wins, then the shorter window.
    """
    n = len(phrase.lemmas)
    if n == 0 or not words or len(phrase.squashed) < NEAR_MISS_MIN_LETTERS:
        return None
    squashed = utter_squashed if utter_squashed is not None else "".join(w.lower for w in words)
    # A cheap necessary-in-practice test first: the letters hold something close to the phrase.
    if partial_ratio(phrase.squashed, squashed) < floor * 100 - 5:
        return None
    target = phrase.squashed
    polarity = negations(phrase.lemmas)
    best: tuple[float, int, int] | None = None
    smallest = max(1, n - 1)
    for start in range(len(words)):
        window = ""
        negated = 0
        for end in range(start, min(len(words), start + n + max_gap + 1)):
            window += words[end].lower
            negated += negations([words[end].lower, words[end].lemma]) > 0
            if end - start + 1 < smallest or negated < polarity:
                # "I can help you" is not a slip of "I can't help you": one letter, the opposite, and
                # "can"/"can't" sound alike, so the audio cannot tell either. (A negation heard where
                # the phrase has none, "Good luck with not", is left to the audio.)
                continue
            score = Levenshtein.normalized_similarity(window, target, score_cutoff=floor)
            if score >= floor and (best is None or score > best[0] or (
                    score == best[0] and end - start < best[2] - best[1])):
                best = (score, start, end)
    return best


@dataclass
class Candidate:
    """One find for the audio to settle; `said` is what the rule's phrase would make of the span."""

    rule: str
    kind: Literal["near", "fuzzy"]
    phrase: str
    tokens: list[Token]  # the span's words, as tokens of the utterance
    start_char: int  # the span in the utterance's text
    end_char: int
    said: str  # the span's text with the phrase's words in place of the differing ones
    score: float  # the matcher's letter similarity of span and phrase (1.0: only fuzzy words)
    hit: Any = None  # fuzzy: the rule's Hit, kept or dropped as the audio says; near: the Hit it makes
    heard: str | None = None  # the span as decoded, when it is to be read otherwise (closed with ".")
    margin: float | None = None  # the verifier's options decide when None
    min_mean: float | None = None

    def texts(self, text: str, lo: int = 0, hi: int | None = None) -> tuple[str, str]:
        """(as decoded, with the phrase) for the part [lo, hi) of the utterance's `text`."""
        hi = len(text) if hi is None else hi
        heard = text[lo:hi] if self.heard is None else (
            text[lo : self.start_char] + self.heard + text[self.end_char : hi])
        return heard, text[lo : self.start_char] + self.said + text[self.end_char : hi]


@dataclass(frozen=True)
class Verdict:
    """The audio's answer on one candidate: kept (a near miss fires, a fuzzy find stays) or not,
    with the two scores compared (log-probabilities of the decoded and the phrase reading)."""

    accepted: bool
    heard: float
    phrase: float
    details: dict[str, Any] = field(default_factory=dict)


def span_with(text: str, words: list[Token], replace: dict[int, str], first: int, last: int) -> str:
    """The text of words[first..last] with some words replaced (by index): punctuation and spacing
    between them kept as decoded, a replaced word capitalised when the decoded one was."""
    out = []
    pos = words[first].start_char
    for i in range(first, last + 1):
        w = words[i]
        out.append(text[pos : w.start_char])
        new = replace.get(i)
        if new is None:
            out.append(text[w.start_char : w.end_char])
        else:
            out.append(new[:1].upper() + new[1:] if w.text[:1].isupper() else new)
        pos = w.end_char
    return "".join(out)


def whole_span(text: str, words: list[Token], phrase_text: str, first: int, last: int) -> str:
    """The phrase as written in place of words[first..last] (merged or split words, a dropped one)."""
    new = phrase_text.strip()
    return new[:1].upper() + new[1:] if words[first].text[:1].isupper() else new
