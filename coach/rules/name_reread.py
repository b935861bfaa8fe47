"""A name rule's second readings: the lines read again on the audio before a finding stands.

Whisper base drops or garbles a name, and the short question for it, more than
any other words of a call (a name said alone before a pause; "Как вас замут?"
on 8 kHz). Before `name_not_asked` or `name_not_used` is reported the Session's
verifier reads the lines the finding rests on again (coach.verify), and
`NameRule` hears what that second reading says here:

* asked: the agent's first 30 s of lines; a question found there undoes the finding;
* used: the agent's lines after the name became known (and the call's last
  30 s); a use of the name found there undoes it;
* used, tentative: no name was caught from the customer's answer: the answer is
  read again; a name caught there becomes the call's name, and the finding then
  stands as a plain `used` one unless the agent's lines already say it. Where
  no reading makes a name of the answer, a rule with `unread_answer` still
  reports it when no agent line after it addresses anyone by a name or a title
  (`_unread_answer_unused`).

One module for this step so that `coach.rules.name` keeps to following the call.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rapidfuzz.fuzz import partial_ratio

from coach.contract import AGENT, Utterance
from coach.rules.base import Hit
from coach.rules.matching import Doc, as_doc
from coach.rules.name_heard import NameHeard

if TYPE_CHECKING:
    from coach.rules.name import _Seen

ANSWER_WITHIN_S = 8.0  # used: the customer's lines this soon after the name question are the answer
ANSWER_READ_S = 4.0  # ... and these first seconds after it, read again when no name was caught
REREAD_S = 30.0  # asked: the agent's lines this far from their first word are read again (one window)
# asked: a greeting by name is the opening's, within its first words: "…definitely not supposed to
# happen. Um, yes, Max, you know…" 20 words into a second reading is no greeting (held-out set 11,
# where it undid a true "name not asked")
GREETING_WITHIN_WORDS = 12


class NameRereads(NameHeard):
    """The second-reading half of `NameRule` (a mixin: it reads the rule's phrases, name book
    and follow-up record); where both readings lose the name, the audio is asked (NameHeard)."""

    def _answer_spans(self, state: Any, seen: _Seen) -> list[tuple[float, float]]:
        """used: where the customer's answer to the name question is, when no name was caught from
        it and the agent spoke afterwards: the first seconds after the question and the customer's
        lines of the next few. Whisper base drops or garbles a name said alone ("Тамара." was not
        written at all on an 8 kHz corpus call; "Инна." came out "Име?"); the answer is read
        again (a tentative finding: with no second reading, or no name in it, nothing is reported)."""
        asked = seen.asked_at
        if asked is None or seen.sure is not None or getattr(state, "customer_name_set", False):
            return []
        if not any(u.speaker == AGENT and u.final and u.start > asked for u in state.utterances):
            return []
        lines = [(u.start, u.end) for u in state.utterances if u.speaker == self.name_speaker and u.final
                 and asked <= u.start < asked + ANSWER_WITHIN_S]
        return sorted({(asked + 0.3, asked + ANSWER_READ_S), *lines})

    @staticmethod
    def _since_known(state: Any, seen: _Seen) -> list[Utterance]:
        """used: the agent's lines read again before "never used" is reported: those of the first
        30 s after the name became known (where an agent answers "Виктор, назовите номер счёта")
        and of the call's last 30 s (the closing: "Анастасия, спасибо за звонок")."""
        known = seen.known_at if seen.known_at is not None else 0.0
        return _first_and_last_windows([u for u in state.utterances
                                        if u.speaker == AGENT and u.final and u.end > known])

    def reread_spans(self, hit: Hit) -> tuple[str, list[tuple[float, float]]] | None:
        """asked: the agent's first 30 s of lines, read again before "never asked" is reported.
        The question is short and comes early, where Whisper base reads worst ("Can I have your
        aim please?", "Как вас замут?" on 8 kHz corpus calls).
        used: the agent's lines after the name became known (`_since_known`): Whisper base drops
        or garbles a name said alone before a pause ("Виктор, | назовите" came out "Назавите",
        "Кристина," "на завистина," on 8 kHz corpus calls) and reads it in a window of its own."""
        if hit.tentative:
            return self.name_speaker, hit.details["answer"]
        if self.check not in ("asked", "used") or not hit.judged_on:
            return None
        return AGENT, [(u.start, u.end) for u in hit.judged_on]

    def after_reread(self, hit: Hit, text: str, state: Any, verify: Any = None) -> bool:
        seen = self._seen(state)
        if hit.tentative:
            return self._answer_read_again(hit, text, state, seen, verify)
        doc = Doc(self.analyzer.tokens(text))
        if self.check == "used" and "answer_unread" in hit.details:
            return not self._addresses_anyone(text, doc.words, seen)  # the agent's lines, read again
        if self.check == "used":
            if self._used_in(text, doc, seen, state, hit):
                return False
            return not self._use_heard(hit, seen, verify)
        found = self._found(self.ask, doc, 2)
        if not found:
            if self._greets_by_name(text, doc):
                return False
            heard = self.intro_heard(state, verify)  # the customer gave it unasked, garbled
            if heard is not None:
                self._set(seen, state, *heard)
                seen.known_unasked(heard[1])
                hit.details["intro_heard"] = heard[0].text
                return False
            return True
        if seen.asked_at is None and hit.judged_on:
            seen.asked, seen.asked_at = True, _asked_in(hit.judged_on, found[0][0].text).end
        return False

    def _greets_by_name(self, text: str, doc: Doc) -> bool:
        """asked: whether the agent's opening, read again, greets the customer by a dictionary name
        next to a greeting word in its first words (`GREETING_WITHIN_WORDS`: "Добрый день, Игорь
        Викторович"): an outbound call whose agent knows the name, which the first reading also
        accepts (`addresses`) when it reads the name. Whisper split it there ("Добрый день и горь
        Викторович" on a corpus call)."""
        words = doc.words
        own = self._own_name_spots(doc)
        for i, name in self.book.addresses(text, words, None):
            if i in own or i >= GREETING_WITHIN_WORDS:
                continue
            if self.greets_customer(words, i, name, own):
                return True
        return False

    def _answer_read_again(self, hit: Hit, text: str, state: Any, seen: _Seen, verify: Any) -> bool:
        """The customer's answer read again: a name caught in its first sentence (or, failing
        that, one its first words say on the audio: `answer_heard`) becomes the call's name; the
        finding then stands as a plain `used` one (its agent lines read next) unless the agent's
        lines as first read already say it."""
        answer = hit.details.pop("answer")
        said = _first_sentences(text, self.skip)
        tokens = self.analyzer.tokens(said)
        name = self.capture(Utterance(self.name_speaker, answer[0][0], answer[-1][1], said), tokens, True)
        if name is None or not name.sure:
            name = self.answer_heard(answer, state, verify)
            if name is None:
                return self._unread_answer_unused(hit, said, answer, state, seen)
            hit.details["answer_heard"] = name.text
        self._set(seen, state, name, answer[0][0])
        for utt in state.utterances:
            if utt.speaker == AGENT and utt.final and utt.start > answer[0][0]:
                words = as_doc(self.analyzer.tokens(utt.text)).words
                if self.book.says(utt.text, words, name):
                    return False
        hit.tentative, hit.text = False, name.text
        hit.details["answer_reread"] = said
        hit.judged_on = self._since_known(state, seen)
        return bool(hit.judged_on)

    def _unread_answer_unused(self, hit: Hit, said: str, answer: list[tuple[float, float]], state: Any,
                              seen: _Seen) -> bool:
        """`unread_answer`: the customer answered the name question, no reading makes a name of
        the answer, and none of the agent's lines after it addresses anyone by a name or a title:
        the name was given and never used. Whisper base garbles an English name said alone past
        any reading ("Daniel Frost." came out "then you'll trust MROST", "Dawn." came out
        "Don't,"), while an agent's use ("Mr Frost, …", "Thanks, Dawn.") comes out as a title or
        a dictionary name where an address stands. Held-out sets 27-31 (English calls, three
        copies each): 15 of 16 such calls had the name unused; the Russian packs leave it off
        (1 of 4: a garbled patronymic reads as no name at all)."""
        if not self.unread_answer or not said.strip():
            return False
        lines = [u for u in state.utterances if u.speaker == AGENT and u.final and u.start > answer[0][0]]
        for utt in lines:
            words = as_doc(self.analyzer.tokens(utt.text)).words
            if self._addresses_anyone(utt.text, words, seen):
                return False
        if not lines:
            return False
        hit.tentative = False
        hit.details["answer_unread"] = said
        hit.judged_on = _first_and_last_windows(lines)
        return True

    def _addresses_anyone(self, text: str, words: list[Any], seen: _Seen) -> bool:
        """Whether a line addresses someone by a dictionary name or a title ("Thanks, Dawn.",
        "Mr Frost, …"), the agent's own name aside."""
        return any(name.key not in seen.agent_names and words[i].lower not in seen.agent_names
                   for i, name in self.book.addresses(text, words, None))

    def _use_heard(self, hit: Hit, seen: _Seen, verify: Any) -> bool:
        """Whether the agent's lines, asked of the audio with the name in an address's place, use
        it (`use_heard`): Whisper base wrote "Stacey," as "Maisie," in every use on a held-out call."""
        sure = seen.sure
        if sure is None or not hit.judged_on:
            return False
        line = self.use_heard(hit.judged_on, sure, verify)
        if line is None:
            return False
        seen.uses += 1
        seen.first_use = seen.last_use = line.end
        hit.details["use_heard"] = line.text
        return True

    def _used_in(self, text: str, doc: Doc, seen: _Seen, state: Any, hit: Hit) -> bool:
        """Whether the agent's second reading uses the customer's name: addresses them by it or by
        a dictionary name that corrects it (`_take_address`, as on the first reading), or says it."""
        sure = seen.sure
        if sure is None:
            return False
        words = doc.words
        locked = getattr(state, "customer_name_set", False)
        used = any(self._take_address(seen, state, name, locked, seen.known_at or 0.0)
                   for _, name in self.book.addresses(text, words, sure) if name.key not in seen.agent_names)
        used = used or self.book.says(text, words, sure)
        if used:
            seen.uses += 1
            at = hit.judged_on[0].end if hit.judged_on else None
            seen.first_use = seen.last_use = at
        return used


def _first_and_last_windows(lines: list[Utterance]) -> list[Utterance]:
    """The lines of the first `REREAD_S` from the first one's start and of the last `REREAD_S`
    to the last one's end: where a use of the name is (the answer, the closing)."""
    if not lines:
        return []
    first, last = lines[0].start + REREAD_S, lines[-1].end - REREAD_S
    return [u for u in lines if u.start < first or u.end > last]


def _asked_in(lines: list[Utterance], question: str) -> Utterance:
    """The line of the first reading where the second reading's question was asked: the one whose
    letters come closest to it (the customer's answer follows that line, not the window's last:
    "Can I have the name of the working one under?" for "Could I have the name the booking was
    under?" on a held-out call)."""
    return max(reversed(lines), key=lambda u: partial_ratio(question, u.text.lower()))


def _first_sentences(text: str, skip: frozenset[str]) -> str:
    """The head of a reading up to its first sentence's end, or its second's when the first holds
    only words like "да", "здравствуйте" (`skip_words`): where an answer to a question is."""
    parts = re.split(r"(?<=[.!?…])\s+", text.strip())
    head = parts[0] if parts else ""
    if len(parts) > 1 and all(w.strip(".,!?…").lower() in skip for w in head.split()):
        head = f"{head} {parts[1]}"
    return head
