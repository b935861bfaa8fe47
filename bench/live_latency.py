"""Live latency: replay dual-channel calls at 1x through the live pipeline with a real websocket client.

For every call (default: the committed stereo fixture calls) it runs the
hub and the pipeline in this process, connects a websockets client to /ws,
replays the recording at --speed (1.0 = real time) and records each event
message. Printed:

* latency of phrase findings (forbidden phrase, negative phrasing,
  diminutive): `emitted_at - (t0 + end / speed)`, the contract formula, p50
  and p95;
* average CPU cores used while replaying (process CPU time / wall time) and
  peak RSS;
* the share of `coach score`'s findings on the same files that also
  appeared live (same rule and speaker, start within 1.5 s; call-level
  findings by rule), with the misses listed.

Targets (issue 5, 2 cores, offline base model): p50 <= 1.0 s, p95 <= 2.0 s,
<= 1 core on average, >= 90% of batch findings. Figures go to docs/benchmarks.md.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from websockets.sync.client import connect  # noqa: E402

from coach.live.app import EngineOptions, LiveRun, load_engine  # noqa: E402
from coach.live.hub import Hub, HubOptions  # noqa: E402
from coach.live.pipeline import LiveOptions  # noqa: E402
from coach.live.sources import FileSource  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "calls"
PHRASE_CATEGORIES = {"forbidden_phrase", "negative_phrasing", "diminutive"}
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


def collect(port: int, out: list[dict], connected: threading.Event, after: float) -> None:
    """Messages of the call that starts after `after` (the hub first replays the previous call)."""
    with connect(f"ws://127.0.0.1:{port}/ws", max_size=None, open_timeout=10) as ws:
        connected.set()
        current = False
        while True:
            msg = json.loads(ws.recv(timeout=600))
            if msg["type"] == "session":
                current = msg["t0"] >= after
            if not current:
                continue
            out.append(msg)
            if msg["type"] == "end":
                return


def replay(engine, hub: Hub, call: Path, speed: float, options: LiveOptions,
           ) -> tuple[list[dict], float, float]:
    messages: list[dict] = []
    connected = threading.Event()
    client = threading.Thread(target=collect, args=(hub.port, messages, connected, time.time()),
                              daemon=True)
    client.start()
    connected.wait(10)
    time.sleep(0.2)  # the client is in the hub's list before the call starts
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    run = LiveRun(engine, FileSource(call, speed=speed), hub, options).start()
    run.wait()
    client.join(timeout=30)
    return messages, cpu_seconds() - cpu0, time.monotonic() - wall0


def matches(live: list[dict], batch_event: dict) -> bool:
    for ev in live:
        if (ev["rule"], ev["speaker"]) != (batch_event["rule"], batch_event["speaker"]):
            continue
        if batch_event["start"] is None:
            return True
        if ev["start"] is not None and abs(ev["start"] - batch_event["start"]) <= MATCH_S:
            return True
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", nargs="*", type=Path, default=None)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for Whisper (0: all)")
    parser.add_argument("--partial-interval", type=float, default=None,
                        help="seconds between partial decodes (default: coach's default)")
    parser.add_argument("--early-margin", type=int, default=None,
                        help="committed words that must follow a phrase before it is reported early")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    calls = args.calls or default_calls()

    engine = load_engine(EngineOptions(cpu_threads=args.threads))
    hub = Hub(HubOptions(port=0)).start()
    latencies: list[float] = []
    cpu = wall = 0.0
    live_by_call: dict[str, list[dict]] = {}
    print(f"replaying {len(calls)} call(s) at {args.speed}x on {os.cpu_count()} core(s)")
    for call in calls:
        options = LiveOptions()
        if args.early_margin is not None:
            options.early_margin_words = args.early_margin
        if args.partial_interval:
            options.streaming.partial_interval_s = args.partial_interval
        messages, c, w = replay(engine, hub, call, args.speed, options)
        cpu, wall = cpu + c, wall + w
        session = next(m for m in messages if m["type"] == "session")
        events = [m for m in messages if m["type"] == "event" and not m.get("hint")]
        live_by_call[call.name] = events
        lat = [m["emitted_at"] - (session["t0"] + m["end"] / args.speed)
               for m in events if m["category"] in PHRASE_CATEGORIES and m["end"] is not None]
        latencies += lat
        phrase = [m for m in events if m["category"] in PHRASE_CATEGORIES and m["end"] is not None]
        shown = " ".join(f"{m['rule'].rsplit('.', 1)[-1]}@{m['end']}:{x:.2f}"
                         for m, x in zip(phrase, lat)) or "-"
        print(f"  {call.name:28s} {w:5.1f} s wall, {c / w:4.2f} cores, {len(events)} events, "
              f"phrase latency {shown}")
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hub.stop(flush_s=0.5)

    from coach.scorer import CallScorer, ScoreOptions

    scorer = CallScorer(ScoreOptions(cpu_threads=args.threads))
    total = seen = 0
    misses = []
    for call in calls:
        batch = scorer.score(call)["events"]
        for ev in batch:
            total += 1
            if matches(live_by_call[call.name], ev):
                seen += 1
            else:
                misses.append(f"{call.name}: {ev['category']} {ev['rule']} at {ev['start']}")
    extra = []
    for call in calls:
        batch = scorer.score(call)["events"]
        for ev in live_by_call[call.name]:
            if not matches(batch, ev):
                extra.append(f"{call.name}: {ev['category']} {ev['rule']} at {ev['start']}")

    figures = {
        "calls": len(calls),
        "partial_interval_s": LiveOptions().streaming.partial_interval_s if not args.partial_interval
        else args.partial_interval,
        "speed": args.speed,
        "phrase_findings": len(latencies),
        "latency_p50_s": round(float(np.percentile(latencies, 50)), 2) if latencies else None,
        "latency_p95_s": round(float(np.percentile(latencies, 95)), 2) if latencies else None,
        "latency_max_s": round(max(latencies), 2) if latencies else None,
        "cpu_cores_avg": round(cpu / wall, 2),
        "peak_rss_mb": round(peak_rss_mb),
        "batch_findings": total,
        "batch_findings_seen_live": seen,
        "share_seen_live": round(seen / total, 3) if total else None,
        "misses": misses,
        "live_only": extra,
    }
    print()
    print(f"phrase findings: {figures['phrase_findings']}, latency p50 {figures['latency_p50_s']} s, "
          f"p95 {figures['latency_p95_s']} s, max {figures['latency_max_s']} s")
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
