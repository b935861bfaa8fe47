"""bench/replay_script.py: a set's labelled lines read through the rules alone find what the
lines say (the tool the rule changes of held-out sets are replayed with)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from coach.evaluation import evaluate, load_results, load_truth

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def mc():
    return _load("make_corpus", ROOT / "bench" / "corpus" / "make_corpus.py")


def test_replayed_script_text_finds_the_labelled_phrases(mc, tmp_path):
    specs = [s for s in mc.load_scripts() if s.language == "ru"
             and any(e.category == "forbidden_phrase" for ln in s.lines for e in ln.events)][:2]
    assert specs

    class TwoSecondLines(mc.Renderer):
        def render_line(self, voice, chunks, tempo, target, gain_db):
            return np.ones(2 * mc.SR) * 0.01

    truth_dir = tmp_path / "set" / "truth"
    truth_dir.mkdir(parents=True)
    for spec in specs:
        placed = TwoSecondLines(tmp_path / "render").place(spec)
        doc = mc.truth_doc(spec, placed, placed[-1].end + spec.tail)
        (truth_dir / f"{spec.id}.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    replay = _load("replay_script", ROOT / "bench" / "replay_script.py")
    assert replay.main([str(truth_dir), "--out", str(tmp_path / "out")]) == 0
    results = tmp_path / "out" / "set"
    assert sorted(p.stem for p in results.glob("*.json")) == sorted(s.id for s in specs)
    report = evaluate(load_results([results]), load_truth([truth_dir]))
    found = report.overall["forbidden_phrase"]
    assert found.tp >= 1 and found.recall >= 0.5
