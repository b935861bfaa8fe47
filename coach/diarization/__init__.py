"""Two-speaker diarization of mono calls with a numpy GE2E speaker encoder (no torch).

Public API (see docs/diarization.md):
    diarize(samples) / diarize_file(path) -> Diarization
    Diarizer(options) for repeated use; DiarizationOptions; SpeakerTurn
    SpeakerEncoder (embed_partials, embed_utterance); weights.install()
"""

from coach.diarization.diarizer import (
    Diarization,
    DiarizationOptions,
    Diarizer,
    SpeakerTurn,
    diarize,
    diarize_file,
    load_mono,
)
from coach.diarization.encoder import SpeakerEncoder

__all__ = [
    "Diarization",
    "DiarizationOptions",
    "Diarizer",
    "SpeakerEncoder",
    "SpeakerTurn",
    "diarize",
    "diarize_file",
    "load_mono",
]
