"""Live coaching: audio sources, calls one after another, the streaming pipeline and the server.

`coach live` (microphone) and `coach replay` (recordings, paced) build the
same thing: a Source produces per-speaker 16 kHz chunks, the Desk cuts them
into calls, and each call's LivePipeline streams them through
`coach.asr.streaming.OnlineTranscriber` into that call's Session (the one
batch scoring uses); the Hub pushes the contract messages (coach.contract)
to the overlay in `ui/` and takes the overlay's and the local API's commands.
"""

from coach.live.calls import Desk, DeskOptions
from coach.live.hub import Hub, HubOptions
from coach.live.microphone import MicrophoneSource
from coach.live.pipeline import LiveOptions, LivePipeline
from coach.live.sources import Chunk, FileSource

__all__ = [
    "Chunk",
    "Desk",
    "DeskOptions",
    "FileSource",
    "Hub",
    "HubOptions",
    "LiveOptions",
    "LivePipeline",
    "MicrophoneSource",
]
