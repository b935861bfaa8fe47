"""Two-speaker diarization of mono calls: real GE2E weights on real (generated) audio.

The fixture calls are stereo with one voice per channel, so mixing them down
to one channel (as a call-centre archive does, 8 kHz mu-law, with ffmpeg)
gives mono calls whose true speaker at every moment is known from the
channels. Weights: the resemblyzer wheel installed with --no-deps (see
docs/diarization.md); a missing package is a test failure, not a skip.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from coach.diarization import Diarizer, SpeakerEncoder, diarize_file, load_mono
from coach.diarization import weights as ge2e_weights
from coach.diarization.checkpoint import CheckpointError, load_legacy_checkpoint
from coach.diarization.evaluate import reference_labels, score
from coach.errors import ModelError
from tests.conftest import CALLS, FIXTURES, ROOT, call_lines

REFERENCE = FIXTURES / "diarization" / "ge2e_reference.json"


def read_channels(path: Path) -> np.ndarray:
    """(channels, n) float32 straight from a 16-bit PCM WAV (same reader as the reference script)."""
    with wave.open(str(path), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
    return (pcm.astype(np.float32) / 32768.0).T


def to_mono_mulaw(src: Path, tmp_path: Path) -> Path:
    out = tmp_path / f"{src.stem}_mono_8k_mulaw.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), "-ac", "1", "-ar", "8000",
                    "-c:a", "pcm_mulaw", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    return SpeakerEncoder()


@pytest.fixture(scope="module")
def diarizer(encoder) -> Diarizer:
    return Diarizer(encoder=encoder)


def test_numpy_encoder_matches_the_pytorch_reference(encoder):
    """Same audio in, same embedding out as resemblyzer's own VoiceEncoder (torch + librosa)."""
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))["embeddings"]
    channels = read_channels(CALLS / "clean_call.wav")
    for index, name in enumerate(("agent", "customer")):
        mine = encoder.embed_utterance(channels[index])
        theirs = np.array(reference[name], dtype=np.float32)
        assert float(mine @ theirs) > 0.9999, name
        assert np.abs(mine - theirs).max() < 1e-4, name
    # ...and the two voices are not the same vector (the check above could not pass by accident).
    assert float(np.dot(reference["agent"], reference["customer"])) < 0.9


def test_same_voice_is_closer_than_a_different_voice(encoder):
    agent_a, customer_a = read_channels(CALLS / "clean_call.wav")
    agent_b, customer_b = read_channels(CALLS / "name_used.wav")
    agent_c = read_channels(CALLS / "mono_call.wav")[0]
    e = {name: encoder.embed_utterance(x) for name, x in
         [("agent_a", agent_a), ("agent_b", agent_b), ("agent_c", agent_c),
          ("customer_a", customer_a), ("customer_b", customer_b)]}
    pairs_same = [("agent_a", "agent_b"), ("agent_a", "agent_c"), ("customer_a", "customer_b")]
    pairs_different = [("agent_a", "customer_a"), ("agent_b", "customer_b"), ("agent_c", "customer_a")]
    same = [float(e[a] @ e[b]) for a, b in pairs_same]
    different = [float(e[a] @ e[b]) for a, b in pairs_different]
    assert min(same) > max(different) + 0.1, (same, different)


def test_fixture_call_mixed_to_mono_mulaw_is_split_by_voice(diarizer, manifest, tmp_path):
    """forbidden_agent: the agent's 'Не кричите на меня!' and the customer's 'Сбавьте тон!' differ."""
    name = "forbidden_agent.wav"
    mono = to_mono_mulaw(CALLS / name, tmp_path)
    result = diarizer(load_mono(mono))
    assert result.two_speakers and result.confidence >= 0.5, result.notes

    left, right = read_channels(CALLS / name)
    s = score(result, reference_labels(left, right)[: int(result.duration_s * 100)])
    assert s.confusion < 0.05, s
    assert s.missed < 0.05, s

    lines = call_lines(manifest, name)
    speakers = result.assign(lines)
    agent_id = s.mapping[0]  # the diarization speaker that matched the agent's channel
    for line, speaker in zip(lines, speakers):
        expected = agent_id if line["speaker"] == "agent" else 1 - agent_id
        assert speaker == expected, line
    groups = result.split(lines)
    assert {line["text"] for line in groups[agent_id]} >= {"Не кричите на меня!"}
    assert {line["text"] for line in groups[1 - agent_id]} >= {"Сбавьте тон!"}


def test_virtual_channels_hold_each_voice(diarizer, tmp_path):
    """Gating the mono mix by each speaker's turns gives back channels like the stereo original."""
    name = "clean_call.wav"
    mono = load_mono(to_mono_mulaw(CALLS / name, tmp_path))
    result = diarizer(mono)
    virtual = result.virtual_channels(mono)
    left, right = read_channels(CALLS / name)
    n = min(len(mono), len(left))
    agent_id = result.speaker_at(1.0)  # the agent opens the call
    assert agent_id is not None
    for original, speaker in ((left, agent_id), (right, 1 - agent_id)):
        mask = result.sample_mask(speaker, n)
        assert np.sum(original[:n][mask] ** 2) / np.sum(original[:n] ** 2) > 0.95
        assert np.array_equal(virtual[speaker][:n] != 0, mask & (mono[:n] != 0))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["clean_call.wav", "interruption.wav", "name_used.wav", "long_gap.wav",
                                  "loud_channel.wav", "backchannel.wav"])
def test_more_fixture_calls_have_low_speaker_confusion(diarizer, tmp_path, name):
    result = diarizer(load_mono(to_mono_mulaw(CALLS / name, tmp_path)))
    left, right = read_channels(CALLS / name)
    s = score(result, reference_labels(left, right)[: int(result.duration_s * 100)])
    assert result.two_speakers, result.notes
    assert s.confusion < 0.05, s


def test_one_speaker_file_is_flagged_low_confidence(tmp_path):
    """mono_call holds the agent only: no second voice may be invented."""
    mono = to_mono_mulaw(CALLS / "mono_call.wav", tmp_path)
    result = diarize_file(mono)
    assert not result.two_speakers
    assert result.confidence < 0.5
    assert result.speakers == [0]
    assert any("one speaker" in note for note in result.notes)
    assert result.speech_s(0) > 8.0  # the speech is still there, as speaker 0
    assert {t.speaker for t in result.split_turns} <= {0, 1}  # the rejected split stays available


def test_silence_gives_no_turns(diarizer):
    result = diarizer(np.zeros(16000 * 3, dtype=np.float32))
    assert result.turns == [] and not result.two_speakers


def test_missing_weights_give_a_clear_error(tmp_path):
    """A resemblyzer package without pretrained.pt (and nothing cached): one line saying how to fix it."""
    fake = tmp_path / "site" / "resemblyzer"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path / 'site'}{os.pathsep}{ROOT}",
               COACH_MODEL_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-m", "coach", "models", "install", "ge2e"],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "speaker encoder weights not found" in lines[0]
    assert "pip install --no-deps resemblyzer==0.1.4" in lines[0]
    assert "coach models install" in lines[0]


def test_corrupt_converted_weights_are_refused_and_force_rebuilds(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_MODEL_CACHE", str(tmp_path))
    path = ge2e_weights.install()
    assert path.parent == tmp_path / "ge2e"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside an array's bytes
    path.write_bytes(bytes(data))
    ge2e_weights._VERIFIED.clear()
    with pytest.raises(ModelError, match=r"coach models install --force"):
        ge2e_weights.load_weights()
    ge2e_weights.install(force=True)
    ge2e_weights._VERIFIED.clear()
    assert ge2e_weights.content_digest(ge2e_weights.load_weights()) == ge2e_weights.SPEC.weights_sha256


def test_checkpoint_reader_runs_no_code(tmp_path):
    """The torch-free reader only admits tensors and dicts: a pickle calling a function is refused."""

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    with path.open("wb") as fh:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, fh, protocol=2)
        pickle.dump({"model_state": Evil()}, fh, protocol=2)
    with pytest.raises(CheckpointError, match="refusing unexpected object"):
        load_legacy_checkpoint(path)
