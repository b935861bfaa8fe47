"""Speech recognition: batch transcription of whole channels and (coach.asr.streaming) live."""

from coach.asr.transcriber import Transcriber, TranscriberOptions, load_whisper

__all__ = ["Transcriber", "TranscriberOptions", "load_whisper"]
