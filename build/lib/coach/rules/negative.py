"""`kind: negative`: an offer or question built on the negative particle.

"Вы не хотите узнать о наших акциях?" invites "нет"; "Я расскажу вам о наших
акциях" does not. The rule looks, sentence by sentence, for the particle
(`particles`) followed by the word it negates, and fires when

* that word can carry an offer or question: in Russian, from pymorphy3's
  tags (`targets`: a verb, infinitive, predicative, short adjective such as
  "нужна"); elsewhere, or additionally, from the `words` list;
* the customer is addressed: a 2nd-person verb ("не желаете"), or an
  `address_words` word near the particle ("вам не нужна", "don't you want");
* and it is a question ("?" or a `question_words` word such as "ли"), or
  the negated word is an offer word ("хотеть", "желать") that makes an
  offer even when ASR dropped the question mark.

It stays quiet on what is not an offer: an imperative ("Не волнуйтесь, всё
решим"), the speaker about themselves ("я не хочу вас задерживать", 1st
person or `self_words`), and sentences where a `cancel_words` word before the
particle makes it a statement ("если вы не хотите ждать", "понимаю, что вы не
хотите"). A 3rd-person verb is a question about the world, not an offer
("у вас не работает интернет?"), unless it is an offer word ("вас не
интересует?").

The suggestion may use `{positive}`: the sentence with the particle removed
("Вы хотите узнать о наших акциях?"), a starting point for a positive form.
"""

from __future__ import annotations

from typing import Any, ClassVar

from coach.contract import Event, Utterance
from coach.nlp import Token, analyzer_for
from coach.rules.base import Hit, Rule, RuleContext
from coach.rules.matching import as_doc

SENTENCE_END = frozenset(".!?…;")
DEFAULT_TARGETS = ["VERB", "INFN", "PRED", "ADJS", "Prdx"]


def has_morphology(language: str) -> bool:
    """Whether tokens of this language carry POS tags (pymorphy3: Russian only)."""
    return any(t.pos for t in analyzer_for(language).tokens("не"))


def sentences(tokens: list[Token]) -> list[tuple[list[Token], bool]]:
    """Split into sentences of words; True where the sentence ends with '?'."""
    out: list[tuple[list[Token], bool]] = []
    words: list[Token] = []
    for tok in tokens:
        if tok.is_punct:
            if any(ch in SENTENCE_END for ch in tok.text):
                if words:
                    out.append((words, "?" in tok.text))
                words = []
            continue
        words.append(tok)
    if words:
        out.append((words, False))
    return out


def _is(tok: Token, names: frozenset[str]) -> bool:
    return tok.lower in names or tok.lemma in names


class NegativeRule(Rule):
    """Fires on a negative-particle offer or question; see the module docstring for the logic.

    Fields: `particles` (required), `targets` (POS/grammemes, Russian),
    `words` (what may follow the particle; required without morphology),
    `skip_words` (may stand between particle and word: "you", clitics),
    `direction` (after | before | both: where the word stands), `offer_words`,
    `address_words`, `self_words`, `cancel_words`, `question_words`, `window`
    (how near an address word must be, default 3 words).
    """

    kind: ClassVar[str] = "negative"
    KIND_FIELDS: ClassVar[set[str]] = {
        "particles", "targets", "words", "skip_words", "direction", "offer_words",
        "address_words", "self_words", "cancel_words", "question_words", "window",
    }

    def __init__(self, data: dict[str, Any], ctx: RuleContext):
        super().__init__(data, ctx)
        r = self.reader

        def words(name: str, required: bool = False) -> frozenset[str]:
            return frozenset(self._norm(w, name) for w in r.str_list(name, required=required))

        self.particles = words("particles", required=True)
        self.morph = has_morphology(self.language)
        self.targets = frozenset(r.str_list("targets", required=False) or DEFAULT_TARGETS)
        self.words = words("words")
        if not self.morph and not self.words:
            raise r.fail("words", f"is required for '{self.language}' (no morphology: list the "
                                  "words that may follow the particle)")
        self.skip = words("skip_words")
        self.direction = r.str("direction", default="after", choices=("after", "before", "both"))
        self.offer = words("offer_words")
        self.address = words("address_words")
        self.self_words = words("self_words")
        self.cancel = words("cancel_words")
        self.question = words("question_words")
        self.window = int(r.number("window", 3, minimum=0))

    def _norm(self, word: str, field: str) -> str:
        """A listed word as tokens will show it: lower-cased, lemmatised where we can."""
        toks = [t for t in analyzer_for(self.language).tokens(word) if not t.is_punct]
        if len(toks) != 1:
            raise self.reader.fail(field, f"'{word}' must be a single word (as the tokenizer "
                                          f"splits it: {[t.text for t in toks]})")
        return toks[0].lemma

    # --- matching ---------------------------------------------------------------------
    def check_utterance(self, utt: Utterance, tokens: list[Token], state: Any) -> list[Hit]:
        doc = as_doc(tokens, self.language)
        if not any(_is(w, self.particles) for w in doc.words):
            return []
        hits = []
        for words, asked in sentences(doc):
            question = asked or any(_is(w, self.question) for w in words)
            for i, word in enumerate(words):
                if _is(word, self.particles):
                    span = self._offer_at(words, i, question)
                    if span:
                        hits.append(self._hit(utt, words, span))
        return hits

    def _target(self, words: list[Token], i: int) -> int | None:
        """Index of the word the particle negates, or None."""
        steps = []
        if self.direction in ("after", "both"):
            steps.append(1)
        if self.direction in ("before", "both"):
            steps.append(-1)
        for step in steps:
            j = i + step
            skipped = 0
            while 0 <= j < len(words) and _is(words[j], self.skip) and skipped < 2:
                j += step
                skipped += 1
            if 0 <= j < len(words) and self._can_offer(words[j]):
                return j
        return None

    def _can_offer(self, tok: Token) -> bool:
        if self.words:  # an explicit list decides
            return _is(tok, self.words)
        return tok.pos in self.targets or bool(tok.tags & self.targets)

    def _offer_at(self, words: list[Token], i: int, question: bool) -> tuple[int, int] | None:
        j = self._target(words, i)
        if j is None:
            return None
        target = words[j]
        if "impr" in target.tags or "1per" in target.tags:
            return None  # "Не волнуйтесь" asks nothing; "я не хочу" is about the speaker
        if any(_is(w, self.cancel) for w in words[:i]):
            return None
        if any(_is(w, self.self_words) for w in words[max(0, i - 2) : i]):
            return None
        near = words[max(0, min(i, j) - self.window) : max(i, j) + self.window + 1]
        addressed_near = not self.address or any(_is(w, self.address) for w in near)
        offer_word = _is(target, self.offer)
        if self.morph and target.pos == "VERB":
            addressed = "2per" in target.tags or (
                addressed_near and ("past" in target.tags and "plur" in target.tags or offer_word)
            )
        else:
            addressed = addressed_near
        if not addressed or not (question or offer_word):
            return None
        lo, hi = min(i, j), max(i, j)
        if lo > 0 and _is(words[lo - 1], self.address):
            lo -= 1  # "вы не хотите", "вам не нужна": the whole offer, as QA quotes it
        return lo, hi

    def _hit(self, utt: Utterance, words: list[Token], span: tuple[int, int]) -> Hit:
        matched = words[span[0] : span[1] + 1]
        particle = next(w for w in matched if _is(w, self.particles))
        return Hit(tokens=matched, details={
            "lemmas": [w.lemma for w in matched],
            "positive": _positive(utt.text, words, particle),
        })

    def event(self, hit: Hit, utt: Utterance | None, state: Any) -> Event:
        event = super().event(hit, utt, state)
        positive = hit.details.get("positive", "")
        event.message = event.message.replace("{positive}", positive)
        event.suggestion = event.suggestion.replace("{positive}", positive)
        return event


def _positive(text: str, words: list[Token], particle: Token) -> str:
    """The sentence as said, minus the particle: "Вы хотите узнать о наших акциях?"."""
    start, end = words[0].start_char, words[-1].end_char
    tail = text[end:].lstrip()
    mark = "?" if tail.startswith("?") else ""
    body = text[start : particle.start_char] + text[particle.end_char : end]
    body = " ".join(body.split()).strip(" ,")
    return (body[:1].upper() + body[1:] + mark) if body else ""
