"""bench/calibrate.py: the measurements behind threshold calibration, and one end-to-end run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import calibrate  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "calls"


def test_loudness_blocks_read_a_step_as_db_above_the_running_median():
    o = calibrate.CalibrationOptions()
    frames_per_s = 50
    levels = np.full(60 * frames_per_s, -30.0)
    levels[50 * frames_per_s : 53 * frames_per_s] = -18.0  # 3 s, 12 dB louder
    active = np.ones_like(levels, dtype=bool)
    blocks = calibrate.loudness_blocks(levels, active, o)
    loud = [d for t, d in blocks if 50.0 <= t < 53.0]
    quiet = [d for t, d in blocks if t < 50.0 or t >= 53.0]
    assert loud and all(abs(d - 12.0) < 0.01 for d in loud)
    assert all(abs(d) < 0.01 for d in quiet)
    # nothing is judged before baseline_min_s of speech
    assert min(t for t, _ in blocks) >= o.baseline_min_s - 1e-9


def test_loudness_blocks_ignore_non_speech_frames():
    o = calibrate.CalibrationOptions()
    levels = np.full(40 * 50, -30.0)
    for k in range(1, 40, 2):
        levels[k * 50 : (k + 1) * 50] = -90.0  # every other second is silence, not marked as speech
    active = levels > -60.0
    blocks = calibrate.loudness_blocks(levels, active, o)
    assert blocks and all(abs(d) < 0.01 for _, d in blocks)


def test_rate_windows_use_speech_time_and_join_short_pauses():
    o = calibrate.CalibrationOptions()
    # 12 utterances of "мама мыла раму" (6 syllables) of 1 s each, 0.5 s apart: one stretch
    utts = [{"start": i * 1.5, "end": i * 1.5 + 1.0, "text": "мама мыла раму"} for i in range(12)]
    spans = [[u["start"], u["end"]] for u in utts]
    out = calibrate.rate_windows(utts, spans, o)
    assert out["windows"] == [pytest.approx(6.0)]  # 12 s of speech, 72 syllables
    assert out["utterances"] == []  # 1 s utterances are too short to rate alone
    # a pause longer than join_gap_s splits it into two stretches under window_min_s: nothing sustained
    utts2 = utts[:6] + [dict(u, start=u["start"] + 5, end=u["end"] + 5) for u in utts[6:]]
    spans2 = [[u["start"], u["end"]] for u in utts2]
    assert calibrate.rate_windows(utts2, spans2, o)["windows"] == []


def test_attribute_names_who_spoke_during_a_mono_finding():
    stereo = {"activity": {"agent": [[0.0, 5.0]], "customer": [[5.0, 10.0], [12.0, 14.0]]}}
    findings = [
        {"category": "raised_voice", "start": 1.0, "end": 3.0},
        {"category": "raised_voice", "start": 6.0, "end": 8.0},
        {"category": "speech_rate", "start": 11.0, "end": 11.5},
        {"category": "no_greeting", "start": None, "end": None},
    ]
    who = [a["speaker"] for a in calibrate.attribute(findings, stereo)]
    assert who == ["agent", "customer", "neither"]


@pytest.mark.slow
def test_calibrate_end_to_end_on_fixture_calls(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    for name in ("fast_line.wav", "loud_line.wav"):
        shutil.copy(FIXTURES / name, calls / name)
    mix_wav = calls / "loud_line_monomix.wav"
    subprocess.run(["sox", str(calls / "loud_line.wav"), str(mix_wav), "remix", "1,2"], check=True)
    out = tmp_path / "calib"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "calibrate.py"), str(calls), "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "== summary" in done.stdout
    data = json.loads((out / "calibration.json").read_text())
    fast = next(v for k, v in data.items() if k.endswith("fast_line.wav"))
    loud = next(v for k, v in data.items() if k.endswith("loud_line.wav"))
    mix = next(v for k, v in data.items() if k.endswith("loud_line_monomix.wav"))
    # one 4 s fast line is no sustained fast speech (docs/analyzers.md), but its pace is measured
    assert "speech_rate" not in fast["counts"] and fast["rate"]["agent"]["utterances"]["n"] >= 1
    assert loud["counts"].get("raised_voice", 0) >= 1
    assert loud["loud"]["agent"]["max"] > 10.0
    # the mix's findings are attributed through the stereo twin
    assert "attribution" in mix and all(a["speaker"] in ("agent", "customer", "both", "neither")
                                        for a in mix["attribution"])


@pytest.mark.slow
def test_rerun_measures_the_checkouts_analyzers_on_cached_words(tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    for name in ("loud_line.wav", "interruption.wav"):
        shutil.copy(FIXTURES / name, calls / name)
    out = tmp_path / "calib"
    cmd = [sys.executable, str(ROOT / "bench" / "calibrate.py"), str(calls), "-o", str(out), "--rerun",
           "--language", "ru", "--json", str(out / "first.json")]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rows = {Path(r["recording"]).name: r for r in json.loads((out / "first.json").read_text())}
    assert rows["loud_line.wav"]["listed"]["raised_voice"] == 1
    assert rows["interruption.wav"]["listed"]["interruption"] == 1
    assert len(list((out / "words").glob("*.json"))) == 2  # transcribed once, kept
    again = subprocess.run([*cmd[:-2], "--compare", str(out / "first.json")], capture_output=True, text=True,
                           cwd=ROOT)
    assert again.returncode == 0, again.stderr
    line = next(ln for ln in again.stdout.splitlines() if "loud_line.wav" in ln and "|" in ln)
    before, after = line.split("|")[1:3]
    assert before.split() == after.split()  # same code, same words: the same figures


def test_calibrate_rejects_a_missing_folder(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "calibrate.py"), str(tmp_path / "nope"),
                           "-o", str(tmp_path / "o")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert "nope: not a folder" in done.stderr
