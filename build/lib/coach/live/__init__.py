"""Live coaching: audio sources, the streaming pipeline and the websocket hub.

`coach live` (microphone) and `coach replay` (a recording, paced) build the
same thing: a Source produces per-speaker 16 kHz chunks, the LivePipeline
streams them through `coach.asr.streaming.OnlineTranscriber` into the one
`coach.session.Session` that batch scoring uses, and the Hub pushes the
contract messages (design.md, "websocket messages") to the overlay in `ui/`.
"""

from coach.live.hub import Hub, HubOptions
from coach.live.pipeline import LiveOptions, LivePipeline
from coach.live.sources import Chunk, FileSource, MicrophoneSource

__all__ = [
    "Chunk",
    "FileSource",
    "Hub",
    "HubOptions",
    "LiveOptions",
    "LivePipeline",
    "MicrophoneSource",
]
