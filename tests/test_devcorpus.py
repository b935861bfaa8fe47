"""The development corpus scripts (bench/corpus): valid, balanced, and their truth in `coach eval` format.

Rendering the audio takes minutes (festival, sox), so these tests check the
scripts and the truth the generator derives from them without audio; the
audio itself is exercised by bench/quality.py.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from coach.evaluation import CALL_CATEGORIES, LINE_CATEGORIES, load_truth_file

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mc():
    spec = importlib.util.spec_from_file_location("make_corpus", ROOT / "bench" / "corpus" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_corpus"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def specs(mc):
    return mc.load_scripts()


def test_corpus_is_big_enough_in_both_languages(specs):
    langs = [s.language for s in specs]
    assert len(specs) >= 60
    assert langs.count("ru") >= 40 and langs.count("en") >= 18


def test_every_category_has_positives_and_negatives(mc, specs):
    cov = mc.coverage(specs)
    for category in LINE_CATEGORIES:
        c = cov["line_events"][category]
        assert c["events"] >= 5 and c["calls_with"] >= 4 and c["calls_without"] >= 20, category
    for category in CALL_CATEGORIES:
        c = cov["call_level"][category]
        assert c["true"] >= 4 and c["false"] >= 20, category
    assert sum(n for k, n in cov["noise"].items() if k != "none") >= 10


def test_voices_differ_within_a_call_and_match_its_language(mc, specs):
    for s in specs:
        assert s.voices["agent"] != s.voices["customer"], s.id
        assert {mc.VOICES[v].language for v in s.voices.values()} == {s.language}, s.id


def test_truth_derived_from_placement_is_valid_eval_input(mc, specs, tmp_path):
    """Place lines with stand-in audio of known length: truth spans follow the script exactly."""
    spec = next(s for s in specs if any(e.category == "interruption" for ln in s.lines for e in ln.events))

    class FakeRenderer(mc.Renderer):
        def render_line(self, voice, chunks, tempo, target, gain_db):
            return np.ones(2 * mc.SR) * 0.01  # every line exactly 2 s long

    placed = FakeRenderer(tmp_path).place(spec)
    truth = mc.truth_doc(spec, placed, placed[-1].end + spec.tail)
    path = tmp_path / f"{spec.id}.json"
    path.write_text(json.dumps(truth, ensure_ascii=False), encoding="utf-8")
    loaded = load_truth_file(path)
    assert loaded.stem == spec.id and loaded.language == spec.language
    i = next(i for i, ln in enumerate(spec.lines) if any(e.category == "interruption" for e in ln.events))
    event = next(e for e in loaded.events if e.category == "interruption")
    assert event.start == placed[i].start
    assert event.end == pytest.approx(placed[i - 1].end)
    assert event.end - event.start == pytest.approx(spec.lines[i].overlap)


def test_a_scripts_folder_outside_the_repository_renders(mc, specs, tmp_path):
    """A QA lead's own scripts live anywhere: the truth records where, instead of failing."""
    source = specs[0].path
    outside = tmp_path / source.name
    outside.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    spec = mc.load_script(outside)

    class FakeRenderer(mc.Renderer):
        def render_line(self, voice, chunks, tempo, target, gain_db):
            return np.ones(2 * mc.SR) * 0.01

    placed = FakeRenderer(tmp_path / "render").place(spec)
    truth = mc.truth_doc(spec, placed, placed[-1].end + spec.tail)
    assert truth["script"] == outside.resolve().as_posix()
    assert mc.truth_doc(specs[0], placed, 1.0)["script"].startswith("bench/corpus/")


def test_bad_script_is_a_clear_error_naming_file_and_field(mc, tmp_path):
    bad = tmp_path / "ru-bad.yaml"
    bad.write_text(
        "id: ru-bad\nlanguage: ru\ndomain: bank\nabout: x\nvoices: {agent: ru-m, customer: ru-hi450}\n"
        "call: {name_not_asked: false, name_not_used: false, no_greeting: false, no_closing: false}\n"
        "lines:\n  - A: Здравствуйте.\n  - C: Добрый день.\n    ev: [diminutive]\n",
        encoding="utf-8",
    )
    with pytest.raises(mc.ScriptError, match=r"ru-bad\.yaml: lines\[1\]\.ev\[0\].*customer line"):
        mc.load_script(bad)



def test_pace_check_flags_speech_rate_labels_that_disagree_with_the_norm(mc):
    """A line is fast by coach's norm for sustained speech, not by the tempo it was rendered at."""
    from coach.analyzers.speech_rate import NORMS
    from coach.analyzers.words import syllables

    text = ("Есть тариф за триста девяносто рублей: десять гигабайт и двести минут, "
            "и тариф за двести девяносто: пять гигабайт и сто минут, переход бесплатный.")
    n = syllables(text, "ru")

    def truth(pace: float, labelled: bool, speaker: str = "agent") -> dict:
        seconds = n / pace
        events = [{"category": "speech_rate", "speaker": "agent", "start": 1.0, "end": 1.0 + seconds,
                   "text": text}] if labelled else []
        return {"language": "ru", "events": events,
                "lines": [{"speaker": speaker, "start": 1.0, "end": 1.0 + seconds, "text": text}]}

    norm = NORMS["ru"]
    assert n / (norm * 1.1) > 5.6  # long enough to be sustained at these paces
    assert mc.pace_problems(truth(norm * 1.1, True)) == []  # fast, and labelled
    assert mc.pace_problems(truth(norm * 0.9, False)) == []  # ordinary pace, unlabelled
    assert mc.pace_problems(truth(norm * 1.1, False, "customer")) == []  # only the agent is judged
    [slow] = mc.pace_problems(truth(norm * 0.95, True))
    assert "labelled speech_rate" in slow and "under the ru norm" in slow
    [missing] = mc.pace_problems(truth(norm * 1.1, False))
    assert "not labelled" in missing
    line = {"speaker": "agent", "start": 0.0, "end": 4.0, "text": text}
    short = {"language": "ru", "lines": [line], "events": [{**line, "category": "speech_rate"}]}
    [burst] = mc.pace_problems(short)
    assert "burst" in burst


def test_every_held_out_set_loads(mc):
    """The blind sets (bench/corpus/holdout*) stay valid scripts as the generator changes."""
    folders = sorted((ROOT / "bench" / "corpus").glob("holdout*"))
    assert len(folders) >= 8
    for folder in folders:
        loaded = mc.load_scripts(folder)
        assert loaded and all(s.path.parent == folder for s in loaded), folder


@pytest.mark.parametrize("written, said", [
    ("Да — сейчас проверю", "Да, сейчас проверю"),  # a dash standing alone stopped festival's Russian voice
    ("Минуту… уточню", "Минуту. уточню"),
    ("Так , хорошо", "Так, хорошо"),
    ("Добрый день, банк Ока.", "Добрый день, банк Ока."),
])
def test_festival_is_fed_no_punctuation_standing_alone(mc, written, said):
    assert mc.festival_text(mc.tts_text(written)) == said
