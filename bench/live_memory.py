"""Long sessions: 60 minutes of audio through the live pipeline as fast as possible; RSS growth.

Two shapes of a working day, both through the same Desk, LivePipeline,
Session and websocket hub as `coach replay`, with one real client reading
every message, RSS sampled every second:

* default: one call of --minutes (default 60), a dual-channel WAV built from
  the committed fixture calls (written piece by piece, never held whole);
* `--calls N`: N calls back to back (the fixture calls in turn), each its own
  Session and pipeline, as an agent's day of calls: nothing may pile up
  from one call to the next.

Printed: RSS after loading, after the first --warmup minutes of audio, the
peak, at the end, and the growth (peak - after warm-up, and peak - after
loading). Target (issue 5): growth under 100 MB.
Run: `.venv/bin/python bench/live_memory.py [--minutes 60 | --calls 100] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

from coach import numerics as _pinned  # noqa: F401  (first: pins the numerical path before numpy loads)

# isort: split
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from websockets.sync.client import connect  # noqa: E402

from coach import Coach, CoachConfig  # noqa: E402
from coach.audio import load_call  # noqa: E402
from coach.live.calls import Desk, DeskOptions  # noqa: E402
from coach.live.hub import Hub, HubOptions  # noqa: E402
from coach.live.pipeline import LiveOptions  # noqa: E402
from coach.live.sources import FileSource  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "calls"
SOURCES = ["clean_call.wav", "forbidden_agent.wav", "name_used.wav", "interruption.wav",
           "loud_line.wav", "fast_line.wav", "long_gap.wav", "name_not_used.wav", "backchannel.wav",
           "customer_says_forbidden.wav"]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def make_long_call(path: Path, minutes: float) -> float:
    pieces = [load_call(FIXTURES / name) for name in SOURCES]
    stereo = [np.stack([c.channels["agent"], c.channels["customer"]], axis=1) for c in pieces]
    total = 0
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        i = 0
        while total < minutes * 60 * 16000:
            block = stereo[i % len(stereo)]
            w.writeframes((np.clip(block, -1, 1) * 32767).astype("<i2").tobytes())
            total += len(block)
            i += 1
    return total / 16000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--calls", type=int, default=0, help="N fixture calls back to back instead")
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes of audio before the baseline")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.calls:
            paths = [FIXTURES / SOURCES[i % len(SOURCES)] for i in range(args.calls)]
        else:
            paths = [Path(tmp) / "long_call.wav"]
            make_long_call(paths[0], args.minutes)
        recordings = [FileSource(p, speed=0) for p in paths]
        coach = Coach.load(CoachConfig(language="ru", cpu_threads=args.threads).for_live(),
                           warm_up=True)  # as `coach live` loads it
        hub = Hub(HubOptions(port=0)).start()
        desk = Desk(coach, hub.publish, DeskOptions(mode="replay"), lambda: LiveOptions(language="ru"),
                    recordings=recordings)
        counts = {"messages": 0, "events": 0, "ends": 0}

        def reader():
            with connect(f"ws://127.0.0.1:{hub.port}/ws", max_size=None, open_timeout=10) as ws:
                while counts["ends"] < len(recordings):
                    msg = json.loads(ws.recv(timeout=3600))
                    counts["messages"] += 1
                    counts["events"] += msg["type"] == "event"
                    counts["ends"] += msg["type"] == "end"

        client = threading.Thread(target=reader, daemon=True)
        client.start()
        time.sleep(0.5)
        loaded = rss_mb()
        samples: list[tuple[float, float]] = []  # (audio seconds done, rss)
        done_before = 0.0  # audio of the calls already over
        current, current_s = None, 0.0
        started = time.monotonic()
        desk.start()
        max_buffer: dict[str, float] = {}
        max_frames: dict[str, int] = {}
        while not desk.over.wait(1.0):
            call = desk.call
            if call is not None and call is not current:
                done_before += current.pipeline.stream_time if current is not None else 0.0
                current = call
            if current is not None:
                current_s = current.pipeline.stream_time
                for s, t in current.pipeline.transcribers.items():
                    max_buffer[s] = max(max_buffer.get(s, 0.0), t.stats.max_buffer_s)
                    max_frames[s] = max(max_frames.get(s, 0), t.stats.max_frames)
            samples.append((done_before + current_s, rss_mb()))
            if len(samples) % 60 == 0:
                print(f"  {samples[-1][0] / 60:5.1f} min of audio, {desk.calls} call(s), "
                      f"{time.monotonic() - started:6.0f} s, RSS {samples[-1][1]:.0f} MB", flush=True)
        client.join(timeout=30)
        wall = time.monotonic() - started
        seconds = done_before + (current.pipeline.stream_time if current is not None else 0.0)
        end_rss = rss_mb()
        samples.append((seconds, end_rss))
        desk.stop()
        hub.stop(flush_s=0.5)

    after_warmup = next((r for t, r in samples if t >= args.warmup * 60), samples[0][1])
    peak = max(r for _, r in samples)
    figures = {
        "calls": len(recordings),
        "audio_minutes": round(seconds / 60, 1),
        "wall_s": round(wall),
        "x_realtime": round(seconds / wall, 2),
        "rss_loaded_mb": round(loaded),
        "rss_after_warmup_mb": round(after_warmup),
        "rss_peak_mb": round(peak),
        "rss_end_mb": round(end_rss),
        "growth_after_warmup_mb": round(peak - after_warmup),
        "growth_from_loaded_mb": round(peak - loaded),
        "messages": counts["messages"],
        "events": counts["events"],
        "max_buffer_s": {s: round(v, 1) for s, v in max_buffer.items()},
        "max_encoded_frames": max_frames,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
