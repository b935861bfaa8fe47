"""Decoding: every supported format lands as 16 kHz per-speaker channels; bad input is named."""

from __future__ import annotations

import numpy as np
import pytest

from coach.audio import SAMPLE_RATE, load_call
from coach.config import parse_channel_order
from coach.errors import AudioError, CoachError
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
    with pytest.raises(CoachError, match="agent,customer"):
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


# -- int16 storage, pieces ---------------------------------------------------------------


def test_calls_are_kept_as_int16_and_given_out_as_float32():
    call = load_call(CALLS / "forbidden_agent.wav")
    pcm = call.pcm["agent"]
    assert pcm.dtype == np.int16 and pcm.flags.c_contiguous
    whole = call.channels["agent"]
    assert whole.dtype == np.float32 and np.array_equal(whole, pcm / np.float32(32768))
    assert np.array_equal(call.samples("agent", 1.0, 2.5), whole[SAMPLE_RATE : SAMPLE_RATE * 5 // 2])
    chunks = list(call.iter_chunks("customer", seconds=7.0))
    assert [start for start, _ in chunks] == [0.0, 7.0, 14.0, 21.0]
    assert np.array_equal(np.concatenate([c for _, c in chunks]), call.channels["customer"])


@pytest.fixture(scope="module")
def ten_minutes(tmp_path_factory):
    """A 10-minute stereo call: clean_call.wav over and over."""
    import wave

    one = load_call(CALLS / "clean_call.wav")
    stereo = np.stack([one.pcm["agent"], one.pcm["customer"]], axis=1)
    path = tmp_path_factory.mktemp("long") / "long.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        for _ in range(int(600 / one.duration_s) + 1):
            w.writeframes(stereo.tobytes())
    return path


def traced_peak(function, *args, **kwargs):
    import tracemalloc

    tracemalloc.start()
    try:
        result = function(*args, **kwargs)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_a_long_call_is_decoded_without_float32_or_piecewise_copies(ten_minutes):
    """The decoder's allocations peak at about the int16 result (38 MB), where decoding to
    float32 via a list of pieces peaked at six times that."""
    call, peak = traced_peak(load_call, ten_minutes)
    result = sum(a.nbytes for a in call.pcm.values())
    assert call.duration_s > 600 and not call.truncated
    assert peak < result * 1.1 + 5_000_000, (peak, result)


@pytest.mark.slow
def test_a_call_past_the_spill_length_lives_on_disk(ten_minutes):
    from coach.audio import PcmFile

    in_memory = load_call(ten_minutes)
    spilled, peak = traced_peak(load_call, ten_minutes, spill_after_s=60.0)
    assert peak < 10_000_000  # the 60 s staging block, not the 38 MB call
    assert all(isinstance(p, PcmFile) for p in spilled.pcm.values())
    assert spilled.duration_s == in_memory.duration_s and spilled.notes == in_memory.notes
    for speaker in in_memory.pcm:
        assert np.array_equal(spilled.pcm[speaker][12345:99999], in_memory.pcm[speaker][12345:99999])
        assert np.array_equal(spilled.samples(speaker, 590.0), in_memory.samples(speaker, 590.0))
        pieces = [c for _, c in spilled.iter_chunks(speaker, seconds=60.0)]
        assert np.array_equal(np.concatenate(pieces), in_memory.channels[speaker])


# -- damaged files are named ------------------------------------------------------------

DEMO = CALLS.parents[2] / "samples" / "demo_call.wav"  # 66.4 s, stereo 16 kHz PCM


def cut(tmp_path, data: bytes, name: str = "damaged.wav"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("keep, decoded", [(200_000, 3.1), (None, 33.2)])
def test_a_cut_wav_is_flagged_truncated(tmp_path, keep, decoded):
    data = DEMO.read_bytes()
    call = load_call(cut(tmp_path, data[: keep or len(data) // 2]))
    assert call.truncated and call.header_duration_s == pytest.approx(66.38, abs=0.01)
    assert abs(call.duration_s - decoded) < 0.05
    assert call.notes == [f"truncated: header says 66.4 s, {decoded:.1f} s decoded"]


def test_a_header_claiming_nine_hours_over_100_kb(tmp_path):
    import struct
    import tracemalloc

    data = DEMO.read_bytes()
    nine_hours = 9 * 3600 * SAMPLE_RATE * 4
    lying = data[:40] + struct.pack("<I", nine_hours) + data[44:100_000]
    tracemalloc.start()
    call = load_call(cut(tmp_path, lying))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert call.truncated and call.notes[0] == "truncated: header says 32400.0 s, 1.6 s decoded"
    assert peak < 5_000_000  # sized by the bytes present, not by what the header claims


@pytest.mark.parametrize("name", ["call.flac", "call.mp3", "call_8k_mulaw.wav", "call_alaw.wav"])
def test_half_a_file_is_flagged_in_every_format_that_states_its_length(tmp_path, name):
    data = (CALLS / "formats" / name).read_bytes()
    call = load_call(cut(tmp_path, data[: len(data) // 2], name))
    assert call.truncated
    assert call.notes[0].startswith("truncated: header says 19.9 s, ")


@pytest.mark.parametrize("name", FORMATS + ["../forbidden_agent.wav", "../mono_call.wav"])
def test_intact_files_are_not_flagged(name):
    call = load_call(CALLS / "formats" / name)
    assert not call.truncated and not any("truncated" in n for n in call.notes)
    assert call.header_duration_s is None or abs(call.header_duration_s - call.duration_s) < 0.1


def test_a_truncated_file_with_almost_nothing_left_names_the_header(tmp_path):
    data = (CALLS / "formats" / "call_alaw.wav").read_bytes()
    with pytest.raises(AudioError, match=r"truncated: header says 19\.9 s, only 0\.\d\d s of audio"):
        load_call(cut(tmp_path, data[:2000]))
