"""The rulebook's own tests: every example of every rule in every pack, and file validation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coach.errors import RuleError
from coach.paths import rules_root
from coach.rules import Rulebook
from coach.rules.base import Example, fill_name
from coach.rules.engine import utterance_from_text
from coach.rules.examples import run_example, run_rule_examples
from coach.rules.loader import load_rules
from coach.rules.spec import placeholders_in
from tests.conftest import phrase_rule_yaml

PACKS = sorted(p.name for p in rules_root().iterdir() if p.is_dir() and p.name != "scorecards")


def all_rules():
    for language in PACKS:
        yield from load_rules(language).rules


@pytest.mark.parametrize("rule", list(all_rules()), ids=lambda r: r.id)
def test_rule_examples(rule):
    failures = [r.describe() for r in run_rule_examples(rule) if not r.passed]
    assert not failures, "\n".join(failures)


def test_every_pack_loads_through_the_cli_engine():
    for language in PACKS:
        assert Rulebook.load(language).rules


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


GOOD = phrase_rule_yaml("acme.no-sorry", "[ничем не могу помочь]",
                        "[Ничем не могу помочь]", "[Сейчас помогу]")


@pytest.mark.parametrize(
    "mutation, field",
    [
        (("severity: minor", "severity: huge"), "severity"),
        (("kind: phrase", "kind: magic"), "kind"),
        (("phrases: [ничем не могу помочь]", "phrases: 5"), "phrases"),
        (("examples: {match: [Ничем не могу помочь], no_match: [Сейчас помогу]}", ""), "examples"),
        (("message: m", "mesage: m"), "mesage"),
        (("phrases: [ничем не могу помочь]", "phrases: [помочь]\nideas: [я + не могу]"), "ideas"),
        (("phrases: [ничем не могу помочь]", "phrases: [помочь]\nideas: [помочь]"), "ideas"),
        (("phrases: [ничем не могу помочь]", "phrases: [помочь]\nideas: [\"не > я + мочь\"]"), "ideas"),
        (("phrases: [ничем не могу помочь]", "phrases: [помочь]\nideas: [\"не > @\"]"), "ideas"),
    ],
)
def test_invalid_rule_names_file_and_field(tmp_path, mutation, field):
    path = write(tmp_path / "ru" / "bad.yaml", GOOD.replace(*mutation))
    with pytest.raises(RuleError) as info:
        load_rules("ru", [tmp_path])
    assert str(path) in str(info.value) and f"'{field}" in str(info.value)


FILLERS = """id: acme.fillers
kind: occurrence
category: filler_words
speaker: agent
severity: minor
message: m
suggestion: s
source: s
words: [ну, это самая]
not_before: {это самая: [ADJF]}
min_count: 1
per_minute: 0
examples: {match: ["Ну, это самая онжа."], no_match: ["Это самая простая услуга."]}
"""
OPENING = """id: acme.greeting
kind: required
category: no_greeting
speaker: agent
severity: major
message: "m {missing}"
suggestion: s
source: s
part: opening
require: {greeting: [hello, heather]}
exact: [heather]
examples: {match: ["Yeah?", "The weather is fine."], no_match: ["Hello, Acme.", "Heather, Acme."]}
"""


@pytest.mark.parametrize("text, mutation, field", [
    (FILLERS, ("[ADJF]", "[ADJ]"), "not_before"),  # no pymorphy3 part of speech
    (OPENING, ("exact: [heather]", "exact: [hola]"), "exact"),  # not a phrase of require
])
def test_a_bad_not_before_or_exact_names_the_field(tmp_path, text, mutation, field):
    path = write(tmp_path / "ru" / "bad.yaml", text.replace(*mutation))
    with pytest.raises(RuleError) as info:
        load_rules("ru", [tmp_path])
    assert str(path) in str(info.value) and f"'{field}" in str(info.value)


@pytest.mark.parametrize("text", [FILLERS, OPENING])
def test_not_before_and_exact_rules_pass_their_examples(tmp_path, text):
    write(tmp_path / "ru" / "ok.yaml", text)
    [rule] = [r for r in load_rules("ru", [tmp_path]).rules if r.id.startswith("acme.")]
    failures = [r.describe() for r in run_rule_examples(rule) if not r.passed]
    assert not failures, "\n".join(failures)


def idea_finds(tmp_path: Path, fields: str):
    """What a Russian phrase rule with these `fields` (phrases, ideas, idea_window) finds in a text,
    as the found words lower-cased."""
    write(tmp_path / "ru" / "idea.yaml", GOOD.replace("phrases: [ничем не могу помочь]", fields))
    book = Rulebook(load_rules("ru", [tmp_path]).rules, "ru")
    rule = next(r for r in book.rules if r.id == "acme.no-sorry")

    def finds(text: str) -> list[str]:
        hits = rule.check_utterance(None, book.tokens(text), book.new_state())
        return [" ".join(t.lower for t in h.tokens) for h in hits]

    return finds


def test_an_idea_is_its_words_in_any_order_within_one_sentence(tmp_path):
    """An idea (`ideas:`) finds the guideline's thought in words no phrase lists: one word of each
    group in any order, close together, in one sentence; exact words only, one find per sentence."""
    finds = idea_finds(tmp_path, "phrases: [клиентов много а я один]\n"
                                 "ideas: [а + я + =один|=одна + заявка|звонок]\nidea_window: 10")
    assert finds("Сорок заявок за вечер, а я тут одна на телефоне.") == ["заявок за вечер а я тут одна"]
    assert finds("А я одна, и звонков куча, а я одна!") == ["а я одна и звонков"]  # one per sentence
    assert finds("Заявок сорок. А я одна на линии.") == []  # two sentences
    assert finds("А я оформлю одну заявку.") == []  # "одну": not the form written
    assert finds("Сорок заявак за вечер, а я тут одна.") == []  # no ASR slips for ideas


def test_an_ordered_idea_takes_its_groups_in_order_and_grammemes_stand_for_any_word(tmp_path):
    """Groups joined by `>` must come in that order, and `@VERB.past.tran` is any word with those
    grammemes: "заказ оформляла не я" deflects whatever the verb, "я не оформляла" does not."""
    finds = idea_finds(tmp_path, "phrases: [я не виноват]\n"
                                 "ideas: [\"@VERB.past.tran > =не > =я\"]\nidea_window: 6")
    assert finds("Но заказ оформляла не я.") == ["оформляла не я"]
    assert finds("Шторы вешал не я.") == ["вешал не я"]  # a verb no list holds
    assert finds("Я не оформляла заказ.") == []  # the order
    assert finds("Звонила не я, а курьер.") == []  # intransitive: not a deed done to something
    assert finds("Оформлю не я, а коллега.") == []  # not the past


def test_english_clitics_read_as_their_words():
    """spaCy splits "aren't" into "are" + "n't"; read as "not", a phrase written "not my
    department" finds it, and "can't help" finds "cannot help"."""
    en = Rulebook.load("en")
    assert [t.lemma for t in en.tokens("They aren't, I'm").words] == ["they", "are", "not", "i", "am"]
    hits = en.check_utterance(utterance_from_text("Saturdays aren't really my department.", "agent", 30.0),
                              en.new_state())
    assert [e.rule for e in hits] == ["en.forbidden.not-my-job"]


def test_a_squashed_window_says_the_phrases_negation():
    """The squashed pass (merged or split words) compares letters, and a negation is a letter or
    three: "can see it from here" is one letter from "can't see it from here" and says the
    opposite. A window missing the phrase's negative particle, or holding one the phrase lacks, is
    no match; a negation merged into the next word ("некричите") still is."""
    from coach.rules.matching import compile_phrase, find_phrase

    en, ru = Rulebook.load("en"), Rulebook.load("ru")
    cant_see = compile_phrase("can't see it from here", en.analyzer)
    assert find_phrase(cant_see, en.tokens("Honestly I can't see it from here.").words, 1, True)
    assert find_phrase(cant_see, en.tokens("I cant seeit from here.").words, 1, True)  # split/merged
    assert not find_phrase(cant_see, en.tokens("I can see it from here on your account.").words, 1, True)
    nothing = compile_phrase("nothing i can do", en.analyzer)  # "not" is in "nothing"'s letters
    assert find_phrase(nothing, en.tokens("There's not thing I can do.").words, 1, True)
    new_here = compile_phrase("i'm new", en.analyzer)  # a word `max_gap` lets in may not be "not"
    assert find_phrase(new_here, en.tokens("Sorry, I'm quite new here.").words, 1, True)
    assert not find_phrase(new_here, en.tokens("Okay, I'm not new to you, I'm in your inbox.").words, 1, True)
    dont_shout = compile_phrase("не кричите", ru.analyzer)
    assert find_phrase(dont_shout, ru.tokens("Некричите, пожалуйста.").words, 1, True)


def test_broken_yaml_names_the_line(tmp_path):
    path = write(tmp_path / "ru" / "bad.yaml", "id: x\nkind: [phrase\n")
    with pytest.raises(RuleError, match=rf"{path}: line \d+ invalid YAML"):
        load_rules("ru", [tmp_path])


def test_company_rules_add_override_and_disable(tmp_path):
    write(tmp_path / "ru" / "extra.yaml", GOOD)
    write(tmp_path / "ru" / "off.yaml", "id: ru.forbidden.dont-shout\ndisabled: true\n")
    book = Rulebook.load("ru", [tmp_path])
    ids = {r.id for r in book.rules}
    assert "acme.no-sorry" in ids and "ru.forbidden.dont-shout" not in ids
    _, fired = book.explain("Ничем не могу помочь. Не кричите на меня!")
    ids_fired = [x.rule.id for x in fired]
    assert "acme.no-sorry" in ids_fired and "ru.forbidden.dont-shout" not in ids_fired


@pytest.mark.slow
def test_rules_cli_check_test_explain(tmp_path):
    coach = [sys.executable, "-m", "coach", "rules"]
    ok = subprocess.run([*coach, "check"], capture_output=True, text=True)
    assert ok.returncode == 0 and "0 file(s) with errors" in ok.stdout
    bad = write(tmp_path / "ru" / "bad.yaml", GOOD.replace("severity: minor", "severity: huge"))
    check = subprocess.run([*coach, "check", str(tmp_path)], capture_output=True, text=True)
    assert check.returncode == 1 and str(bad) in check.stdout and "'severity'" in check.stdout
    failing = write(tmp_path / "x" / "ru" / "f.yaml",
                    GOOD.replace("no_match: [Сейчас помогу]", "no_match: [ничем не могу помочь]"))
    test = subprocess.run([*coach, "test", str(failing.parents[1])], capture_output=True,
                          text=True)
    assert test.returncode == 1 and "FAIL acme.no-sorry no_match" in test.stdout
    assert "1 failed" in test.stdout
    explain = subprocess.run([*coach, "explain", "Не надо на меня кричать!", "--language", "ru"],
                             capture_output=True, text=True)
    assert "ru.forbidden.dont-shout" in explain.stdout and "кричать" in explain.stdout


# --- a rule's own suggestion must not be a finding (LanguageTool's practice) ---------------------

SAMPLE_NAMES = {"ru": "Ольга", "en": "Anna", "ro": "Ana", "nb": "Kari", "et": "Mari"}


def rendered_suggestions(rule, language: str) -> set[str]:
    """The suggestion as the agent sees it: from the rule's match examples ({positive} and the like
    filled from the words said), and with a sample customer name when it only needs {name}."""
    out = {e.suggestion for r in run_rule_examples(rule) if r.expectation == "match" for e in r.fired}
    if set(placeholders_in(rule.suggestion)) <= {"name"}:
        out.add(fill_name(rule.suggestion, SAMPLE_NAMES[language]))
        out.add(fill_name(rule.suggestion, None))
    return {s for s in out if s}


@pytest.mark.parametrize("language", PACKS)
def test_no_suggestion_fires_a_rule_of_its_pack(language):
    book = Rulebook.load(language)
    checked, fired = 0, []
    for rule in book.rules:
        # a suggestion is said by the agent (a prompt's rule listens to the customer, its answer is
        # the agent's); cues are not findings
        speaker = "agent" if rule.speaker == "any" or rule.cue else rule.speaker
        for text in rendered_suggestions(rule, language):
            checked += 1
            fired += [f"{rule.id}: «{text}» -> {x.rule.id} on «{x.event.text}»"
                      for x in book.explain(text, speaker)[1] if not x.rule.cue]
    assert checked >= len([r for r in book.rules if r.suggestion])
    assert not fired, "\n".join(fired)


@pytest.mark.parametrize("rule", [r for r in all_rules() if "{name}" in f"{r.message} {r.suggestion}"],
                         ids=lambda r: r.id)
def test_a_message_or_suggestion_without_a_known_name_reads_whole(rule):
    """A name heard but not confirmed is left out of what coach says: no "()" or dangling comma
    ("The customer gave their name (), but ..." on held-out calls)."""
    for template in (rule.message, rule.suggestion):
        text = fill_name(template or "", None)
        assert "{name}" not in text and "()" not in text and " ," not in text and ",," not in text, text


@pytest.mark.parametrize("rule", [r for r in all_rules() if r.kind == "required"], ids=lambda r: r.id)
def test_a_required_rules_suggestion_satisfies_it(rule):
    """Said where the rule looks (the opening or the closing), the suggestion is what it wants."""
    other = "agent: " + ("Минуту." if rule.language == "ru" else "OK.")
    lines = [f"agent: {fill_name(rule.suggestion, SAMPLE_NAMES[rule.language])}", "customer: ...", other]
    if rule.spec.part == "closing":
        lines.reverse()
    assert not run_example(rule, Example(tuple(lines)), "no_match").fired, lines
