"""`kind: phrase`: any of a list of phrases said by the rule's speaker, with exceptions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from coach.contract import Utterance
from coach.nlp import Token, analyzer_for
from coach.rules.base import Hit, Rule, RuleContext, RuleSpec
from coach.rules.matching import Phrase, as_doc, compile_phrase, find_phrase, overlaps
from coach.rules.spec import SpecError, spec_field


@dataclass(kw_only=True)
class PhraseSpec(RuleSpec):
    """Any of a list of phrases, in any inflection, tolerant of ASR slips; each occurrence is a
    line finding at those words. When several phrases of one rule overlap, the longest find
    is reported."""

    phrases: list[str] = spec_field("the phrases, written naturally (\"не надо кричать\")", min_items=1)
    exceptions: list[str] = spec_field("phrases that cancel an overlapping find (\"никто не кричит\")",
                                       default=[], default_doc="none")
    max_gap: int = spec_field("extra words allowed between the phrase's words (\"не надо **на меня** "
                              "кричать\" needs 2)", default=1, minimum=0)
    fuzzy: bool = spec_field("tolerate ASR slips (see [How matching works](#how-matching-works)); "
                             "`false` for fixed forms like diminutives", default=True)


class PhraseRule(Rule):
    """Fires on each occurrence of any phrase, unless an exception phrase covers it."""

    kind: ClassVar[str] = "phrase"
    Spec: ClassVar[type[RuleSpec]] = PhraseSpec
    can_run_early: ClassVar[bool] = True
    can_cue: ClassVar[bool] = True

    def __init__(self, spec: PhraseSpec, ctx: RuleContext):
        super().__init__(spec, ctx)
        analyzer = analyzer_for(self.language)
        self.phrases = [compile_phrase(p, analyzer) for p in spec.phrases]
        empty = [p.text for p in self.phrases if not p.lemmas]
        if empty:
            raise SpecError("phrases", f"phrase '{empty[0]}' has no words")
        self.exceptions = [compile_phrase(p, analyzer) for p in spec.exceptions]
        self.max_gap = spec.max_gap
        self.fuzzy = spec.fuzzy
        self._phrase_set = frozenset(self.phrases)

    def indexed_phrases(self) -> list[Phrase]:
        return self.phrases + self.exceptions

    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        doc = as_doc(tokens)
        words = doc.words
        if doc.index is not None and self in doc.index.rules:
            if self._phrase_set.isdisjoint(doc.candidates(self.fuzzy)):
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
