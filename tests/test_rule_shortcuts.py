"""The rulebook's speed-ups change speed, never findings.

Rules run on every final line, live and in batch, so the Rulebook shares work between
rules: one phrase index per rulebook answers which phrase words each word matches
(`coach.rules.index`), the word pass reads those answers instead of comparing letters
again, phrase rules none of whose phrases the index can find on a line are not called,
and the pack's three name rules read each line once and follow the call together. Each
shortcut is right only if it answers what the plain path answers: these tests compare
the two on every example line of the packs and on the fixture calls.
"""

from __future__ import annotations

import json

import pytest

from coach.contract import AGENT
from coach.rules import Rulebook, utterance_from_text
from coach.rules.engine import one_thought
from coach.rules.examples import PAUSE, dialogue, timeline
from coach.rules.matching import find_phrase, word_matches
from coach.rules.required import RequiredRule
from tests.conftest import CALLS


@pytest.fixture(scope="module", params=["ru", "en"])
def book(request) -> Rulebook:
    return Rulebook.load(request.param)


def example_lines(book: Rulebook) -> list[tuple[str, str]]:
    """(speaker, text) of every line of every example of the pack, each once."""
    lines = []
    for rule in book.rules:
        speaker = AGENT if rule.speaker == "any" else rule.speaker
        for example in rule.examples["match"] + rule.examples["no_match"]:
            lines += [(who, text) for who, text in dialogue(example, speaker) if who != PAUSE]
    return list(dict.fromkeys(lines))


def test_the_index_answers_exactly_what_word_matches_answers(book):
    words = {(w.lower, w.lemma): w for _, text in example_lines(book) for w in book.tokens(text).words}
    assert len(words) > 300
    for word in words.values():
        exact, fuzzy = book.index.matches(word)
        for key in book.index.keys:
            assert (key in exact) == word_matches(word, *key, False), (word.text, key)
            assert (key in fuzzy) == word_matches(word, *key, True), (word.text, key)


def test_phrases_are_found_alike_with_and_without_the_index(book):
    phrases = sorted(book.index.phrases, key=lambda p: p.text)
    found = 0
    for _, text in example_lines(book):
        doc = book.tokens(text)
        for phrase in phrases:
            for fuzzy in (True, False):
                spans = find_phrase(phrase, doc.words, 1, fuzzy, doc=doc)
                assert spans == find_phrase(phrase, doc.words, 1, fuzzy), (text, phrase.text, fuzzy)
                assert list(doc.find(phrase, 1, fuzzy)) == spans
                found += bool(spans)
    assert found > 100


def test_rules_the_index_skips_would_have_found_nothing(book):
    """`preview` runs the line rules through the index and its gates; called one by one on plain
    tokens (no index, every rule called), the same rules must give the same events."""
    state = book.new_state()
    fired = 0
    for who, text in example_lines(book):
        utt = utterance_from_text(text, who)
        shortcut = [e.to_dict() for e in book.preview(utt, state)]
        tokens = book.analyzer.tokens(text)
        found = [(rule, hit) for rule in book.early_rules if rule.applies_to(who)
                 for hit in rule.check_utterance(utt, tokens, state)]
        # what the rules say together (an excuse speaking for "не знаю") is the engine's, not a shortcut
        plain = [rule.event(hit, utt, state).to_dict() for rule, hit in one_thought(found, tokens)]
        assert shortcut == plain, text
        fired += len(plain)
    assert fired > 50


def _play(book: Rulebook, lines: list[tuple[str, str]]) -> tuple[list[dict], list, list]:
    """The events, and after each line the checklist and what the call knows of the name."""
    state = book.new_state()
    events, checklists, names, t = [], [], [], 0.0
    for utt, t in timeline(lines):
        if utt is None:
            events += book.check_time(state, t)
            continue
        events += book.check_utterance(utt, state) + book.check_time(state, utt.end)
        checklists.append(book.checklist(state))
        names.append(book.customer_name(state))
    state.duration_s = t
    events += book.check_call(state)
    return [e.to_dict() for e in events], checklists, names


def test_name_rules_following_the_call_together_find_what_each_finds_alone():
    """The pack's name rules are set up alike, so they read each line once and keep one record
    of the call; each of them alone in a rulebook must still find exactly the same."""
    ru = Rulebook.load("ru")
    names = [r for r in ru.rules if r.kind == "name"]
    calls = json.loads((CALLS / "manifest.json").read_text(encoding="utf-8"))["calls"]
    dialogues = [[(line["speaker"], line["text"]) for line in call["lines"]] for call in calls.values()]
    dialogues.append([("agent", "Как я могу к вам обращаться?"), ("customer", "Минуточку, сейчас."),
                      ("customer", "Да, конечно, Николай Петрович меня зовут."),  # still the answer
                      ("agent", "Спасибо, Николай Петрович, сейчас проверю.")])
    for rule in names:
        for example in rule.examples["match"] + rule.examples["no_match"]:
            dialogues.append(dialogue(example, AGENT))
    together = Rulebook(names, "ru")
    fired = 0
    for lines in dialogues:
        events, checklists, known = _play(together, lines)
        for rule in names:
            alone_events, alone_checklists, alone_known = _play(Rulebook([rule], "ru"), lines)
            assert [e for e in events if e["rule"] == rule.id] == alone_events, (rule.id, lines)
            steps = [[step for step in checklist if step["id"] == rule.id] for checklist in checklists]
            assert steps == alone_checklists, (rule.id, lines)
            assert known == alone_known, (rule.id, lines)
            fired += len(alone_events)
    assert fired >= sum(len(rule.examples["match"]) for rule in names)  # each match example fires


@pytest.mark.parametrize("language", ["ru", "en", "ro", "nb"])  # et has no checklist
def test_the_checklist_ticked_only_when_a_line_can_change_it_shows_what_every_line_shows(
        language, monkeypatch):
    """Opening and closing steps skip lines that say none of their labels; ticking on every line
    must give the same checklist after every line of every example and fixture call."""
    book = Rulebook.load(language)
    required = [r for r in book.rules if isinstance(r, RequiredRule) and r.checklist]
    assert required
    dialogues = [dialogue(example, AGENT) for rule in book.rules
                 for example in rule.examples["match"] + rule.examples["no_match"]]
    calls = json.loads((CALLS / "manifest.json").read_text(encoding="utf-8"))["calls"]
    dialogues += [[(line["speaker"], line["text"]) for line in call["lines"]] for call in calls.values()]
    closings = [p for r in required if r.part == "closing" for ps in r.spec.require.values() for p in ps]
    # a closing said, the agent speaking on for three more turns (it is undone), said again
    dialogues.append([(AGENT, closings[0]), *[("customer", "..."), (AGENT, "...")] * 3,
                      (AGENT, closings[-1])])
    shortcut = [_play(book, lines)[1] for lines in dialogues]
    monkeypatch.setattr(RequiredRule, "_may_change", lambda self, part, doc: True)
    assert shortcut == [_play(book, lines)[1] for lines in dialogues]
    assert any(step["done"] for checklists in shortcut for checklist in checklists for step in checklist)
