"""Live latency: replay dual-channel calls at 1x through the live pipeline with a real websocket client.

The calls (default: the committed stereo fixture calls and the demo sample)
are played one after another as separate calls, exactly as `coach replay
a.wav b.wav ...` does (a Desk in replay mode, the hub, one websockets client
on /ws reading every message). For every event the client computes the
contract's latency `emitted_at - (t0 + end / speed)`: how long after the
moment it describes the overlay had it. Printed:

* phrase findings (forbidden phrase, negative phrasing, diminutive): p50,
  p95, max. Target p95 <= 2 s.
* acoustic findings (raised voice, interruption): the latency of every
  decision, and of those sent as cards (an acoustic finding decided later
  than 5 s after its moment (`card_deadline_s`) is sent with `"card": false`: listed in the
  review, never flashed). Target: cards p95 <= 3 s; the share shown as
  cards is printed too, so "not at all" cannot hide.
* average CPU cores used while replaying and peak RSS;
* the share of `coach score`'s findings on the same files that also
  appeared live (same rule and speaker, start within 1.5 s; call-level
  findings by rule), with the misses listed.

Run: `.venv/bin/python bench/live_latency.py [--calls a.wav b.wav] [--json out.json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

from coach import numerics as _pinned  # noqa: F401  (first: pins the numerical path before numpy loads)

# isort: split
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from websockets.sync.client import connect  # noqa: E402

from coach import Coach, CoachConfig  # noqa: E402
from coach.live.calls import Desk, DeskOptions  # noqa: E402
from coach.live.hub import Hub, HubOptions  # noqa: E402
from coach.live.pipeline import LiveOptions  # noqa: E402
from coach.live.sources import FileSource  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "calls"
PHRASE_CATEGORIES = {"forbidden_phrase", "negative_phrasing", "diminutive"}
ACOUSTIC_CATEGORIES = {"raised_voice", "interruption"}
MATCH_S = 1.5


def default_calls() -> list[Path]:
    """The stereo fixture calls and the demo sample (it holds one finding of each phrase kind)."""
    manifest = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    calls = [FIXTURES / name for name, spec in manifest["calls"].items()
             if spec.get("n_channels") == 2 and "/" not in name]
    return calls + [ROOT / path for path in manifest.get("samples", {})]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def collect(port: int, out: list[dict], connected: threading.Event, calls: int) -> None:
    """Every message until the last call's `end`."""
    with connect(f"ws://127.0.0.1:{port}/ws", max_size=None, open_timeout=10) as ws:
        connected.set()
        ends = 0
        while ends < calls:
            msg = json.loads(ws.recv(timeout=900))
            out.append(msg)
            ends += msg["type"] == "end"


def by_call(messages: list[dict]) -> list[list[dict]]:
    calls: list[list[dict]] = []
    for msg in messages:
        if msg["type"] == "session":
            calls.append([])
        if calls:
            calls[-1].append(msg)
    return calls


def matches(live: list[dict], batch_event: dict) -> bool:
    for ev in live:
        if (ev["rule"], ev["speaker"]) != (batch_event["rule"], batch_event["speaker"]):
            continue
        if batch_event["start"] is None:
            return True
        if ev["start"] is not None and abs(ev["start"] - batch_event["start"]) <= MATCH_S:
            return True
    return False


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", nargs="*", type=Path, default=None)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for Whisper (0: all)")
    parser.add_argument("--partial-interval", type=float, default=None,
                        help="seconds between partial decodes (default: coach's default)")
    parser.add_argument("--verify-phrases", choices=("on", "off"), default="on",
                        help="settle phrase near misses on the audio (coach.verify; coach's default: on)")
    parser.add_argument("--language", default="ru",
                        help="language of the calls: ru, en, ... or auto (detected per call; default ru)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    calls = args.calls or default_calls()

    coach = Coach.load(CoachConfig(language=args.language, cpu_threads=args.threads,
                                   verify_phrases=args.verify_phrases == "on").for_live(), warm_up=True)

    def live_options() -> LiveOptions:
        options = LiveOptions(language=args.language)
        if args.partial_interval:
            options.streaming.partial_interval_s = args.partial_interval
        return options

    hub = Hub(HubOptions(port=0)).start()
    recordings = [FileSource(call, speed=args.speed) for call in calls]
    desk = Desk(coach, hub.publish, DeskOptions(mode="replay"), live_options, recordings=recordings)
    desk.set_audio = hub.set_audio
    messages: list[dict] = []
    connected = threading.Event()
    client = threading.Thread(target=collect, args=(hub.port, messages, connected, len(calls)), daemon=True)
    client.start()
    connected.wait(10)
    time.sleep(0.2)  # the client is in the hub's list before the first call starts
    print(f"replaying {len(calls)} call(s) at {args.speed}x on {os.cpu_count()} core(s)")
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    desk.start()
    client.join()
    cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
    desk.stop()
    hub.stop(flush_s=0.5)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    phrase: list[float] = []
    acoustic_all: list[float] = []
    acoustic_cards: list[float] = []
    live_by_call: dict[str, list[dict]] = {}
    for call, msgs in zip(calls, by_call(messages)):
        session = msgs[0]
        events = [m for m in msgs if m["type"] == "event" and not m.get("hint")]
        live_by_call[call.name] = events
        shown = []
        for m in events:
            if m["end"] is None:
                continue
            late = m["emitted_at"] - (session["t0"] + m["end"] / args.speed)
            if m["category"] in PHRASE_CATEGORIES:
                phrase.append(late)
            elif m["category"] in ACOUSTIC_CATEGORIES:
                acoustic_all.append(late)
                if m.get("card", True):
                    acoustic_cards.append(late)
            else:
                continue
            card = "" if m.get("card", True) else " (no card)"
            shown.append(f"{m['rule'].rsplit('.', 1)[-1]}@{m['end']}:{late:.2f}{card}")
        print(f"  {call.name:28s} {len(events)} events: {' '.join(shown) or '-'}")

    total = seen = 0
    misses, extra = [], []
    for call in calls:
        batch = coach.score(call).to_dict()["events"]
        for ev in batch:
            total += 1
            if matches(live_by_call[call.name], ev):
                seen += 1
            else:
                misses.append(f"{call.name}: {ev['category']} {ev['rule']} at {ev['start']}")
        for ev in live_by_call[call.name]:
            if not matches(batch, ev):
                extra.append(f"{call.name}: {ev['category']} {ev['rule']} at {ev['start']}")

    figures = {
        "calls": len(calls),
        "speed": args.speed,
        "partial_interval_s": live_options().streaming.partial_interval_s,
        "phrase_findings": len(phrase),
        "phrase_p50_s": pct(phrase, 50), "phrase_p95_s": pct(phrase, 95),
        "phrase_max_s": round(max(phrase), 2) if phrase else None,
        "acoustic_findings": len(acoustic_all),
        "acoustic_cards": len(acoustic_cards),
        "acoustic_all_p50_s": pct(acoustic_all, 50), "acoustic_all_p95_s": pct(acoustic_all, 95),
        "acoustic_cards_p50_s": pct(acoustic_cards, 50), "acoustic_cards_p95_s": pct(acoustic_cards, 95),
        "cpu_cores_avg": round(cpu / wall, 2),
        "peak_rss_mb": round(peak_rss_mb),
        "batch_findings": total,
        "batch_findings_seen_live": seen,
        "share_seen_live": round(seen / total, 3) if total else None,
        "misses": misses,
        "live_only": extra,
    }
    print()
    print(f"phrase findings: {len(phrase)}, latency p50 {figures['phrase_p50_s']} s, "
          f"p95 {figures['phrase_p95_s']} s, max {figures['phrase_max_s']} s   (target p95 <= 2 s)")
    print(f"acoustic findings (raised voice, interruption): {len(acoustic_all)} decided, "
          f"p50 {figures['acoustic_all_p50_s']} s, p95 {figures['acoustic_all_p95_s']} s; "
          f"{len(acoustic_cards)} sent as cards, p50 {figures['acoustic_cards_p50_s']} s, "
          f"p95 {figures['acoustic_cards_p95_s']} s   (target cards p95 <= 3 s)")
    print(f"CPU: {figures['cpu_cores_avg']} cores on average while replaying; "
          f"peak RSS {figures['peak_rss_mb']} MB")
    print(f"batch findings seen live: {seen}/{total} ({(figures['share_seen_live'] or 0) * 100:.0f}%)")
    for m in misses:
        print(f"  missed live: {m}")
    for m in extra:
        print(f"  live only:   {m}")
    if args.json:
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
