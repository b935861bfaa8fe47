"""Tokens with lemmas and grammar tags, the input every text rule matches on.

spaCy's blank tokenizer splits the text; Russian lemmas and tags come from
pymorphy3 (what spaCy's "pymorphy3" lemmatizer mode uses), called directly
through a per-word cache: on call-center speech the vocabulary is small, so
this is several times faster than running spaCy's lemmatizer per utterance
and also gives the part of speech (rules need "не" + VERB). Other languages
use lower-cased forms: their rules list the inflections they need and fuzzy
matching absorbs the rest; English clitics read as their words ("n't" is "not").
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

import spacy


@dataclass(frozen=True)
class Token:
    """One token: surface text, lemma, coarse POS (pymorphy3 tag names, '' if unknown)."""

    text: str
    lower: str
    lemma: str
    pos: str
    tags: frozenset[str]
    start_char: int
    end_char: int
    is_punct: bool


_FIELDS = ("text", "lower", "lemma", "pos", "tags", "start_char", "end_char", "is_punct")
assert tuple(f.name for f in fields(Token)) == _FIELDS and not hasattr(Token, "__post_init__")


def _token(text: str, word: tuple[str, str, str, frozenset[str], bool], start: int) -> Token:
    """`Token(text, *word[:4], start, start + len(text), word[4])`, made at half the cost: a frozen
    dataclass's `__init__` sets each field through `object.__setattr__`, and every utterance makes a
    Token per word (a tenth of all rule time went there). The same object results (the fields in its
    `__dict__`); the assert above keeps the two in step."""
    lower, lemma, pos, tags, is_punct = word
    tok = object.__new__(Token)
    tok.__dict__.update(text=text, lower=lower, lemma=lemma, pos=pos, tags=tags, start_char=start,
                        end_char=start + len(text), is_punct=is_punct)
    return tok


# English clitics read as the words they stand for, so that a phrase written "not my department"
# finds "aren't my department" and "can't help" finds "cannot help" ("ca" stays "ca": spaCy splits
# "can't" into "ca" + "n't"). spaCy's tokenizer norms ("'m" -> "am", "'ll" -> "will") give the
# rest; "nt" ("isnt", "wont") is always the particle, whatever the context.
_NOT = {"n't": "not", "n’t": "not", "nt": "not"}


class TextAnalyzer:
    """Tokenises and lemmatises text for one language; cheap to call per utterance."""

    def __init__(self, language: str):
        self.language = language
        try:
            self._nlp = spacy.blank(language)
        except Exception:  # unknown language code in spaCy: fall back to the multi-language one
            self._nlp = spacy.blank("xx")
        self._morph = _morph_analyzer() if language == "ru" else None
        self._parse = lru_cache(maxsize=100_000)(self._parse_uncached)
        self._words: dict[str, tuple[str, str, str, frozenset[str], bool] | tuple[()]] = {}

    def _parse_uncached(self, lower: str) -> tuple[str, str, frozenset[str]]:
        if self._morph is None:
            return lower, "", frozenset()
        parsed = self._morph.parse(lower)[0]
        tag = parsed.tag
        grammemes = frozenset(str(tag).replace(" ", ",").split(","))
        return parsed.normal_form.replace("ё", "е"), str(tag.POS or ""), grammemes

    def tokens(self, text: str) -> list[Token]:
        out = []
        known = self._words
        for tok in self._nlp.tokenizer(text):
            surface = tok.text
            word = known.get(surface)
            if word is None:
                word = self._word(tok)
            if word:
                out.append(_token(surface, word, tok.idx))
        return out

    def _word(self, tok: spacy.tokens.Token) -> tuple[str, str, str, frozenset[str], bool] | tuple[()]:
        """(lower, lemma, pos, tags, is_punct) of a token's text, () for whitespace: all of it follows
        from the text alone (spaCy's flags are the lexeme's), so it is kept per text; rules run on every
        line, and call-centre speech reuses a small vocabulary."""
        if len(self._words) > 100_000:
            self._words.clear()
        if tok.is_space:
            word: tuple[str, str, str, frozenset[str], bool] | tuple[()] = ()
        else:
            lower = tok.text.lower().replace("ё", "е")
            is_punct = tok.is_punct or not any(ch.isalnum() for ch in lower)
            if is_punct:
                lemma, pos, tags = lower, "PNCT", frozenset()
            else:
                lemma, pos, tags = self._parse(lower)
                if self.language == "en" and (lower in _NOT or lower[:1] in "'’"):
                    lemma = _NOT.get(lower) or tok.norm_ or lower  # spaCy's norm of a clitic
            word = (lower, lemma, pos, tags, is_punct)
        self._words[tok.text] = word
        return word

    def lemmas(self, text: str) -> list[str]:
        return [t.lemma for t in self.tokens(text) if not t.is_punct]


@lru_cache(maxsize=1)
def _morph_analyzer():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=8)
def analyzer_for(language: str) -> TextAnalyzer:
    """One shared analyzer per language per process (pymorphy3 dictionaries are large)."""
    return TextAnalyzer(language)
