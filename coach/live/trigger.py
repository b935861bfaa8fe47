"""Starting a call at the first speech: a second of pre-roll per speaker and Silero VAD, no Whisper.

Between calls `coach live` keeps listening but decodes nothing; this is all
it runs. When one speaker has `speech_s` of consecutive speech windows the
call starts, and the pre-roll goes into it first, so the greeting that
triggered it is not cut off.
"""

from __future__ import annotations

from collections import deque

from coach.asr.streaming import StreamingVad
from coach.audio import SAMPLE_RATE
from coach.live.sources import Chunk

VAD_WINDOW_S = 512 / SAMPLE_RATE


class SpeechTrigger:
    """Feed idle chunks; `feed` returns the pre-roll (oldest first) once speech is heard."""

    def __init__(self, preroll_s: float = 1.0, speech_s: float = 0.25, threshold: float = 0.5):
        self.preroll_s = preroll_s
        self.need = max(int(speech_s / VAD_WINDOW_S), 1)
        self.threshold = threshold
        self._ring: dict[str, deque[Chunk]] = {}
        self._vad: dict[str, StreamingVad] = {}
        self._run: dict[str, int] = {}

    def reset(self) -> None:
        """Forget everything (a call started by other means, or this trigger fired)."""
        self._ring.clear()
        self._vad.clear()
        self._run.clear()

    def feed(self, chunks: list[Chunk]) -> list[Chunk] | None:
        heard = False
        for chunk in chunks:
            ring = self._ring.setdefault(chunk.speaker, deque())
            ring.append(chunk)
            while ring and ring[-1].start - ring[0].start > self.preroll_s:
                ring.popleft()
            if chunk.gap:  # a lost device's stand-in zeros are not listened to
                continue
            vad = self._vad.setdefault(chunk.speaker, StreamingVad())
            run = self._run.get(chunk.speaker, 0)
            for p in vad.feed(chunk.samples):
                run = run + 1 if p >= self.threshold else 0
                heard = heard or run >= self.need
            self._run[chunk.speaker] = run
        if not heard:
            return None
        preroll = sorted((c for ring in self._ring.values() for c in ring), key=lambda c: c.start)
        self.reset()
        return preroll
