"""Options shared by `coach live` and `coach replay` (same overlay, same engine)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from coach.commands._config import add_config_options, config_from_args
from coach.core import Coach
from coach.errors import CoachError
from coach.live.app import LiveRun, open_overlay, wait_for_client
from coach.live.hub import Hub, HubOptions
from coach.live.pipeline import LiveOptions


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve the overlay on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8765,
                        help="port of the overlay page and its websocket /ws (default 8765)")
    parser.add_argument("--no-browser", action="store_true",
                        help="do not open the overlay; open http://HOST:PORT/ yourself")
    add_config_options(parser, language_default="ru", batch=False)
    parser.add_argument("--partial-interval", type=float, default=0.5, metavar="S",
                        help="re-decode the words being spoken every S seconds (default 0.5; "
                             "lower shows words sooner, costs more CPU)")


def run_call(args: argparse.Namespace, source, audio_path: Path | None, what: str) -> int:
    """Serve the overlay, run the call, and keep serving or exit as asked."""
    config = config_from_args(args)
    if config.language == "auto":
        raise CoachError("live coaching needs the call's language (--language ru, en, ...), not 'auto'")
    coach = Coach.load(config, warm_up=True)
    hub = Hub(HubOptions(host=args.host, port=args.port, audio_path=audio_path)).start()
    print(f"coach {what}: overlay at {hub.url}  (Ctrl-C to stop)", file=sys.stderr, flush=True)
    if getattr(source, "on_status", None) is not None:
        source.on_status = hub.publish
    if not args.no_browser:
        open_overlay(hub.url)
        wait_for_client(hub, 10.0)
    options = LiveOptions(language=args.language)
    options.streaming.partial_interval_s = args.partial_interval
    run = LiveRun(coach, source, hub, options).start()
    duration = getattr(args, "duration", None)
    deadline = time.monotonic() + duration if duration else None
    try:
        while not run.wait(0.2):
            if deadline is not None and time.monotonic() >= deadline:
                run.stop()
        if run.error is not None:
            print(f"coach: error: {run.error}", file=sys.stderr)
            hub.stop()
            return 2
        if getattr(args, "exit_at_end", False) or duration:
            hub.wait_drained(5.0)
            hub.stop()
            return 0
        print(f"coach {what}: call over; the overlay shows its timeline. Ctrl-C to quit.",
              file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        run.stop(timeout=10)
        hub.stop(flush_s=0.5)
        return 130
