"""Two-speaker diarization of mono calls with a numpy GE2E speaker encoder (no torch).

Public API (see docs/diarization.md):
    diarize(samples) / diarize_file(path) -> Diarization
    Diarizer(options) for repeated use; DiarizationOptions; SpeakerTurn
    SpeakerEncoder (embed_partials, embed_utterance); weights.install()

Names are loaded on first use, so `coach models` (which only needs `weights`)
does not import the VAD and the encoder.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "Diarization": "coach.diarization.diarizer",
    "DiarizationOptions": "coach.diarization.diarizer",
    "Diarizer": "coach.diarization.diarizer",
    "SpeakerTurn": "coach.diarization.diarizer",
    "diarize": "coach.diarization.diarizer",
    "diarize_file": "coach.diarization.diarizer",
    "load_mono": "coach.diarization.diarizer",
    "SpeakerEncoder": "coach.diarization.encoder",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'coach.diarization' has no attribute {name!r}")
