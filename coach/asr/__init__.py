"""Speech recognition: batch transcription of whole channels and (coach.asr.streaming) live.

Modules: transcriber (the batch API), fast (batched short-segment decoding),
streaming + live_decode (live), whisper_ops (the Whisper operations both
share), vad + segmenter (where speech is), language (which language),
hallucinations (what Whisper invents on noise). docs/asr.md has the details.
"""

from coach.asr.language import PACK_LANGUAGES, LanguageProbe
from coach.asr.transcriber import Transcriber, TranscriberOptions, load_whisper
from coach.asr.vad import ChannelSpeech, no_speech_note
from coach.asr.whisper_ops import WhisperOps

__all__ = ["PACK_LANGUAGES", "ChannelSpeech", "LanguageProbe", "Transcriber", "TranscriberOptions",
           "WhisperOps", "load_whisper", "no_speech_note"]
