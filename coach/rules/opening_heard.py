"""A greeting the opening's text lost, asked of the audio.

An 8 kHz line garbles a call's first word most of all: "Здравствуйте" came out "из
драпствования" on the telephone copy of a held-out call (set 16) and "Сдрабствмите" on its mono
copy, while the 16 kHz copy read it right, and reading the opening again in a window of its own
(`RequiredRule.reread_spans`) wrote the same garble or dropped the word. The call was then
reported as opening without a greeting, though the agent greeted.

The same garble opens calls of other sets on every copy: "Банк «Северный», избравствовывайте",
"Интернет-магазин …, сгравствуете", "Сдрав в стумите, компания …" (sets 12 and 15, the corpus).

So when the greeting is still missing after the second reading, the opening is put to the
audio as a phrase rule's near miss is (coach.verify): where one to three words of the agent's
first sentence read somewhat like a greeting phrase (`LETTERS`) and hold a word no dictionary
knows (the garble), or read very like one (`KNOWN_LETTERS`: "Здравствовать меня"; a dictionary
word is otherwise what it says: "Здоровье плюс" is a company, not a slip of "здравствуйте"),
the line is scored once as decoded and once with the greeting in their place. The greeting
counts when the audio fits it about as well as the garble. What was not said ("Да, слушаю",
"Алло") reads like no greeting, so it is never asked.

Russian only: telling a garble from a word needs pymorphy3's dictionary.
"""

from __future__ import annotations

import logging
from typing import Any

from rapidfuzz.distance import Levenshtein

from coach.contract import Utterance
from coach.nlp import analyzer_for
from coach.rules.candidates import NEAR, Candidate, whole_span
from coach.rules.lexicon import known_word
from coach.rules.matching import Phrase, as_doc
from coach.rules.negative import sentences

log = logging.getLogger(__name__)

LETTERS = 0.45  # letter similarity of a span with a garble and the phrase: "из драпствования" 0.47,
# "сдрабствмите" 0.67 (held-out set 16); "да слушаю" 0.33, "алло" 0.08 against "здравствуйте"
KNOWN_LETTERS = 0.70  # a span of dictionary words only: "Здравствовать меня" (set 13), not "Здоровье"
MIN_PHRASE_LETTERS = 8  # shorter phrases ("привет") are one letter from other words
SPAN_WORDS = 3  # a greeting garbled into up to three words ("Сдрав в стумите")
# The audio's bar (coach.verify): the whole line is read, and an 8 kHz opening reads poorly however
# it is worded, so the mean is lower than a phrase near miss's (-3.0). On the set-16 call's two
# 8 kHz copies the greeting read 4.7 and 3.7 nats under the garble, at means of -3.33 and -3.48.
MARGIN = 6.0
MIN_MEAN = -3.8


def greeting_heard(rule_id: str, language: str, line: Utterance, phrases: list[Phrase],
                   verify: Any) -> str | None:
    """The greeting phrase the audio accepts in the first sentence of `line` (the line as it would
    then read), or None: nothing asked (no garble that reads like a greeting), or the audio said no.
    The first sentence only: on a mono call the customer's "Алло, здравствуйте" may follow the
    agent's "Да, слушаю." in one line (diarization gives a line one speaker), and the audio
    would find that greeting there."""
    if verify is None or not line.text:
        return None
    split = sentences(as_doc(analyzer_for(language).tokens(line.text)))
    words = [w for w in split[0][0] if w.text.isalpha()] if split else []
    best: tuple[float, Candidate] | None = None
    for first in range(len(words)):
        for last in range(first, min(first + SPAN_WORDS, len(words))):
            span = words[first : last + 1]
            garbled = not all(known_word(w.lower) for w in span)
            letters = "".join(w.lower for w in span)
            for phrase in phrases:
                if len(phrase.squashed) < MIN_PHRASE_LETTERS:
                    continue
                score = Levenshtein.normalized_similarity(letters, phrase.squashed)
                if score >= (LETTERS if garbled else KNOWN_LETTERS) and (best is None or score > best[0]):
                    said = whole_span(line.text, span, phrase.text, 0, len(span) - 1)
                    best = (score, Candidate(rule_id, NEAR, phrase.text, span, span[0].start_char,
                                             span[-1].end_char, said, score, margin=MARGIN,
                                             min_mean=MIN_MEAN))
    if best is None:
        return None
    cand = best[1]
    verdict = verify(line, [cand])[0]
    log.debug("greeting heard? %r for %r: %s (%.1f vs %.1f, %s)", cand.said,
              " ".join(t.text for t in cand.tokens), verdict.accepted, verdict.phrase, verdict.heard,
              verdict.details.get("mean"))
    if not verdict.accepted:
        return None
    return cand.texts(line.text)[1]
