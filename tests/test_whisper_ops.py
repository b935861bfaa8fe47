"""The shared Whisper operations with the real model on fixture lines."""

from __future__ import annotations

import numpy as np
import pytest

from coach.asr.segmenter import SAMPLE_RATE
from coach.asr.whisper_ops import HOP, MAX_SAMPLES, WhisperOps, encode_length, even_frames, whisper_language
from coach.audio import load_call
from tests.conftest import CALLS, call_lines

SR = SAMPLE_RATE


@pytest.fixture(scope="module")
def ops(scorer):
    return WhisperOps(scorer.transcriber.whisper)


def line_audio(manifest, name: str, index: int) -> tuple[np.ndarray, dict]:
    line = call_lines(manifest, name)[index]
    call = load_call(CALLS / name)
    return call.samples(line["speaker"], line["start"] - 0.2, line["end"] + 0.2), line


def test_encode_length_pads_rounds_and_caps():
    assert encode_length(3 * SR, pad_s=2.0) == 5 * SR
    assert encode_length(3 * SR + 1, pad_s=1.0, round_s=0.5) == 4 * SR + SR // 2
    assert encode_length(40 * SR, pad_s=2.0) == MAX_SAMPLES
    assert even_frames(16_160) == 100 and even_frames(16_320) == 102


def test_pack_languages_map_to_whisper_codes(ops):
    assert whisper_language("nb") == "no" and whisper_language("ru") == "ru"
    assert ops.tokenizer("nb").language_code == "no"


def test_word_times_span_the_whole_clip(ops, manifest):
    """align takes MEL frames (len // 160): with encoder frames every time would be halved."""
    audio, line = line_audio(manifest, "clean_call.wav", 0)
    tok = ops.tokenizer("ru")
    target = encode_length(len(audio), pad_s=2.0)
    tokens = tok.encode(" " + line["text"])
    words = ops.align(tok, [tokens, []], ops.encode([audio, audio], target),
                      [len(audio) // HOP] * 2)
    assert words[1] == []  # an empty sequence gets no words (and does not break the batch)
    spoken = len(audio) / SR - 0.4
    assert words[0] and abs(words[0][-1]["end"] - (0.2 + spoken)) < 0.6
    assert abs(words[0][0]["start"] - 0.2) < 0.6


@pytest.mark.slow
def test_the_true_text_fits_its_audio_best(ops, manifest):
    """Each agent line of a call scores its own text above every other line's text."""
    name = "forbidden_agent.wav"
    lines = call_lines(manifest, name)
    agent = [i for i, line in enumerate(lines) if line["speaker"] == "agent"]
    texts = [lines[i]["text"] for i in agent]
    for k, i in enumerate(agent):
        audio, _ = line_audio(manifest, name, i)
        scores = ops.text_likelihood(audio, texts + ["Спасибо за просмотр, подписывайтесь на канал."], "ru")
        assert int(np.argmax(scores)) == k, (texts[k], scores)
        assert all(s < 0 for s in scores)


def test_text_likelihood_of_nothing(ops):
    audio = np.zeros(SR, dtype=np.float32)
    assert ops.text_likelihood(audio, [], "ru") == []
    assert ops.text_likelihood(audio, [""], "ru") == [float("-inf")]
