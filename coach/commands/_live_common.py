"""Options and the run loop shared by `coach live` and `coach replay` (same overlay, same engine).

Order matters for the user: everything that can be checked without the
model (options, the output folder, the devices, the recordings) is checked
first, so a typo costs a second, not a model load and a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coach.commands._config import add_config_options, config_from_args
from coach.errors import CoachError

if TYPE_CHECKING:  # the live machinery (Whisper, the server) loads only when a command runs
    from coach.live.app import Shutdown
    from coach.live.calls import Desk, DeskOptions
    from coach.live.hub import Hub

CLIENT_NOTICE_S = 10.0  # say so when no overlay has connected this long after the start


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve the overlay on (default 127.0.0.1: this machine only; "
                             "any other address requires a token, generated and printed unless --token)")
    parser.add_argument("--port", type=int, default=8765,
                        help="port of the overlay page, its websocket /ws and the API /api/ (default 8765)")
    parser.add_argument("--token", default=None, metavar="TOKEN",
                        help="require this token on every request: open the overlay at "
                             "http://HOST:PORT/?token=TOKEN; API clients send 'Authorization: Bearer TOKEN'")
    parser.add_argument("--no-browser", action="store_true",
                        help="do not open the overlay; open http://HOST:PORT/ yourself")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="write each call's result to DIR/<call-id or start time>.json "
                             "(the per-call contract of 'coach score', plus meta and feedback)")
    parser.add_argument("--agent", default=None, metavar="NAME",
                        help="the agent's name, written in each result's meta (the API may override it)")
    add_config_options(parser, language_default="auto", batch=False)
    # Live cannot split one channel by voice as it goes (batch diarizes mono recordings after the
    # fact): a single channel is the agent, and the result says so (`mono: true`).
    parser.set_defaults(mono="agent")
    parser.add_argument("--partial-interval", type=float, default=0.5, metavar="S",
                        help="re-decode the words being spoken every S seconds (default 0.5; "
                             "lower shows words sooner, costs more CPU)")


def serve_calls(args: argparse.Namespace, what: str, options: DeskOptions, source: Any = None,
                recordings: list | None = None) -> int:
    """Check, load, serve the overlay, run the calls; stop cleanly on a signal (130/143)."""
    from coach.contract import status_message
    from coach.core import Coach
    from coach.live.app import Interrupted, Shutdown, open_overlay, token_for
    from coach.live.calls import Desk
    from coach.live.hub import Hub, HubOptions
    from coach.live.pipeline import LiveOptions
    from coach.outputs import check_output_dir

    shutdown = Shutdown().install()
    hub: Hub | None = None
    desk: Desk | None = None
    code = 0
    try:
        config = config_from_args(args).for_live()  # two replicas: a hint's latency (CoachConfig)
        if args.partial_interval <= 0:
            raise CoachError("--partial-interval must be more than 0 seconds")
        if options.out_dir is not None:
            check_output_dir(options.out_dir)
        if source is not None:
            source.check()  # a wrong --device or no microphone: one line, before the model loads
        coach = Coach.load(config, warm_up=True)
        hub = Hub(HubOptions(host=args.host, port=args.port, token=token_for(args.host, args.token)))
        hub.start()
        print(f"coach {what}: overlay at {hub.url}  (Ctrl-C to stop)", file=sys.stderr, flush=True)
        if source is not None:
            source.on_status = hub.publish

        def live_options() -> LiveOptions:
            opts = LiveOptions(language=config.language)
            opts.streaming.partial_interval_s = args.partial_interval
            return opts

        desk = Desk(coach, hub.publish, options, live_options, source=source, recordings=recordings)
        desk.set_audio = hub.set_audio
        hub.on_command, hub.state = desk.submit, desk.state
        if not args.no_browser:
            why = open_overlay(hub.url)
            if why is not None:
                print(f"coach {what}: could not open the overlay window ({why}); open {hub.url} "
                      "in a browser", file=sys.stderr, flush=True)
        shutdown.raising = False
        desk.start()
        code = _watch(args, what, desk, hub, shutdown)
    except Interrupted:
        code = shutdown.code
    finally:
        shutdown.raising = False
        if desk is not None:
            desk.stop()
        if hub is not None:  # the overlay shows it large and dims what it has
            why = shutdown.name if shutdown.signum is not None else "done"
            hub.publish(status_message("coach", "stopped", f"coach stopped ({why})", code="stopped"))
            hub.stop(flush_s=1.0)
    if desk is not None and desk.error is not None:
        print(f"coach: error: {desk.error}", file=sys.stderr)
        code = 2 if isinstance(desk.error, CoachError) else 1
    if desk is not None and desk.saved:
        where = desk.saved[-1].parent
        print(f"coach {what}: {len(desk.saved)} call result(s) in {where}", file=sys.stderr)
    if shutdown.signum is not None:
        print(f"coach {what}: stopped ({shutdown.name})", file=sys.stderr)
    return code


def _watch(args: argparse.Namespace, what: str, desk: Desk, hub: Hub, shutdown: Shutdown) -> int:
    """The main thread while the calls run: signals, --duration, --exit-at-end, a missing overlay."""
    started = time.monotonic()
    duration = getattr(args, "duration", None)
    told_over = told_client = False
    while not shutdown.event.wait(0.2):
        if desk.error is not None or desk.done.is_set():
            return 2 if desk.error is not None else 0
        if duration and time.monotonic() - started >= duration:
            return 0
        if desk.over.is_set():
            if getattr(args, "exit_at_end", False):
                hub.wait_drained(5.0)
                return 0
            if not told_over:
                print(f"coach {what}: all calls played; the overlay shows the last one's review. "
                      "Ctrl-C to quit.", file=sys.stderr, flush=True)
                told_over = True
        if not told_client and not args.no_browser and time.monotonic() - started > CLIENT_NOTICE_S:
            told_client = True
            if not hub.clients:
                print(f"coach {what}: no overlay has connected yet; open {hub.url}", file=sys.stderr,
                      flush=True)
    return shutdown.code
