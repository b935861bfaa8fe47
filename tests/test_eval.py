"""`coach eval`: the matching rules a QA lead relies on, on small hand-made folders (no model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coach.cli import main
from coach.evaluation import EvalOptions, evaluate, load_results, load_truth

COACH = [sys.executable, "-m", "coach"]

FULL_CALL = {"name_not_asked": False, "name_not_used": False, "no_greeting": False, "no_closing": False}


def ev(category: str, start: float | None, end: float | None, speaker: str = "agent", text: str = "") -> dict:
    return {"category": category, "speaker": speaker, "start": start, "end": end, "text": text}


def write_result(folder: Path, stem: str, events: list[dict], language: str = "ru",
                 file_name: str | None = None, transcript: list[dict] | None = None) -> Path:
    """A per-call JSON shaped like `coach score` writes it (only the keys eval reads, plus a few)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (file_name or f"{stem}.json")
    path.write_text(json.dumps({
        "call": f"calls/{stem}.wav", "duration_s": 60.0, "language": language,
        "transcript": transcript or [], "events": events, "score": {"total": 100},
    }, ensure_ascii=False), encoding="utf-8")
    return path


def write_truth(folder: Path, stem: str, events: list[dict], language: str = "ru",
                call: dict | None = None, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.json"
    data = {"audio": f"{stem}.wav", "language": language, "call": FULL_CALL if call is None else call,
            "events": events, **extra}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def run_eval(tmp_path: Path, tolerance: float = 1.5, group_by: tuple[str, ...] = ("language",)):
    truths = load_truth([tmp_path / "truth"])
    results = load_results([tmp_path / "out"])
    return evaluate(results, truths, EvalOptions(tolerance_s=tolerance, group_by=group_by))


def counts(report, category: str) -> tuple[int, int, int, int]:
    t = report.overall[category]
    return t.tp, t.fp, t.dup, t.fn


def test_tolerance_decides_whether_a_shifted_finding_matches(tmp_path):
    write_truth(tmp_path / "truth", "c1", [ev("diminutive", 10.0, 12.0)])
    # ASR put the words 1.2 s after the labelled end.
    write_result(tmp_path / "out", "c1", [ev("diminutive", 13.2, 14.0)])
    assert counts(run_eval(tmp_path, tolerance=1.5), "diminutive") == (1, 0, 0, 0)
    assert counts(run_eval(tmp_path, tolerance=1.0), "diminutive") == (0, 1, 0, 1)


def test_second_finding_for_one_truth_event_is_a_duplicate_false_positive(tmp_path):
    write_truth(tmp_path / "truth", "c1", [ev("forbidden_phrase", 44.7, 47.3)])
    write_result(tmp_path / "out", "c1", [
        ev("forbidden_phrase", 44.6, 45.7, text="я не виноват"),
        ev("forbidden_phrase", 45.8, 47.3, text="я просто оператор"),
    ])
    report = run_eval(tmp_path)
    assert counts(report, "forbidden_phrase") == (1, 1, 1, 0)
    assert report.overall["forbidden_phrase"].precision == 0.5
    assert [m.kind for m in report.mismatches] == ["dup"]
    # Labelled as two events (two forbidden phrases in one line), both findings count.
    write_truth(tmp_path / "truth", "c1", [ev("forbidden_phrase", 44.7, 47.3)] * 2)
    assert counts(run_eval(tmp_path), "forbidden_phrase") == (2, 0, 0, 0)


def test_speaker_must_agree_unless_the_truth_leaves_it_open(tmp_path):
    write_truth(tmp_path / "truth", "c1", [ev("forbidden_phrase", 5.0, 7.0, speaker="agent")])
    write_result(tmp_path / "out", "c1", [ev("forbidden_phrase", 5.0, 7.0, speaker="customer")])
    assert counts(run_eval(tmp_path), "forbidden_phrase") == (0, 1, 0, 1)
    write_truth(tmp_path / "truth", "c1", [{"category": "forbidden_phrase", "start": 5.0, "end": 7.0}])
    assert counts(run_eval(tmp_path), "forbidden_phrase") == (1, 0, 0, 0)


def test_matching_finds_the_most_pairs_not_the_first_closest(tmp_path):
    # p1 overlaps truth A a little and is 0.5 s from truth B; p2 lies just before A only.
    write_truth(tmp_path / "truth", "c1", [ev("filler_words", 0.0, 2.0), ev("filler_words", 4.0, 6.0)])
    write_result(tmp_path / "out", "c1", [ev("filler_words", 1.5, 3.5), ev("filler_words", -1.2, -0.2)])
    assert counts(run_eval(tmp_path), "filler_words") == (2, 0, 0, 0)


def test_two_events_in_one_line_pair_by_their_words(tmp_path):
    line = (28.96, 35.3)
    write_truth(tmp_path / "truth", "c1", [ev("diminutive", *line, text="фоточку"),
                                           ev("diminutive", *line, text="заявочку")])
    write_result(tmp_path / "out", "c1", [ev("diminutive", 33.8, 34.6, text="заявочку")])
    report = run_eval(tmp_path)
    assert counts(report, "diminutive") == (1, 0, 0, 1)
    assert [(m.kind, m.text) for m in report.mismatches] == [("fn", "фоточку")]


def test_call_level_categories_compare_as_booleans_and_absent_is_not_judged(tmp_path):
    truth, out = tmp_path / "truth", tmp_path / "out"
    write_truth(truth, "hit", [], call={"no_greeting": True})
    write_result(out, "hit", [ev("no_greeting", None, None)])
    write_truth(truth, "false_alarm", [], call={"no_greeting": False, "name_not_used": True})
    write_result(out, "false_alarm", [ev("no_greeting", None, None)])
    write_truth(truth, "miss", [], call={"no_greeting": True})
    write_result(out, "miss", [])
    write_truth(truth, "unjudged", [], call={})
    write_result(out, "unjudged", [ev("no_greeting", None, None), ev("no_closing", None, None)])
    report = run_eval(tmp_path)
    assert counts(report, "no_greeting") == (1, 1, 0, 1)
    assert counts(report, "name_not_used") == (0, 0, 0, 1)
    assert "no_closing" not in report.overall


def test_only_labelled_line_categories_are_judged(tmp_path):
    write_truth(tmp_path / "truth", "c1", [ev("diminutive", 3.0, 4.0)], labelled=["diminutive"])
    write_result(tmp_path / "out", "c1", [
        ev("diminutive", 3.0, 4.0), ev("filler_words", 8.0, 9.0), ev("name_reminder", 20.0, 21.0),
    ])
    report = run_eval(tmp_path)
    assert set(report.overall) == {"diminutive", "no_greeting", "no_closing", "name_not_asked",
                                   "name_not_used"}
    # Default (no 'labelled'): every contract line category, so the filler is a false positive,
    # while the live-only name_reminder is still not judged.
    write_truth(tmp_path / "truth", "c1", [ev("diminutive", 3.0, 4.0)])
    report = run_eval(tmp_path)
    assert counts(report, "filler_words") == (0, 1, 0, 0)
    assert "name_reminder" not in report.overall


def test_groups_by_language_and_tag(tmp_path):
    truth, out = tmp_path / "truth", tmp_path / "out"
    write_truth(truth, "ru1", [ev("forbidden_phrase", 5.0, 6.0)], tags={"noise": "none"})
    write_result(out, "ru1", [ev("forbidden_phrase", 5.2, 6.1)])
    write_truth(truth, "en1", [ev("forbidden_phrase", 5.0, 6.0)], language="en", tags={"noise": "pink"})
    write_result(out, "en1", [], language="ru")
    report = run_eval(tmp_path, group_by=("language", "noise"))
    by_lang = report.groups["language"]
    assert by_lang["ru"]["forbidden_phrase"].f1 == 1.0
    assert by_lang["en"]["forbidden_phrase"].f1 == 0.0
    assert report.groups["noise"]["pink"]["forbidden_phrase"].fn == 1
    assert report.overall["forbidden_phrase"].f1 == pytest.approx(2 / 3)
    assert report.language_mismatch == [("calls/en1.wav", "en", "ru")]
    assert report.languages == {"ru": 1, "en": 1}


def test_results_match_truth_by_audio_stem_and_unmatched_sides_are_reported(tmp_path):
    truth, out = tmp_path / "truth", tmp_path / "out"
    write_truth(truth, "a", [])
    write_truth(truth, "never_scored", [])
    # coach score names a result <stem>-<hash>.json when two inputs share a stem.
    write_result(out, "a", [], file_name="a-1f2e3d4c.json")
    write_result(out, "not_labelled", [ev("diminutive", 1.0, 2.0)])
    report = run_eval(tmp_path)
    assert report.calls == 1
    assert [Path(p).name for p in report.missing_results] == ["never_scored.json"]
    assert report.unlabelled_results == ["calls/not_labelled.wav"]
    assert "diminutive" in report.overall and report.overall["diminutive"].fp == 0


def test_yaml_truth_and_the_cli_tables_and_json(tmp_path, capsys):
    truth, out = tmp_path / "truth", tmp_path / "out"
    truth.mkdir()
    (truth / "c1.yaml").write_text(
        "audio: c1.wav\nlanguage: ru\ncall: {no_closing: true}\nevents:\n"
        "  - {category: diminutive, speaker: agent, start: 3.0, end: 4.5, text: Минуточку}\n",
        encoding="utf-8",
    )
    write_result(out, "c1", [ev("diminutive", 2.9, 4.0, text="минуточку"), ev("no_closing", None, None)])
    assert main(["eval", str(out), "--truth", str(truth), "--errors"]) == 0
    text = capsys.readouterr().out
    assert "diminutive" in text and "F1 by language" in text
    assert main(["eval", str(out), "--truth", str(truth), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["overall"]["categories"]["diminutive"] == {
        "tp": 1, "fp": 0, "fn": 0, "dup": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert data["overall"]["categories"]["no_closing"]["tp"] == 1
    assert data["overall"]["micro"]["f1"] == 1.0
    assert data["groups"]["language"]["ru"]["macro_f1"] == 1.0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"audio": "c1.wav", "events": []}', "'language' is missing"),
        ('{"audio": "c1.wav", "language": "ru", "events": [{"category": "diminutive", "start": 5}]}',
         "events[0].end must be a number"),
        ('{"audio": "c1.wav", "language": "ru", "call": {"no_greeting": "yes"}}',
         "call.no_greeting must be true or false"),
        ('{"audio": "c1.wav", "language": "ru",'
         ' "events": [{"category": "no_closing", "start": 1, "end": 2}]}', "no_closing is call-level"),
        ('{"audio": "c1.wav", "language": ', "not valid JSON"),
    ],
)
def test_bad_truth_file_is_a_one_line_error_naming_it(tmp_path, capsys, content, problem):
    (tmp_path / "truth").mkdir()
    bad = tmp_path / "truth" / "c1.json"
    bad.write_text(content, encoding="utf-8")
    write_result(tmp_path / "out", "c1", [])
    code = main(["eval", str(tmp_path / "out"), "--truth", str(tmp_path / "truth")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert str(bad) in err and problem in err


def test_bad_results_file_is_a_one_line_error_naming_it(tmp_path):
    write_truth(tmp_path / "truth", "c1", [])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.json").write_text('{"hello": 1}', encoding="utf-8")
    # As a user runs it: a separate process, its exit code and stderr.
    proc = subprocess.run([*COACH, "eval", str(tmp_path / "out"), "--truth", str(tmp_path / "truth")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "notes.json" in proc.stderr and "not a per-call result" in proc.stderr
