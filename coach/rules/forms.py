"""Exact word-form sequences ("как бы", "you know"): fixed forms, never lemmatised or fuzzy.

Kept apart from `coach.rules.matching` (lemmas, ASR slips): a filler like "типа"
is a fixed form, while matching its lemma "тип" would also catch "какого типа
договор". Used by `kind: occurrence`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coach.nlp import TextAnalyzer, Token


@dataclass
class FormSet:
    """Exact word-form sequences ("как бы", "you know") looked up by their first word.

    For checks that must not be fuzzy or lemmatised: a filler like "типа" is a
    fixed form, while the lemma "тип" would also catch "какого типа договор".
    """

    phrases: list[tuple[str, ...]] = field(default_factory=list)
    by_first: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)

    @classmethod
    def build(cls, texts: list[str], analyzer: TextAnalyzer) -> FormSet:
        out = cls()
        for text in texts:
            lowers = tuple(t.lower for t in analyzer.tokens(text) if not t.is_punct)
            if lowers and lowers not in out.phrases:
                out.phrases.append(lowers)
                out.by_first.setdefault(lowers[0], []).append(lowers)
        for group in out.by_first.values():
            group.sort(key=len, reverse=True)  # longest first: "в общем то" before "в общем"
        return out

    def find(self, words: list[Token]) -> list[tuple[int, int, tuple[str, ...]]]:
        """Non-overlapping (first, last, phrase) occurrences, left to right, longest first."""
        out = []
        i = 0
        while i < len(words):
            for phrase in self.by_first.get(words[i].lower, ()):
                end = i + len(phrase)
                if end <= len(words) and all(
                    words[i + k].lower == phrase[k] for k in range(1, len(phrase))
                ):
                    out.append((i, end - 1, phrase))
                    i = end
                    break
            else:
                i += 1
        return out
