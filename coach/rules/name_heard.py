"""The customer's name asked of the audio, where both readings of the text lost it.

Whisper base writes a name it does not know as the nearest words it does: "Grace Holloway" came
out "Brace hog away", "Bill Hartley" "Veil Heartlead", and the agent's "Stacey, ..." "Maisie,"
on held-out calls. Both readings (coach.rules.name_reread) then miss the name: no name is caught
from the answer (so `name_not_used` is never judged), or the agent's use of it is not seen (so
it is reported wrongly). Letters cannot say which name a garble is, but the audio can, as for
phrases (coach.verify): the words are read again on their own stretch with a name in their
place, and the name is accepted when it scores about as well as what was decoded.

* **answer**: the first words of the customer's answer to the name question, each against the
  listed (common) names whose letters are closest to it;
* **introduction**: the word after a customer's "это", "my name is" in their first lines, when
  the agent never asked and no name is known (the name was given unasked, garbled);
* **use**: the agent's words set off as an address ("Maisie, your order…", "…, Paisy.") in the
  lines read for `name_not_used`, against the call's name.

Only asked when a `name_not_used` finding would otherwise be decided (a few lines of one call),
and at most `MAX_ASKED` readings each time.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rapidfuzz.distance import Levenshtein

from coach.contract import Utterance
from coach.rules.candidates import NEAR, Candidate, Verdict
from coach.rules.lexicon import known_word
from coach.rules.matching import as_doc
from coach.rules.names import PUNCT, Name

if TYPE_CHECKING:
    from coach.nlp import Token

log = logging.getLogger(__name__)

# A name in place of the decoded words may read this far below them (nats, summed token
# log-probabilities) and no lower on average per token; a name is one to three tokens, as a
# diminutive's word is (coach.rules.candidates.NEAR_WORD_MARGIN, NEAR_WORD_MIN_MEAN).
NAME_MARGIN = 5.0
NAME_MIN_MEAN = -2.5
ANSWER_WORDS = 3  # the answer's first words (after "да", "hello") that may be the garbled name
NAMES_PER_WORD = 3  # listed names tried for one word, closest letters first
NAME_LETTERS = 0.5  # ... at least this alike (normalised Levenshtein): "veil"/"bill", "brace"/"grace"
MAX_ASKED = 8  # readings asked of the audio per question
INTRO_LINES = 4  # the customer's first lines, where they introduce themselves unasked


class NameHeard:
    """The audio half of `NameRule`'s second readings (a mixin: it reads the rule's book, skip
    words and analyzer)."""

    def answer_heard(self, answer: list[tuple[float, float]], state: Any, verify: Any) -> Name | None:
        """The listed name the customer's answer says on the audio, when the text has none."""
        lo, hi = answer[0][0] - 0.5, answer[-1][1]
        lines = [u for u in state.utterances if u.speaker == self.name_speaker and u.final and u.words
                 and lo <= u.start <= hi][:2]
        asks: list[tuple[Utterance, Candidate]] = []
        for utt in lines:
            words = as_doc(self.analyzer.tokens(utt.text)).words
            head = 0
            while head < len(words) and self._skip_word(words[head]):
                head += 1
            for tok in words[head : head + ANSWER_WORDS]:
                if not tok.text.isalpha() or len(tok.lower) < 3 or self.book.dictionary(tok.lower):
                    continue  # a name the text already reads is the first readings' to judge
                if tok.lower in self._phrase_words() or tok.lemma in self._phrase_words():
                    continue  # "меня зовут", "my name is": the words around a name, not it
                for key, alike in self._names_like(tok.lower):
                    asks.append((utt, self._candidate(tok, tok, self.book.spelling(key), alike)))
        asks.sort(key=lambda a: -a[1].score)
        best = _best(verify, asks[:MAX_ASKED])
        if best is None:
            return None
        return self._heard_name(best[1])

    def _heard_name(self, cand: Candidate) -> Name | None:
        """The name a candidate the audio accepted puts in place: likely, never confirmed (the
        agent's use confirms it), with the garble as one of its forms (an agent echoing it uses it)."""
        name = self.book.from_text(cand.said, "customer")
        if name is None:
            return None
        garbled = cand.tokens[0].lower
        return replace(name, confirmed=False, likely=True, forms=name.forms | {garbled}, said=garbled)

    def intro_heard(self, state: Any, verify: Any) -> tuple[Name, float] | None:
        """The listed name a customer's introduction ("это Лево Соблив" for "это Лев Соболев" on a
        held-out call) says on the audio, and when, where the text has none there: the name was
        given unasked, so it was not "never asked"."""
        lines = [u for u in state.utterances if u.speaker == self.name_speaker and u.final and u.words]
        asks: list[tuple[Utterance, Candidate]] = []
        for utt in lines[:INTRO_LINES]:
            doc = as_doc(self.analyzer.tokens(utt.text))
            words = doc.words
            for _, _, end in self._found(self.intros, doc, 0):
                tok = words[end + 1] if end + 1 < len(words) else None
                if tok is None or not tok.text.isalpha() or self.book.dictionary(tok.lower):
                    continue
                asks += [(utt, self._candidate(tok, tok, self.book.spelling(key), alike))
                         for key, alike in self._names_like(tok.lower)]
        asks.sort(key=lambda a: -a[1].score)
        best = _best(verify, asks[:MAX_ASKED])
        if best is None:
            return None
        name = self._heard_name(best[1])
        return (name, best[0].end) if name is not None else None

    def use_heard(self, lines: list[Utterance], name: Name, verify: Any) -> Utterance | None:
        """The agent's line whose address ("Maisie, …") says the call's name on the audio."""
        said = name.text if name.titled else name.text.split()[0]  # "Mr Bell"; "Игорь" of "Игорь Викторович"
        asks: list[tuple[Utterance, Candidate]] = []
        for utt in lines:
            if not utt.words:
                continue
            words = as_doc(self.analyzer.tokens(utt.text)).words
            for i, tok in enumerate(words):
                for last in (i, i + 1):  # one word, or a name Whisper split in two ("maize it")
                    if last >= len(words) or not all(w.text.isalpha() for w in words[i : last + 1]):
                        break
                    if self._address_spot(utt.text, words, i, last):
                        asks.append((utt, self._candidate(tok, words[last], said, 1.0)))
        best = _best(verify, asks[:MAX_ASKED])
        return best[0] if best is not None else None

    def _address_spot(self, text: str, words: list[Token], first: int, last: int) -> bool:
        """Words set off as an address: after a line's or phrase's start (or a "thank you",
        "hello"), before punctuation or the line's end, and none of them an ordinary word."""
        before = text[: words[first].start_char].rstrip()
        after = text[words[last].end_char :].lstrip()
        head = not before or before[-1] in PUNCT or (first > 0 and self._skip_word(words[first - 1]))
        if not head or (after and after[0] not in PUNCT):
            return False
        span = words[first : last + 1]
        if any(self._skip_word(w) for w in span):
            return False
        # Russian: a dictionary word that is no name ("Хорошо,", "Смотрите,") is what it says
        return self.book.morph is None or not all(known_word(w.lower) and not self.book.dictionary(w.lower)
                                                  for w in span)

    def _phrase_words(self) -> frozenset[str]:
        """The words of the rule's introduction and question phrases ("меня", "зовут", "name")."""
        words = getattr(self, "_phrase_word_set", None)
        if words is None:
            words = self._phrase_word_set = frozenset(
                w for p in (*self.intros, *self.ask) for w in (*p.lemmas, *p.text.lower().split()))
        return words

    def _skip_word(self, tok: Token) -> bool:
        return tok.lemma in self.skip or tok.lower in self.skip

    def _names_like(self, lower: str) -> list[tuple[str, float]]:
        """The listed names whose letters are closest to a word's, best first."""
        scored = [(n, Levenshtein.normalized_similarity(lower, n)) for n in self.book.common
                  if abs(len(n) - len(lower)) <= 3]
        scored = [(n, s) for n, s in scored if s >= NAME_LETTERS]
        return sorted(scored, key=lambda x: (-x[1], x[0]))[:NAMES_PER_WORD]

    def _candidate(self, first: Token, last: Token, name: str, alike: float) -> Candidate:
        return Candidate(self.id, NEAR, name, [first, last] if last is not first else [first],
                         first.start_char, last.end_char, name, alike,
                         margin=NAME_MARGIN, min_mean=NAME_MIN_MEAN)


def _best(verify: Any, asks: list[tuple[Utterance, Candidate]]
          ) -> tuple[Utterance, Candidate, Verdict] | None:
    """The candidate the audio accepts with the best score against its decoded words, if any."""
    if verify is None or not asks:
        return None
    by_line: dict[int, tuple[Utterance, list[Candidate]]] = {}
    for utt, cand in asks:
        by_line.setdefault(id(utt), (utt, []))[1].append(cand)
    best = None
    for utt, cands in by_line.values():
        for cand, verdict in zip(cands, verify(utt, cands)):
            log.debug("name heard? %r for %r at %.1f s: %s (%.1f vs %.1f, %s)", cand.said,
                      " ".join(t.text for t in cand.tokens), utt.start, verdict.accepted,
                      verdict.phrase, verdict.heard, verdict.details.get("mean"))
            lead = verdict.phrase - verdict.heard
            if verdict.accepted and (best is None or lead > best[2].phrase - best[2].heard):
                best = (utt, cand, verdict)
    return best
