"""Mono calls: the stereo fixture calls mixed down to one 8 kHz mu-law channel, as archives
keep them, are split into agent and customer and judged as the stereo originals are.

The phrase findings on the agent (forbidden, negative, diminutive) must agree with
the stereo original's, and nothing the customer said may become the agent's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import CALLS

PHRASE = ("forbidden_phrase", "negative_phrasing", "diminutive")
STEREO = sorted(p.name for p in CALLS.glob("*.wav") if not p.name.startswith("mono_"))


def mono_8k_mulaw(source: Path, target: Path) -> Path:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), "-ac", "1", "-ar", "8000",
                    "-acodec", "pcm_mulaw", str(target)], check=True)
    return target


def phrase_findings(result: dict) -> list[tuple[str, float]]:
    return [(e["category"], e["start"]) for e in result["events"]
            if e["category"] in PHRASE and e["speaker"] == "agent"]


def matched(expected: list[tuple[str, float]], got: list[tuple[str, float]], tol: float = 1.5) -> int:
    free = list(got)
    hits = 0
    for cat, start in expected:
        for k, (c, s) in enumerate(free):
            if c == cat and abs(s - start) <= tol:
                hits += 1
                del free[k]
                break
    return hits


@pytest.fixture(scope="module")
def mono_results(coach, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mono")
    return {name: coach.score(mono_8k_mulaw(CALLS / name, folder / name)).to_dict() for name in STEREO}


@pytest.mark.slow
def test_mono_mixes_give_the_stereo_phrase_findings(scored, mono_results):
    tp = fp = fn = 0
    for name in STEREO:
        stereo, mono = phrase_findings(scored(name)), phrase_findings(mono_results[name])
        hits = matched(stereo, mono)
        tp, fp, fn = tp + hits, fp + len(mono) - hits, fn + len(stereo) - hits
    assert tp > 0, "no phrase findings to compare"
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert f1 >= 0.85, (tp, fp, fn)


@pytest.mark.slow
def test_the_customers_words_are_never_the_agents(mono_results):
    result = mono_results["customer_says_forbidden.wav"]
    assert result["diarized"] and result["mono"]
    assert not [e for e in result["events"] if e["category"] == "forbidden_phrase"]
    customer = " ".join(u["text"].lower() for u in result["transcript"] if u["speaker"] == "customer")
    assert "крич" in customer  # heard, and given to the customer
    shouted = mono_results["forbidden_agent.wav"]  # the customer's "Сбавьте тон!"
    assert not [e for e in shouted["events"] if e["rule"] == "ru.forbidden.lower-your-tone"]


@pytest.mark.slow
def test_a_diarized_result_says_how_it_was_split(mono_results):
    result = mono_results["clean_call.wav"]
    assert result["channels"] == {"agent": 0, "customer": 0}
    assert {u["speaker"] for u in result["transcript"]} == {"agent", "customer"}
    split = result["diarization"]
    assert split["two_speakers"] and 0.5 <= split["confidence"] <= 1
    assert split["agent_voice"] in (0, 1) and split["role_confidence"] >= 0.5
    assert any("split into two voices" in n for n in result["notes"])
    first = min(result["transcript"], key=lambda u: u["start"])
    assert first["speaker"] == "agent" and "здравств" in first["text"].lower()


@pytest.mark.slow
def test_one_side_recorded_alone_is_not_split_into_two(coach, tmp_path):
    """The agent's channel of a call exported alone: one voice, silent wherever the customer
    spoke. Its best two-way split still reads as an agent and a customer (greeting and name
    question in one half, closing in the other: role confidence 0.83), and split, those silences
    were the customer's turns and dead air. The long pauses say the far side is missing
    (coach.mono.far_side_missing), so it is scored as the agent alone."""
    from coach.mono import FAR_SIDE_PAUSE_SHARE

    alone = tmp_path / "agent_alone.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(CALLS / "customer_prompt.wav"),
                    "-af", "pan=mono|c0=c0", "-ar", "8000", "-acodec", "pcm_mulaw", str(alone)], check=True)
    result = coach.score(alone).to_dict()
    assert result["mono"] and not result["diarized"]
    assert {u["speaker"] for u in result["transcript"]} == {"agent"}
    turns = sorted(result["diarization"]["split_turns"], key=lambda t: t["start"])
    paused = sum(b["start"] - a["end"] for a, b in zip(turns, turns[1:]) if b["start"] - a["end"] >= 2.0)
    assert paused / result["duration_s"] >= FAR_SIDE_PAUSE_SHARE
    assert any("long pauses where the other side would speak" in n for n in result["notes"])
    assert not [e for e in result["events"] if e["category"] == "long_silence"]


@pytest.mark.slow
def test_an_interruption_is_seen_on_the_mono_mix_where_the_agent_began_with_no_pause(scored, mono_results):
    """interruption.wav: the agent starts 1.5 s before the customer's long line ends. On the mix
    the overlap cannot be measured, but the agent's turn begins where the customer's speech
    still goes on; the listening of backchannel.wav and every other call's turn changes are
    no interruption, as on the stereo originals."""
    def interruptions(result: dict) -> list[dict]:
        return [e for e in result["events"] if e["category"] == "interruption"]

    (seam,) = interruptions(mono_results["interruption.wav"])
    (overlap,) = interruptions(scored("interruption.wav"))
    assert seam["speaker"] == "agent" and overlap["start"] <= seam["start"] <= overlap["end"] + 0.5
    assert "overlap_s" not in seam["details"] and seam["details"]["pause_s"] <= 0.04
    for name in STEREO:
        stereo = [e["start"] for e in interruptions(scored(name))]
        for event in interruptions(mono_results[name]):
            assert any(abs(event["start"] - s) <= 2.0 for s in stereo), (name, event)


@pytest.mark.slow
def test_two_similar_voices_taking_turns_keep_their_split(coach, manifest, tmp_path):
    """mono_similar_voices: one synthetic voice at two pitches, as on held-out corpus calls. At 8
    kHz the speaker embedding hears one voice (centroid similarity over the diarizer's line), and
    the words show no clear agent (role confidence 0.5). Its best two-way split still gives
    Whisper's consecutive segments to alternate voices, as two people taking turns do
    (coach.mono.alternates): the split is kept, so the customer's "Не кричите на меня!" and
    "Сбавьте тон!" are the customer's, in the transcript too, and the two-sided analyzers run."""
    from coach.diarization.diarizer import DiarizationOptions
    from coach.mono import ALTERNATION_MAX_SIMILARITY

    result = coach.score(mono_8k_mulaw(CALLS / "mono_similar_voices.wav", tmp_path / "similar.wav")).to_dict()
    found = result["diarization"]
    assert not found["two_speakers"], found  # the embedding alone: one voice
    similarity = found["centroid_similarity"]
    assert DiarizationOptions().max_centroid_similarity < similarity < ALTERNATION_MAX_SIMILARITY
    assert result["diarized"], result["notes"]
    assert any("split into two voices" in n for n in result["notes"])
    customer = " ".join(u["text"].lower() for u in result["transcript"] if u["speaker"] == "customer")
    agent = " ".join(u["text"].lower() for u in result["transcript"] if u["speaker"] == "agent")
    assert "тон" in customer and "кричите" in customer and "кричите" not in agent
    assert "не виноват" in agent and "алексей" in agent
    said = [e for e in result["events"] if e["category"] == "forbidden_phrase"]
    expected = [f for f in manifest["calls"]["mono_similar_voices.wav"]["findings"]]
    assert len(said) == len(expected) == 1 and all(e["speaker"] == "agent" for e in said)
    assert result["metrics"]["customer_talk_s"] > 10.0  # the customer's turns are the customer's
