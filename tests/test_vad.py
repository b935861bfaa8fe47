"""Silero VAD with the real model: same probabilities and segments as faster-whisper, in pieces;
"no speech" told apart from speech."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model

from coach.asr.fast import FastOptions
from coach.asr.segmenter import SegmenterOptions
from coach.asr.vad import (
    RENEW_WINDOWS,
    RESCUE_MARGIN_DB,
    RESCUE_THRESHOLD,
    WARM_WINDOWS,
    ChannelSpeech,
    StreamingVad,
    speech_probabilities,
)
from coach.audio import load_call
from coach.contract import AGENT, CUSTOMER
from tests.conftest import CALLS

SR = 16000


def one_pass(audio: np.ndarray) -> np.ndarray:
    """faster-whisper's own computation inside get_speech_timestamps."""
    padded = np.pad(audio, (0, 512 - len(audio) % 512))
    return get_vad_model()(padded).reshape(-1)


def test_probabilities_are_faster_whispers_bit_for_bit_from_int16_or_float32():
    """Up to the first renewal of the state (16 s) they are faster-whisper's own."""
    call = load_call(CALLS / "forbidden_agent.wav")
    pcm = call.pcm[AGENT][: RENEW_WINDOWS * 512 - 300]
    assert pcm.dtype == np.int16
    reference = one_pass(call.channels[AGENT][: len(pcm)])
    assert np.array_equal(speech_probabilities(pcm), reference)
    assert np.array_equal(speech_probabilities(call.channels[AGENT][: len(pcm)]), reference)


def renewed_reference(samples: np.ndarray, n_windows: int) -> np.ndarray:
    """The second reading, from faster-whisper's one pass: each block of RENEW_WINDOWS read by a
    fresh state over the WARM_WINDOWS before it and the block."""
    out = []
    for start in range(0, n_windows, RENEW_WINDOWS):
        warm = min(start, WARM_WINDOWS)
        end = min(start + RENEW_WINDOWS, n_windows)
        out.append(one_pass(samples[(start - warm) * 512 : end * 512])[warm:][: end - start])
    return np.concatenate(out)


@pytest.mark.slow
def test_probabilities_of_a_long_channel_are_faster_whispers_but_where_rescued():
    """Over 10,000 windows (320 s) faster-whisper makes several model calls; so do we. Every window
    is faster-whisper's one pass, except windows it calls silence that the renewed reading calls
    speech (the rescue), which are the renewed reading's, whatever the pieces."""
    pieces = [load_call(p).pcm[AGENT] for p in sorted(CALLS.glob("*.wav"))]
    audio = np.concatenate(pieces * 2)[: 10_000 * 512 + 777]
    assert len(audio) > 10_000 * 512
    ours = speech_probabilities(audio)
    samples = audio.astype(np.float32) / 32768.0
    carried = one_pass(samples)
    renewed = renewed_reference(samples, len(ours))
    assert len(ours) == len(carried) == 10_002
    rescued = ours != carried
    assert rescued.any()  # 43 windows on these fixtures
    assert np.array_equal(ours[rescued], renewed[rescued])
    assert np.all(carried[rescued] < RESCUE_THRESHOLD) and np.all(renewed[rescued] >= RESCUE_THRESHOLD)
    assert not rescued[:RENEW_WINDOWS].any()  # the first block: both readings are one state


def test_a_window_is_rescued_only_well_above_the_noise_floor():
    """Over a line with a noise floor, the windows the renewed reading rescues are at least
    RESCUE_MARGIN_DB above the floor of the 30 s before them: foreground speech, never the
    background a fresh state also calls speech."""
    rng = np.random.default_rng(7)
    speech = np.concatenate([load_call(p).channels[AGENT] for p in sorted(CALLS.glob("*.wav"))[:8]])
    audio = speech + rng.standard_normal(len(speech)).astype(np.float32) * 0.003
    ours = speech_probabilities(audio)
    carried = one_pass(audio)
    frames = np.pad(audio, (0, 512 - len(audio) % 512)).reshape(-1, 512).astype(np.float64)
    energy = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
    rescued = np.flatnonzero(ours != carried)
    assert len(rescued)  # 16 windows
    for i in rescued:
        floor = np.percentile(energy[max(0, i - 937) : i + 1], 10)
        assert energy[i] >= floor + RESCUE_MARGIN_DB - 3  # the floor is worked out once a second


@pytest.mark.parametrize("name", ["forbidden_agent.wav", "interruption.wav", "backchannel.wav"])
def test_segments_equal_get_speech_timestamps(name):
    call = load_call(CALLS / name)
    fast = FastOptions()
    pairs = [
        (fast.segmenter(), VadOptions(min_silence_duration_ms=500, max_speech_duration_s=10.0,
                                      speech_pad_ms=200)),
        (SegmenterOptions(), VadOptions()),
        (SegmenterOptions(min_silence_ms=300, max_speech_s=2.0, speech_pad_ms=100, min_speech_ms=250),
         VadOptions(min_silence_duration_ms=300, max_speech_duration_s=2.0, speech_pad_ms=100,
                    min_speech_duration_ms=250)),
    ]
    first_block = RENEW_WINDOWS * 512  # where the probabilities are faster-whisper's own
    for speaker in (AGENT, CUSTOMER):
        speech = ChannelSpeech.of(call.pcm[speaker][:first_block])
        for ours, theirs in pairs:
            expected = [(c["start"], c["end"])
                        for c in get_speech_timestamps(call.channels[speaker][:first_block], theirs)]
            assert expected and speech.segments(ours) == expected


def test_streaming_vad_equals_the_whole_recordings_probabilities():
    """Live and batch renew the state at the same windows, so a stream in any chunks reads as the
    whole recording does."""
    audio = np.concatenate([load_call(CALLS / name).channels[AGENT]
                            for name in ("forbidden_agent.wav", "interruption.wav", "long_gap.wav")])
    n = len(audio) // 512 * 512
    assert n > RENEW_WINDOWS * 512
    whole = speech_probabilities(audio[:n])[: n // 512]
    vad = StreamingVad()
    pieces = [vad.feed(audio[i : i + 1234]) for i in range(0, n, 1234)]
    streamed = np.concatenate(pieces)[: len(whole)]
    assert len(streamed) == len(whole)
    assert np.allclose(streamed, whole, atol=1e-5)


def test_noise_hum_and_silence_have_no_speech():
    rng = np.random.default_rng(3)
    t = np.arange(30 * SR) / SR
    for audio in (
        np.zeros(30 * SR),
        np.clip(rng.standard_normal(30 * SR) * 0.3, -1, 1),  # loud white noise
        rng.standard_normal(30 * SR) * 0.003,  # line hiss
        0.3 * np.sin(2 * np.pi * 50 * t),  # mains hum
    ):
        speech = ChannelSpeech.of(audio.astype(np.float32))
        assert speech.seconds < 1.0 and not speech.has_speech


def test_speech_is_counted_on_both_channels():
    call = load_call(CALLS / "forbidden_agent.wav")
    agent, customer = (ChannelSpeech.of(call.pcm[s]) for s in (AGENT, CUSTOMER))
    assert agent.has_speech and customer.has_speech
    # the agent talks most of this call: more speech than the customer, less than the call
    assert customer.seconds < agent.seconds < call.duration_s
