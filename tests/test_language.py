"""Language detection with the real model: on speech only, among coach's languages, also at 8 kHz.

Russian: the festival fixture calls; English: calls made with festival's
kal_diphone and espeak-ng voices (tests/fixtures/make_english_calls.py), one
opening with 8 s of ringback tone and one with 3 s of hiss. Each also as an
8 kHz mu-law telephone recording.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from coach.asr import language
from coach.asr.language import PACK_LANGUAGES, LanguageProbe
from coach.audio import load_call
from coach.contract import AGENT, CUSTOMER
from tests.conftest import CALLS

RUSSIAN = sorted(p.name for p in CALLS.glob("*.wav"))
ENGLISH = sorted("en/" + p.name for p in (CALLS / "en").glob("*.flac"))


def to_8k_mulaw(src: Path, dst: Path) -> Path:
    """A telephone copy: 8 kHz, 8-bit mu-law, same channels."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="wav") as out:
        stream = inp.streams.audio[0]
        layout = "stereo" if stream.codec_context.channels >= 2 else "mono"
        encoder = out.add_stream("pcm_mulaw", rate=8000, layout=layout)
        resampler = av.AudioResampler(format="s16", layout=layout, rate=8000)
        for frame in inp.decode(stream):
            frame.pts = None
            for piece in resampler.resample(frame):
                out.mux(encoder.encode(piece))
        for piece in resampler.resample(None):
            out.mux(encoder.encode(piece))
        out.mux(encoder.encode(None))
    return dst


@pytest.fixture(scope="module")
def transcriber(scorer):
    return scorer.transcriber


@pytest.mark.slow
@pytest.mark.parametrize("name", RUSSIAN + ENGLISH)
def test_the_language_of_every_channel_is_detected_also_at_8khz(transcriber, name, tmp_path):
    expected = "en" if name.startswith("en/") else "ru"
    for path in (CALLS / name, to_8k_mulaw(CALLS / name, tmp_path / "phone.wav")):
        call = load_call(path)
        for speaker, pcm in call.pcm.items():
            language, probability = transcriber.detect_language(pcm)
            assert language == expected, (path.name, speaker, language, probability)
            assert 0.9 < probability <= 1.0


def test_speech_is_used_not_the_ringback_before_it(transcriber):
    call = load_call(CALLS / "en" / "en_billing.flac")
    speech = transcriber.find_speech(call.pcm[AGENT])
    assert speech.has_speech
    assert transcriber.detect_language(call.pcm[AGENT], speech=speech)[0] == "en"
    # the first 8 s are ringback tone only: alone they hold no speech to detect from
    assert not transcriber.find_speech(call.pcm[AGENT][: 8 * 16000]).has_speech


@pytest.mark.slow
def test_candidates_restrict_and_renormalise(transcriber):
    call = load_call(CALLS / "forbidden_agent.wav")
    language, p_among_two = transcriber.detect_language(call.pcm[AGENT], candidates=("ro", "et"))
    assert language in ("ro", "et") and 0.5 <= p_among_two <= 1.0
    assert transcriber.detect_language(call.pcm[AGENT], candidates=("ru",)) == ("ru", 1.0)


@pytest.mark.slow
def test_the_quick_answer_is_taken_only_when_sure(transcriber, monkeypatch):
    """First 10 s of speech at their own length when that answer is sure, else the 30 s window."""
    call = load_call(CALLS / "forbidden_agent.wav")
    speech = transcriber.find_speech(call.pcm[AGENT])
    joined = np.concatenate([language.to_float32(call.pcm[AGENT][s:e])
                             for s, e in speech.segments(language.DETECT_SPEECH)])
    quick = language.language_of_speech(transcriber.ops, joined[: 10 * 16000], PACK_LANGUAGES,
                                        own_length=True)
    full = language.language_of_speech(transcriber.ops, joined, PACK_LANGUAGES)
    assert quick[0] == full[0] == "ru" and quick[1] != full[1]  # two different listens
    assert transcriber.detect_language(call.pcm[AGENT], speech=speech) == quick  # sure: taken
    monkeypatch.setattr(language, "SURE", 1.01)  # nothing is that sure: the 30 s window decides
    assert transcriber.detect_language(call.pcm[AGENT], speech=speech) == full


def test_no_speech_gives_the_first_candidate_with_zero_probability(transcriber):
    hiss = (np.random.default_rng(1).standard_normal(16000 * 10) * 0.003).astype(np.float32)
    assert transcriber.detect_language(hiss, candidates=("en", "ru")) == ("en", 0.0)


@pytest.mark.parametrize("name, expected", [("en/en_billing.flac", "en"), ("clean_call.wav", "ru")])
def test_live_probe_decides_on_the_first_agent_utterance(transcriber, name, expected):
    call = load_call(CALLS / name)
    probe = LanguageProbe(transcriber.ops, PACK_LANGUAGES)
    agent = call.channels[AGENT]
    decided_at = None
    for i in range(0, len(agent), 1600):  # 0.1 s chunks, as a live source delivers them
        if probe.feed(agent[i : i + 1600]) is not None:
            decided_at = (i + 1600) / 16000
            break
    assert decided_at is not None and probe.result[0] == expected
    assert decided_at < call.duration_s / 2  # on the first utterance, not at the end of the call
    assert np.array_equal(probe.audio, agent[: len(probe.audio)])  # kept for the transcribers
    assert probe.feed(agent[:1600]) is None  # decided once


def test_customer_channel_can_be_probed_too(transcriber):
    call = load_call(CALLS / "interruption.wav")
    probe = LanguageProbe(transcriber.ops)
    probe.feed(call.channels[CUSTOMER])
    assert probe.result is not None and probe.result[0] == "ru"
