"""A negative offer whose offer word ASR garbled: "Вы не противо ответить…", "Не желай ети подключить…",
"…, не желают заодно заменить…" (the 3rd person for "желаете");
or whose address it garbled: "wouldn't be rather move…" for "wouldn't you rather move…".

The negative rule (coach.rules.negative) reads grammar, so a garbled negated word is no offer to
it: "противо" is no word, "желай" is an imperative. Here a word after the particle that no
dictionary knows (alone, or joined with the next one: ASR splits words at a space, never at
punctuation) is compared with every form of the rule's offer words; the closest one
(`NEAR_OFFER_SIMILARITY`; of equally close forms, one that addresses the customer) is put in its
place, and if the sentence is then an offer by every test of the rule (addressed, not
cancelled, not about the speaker), it becomes a near-miss candidate: the audio decides whether
that form was said (coach.verify, at the single-word margin of coach.rules.candidates).

In languages that address the customer with a word (`address_words`: "wouldn't *you* like"),
Whisper base drops or bends that short unstressed word: "wouldn't be rather moved to the yearly
plan" (held-out set 7), "don't be want to just collect it" (set 6). A `skip_words` word right after
the particle that is not itself an address word ("be", "just") is then read as the first address
word; when the sentence is an offer that way (and no `subject_words` word before the particle's
host makes it a statement about someone else: "they wouldn't be interested"), the audio decides
(`near_address`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rapidfuzz.distance import Levenshtein

from coach.contract import Utterance
from coach.nlp import Token, analyzer_for
from coach.rules.base import Hit
from coach.rules.candidates import NEAR, NEAR_WORD_MARGIN, NEAR_WORD_MIN_MEAN, Candidate
from coach.rules.lexicon import known_word, parses
from coach.rules.matching import as_doc

if TYPE_CHECKING:
    from coach.rules.negative import NegativeRule

# A garbled word after the particle that reads this much like a form of an offer word (normalised
# Levenshtein similarity of the letters; "противо" ~ "против", "желай ети" ~ "желаете") is asked
# of the audio as that form.
NEAR_OFFER_SIMILARITY = 0.75


@dataclass(frozen=True)
class OfferForms:
    """Every form of a rule's offer words (pymorphy3's lexemes), and those of the 2nd person."""

    forms: tuple[str, ...]
    addressing: frozenset[str]
    participles: frozenset[str] = frozenset()  # "затруднена": no reading after "вас не"
    third: frozenset[str] = frozenset()  # of the 3rd person: "вас не затруднит"

    @classmethod
    def of(cls, lemmas: frozenset[str]) -> OfferForms:
        forms = {p.word for lemma in lemmas for parse in parses(lemma)[:1] for p in parse.lexeme}
        ordered = tuple(sorted(forms | set(lemmas)))
        return cls(ordered, frozenset(f for f in ordered if "2per" in parses(f)[0].tag),
                   frozenset(f for f in ordered if parses(f)[0].tag.POS in ("PRTF", "PRTS", "GRND")),
                   frozenset(f for f in ordered if "3per" in parses(f)[0].tag))


def near_offer(rule: NegativeRule, utt: Utterance, words: list[Token], asked: bool) -> Candidate | None:
    """The candidate for the first particle of the sentence whose garbled word reads like an offer."""
    offer = rule.offer_forms
    if not offer.forms:
        return None
    text = utt.text
    for i, word in enumerate(words[:-1]):
        if not (word.lower in rule.particles or word.lemma in rule.particles):
            continue
        reads: list[tuple[float, bool, str, int]] = []
        # "Вас не затрудн…": after an address word in the dative or accusative the verb is in the
        # 3rd person ("затруднит"); a "вы" form there would need "вы" (held-out set 9)
        experiencer = i > 0 and rule._experiencer_near(words[i - 1 : i])
        excluded = offer.addressing | offer.participles if experiencer else frozenset()
        preferred = offer.third if experiencer else offer.addressing  # of equally close forms
        for last in (i + 1, i + 2):
            if last >= len(words) or text[words[last - 1].end_char : words[last].start_char].strip():
                break  # a word split by ASR is split by a space, not by punctuation
            heard = "".join(w.lower for w in words[i + 1 : last + 1])
            if known_word(heard):
                if last == i + 1 and _clause_start(text, words, i):
                    reads += [(0.9, False, form, last) for form in _addressing_of(rule, heard)]
                continue
            for form in offer.forms:
                if form[0] != heard[0] or form in excluded:
                    continue
                score = Levenshtein.normalized_similarity(heard, form, score_cutoff=NEAR_OFFER_SIMILARITY)
                if score:
                    reads.append((score, form not in preferred, form, last))
        # the closest form first; of equally close ones, one that addresses the customer (after
        # "вас/вам", one in the 3rd person)
        for score, _, form, last in sorted(reads, key=lambda r: (-r[0], r[1], r[2])):
            hit = _offer_with(rule, utt, words, i, last, form, asked)
            if hit is None:
                continue
            first = i + 1
            said = form[:1].upper() + form[1:] if words[first].text[:1].isupper() else form
            return Candidate(rule.id, NEAR, form, hit.tokens, words[first].start_char, words[last].end_char,
                             said=said, score=score, hit=hit, margin=NEAR_WORD_MARGIN,
                             min_mean=NEAR_WORD_MIN_MEAN)
    return None


def _clause_start(text: str, words: list[Token], i: int) -> bool:
    """The particle opens its sentence or a clause after a comma, or ASR dropped that comma after
    a word no nominative reading of which could be the verb's subject: "…решение примет доктор на
    осмотре не желают заодно записаться…" (held-out set 18); "Они не желают", "Клиенты не желают"
    have theirs."""
    if i == 0 or "," in text[words[i - 1].end_char : words[i].start_char]:
        return True
    before = words[i - 1].lower
    return known_word(before) and not any("nomn" in p.tag or p.tag.POS not in ("NOUN", "ADJF", "PRTF")
                                          for p in parses(before))


def _addressing_of(rule: NegativeRule, heard: str) -> list[str]:
    """The "вы" form of an offer verb ASR wrote in the 3rd person at a clause's start: "…, не
    желают заодно заменить…", "…, не желает…" for "не желаете" (held-out sets 6 and 7; the
    endings differ by a letter or two and nobody else is there to "желают"). The audio decides
    which was said."""
    out = []
    for parse in parses(heard):
        if parse.normal_form in rule.offer and "3per" in parse.tag:
            tense = "futr" if "futr" in parse.tag else "pres"
            form = parse.inflect({"indc", tense, "plur", "2per"})
            if form is not None and form.word not in out:
                out.append(form.word)
    return out


def near_address(rule: NegativeRule, utt: Utterance, words: list[Token], asked: bool) -> Candidate | None:
    """The candidate for the first particle followed by a skip word in the address word's place
    (see the module docstring), or None."""
    if rule.morph or not rule.address_first or rule.direction == "before":
        return None  # (a language with morphology addresses by the verb's person too)
    for i, word in enumerate(words[:-2]):
        if not (word.lower in rule.particles or word.lemma in rule.particles):
            continue
        swapped = words[i + 1]
        if swapped.lower not in rule.skip or swapped.lower in rule.address:
            continue
        host = i - 1 if i > 0 and words[i - 1].end_char == word.start_char else i
        if host > 0 and words[host - 1].lower in rule.subjects:
            continue
        hit = _offer_with(rule, utt, words, i, i + 1, rule.address_first, asked)
        if hit is None:
            continue
        said = rule.address_first
        return Candidate(rule.id, NEAR, said, hit.tokens, swapped.start_char, swapped.end_char,
                         said=said, score=1.0, hit=hit, margin=NEAR_WORD_MARGIN, min_mean=NEAR_WORD_MIN_MEAN)
    return None


def _offer_with(rule: NegativeRule, utt: Utterance, words: list[Token], particle: int, last: int,
                form: str, asked: bool) -> Hit | None:
    """The rule's Hit on the sentence with words[particle+1..last] read as `form`, or None when
    that sentence is no offer. Its tokens are the utterance's own (times and the quote); the
    suggestion is made from the sentence as corrected."""
    from coach.rules.negative import sentences  # the rule's module imports this one

    lo, hi = words[particle + 1].start_char, words[last].end_char
    fixed = utt.text[:lo] + form + utt.text[hi:]
    shift = len(form) - (hi - lo)
    for fixed_words, fixed_asked in sentences(as_doc(analyzer_for(rule.language).tokens(fixed))):
        particle_at = words[particle].start_char  # the text before the word is as decoded
        at = next((k for k, w in enumerate(fixed_words) if w.start_char == particle_at), None)
        if at is None:
            continue
        question = fixed_asked or asked or any(w.lower in rule.question or w.lemma in rule.question
                                               for w in fixed_words)
        found = rule._offer_at(fixed_words, at, question, fixed)
        if found is None:
            return None
        span, target = found
        hit = rule._hit(Utterance(utt.speaker, utt.start, utt.end, fixed), fixed_words, span, target)
        start = fixed_words[span[0]].start_char
        end = fixed_words[span[1]].end_char  # the corrected word's end -> the decoded words' end
        end = hi if end <= lo + len(form) else end - shift
        hit.tokens = [w for w in words if start <= w.start_char and w.end_char <= end]
        hit.details["lemmas"] = [w.lemma for w in fixed_words[span[0] : span[1] + 1]]
        return hit
    return None
