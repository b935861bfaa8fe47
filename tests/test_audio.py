"""Decoding: every supported format lands as 16 kHz per-speaker channels; bad input is named."""

from __future__ import annotations

import numpy as np
import pytest

from coach.audio import SAMPLE_RATE, load_call, parse_channel_order
from coach.errors import AudioError
from tests.conftest import BAD, CALLS

FORMATS = ["call_8k_mulaw.wav", "call_alaw.wav", "call.mp3", "call.ogg", "call.flac"]


@pytest.mark.parametrize("name", FORMATS)
def test_formats_decode_to_two_16k_channels(name):
    call = load_call(CALLS / "formats" / name)
    assert set(call.channels) == {"agent", "customer"}
    assert not call.mono
    agent, customer = call.channels["agent"], call.channels["customer"]
    assert agent.dtype == np.float32 and len(agent) == len(customer)
    assert call.sample_rate == SAMPLE_RATE
    assert call.duration_s > 5
    # The two speakers are different signals (not a duplicated mono channel).
    assert not np.allclose(agent, customer)


def test_channel_order_swaps_speakers():
    normal = load_call(CALLS / "forbidden_agent.wav")
    swapped = load_call(CALLS / "forbidden_agent.wav", parse_channel_order("customer,agent"))
    assert np.array_equal(normal.channels["agent"], swapped.channels["customer"])


def test_bad_channel_order_is_a_clear_error():
    with pytest.raises(AudioError, match="agent,customer"):
        parse_channel_order("left,right")


def test_mono_is_agent_only_and_says_so():
    call = load_call(CALLS / "mono_call.wav")
    assert call.mono and list(call.channels) == ["agent"]
    assert any("mono" in note for note in call.notes)


@pytest.mark.parametrize(
    "name, reason",
    [
        ("empty.wav", "empty file"),
        ("text.wav", "not a recognisable audio file"),
        ("truncated.wav", "truncated"),
        ("corrupt.wav", "not a recognisable audio file|corrupt"),
        ("silence.wav", "silent recording"),
    ],
)
def test_bad_inputs_name_file_and_problem(name, reason):
    with pytest.raises(AudioError, match=reason) as info:
        load_call(BAD / name)
    message = str(info.value)
    assert message.startswith(str(BAD / name)) and "\n" not in message


def test_missing_file():
    with pytest.raises(AudioError, match="file not found"):
        load_call(BAD / "does-not-exist.wav")
