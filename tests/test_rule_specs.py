"""Rules as schemas, one loader, rule files that fail clearly.

The specs (coach/rules/*.py dataclasses) are the one list of fields: the
loader validates with them, the JSON Schema and docs/rules.md's tables are
generated from them. Bad files (not UTF-8, broken YAML, duplicate ids, a
regex that would backtrack forever) give one line naming the file, the same
for `coach score`, `live` and `coach rules check`.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from coach.contract import Severity, Utterance
from coach.errors import RuleError
from coach.paths import rules_root
from coach.rules import Rulebook, utterance_from_text
from coach.rules.base import RuleSpec, SeverityName
from coach.rules.examples import run_rule_examples
from coach.rules.kinds import KINDS
from coach.rules.loader import load_rules, rule_files
from coach.rules.schema import DOCS_FILE, SCHEMA_FILE, render_docs, rule_schema, schema_text
from coach.rules.spec import spec_fields
from tests.conftest import phrase_rule_yaml

COACH = [sys.executable, "-m", "coach"]

GOOD = phrase_rule_yaml("acme.no-sorry", "[ничем не могу помочь]",
                        "[Ничем не могу помочь]", "[Сейчас помогу]")

FILLERS = """id: acme.fillers
kind: occurrence
category: filler_words
severity: minor
message: "Слов-паразитов {rate} в минуту (норма {per_minute})"
words: [ну]
examples: {match: [Ну ну ну], no_match: [Хорошо]}
"""
CP1251 = GOOD.replace("message: m", "message: Не кричите").encode("cp1251")


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, language: str = "ru") -> str:
    with pytest.raises(RuleError) as info:
        load_rules(language, [tmp_path])
    message = str(info.value)
    assert "\n" not in message, message
    return message


def rules_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*COACH, "rules", *args], capture_output=True, text=True, timeout=300)


# --- the specs, and what is generated from them ------------------------------------------------

def test_generated_schema_and_docs_are_fresh():
    """Edit a spec, then run `python -m coach.rules.schema --write`: this fails until you do."""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text()
    docs = DOCS_FILE.read_text(encoding="utf-8")
    assert render_docs(docs) == docs
    check = subprocess.run([sys.executable, "-m", "coach.rules.schema"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_docs_tables_list_every_field_of_every_kind():
    docs = DOCS_FILE.read_text(encoding="utf-8")
    for rule in KINDS.values():
        for f in spec_fields(rule.Spec):
            assert f"| `{f.name}` |" in docs, (rule.kind, f.name)
    for name in RuleSpec.placeholders() | {"positive": "", "rate": "", "per_minute": "", "missing": ""}:
        assert "`{" + name + "}`" in docs


def test_severity_choices_follow_the_contract():
    assert SeverityName.__args__ == Severity.names()


@pytest.mark.slow
def test_schema_command_prints_the_committed_schema(tmp_path):
    out = rules_cli("schema")
    assert out.returncode == 0 and json.loads(out.stdout) == rule_schema()
    written = rules_cli("schema", "-o", str(tmp_path / "rule.schema.json"))
    assert written.returncode == 0
    assert (tmp_path / "rule.schema.json").read_text(encoding="utf-8") == SCHEMA_FILE.read_text(
        encoding="utf-8")


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


@pytest.mark.parametrize("path", rule_files(rules_root()), ids=lambda p: str(p.relative_to(rules_root())))
def test_schema_accepts_every_built_in_rule_file(validator, path):
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8")))]
    assert not errors, errors


@pytest.mark.parametrize("mutation", [
    ("severity: minor", "severity: huge"),
    ("kind: phrase", "kind: magic"),
    ("phrases: [ничем не могу помочь]", "phrases: 5"),
    ("examples: {match: [Ничем не могу помочь], no_match: [Сейчас помогу]}", ""),
    ("message: m", "mesage: m"),
    ("message: m", "message: '{nmae}, m'"),
    ("phrases: [ничем не могу помочь]", "phrases: [ничем не могу помочь]\nmax_gap: -1"),
    ("phrases: [ничем не могу помочь]", "phrases: [ничем не могу помочь]\nearly: maybe"),
])
def test_schema_and_loader_reject_the_same_mistakes(tmp_path, validator, mutation):
    text = GOOD.replace(*mutation)
    assert list(validator.iter_errors(yaml.safe_load(text)))
    write(tmp_path / "ru" / "bad.yaml", text)
    load_error(tmp_path)


def test_schema_checks_kind_conditions(validator):
    rule = yaml.safe_load(FILLERS)
    assert not list(validator.iter_errors(rule))
    assert list(validator.iter_errors({**rule, "early": True}))  # occurrence cannot run early
    assert list(validator.iter_errors({k: v for k, v in rule.items() if k != "words"}))  # no words/regexes
    assert list(validator.iter_errors({**rule, "message": "{positive}"}))  # not this kind's
    assert not list(validator.iter_errors({"id": "ru.name.not-asked", "disabled": True}))
    assert not list(validator.iter_errors({"rules": [rule, {"id": "x", "disabled": True}]}))
    assert list(validator.iter_errors({"rules": [rule], "rule": []}))


# --- field errors: file, rule, field, problem ----------------------------------------------------

@pytest.mark.parametrize("mutation, expected", [
    (("severity: minor", "severity: huge"),
     "rule 'acme.no-sorry', field 'severity': must be one of info, minor, major, critical, got 'huge'"),
    (("message: m", "mesage: m"),
     "rule 'acme.no-sorry', field 'mesage': unknown field (did you mean 'message'? allowed: "),
    (("phrases: [ничем не могу помочь]", "phrases: [ничем не могу помочь]\nmax_gap: 1.5"),
     "field 'max_gap': must be a whole number, got 1.5"),
    (("phrases: [ничем не могу помочь]", "phrases: [ничем не могу помочь]\nfuzzy: 'no'"),
     "field 'fuzzy': must be true or false, got 'no'"),
    (("message: m", "message: '{nmae}, вы правы'"),
     "field 'message': unknown placeholder {nmae} (did you mean {name}? this kind fills in: {name})"),
    (("suggestion: s", "suggestion: '{positive}'"), "field 'suggestion': unknown placeholder {positive}"),
    (("suggestion: s", "suggestion: 'скажите {name'"), "field 'suggestion': a lone brace"),
    (("examples: {match: [Ничем не могу помочь], no_match: [Сейчас помогу]}",
      "examples: {match: [Ничем не могу помочь], no_match: [{text: Сейчас помогу, span: помогу}]}"),
     "field 'examples.no_match': 'Сейчас помогу': span and suggestion belong to match examples"),
    (("phrases: [ничем не могу помочь]", "phrases: [ничем не могу помочь]\nearly: false\nlate: true"),
     "field 'late': unknown field"),
])
def test_field_errors_name_file_rule_and_field(tmp_path, mutation, expected):
    path = write(tmp_path / "ru" / "bad.yaml", GOOD.replace(*mutation))
    message = load_error(tmp_path)
    assert message.startswith(f"{path}: ") and expected in message, message


NEGATIVE = """id: acme.negative
kind: negative
category: negative_phrasing
speaker: agent
severity: minor
message: m
suggestion: s
particles: [не]
cancel_words: [что]
question_words: [ли]
examples: {match: ["Не хотите узнать об акциях?"], no_match: ["Понимаю, что вы не хотите ждать."]}
"""


@pytest.mark.parametrize("field, entry, of", [
    ("consequence_words", "так", "cancel_words"),
    ("consequence_words", "так ли", "cancel_words"),
    ("filler_question_words", "как что", "question_words"),
])
def test_two_word_entries_must_end_in_the_word_they_qualify(tmp_path, field, entry, of):
    path = write(tmp_path / "ru" / "neg.yaml", NEGATIVE + f"{field}: [{entry}]\n")
    message = load_error(tmp_path)
    assert message.startswith(f"{path}: ") and f"field '{field}'" in message, message
    assert f"'{entry}' must be two words, the second one of `{of}`" in message, message


def test_a_consequence_pair_does_not_cancel_the_offer_after_it(tmp_path):
    """"так что" is "so": the offer in the clause after it stands; without the field, "что" cancels."""
    utt = utterance_from_text("Документы хранятся у нас, так что не хотите получить копию?", "agent")
    found = {}
    for extra in ("", "consequence_words: [так что]\n"):
        folder = tmp_path / ("with" if extra else "without")
        write(folder / "ru" / "neg.yaml", NEGATIVE + extra)
        book = Rulebook.load("ru", [folder])
        events = book.check_utterance(utt, book.new_state())
        found[bool(extra)] = [e.rule for e in events if e.rule == "acme.negative"]
    assert not found[False] and found[True], found


def test_kind_placeholders_are_allowed_where_the_kind_fills_them(tmp_path):
    write(tmp_path / "ru" / "fillers.yaml", FILLERS)
    [rule] = [r for r in load_rules("ru", [tmp_path]).rules if r.id == "acme.fillers"]
    utt = utterance_from_text("Ну ну ну", "agent")
    book = Rulebook([rule], "ru")
    state = book.new_state()
    # a filler episode is reported when it ends: here, at the end of the call
    [event] = book.check_utterance(utt, state) + book.check_call(state)
    assert event.message == "Слов-паразитов 9 в минуту (норма 4)"


def test_occurrence_cannot_run_early(tmp_path):
    write(tmp_path / "ru" / "fillers.yaml", FILLERS + "early: true\n")
    message = load_error(tmp_path)
    assert "field 'early': kind 'occurrence' cannot run early" in message


# --- files that are not what they should be ----------------------------------------------------------

def test_not_utf8_names_file_and_line(tmp_path):
    path = write(tmp_path / "ru" / "bad.yaml", CP1251)
    message = load_error(tmp_path)
    assert message.startswith(f"{path}: line 6 is not UTF-8 text") and "Windows-1251" in message


def test_utf16_and_bom(tmp_path):
    path = write(tmp_path / "ru" / "bad.yaml", GOOD.encode("utf-16"))
    assert load_error(tmp_path) == f"{path}: saved as UTF-16; save it as UTF-8"
    write(tmp_path / "ru" / "bad.yaml", GOOD.encode("utf-8-sig"))  # Notepad's BOM is fine
    assert "acme.no-sorry" in {r.id for r in load_rules("ru", [tmp_path]).rules}


@pytest.mark.parametrize("broken, line, words", [
    (("kind: phrase", "kind: [phrase"), 2, "a '[' list opened here is not closed"),
    (("message: m", 'message: "m'), 6, "a quote opened here is not closed"),
    (("examples: {match: [Ничем не могу помочь], no_match: [Сейчас помогу]}",
      "examples: {match: [Ничем не могу помочь], no_match: [Сейчас помогу]"), 9, "'{' mapping opened"),
    (("message: m", "message: Ошибка: m"), 6, "mapping values are not allowed here"),
    (("speaker: agent", "speaker agent"), 4, "not a 'field: value' pair"),
    (("suggestion: s", "suggestion: s\nmessage: m2"), 8, "field 'message' is given twice (also on line 6)"),
])
def test_broken_yaml_points_at_the_line_at_fault(tmp_path, broken, line, words):
    path = write(tmp_path / "ru" / "bad.yaml", GOOD.replace(*broken))
    message = load_error(tmp_path)
    assert message.startswith(f"{path}: line {line} invalid YAML: ") and words in message, message


@pytest.mark.slow
def test_duplicate_ids_anywhere_in_a_folder_name_both_files(tmp_path):
    first = write(tmp_path / "ru" / "a" / "one.yaml", GOOD)
    second = write(tmp_path / "ru" / "b" / "deep" / "two.yaml", GOOD)
    message = load_error(tmp_path)
    assert message.startswith(f"{second}: rule 'acme.no-sorry', field 'id': also defined in {first}")
    out = rules_cli("check", str(tmp_path))
    assert out.returncode == 1 and message in out.stdout.splitlines()


def test_duplicate_id_in_one_family_file(tmp_path):
    rule = yaml.safe_load(GOOD)
    path = write(tmp_path / "ru" / "family.yaml", yaml.safe_dump({"rules": [rule, rule]}, allow_unicode=True))
    assert "also defined earlier in this file" in load_error(tmp_path) and str(path) in load_error(tmp_path)


def test_a_company_folder_overrides_a_built_in_rule_and_a_later_folder_the_earlier(tmp_path):
    shout = (rules_root() / "ru" / "forbidden" / "dont-shout.yaml").read_text(encoding="utf-8")
    write(tmp_path / "a" / "ru" / "shout.yaml", shout.replace("severity: critical", "severity: minor"))
    write(tmp_path / "b" / "ru" / "shout.yaml", shout.replace("severity: critical", "severity: major"))
    once = {r.id: r for r in load_rules("ru", [tmp_path / "a"]).rules}
    twice = {r.id: r for r in load_rules("ru", [tmp_path / "a", tmp_path / "b"]).rules}
    assert once["ru.forbidden.dont-shout"].severity == "minor"
    assert twice["ru.forbidden.dont-shout"].severity == "major"


def test_language_folders_hidden_files_and_scorecards(tmp_path):
    write(tmp_path / "ru" / "x.yaml", GOOD)
    english = GOOD.replace("acme.no-sorry", "acme.en-only").replace("ничем не могу помочь", "cannot help")
    write(tmp_path / "en" / "y.yaml", english)
    write(tmp_path / ".github" / "workflows" / "ci.yaml", "on: push\n")
    write(tmp_path / "ru" / "scorecards" / "strict.yaml", "categories: {}\n")
    ids = {r.id for r in load_rules("ru", [tmp_path]).rules}
    assert "acme.no-sorry" in ids and "acme.en-only" not in ids


def test_missing_folder_and_switch_off_without_id(tmp_path):
    assert load_error(tmp_path / "nope") == f"{tmp_path / 'nope'}: rules folder not found"
    path = write(tmp_path / "ru" / "off.yaml", "disabled: true\n")
    assert load_error(tmp_path).startswith(f"{path}: rule '?', field 'id': is required")


# --- a regex that would backtrack forever ---------------------------------------------------------

def test_catastrophic_regex_runs_in_linear_time(tmp_path):
    write(tmp_path / "ru" / "fillers.yaml", FILLERS.replace("words: [ну]", "regexes: ['(a+)+b']"))
    [rule] = [r for r in load_rules("ru", [tmp_path]).rules if r.id == "acme.fillers"]
    book = Rulebook([rule], "ru")
    word = "a" * 5000 + "c"  # Python's re takes exponential time on this
    started = time.perf_counter()
    book.check_utterance(utterance_from_text(f"{word} {word}", "agent"), book.new_state())
    assert time.perf_counter() - started < 1.0
    state = book.new_state()
    rule_b = book.check_utterance(utterance_from_text("aab aaab", "agent"), state) + book.check_call(state)
    assert [e.text for e in rule_b] == ["aab aaab"]


def test_regex_outside_re2_is_a_clear_error(tmp_path):
    write(tmp_path / "ru" / "fillers.yaml", FILLERS.replace("words: [ну]", "regexes: ['(э)\\1']"))
    message = load_error(tmp_path)
    assert "field 'regexes': '(э)\\1' is not a valid pattern" in message and "RE2" in message


# --- the fingerprint: what the files say, not where they are -------------------------------------

def test_fingerprint_depends_on_contents_not_paths(tmp_path, monkeypatch):
    company = tmp_path / "acme"
    write(company / "ru" / "x.yaml", GOOD)
    copy_of = tmp_path / "elsewhere" / "acme-copy"
    shutil.copytree(company, copy_of)
    base = load_rules("ru", [company]).fingerprint
    monkeypatch.chdir(tmp_path)
    assert load_rules("ru", [Path("acme")]).fingerprint == base
    assert load_rules("ru", [copy_of]).fingerprint == base
    write(copy_of / "ru" / "x.yaml", GOOD.replace("severity: minor", "severity: major"))
    assert load_rules("ru", [copy_of]).fingerprint != base
    assert load_rules("ru").fingerprint != base  # the company layer counts
    builtin_copy = tmp_path / "builtin"
    shutil.copytree(rules_root(), builtin_copy)
    before = load_rules("ru").fingerprint
    monkeypatch.setenv("COACH_RULES_DIR", str(builtin_copy))
    assert load_rules("ru").fingerprint == before


# --- the rulebook owns its phrase index -------------------------------------------------------------

def test_each_rulebook_owns_its_phrase_index(tmp_path):
    write(tmp_path / "ru" / "x.yaml", GOOD.replace("ничем не могу помочь", "абракадабра сим салабим"))
    plain = Rulebook.load("ru")
    size = len(plain.index.phrases)
    company = Rulebook.load("ru", [tmp_path])
    assert len(company.index.phrases) > size and len(plain.index.phrases) == size
    assert not {p.text for p in plain.index.phrases} & {"абракадабра сим салабим"}
    assert "acme.no-sorry" in {x.rule.id for x in company.explain("Абракадабра сим салабим!")[1]}
    assert not plain.explain("Абракадабра сим салабим!")[1]


# --- live: preview on a partial utterance, counters ---------------------------------------------------

@pytest.fixture(scope="module")
def ru() -> Rulebook:
    return Rulebook.load("ru")


def test_early_defaults_by_kind(ru):
    early = {r.kind for r in ru.rules if r.early}
    assert early == {"phrase", "negative", "diminutive"}  # the kinds that decide on one utterance
    assert {r.category for r in ru.early_rules} == {"forbidden_phrase", "negative_phrasing", "diminutive"}


def test_preview_runs_early_rules_without_touching_the_state(ru):
    state = ru.new_state()
    for who, text in (("agent", "Как я могу к вам обращаться?"), ("customer", "Меня зовут Ольга.")):
        ru.check_utterance(utterance_from_text(text, who), state)
    ru.check_utterance(utterance_from_text("Ну, короче, сейчас посмотрю.", "agent", start=3), state)
    before = copy.deepcopy(state)
    words = utterance_from_text("Ну не кричите на меня, я", "agent", start=10).words
    partial = Utterance("agent", words[0].start, words[-1].end, " ".join(w.text for w in words), words,
                        final=False)
    events = ru.preview(partial, state)
    assert state == before
    assert [(e.rule, e.text) for e in events] == [("ru.forbidden.dont-shout", "не кричите на меня")]
    assert events[0].suggestion.startswith("Ольга, ")  # the name is read from the state
    final = ru.check_utterance(partial, copy.deepcopy(state))
    assert {(e.rule, e.start) for e in events} <= {(e.rule, e.start) for e in final}


def test_preview_respects_early_false_and_the_speaker(tmp_path):
    write(tmp_path / "ru" / "x.yaml", GOOD.replace("suggestion: s", "suggestion: s\nearly: false"))
    book = Rulebook.load("ru", [tmp_path])
    utt = utterance_from_text("Ничем не могу помочь, не кричите", "agent")
    early = {e.rule for e in book.preview(utt, book.new_state())}
    assert "ru.forbidden.dont-shout" in early and "acme.no-sorry" not in early
    assert "acme.no-sorry" in {e.rule for e in book.check_utterance(utt, book.new_state())}
    assert not book.preview(utterance_from_text("Не кричите на меня!", "customer"), book.new_state())


def test_live_counts_follow_the_filler_rules(ru):
    state = ru.new_state()
    assert ru.live_counts(state) == {"filler_words": 0}
    ru.check_utterance(utterance_from_text("Ну, короче, сейчас, эээ, посмотрю.", "agent"), state)
    ru.check_utterance(utterance_from_text("Ну как бы да.", "customer", start=5), state)
    assert ru.live_counts(state) == {"filler_words": 3}  # ну, короче (words), эээ (hesitation)
    ru.check_utterance(utterance_from_text("Типа готово.", "agent", start=8), state)
    assert ru.live_counts(state) == {"filler_words": 4}  # the customer's "ну как бы" is not counted


def test_live_counts_include_a_company_category(tmp_path):
    write(tmp_path / "ru" / "x.yaml", FILLERS.replace("filler_words", "slang").replace("[ну]", "[чё]"))
    book = Rulebook.load("ru", [tmp_path])
    state = book.new_state()
    book.check_utterance(utterance_from_text("Чё, ну, чё надо?", "agent"), state)
    assert book.live_counts(state) == {"filler_words": 1, "slang": 2}


# --- examples that assert the span and the suggestion ------------------------------------------------

def test_example_span_and_suggestion_are_checked(tmp_path):
    text = GOOD.replace("examples: {match: [Ничем не могу помочь], no_match: [Сейчас помогу]}",
                        "examples:\n  match:\n"
                        "    - {text: 'Увы, ничем не могу помочь.', span: ничем не могу помочь,"
                        " suggestion: s}\n"
                        "    - {text: 'Ничем не могу помочь!', span: не могу помочь}\n"
                        "    - {text: 'Ничем не могу помочь!', suggestion: другое}\n"
                        "  no_match: [Сейчас помогу]\n")
    write(tmp_path / "ru" / "x.yaml", text)
    [rule] = [r for r in load_rules("ru", [tmp_path]).rules if r.id == "acme.no-sorry"]
    results = run_rule_examples(rule)
    assert [r.passed for r in results] == [True, False, False, True]
    assert "fired on 'ничем не могу помочь', expected span 'не могу помочь'" in results[1].describe()
    assert "suggested 's', expected 'другое'" in results[2].describe()


def test_many_built_in_examples_assert_their_span():
    with_span = [e for lang in ("ru", "en") for r in load_rules(lang).rules
                 for e in r.examples["match"] if e.span]
    assert len(with_span) >= 40


# --- the CLI on bad files: one line naming the file ----------------------------------------------------

@pytest.mark.slow
def test_cli_tools_on_a_file_that_is_not_utf8(tmp_path):
    path = write(tmp_path / "ru" / "bad.yaml", CP1251)
    check = rules_cli("check", str(tmp_path))
    assert check.returncode == 1 and f"{path}: line 6 is not UTF-8 text" in check.stdout
    assert "Traceback" not in check.stdout + check.stderr
    test = rules_cli("test", str(tmp_path))
    assert test.returncode == 1 and f"ERROR {path}: line 6 is not UTF-8" in test.stdout
    explain = rules_cli("explain", "Не кричите", "--rules", str(tmp_path))
    assert explain.returncode == 2 and "Traceback" not in explain.stderr
    assert explain.stderr.strip().splitlines() == [f"coach: error: {path}: line 6 is not UTF-8 text "
                                                   "(byte 0xcd at column 10, it looks like Windows-1251); "
                                                   "save the file as UTF-8"]


def test_cli_check_of_a_folder_that_does_not_exist(tmp_path):
    out = rules_cli("check", str(tmp_path / "nope"))
    assert out.returncode == 2 and out.stderr.strip() == f"coach: error: {tmp_path / 'nope'}: rules folder " \
                                                         "not found"


@pytest.mark.slow
def test_score_with_a_bad_rules_folder_is_one_line(tmp_path):
    """`coach score --rules` loads the rules through the same loader, before any call is scored."""
    from tests.conftest import CALLS

    path = write(tmp_path / "acme" / "ru" / "bad.yaml", CP1251)
    out = subprocess.run([*COACH, "score", str(CALLS / "clean_call.wav"), "-o", str(tmp_path / "out"),
                          "--language", "ru", "--rules", str(tmp_path / "acme"), "--no-report", "--quiet"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"coach: error: {path}: line 6 is not UTF-8")
    assert "Traceback" not in out.stderr
