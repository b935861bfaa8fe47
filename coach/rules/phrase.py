"""`kind: phrase`: any of a list of phrases said by the rule's speaker, with exceptions.

Besides the phrases, a rule may list `ideas`: the guideline's idea said in other words. An idea is
groups of words joined by `+` ("я + один + очередь|заявка|звонок"); it is found when one word of
every group stands within `idea_window` words of each other in one sentence, in any order. Written
phrases miss what agents really say ("сорок заявок за вечер, а я тут одна на телефоне" is "клиентов
много, а я один" in no list's words); an idea's words must be said exactly (by lemma, or by form
for a word written `=всего`), without the ASR slips phrases allow, because several words in any
order already match far more lines than one phrase does. Groups joined by `>` instead must come in
that order ("=не > =я > @VERB.past": "не я отменяла", not "я не отменяла"), and an alternative
written `@VERB.past` is any word with those grammemes (pymorphy3's tags): the verb a writer will
pick next is not on any list ("заказ оформляла не я", held-out set 23).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any, ClassVar

from coach.contract import Utterance
from coach.nlp import Token, analyzer_for
from coach.rules.base import Hit, Rule, RuleContext, RuleSpec
from coach.rules.candidates import (
    FUZZY,
    NEAR,
    NEAR_MISS_FLOOR,
    Candidate,
    near_miss,
    span_with,
    whole_span,
)
from coach.rules.matching import (
    Doc,
    Phrase,
    as_doc,
    compile_phrase,
    find_phrase,
    match_positions,
    negations,
    overlaps,
    word_matches,
)
from coach.rules.negative import sentences
from coach.rules.spec import SpecError, spec_field


@dataclass(frozen=True)
class Idea:
    """One idea of a phrase rule: per group, the lemmas, exact forms and grammeme sets any of which
    fills it; `ordered`: the groups must come in their written order."""

    text: str
    groups: tuple[tuple[frozenset[str], frozenset[str], tuple[frozenset[str], ...]], ...]
    ordered: bool = False

    def fills(self, tok: Token, group: int) -> bool:
        lemmas, lowers, grammemes = self.groups[group]
        if tok.lemma in lemmas or tok.lower in lowers:
            return True
        return any(g <= tok.tags for g in grammemes)  # pymorphy3's tags hold the part of speech too


def compile_idea(text: str, analyzer: Any) -> Idea:
    """"я + один|одна + очередь" -> an Idea; a word written "=всего" matches that form only,
    "@VERB.past" any word with those grammemes; groups joined by ">" must come in that order."""
    ordered = ">" in text
    if ordered and "+" in text:
        raise SpecError("ideas", f"'{text}': join the groups by + (any order) or by > (in order), not both")
    groups = []
    for part in text.split(">" if ordered else "+"):
        lemmas: set[str] = set()
        lowers: set[str] = set()
        grammemes: list[frozenset[str]] = []
        for alt in (a.strip() for a in part.split("|")):
            if alt.startswith("@"):
                tags = frozenset(t for t in alt[1:].split(".") if t)
                if not tags:
                    raise SpecError("ideas", f"'{text}': '@' needs grammemes, as in @VERB.past")
                grammemes.append(tags)
                continue
            exact = alt.startswith("=")
            words = [t for t in analyzer.tokens(alt.lstrip("=")) if not t.is_punct]
            if len(words) != 1:
                raise SpecError("ideas", f"'{text}': each alternative is one word, got '{alt}'")
            if exact:
                lowers.add(words[0].lower)
            else:
                lemmas.add(words[0].lemma)
                lowers.add(words[0].lower)
        groups.append((frozenset(lemmas), frozenset(lowers), tuple(grammemes)))
    if len(groups) < 2:
        raise SpecError("ideas", f"'{text}': an idea needs two groups or more, joined by + or >")
    return Idea(text, tuple(groups), ordered)


def sentence_of_words(doc: list[Token]) -> list[int]:
    """Per word (non-punctuation token) of the line, the number of its sentence (the split the
    negative and diminutive rules read, kept on the Doc)."""
    return [n for n, (words, _) in enumerate(sentences(doc)) for _ in words]


def find_idea(idea: Idea, words: list[Token], sentence: list[int], window: int) -> list[tuple[int, int]]:
    """Spans (first, last word) where one word of each group stands within `window` words of the
    others in one sentence (`sentence`: per word, its sentence), each word filling one group; the
    tightest per start, not overlapping."""
    at = [[i for i, w in enumerate(words) if idea.fills(w, g)] for g in range(len(idea.groups))]
    if not all(at):
        return []
    best: dict[int, int] = {}
    for first in sorted({i for group in at for i in group}):
        # only the words of this stretch: a long monologue must not multiply every group's hits
        near = [[i for i in group if first <= i < first + window and sentence[i] == sentence[first]]
                for group in at]
        for picks in product(*near):
            if min(picks) != first or len(set(picks)) < len(picks):
                continue
            if idea.ordered and list(picks) != sorted(picks):
                continue
            last = max(picks)
            if first not in best or last < best[first]:
                best[first] = last
    spans: list[tuple[int, int]] = []
    for first in sorted(best):
        span = (first, best[first])
        if not any(overlaps(span, s) for s in spans):
            spans.append(span)
    return spans


def _apart(finds: list[tuple[tuple[int, int], str, bool]]) -> list[tuple[tuple[int, int], str, bool]]:
    """The longest of finds that overlap one another, in the order given (longest first)."""
    kept: list[tuple[tuple[int, int], str, bool]] = []
    for f in finds:
        if not any(overlaps(f[0], k[0]) for k in kept):
            kept.append(f)
    return kept


@dataclass(kw_only=True)
class PhraseSpec(RuleSpec):
    """Any of a list of phrases, in any inflection, tolerant of ASR slips; each occurrence is a
    line finding at those words. When several phrases of one rule overlap, the longest find
    is reported."""

    phrases: list[str] = spec_field("the phrases, written naturally (\"не надо кричать\")", min_items=1)
    exceptions: list[str] = spec_field("phrases that cancel an overlapping find (\"никто не кричит\") "
                                       "when they match at least as exactly: an exception read with an "
                                       "ASR slip cancels only a find also read with one",
                                       default=[], default_doc="none")
    max_gap: int = spec_field("extra words allowed between the phrase's words (\"не надо **на меня** "
                              "кричать\" needs 2)", default=1, minimum=0)
    fuzzy: bool = spec_field("tolerate ASR slips (see [How matching works](#how-matching-works)); "
                             "`false` for fixed forms like diminutives", default=True)
    reply: bool = spec_field("the phrase answers the customer (\"calm down\", \"you're not "
                             "listening\"): in the call's first 10 s, before the customer has said a "
                             "word, a near miss is not asked of the audio (the agent is greeting, and "
                             "a garbled greeting reads like anything)", default=False)
    ideas: list[str] = spec_field("the idea in other words: groups of words joined by `+`, a group's "
                                  "alternatives by a vertical bar (see [Ideas](#ideas)); one word of each "
                                  "group, any order, within `idea_window` words of one sentence; by lemma, "
                                  "`=word` for that form only, `@VERB.past` for any word with those "
                                  "grammemes; groups joined by `>` in that order; no ASR slips",
                                  default=[], default_doc="none")
    idea_window: int = spec_field("how many words an idea may spread over", default=8, minimum=2)
    yields_to: list[str] = spec_field("ids of rules whose finding in the same sentence speaks for this "
                                      "one (\"Не знаю, я тут вторую неделю работаю\" is one excuse, "
                                      "reported as the excuse)", default=[], default_doc="none")
    yields_nearby: bool = spec_field("give way to a `yields_to` rule's finding anywhere in the same line, "
                                     "or one of the same speaker's ending at most 3 s before, not only in "
                                     "the same sentence: a companion of another phrase (\"Не кричите. Я вас "
                                     "прекрасно слышу.\" is one reproach)", default=False)


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
        self.reply = spec.reply
        self.yields_to = frozenset(spec.yields_to)
        self.yields_nearby = spec.yields_nearby
        self._phrase_set = frozenset(self.phrases)
        self.ideas = [compile_idea(text, analyzer) for text in spec.ideas]
        self.idea_window = spec.idea_window
        self.fillers: tuple[Rule, ...] = ()  # the rulebook's (`use_fillers`)

    def use_fillers(self, fillers: tuple[Rule, ...]) -> None:
        self.fillers = fillers

    def indexed_phrases(self) -> list[Phrase]:
        return self.phrases + self.exceptions

    def phrase_gate(self) -> tuple[frozenset[Phrase], bool] | None:
        """A find needs one of the rule's phrases (exceptions only cancel finds); a rule with ideas
        runs on every line of its speaker (an idea's words are looked up in the line, not indexed)."""
        return None if self.ideas else (self._phrase_set, self.fuzzy)

    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        """The rule's finds on the line as said, and on the line without its filler words
        (`Doc.without_fillers`): "я тут, как бы, только вторую неделю" is the phrase with a filler
        in it, not a gap the phrase allows. The second reading takes exact words only (a slip
        across a filler is too far from what was said to fire or to ask the audio about), and
        adds a find only to a sentence the first left without one, as an idea does."""
        doc = as_doc(tokens)
        hits = self._hits(doc, self.fuzzy)
        shorter = doc.without_fillers(self.fillers) if self.fillers else None
        if shorter is None:
            return hits
        short, where = shorter
        extra = self._hits(short, False)
        if not extra:
            return hits  # most lines with a filler: the rule's phrases are not there either
        index = {id(w): i for i, w in enumerate(short.words)}
        at = {id(w): i for i, w in enumerate(doc.words)}
        spans = [(at[id(h.tokens[0])], at[id(h.tokens[-1])]) for h in hits]
        blocked = [b for exc in self.exceptions for b in doc.find(exc, self.max_gap, self.fuzzy)]
        sentence = sentence_of_words(doc)
        for hit in extra:
            span = (where[index[id(hit.tokens[0])]], where[index[id(hit.tokens[-1])]])
            if any(overlaps(span, s) for s in spans + blocked):
                continue
            if any(sentence[s[0]] == sentence[span[0]] for s in spans):
                continue  # as for an idea: one thought a sentence ("I'm, like, new, it's my second week")
            said = doc.words[span[0] : span[1] + 1]
            kept = {id(t) for t in hit.tokens}
            if any(negations([a.lower]) and id(b) not in kept for a, b in zip(said, said[1:])):
                continue  # "Не, ну, знаю" is "no, well, I know": a negation stands by what it negates
            hit.tokens = said
            hit.details["lemmas"] = [t.lemma for t in said]
            hit.details["fillers_skipped"] = [t.lower for t in said if id(t) not in kept]
            hits.append(hit)
            spans.append(span)
        return sorted(hits, key=lambda h: at[id(h.tokens[0])])

    def _hits(self, doc: Doc, fuzzy: bool) -> list[Hit]:
        """The rule's finds on one reading of the line (`fuzzy`: with ASR slips)."""
        words = doc.words
        phrases = self.phrases
        if doc.index is not None and self in doc.index.rules:
            cands = doc.candidates(fuzzy)
            if self._phrase_set.isdisjoint(cands):
                phrases = []  # the common case: decided from the shared index, no matching at all
            else:
                phrases = [p for p in phrases if p in cands]  # the others cannot match (`Doc.may_match`)
        found: list[tuple[tuple[int, int], str, bool]] = [
            (span, phrase.text, False)
            for phrase in phrases
            for span in doc.find(phrase, self.max_gap, fuzzy)
        ]
        sentence = sentence_of_words(doc) if self.ideas else []
        for idea in self.ideas:
            found += [(span, idea.text, True) for span in find_idea(idea, words, sentence, self.idea_window)]
        if not found:
            return []
        blocked = self._blocked(doc, found, fuzzy)
        # Overlapping finds: keep the longest phrase ("не надо на меня кричать" over a part of it),
        # then the tightest idea; an idea only where no find of the rule is in its sentence yet:
        # one thought in other words ("я вообще сижу в Екатеринбурге, мне отсюда не видно") is one.
        # Of two phrases on the same words, the one said exactly: "What I do in your position" is
        # "what i do in your position", not "what i'd do…" with a slip, which the audio would then
        # reject ("'d" is not there), taking the find with it (held-out set 15, 16 kHz).
        by_text = {p.text: p for p in phrases}

        def slipped(f: tuple[tuple[int, int], str, bool]) -> bool:
            return fuzzy and not f[2] and f[0] not in doc.find(by_text[f[1]], self.max_gap, False)

        found.sort(key=lambda f: (f[2], (f[0][1] - f[0][0]) * (1 if f[2] else -1), slipped(f), f[0][0]))
        taken: list[tuple[tuple[int, int], str, bool]] = []
        beneath: dict[tuple[int, int], list[tuple[tuple[int, int], str, bool]]] = {}
        for f in found:
            span, text, is_idea = f
            if any(overlaps(span, b) for b in blocked[f]):
                continue
            over = [t for t in taken if overlaps(span, t[0])]
            if over:
                # An exact phrase under a longer find read with a slip: kept aside, it stands if
                # the audio rejects the slip (held-out set 14: "I need you to just relax" read as
                # a slip of "needs to relax" hid the exact "just relax").
                if len(over) == 1 and not is_idea and slipped(over[0]) and not slipped(f):
                    beneath.setdefault(over[0][0], []).append(f)
                continue
            if is_idea and any(sentence[t[0][0]] == sentence[span[0]] for t in taken):
                continue
            taken.append(f)

        def hit(span: tuple[int, int], text: str, is_idea: bool) -> Hit:
            matched = words[span[0] : span[1] + 1]
            details: dict[str, Any] = {"phrase": text, "lemmas": [t.lemma for t in matched]}
            if is_idea:
                details["idea"] = True
            return Hit(tokens=matched, details=details)

        hits = []
        for span, text, is_idea in sorted(taken, key=lambda f: f[0]):
            h = hit(span, text, is_idea)
            h.beneath = [hit(*f) for f in _apart(beneath.get(span, []))]
            hits.append(h)
        return hits

    def _blocked(self, doc: Doc, found: list[tuple[tuple[int, int], str, bool]], fuzzy: bool
                 ) -> dict[tuple[tuple[int, int], str, bool], list[tuple[int, int]]]:
        """Per find, the exception spans that may cancel it: an exception cancels a find it matches
        at least as exactly (word for word, then by lemma, then with a slip). "Это не ваша вина"
        is one slip from the phrase "не наша вина" and exactly the exception "не ваша вина"; "Это
        не наша вина" is exactly the phrase and only one slip from the exception, so it stands."""
        if not self.exceptions:
            return {f: [] for f in found}
        words = doc.words
        by_text = {p.text: p for p in self.phrases}
        exact = [b for exc in self.exceptions for b in doc.find(exc, self.max_gap, False)]
        # word for word beats by lemma: "вы на меня не кричите" is the phrase "не кричите" as
        # written, and the exception "я не кричу" only by lemma ("меня" is "я"): it stands
        # (held-out set 22); "Я не кричу" is the exception as written and the phrase by lemma
        verbatim = [b for exc in self.exceptions for b in doc.find(exc, self.max_gap, False)
                    if _word_for_word(exc, words, b)]

        def level(span: tuple[int, int], text: str, is_idea: bool) -> list[tuple[int, int]]:
            if not is_idea and _word_for_word(by_text[text], words, span):
                return verbatim
            if is_idea or not fuzzy or self._exact_at(by_text[text], words, *span):
                return exact
            return [b for exc in self.exceptions for b in doc.find(exc, self.max_gap, True)]

        return {f: level(*f) for f in found}

    # --- for checking against the audio (coach.verify) ------------------------------------
    def verification_candidates(self, utt: Utterance, tokens: list[Token], hits: list[Hit],
                                floor: float = NEAR_MISS_FLOOR) -> list[Candidate]:
        """Hits found only with slips allowed (`fuzzy`), and phrases not found whose best window
        of words scores at least `floor` (`near`), outside hits and exceptions; at most one near
        miss per stretch of words (the best-scoring phrase)."""
        doc = as_doc(tokens)
        words = doc.words
        if not words:
            return []
        index = {id(w): i for i, w in enumerate(words)}
        out: list[Candidate] = []
        taken: list[tuple[int, int]] = []
        for hit in hits:
            first, last = index[id(hit.tokens[0])], index[id(hit.tokens[-1])]
            taken.append((first, last))
            if hit.details.get("idea") or "fillers_skipped" in hit.details:
                continue  # matched exactly, word by word: nothing for the audio to settle
            phrase = next(p for p in self.phrases if p.text == hit.details.get("phrase"))
            if self.fuzzy and not self._exact_at(phrase, words, first, last):
                said = self._said(utt.text, phrase, words, first, last)
                out.append(Candidate(self.id, FUZZY, phrase.text, words[first : last + 1],
                                     words[first].start_char, words[last].end_char, said, 1.0, hit))
        if not self.fuzzy:
            return out
        near = []
        for phrase in self.phrases:
            found = near_miss(phrase, words, self.max_gap, floor, doc.squashed)
            if found is not None and not any(overlaps(found[1:], t) for t in taken):
                near.append((found, phrase))
        if not near:
            return out
        blocked = [b for exc in self.exceptions for b in doc.find(exc, self.max_gap, self.fuzzy)]
        # A sentence the filler reading found the rule in has its thought: no near miss beside it
        # ("I'm kind of new here like this in my second week" is one find, not two).
        said_with_fillers = [index[id(h.tokens[0])] for h in hits if "fillers_skipped" in h.details]
        sentence = sentence_of_words(doc) if said_with_fillers else []
        thought = {sentence[i] for i in said_with_fillers}
        near.sort(key=lambda f: (-f[0][0], f[0][2] - f[0][1]))
        for (score, first, last), phrase in near:
            span = (first, last)
            if any(overlaps(span, b) for b in blocked) or any(overlaps(span, t) for t in taken):
                continue
            if thought and sentence[first] in thought:
                continue
            taken.append(span)
            said = self._said(utt.text, phrase, words, first, last)
            out.append(Candidate(self.id, NEAR, phrase.text, words[first : last + 1],
                                 words[first].start_char, words[last].end_char, said, round(score, 3)))
        return out

    def _exact_at(self, phrase: Phrase, words: list[Token], first: int, last: int) -> bool:
        """Whether the phrase's lemmas (or forms) are there with no slip, on the hit's words."""
        return any(overlaps(span, (first, last))
                   for span in find_phrase(phrase, words, self.max_gap, fuzzy=False))

    def beneath_candidate(self, utt: Utterance, hit: Hit) -> Candidate:
        """An exact find a longer slip covered (`Hit.beneath`), to ask the audio once the slip is
        rejected: read as decoded, so only the mean floor can reject it (words that are not on
        this audio at all)."""
        first, last = hit.tokens[0], hit.tokens[-1]
        said = utt.text[first.start_char : last.end_char]
        return Candidate(self.id, FUZZY, hit.details["phrase"], hit.tokens, first.start_char,
                         last.end_char, said, 1.0, hit)

    def hit_for(self, candidate: Candidate) -> Hit:
        """The Hit a near miss makes once the audio confirmed it (as `check_utterance` makes one)."""
        return Hit(tokens=candidate.tokens, details={"phrase": candidate.phrase,
                                                     "lemmas": [t.lemma for t in candidate.tokens]})

    @staticmethod
    def _said(text: str, phrase: Phrase, words: list[Token], first: int, last: int) -> str:
        """The span with the phrase's own words where the decoded ones differ: word by word
        when the words line up (the phrase's words, gap words kept), else the phrase as written."""
        positions = match_positions(phrase, words, first, 0, fuzzy=True) if last - first + 1 == len(
            phrase.lowers) else None
        if positions is None:
            positions = match_positions(phrase, words, first, last - first, fuzzy=True)
            if positions is None or positions[-1] != last:
                positions = list(range(first, last + 1)) if last - first + 1 == len(phrase.lowers) else None
        if positions is None:
            return whole_span(text, words, phrase.text, first, last)
        replace = {pos: lower for pos, lemma, lower in zip(positions, phrase.lemmas, phrase.lowers)
                   if not word_matches(words[pos], lemma, lower, fuzzy=False)}
        return span_with(text, words, replace, first, last)


def _word_for_word(phrase: Phrase, words: list[Token], span: tuple[int, int]) -> bool:
    """Whether the phrase's words are on the span as written (its forms, in order, gaps allowed),
    not only as lemmas."""
    it = iter(w.lower for w in words[span[0] : span[1] + 1])
    return all(form in it for form in phrase.lowers)
