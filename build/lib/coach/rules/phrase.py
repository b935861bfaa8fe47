"""`kind: phrase`: any of a list of phrases said by the rule's speaker, with exceptions."""

from __future__ import annotations

from typing import Any, ClassVar

from coach.contract import Utterance
from coach.nlp import Token, analyzer_for
from coach.rules.base import Hit, Rule, RuleContext
from coach.rules.matching import Phrase, as_doc, compile_phrase, find_phrase, overlaps


class PhraseRule(Rule):
    """Fires on each occurrence of any phrase, unless an exception phrase covers it.

    Fields: `phrases` (list), `exceptions` (list, optional), `max_gap` (extra
    words allowed between the phrase's words, default 1), `fuzzy` (tolerate
    ASR slips, default true).
    """

    kind: ClassVar[str] = "phrase"
    KIND_FIELDS: ClassVar[set[str]] = {"phrases", "exceptions", "max_gap", "fuzzy"}

    def __init__(self, data: dict[str, Any], ctx: RuleContext):
        super().__init__(data, ctx)
        analyzer = analyzer_for(self.language)
        self.phrases = [compile_phrase(p, analyzer) for p in self.reader.str_list("phrases")]
        empty = [p.text for p in self.phrases if not p.lemmas]
        if empty:
            raise self.reader.fail("phrases", f"phrase '{empty[0]}' has no words")
        self.exceptions = [
            compile_phrase(p, analyzer) for p in self.reader.str_list("exceptions", required=False)
        ]
        self.max_gap = int(self.reader.number("max_gap", 1, minimum=0))
        self.fuzzy = self.reader.bool("fuzzy", True)
        self._phrase_set = frozenset(self.phrases)
        self._same_language = all(p.language == self.language for p in self.phrases)

    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        doc = as_doc(tokens, self.language)
        words = doc.words
        if self._same_language:
            candidates = doc.candidates(self.fuzzy)
            if self._phrase_set.isdisjoint(candidates):
                return []  # the common case: decided from the shared index, no matching at all
        found = [
            (span, phrase)
            for phrase in self.phrases
            for span in find_phrase(phrase, words, self.max_gap, self.fuzzy, doc=doc)
        ]
        if not found:
            return []
        blocked = [
            b for exc in self.exceptions
            for b in find_phrase(exc, words, self.max_gap, self.fuzzy, doc=doc)
        ]
        # Overlapping finds: keep the longest ("не надо на меня кричать" over a part of it).
        found.sort(key=lambda f: (f[0][0] - f[0][1], f[0][0]))
        taken: list[tuple[tuple[int, int], Phrase]] = []
        for span, phrase in found:
            if any(overlaps(span, b) for b in blocked) or any(overlaps(span, t) for t, _ in taken):
                continue
            taken.append((span, phrase))
        hits = []
        for span, phrase in sorted(taken, key=lambda f: f[0]):
            matched = words[span[0] : span[1] + 1]
            hits.append(Hit(tokens=matched, details={"phrase": phrase.text,
                                                     "lemmas": [t.lemma for t in matched]}))
        return hits
