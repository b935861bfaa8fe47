"""The overlay's server: the page, its websocket, the replayed recording and a small local API, on one port.

Built on websockets: `/ws` is the websocket; every other request is answered
from its request line and headers by `coach.live.http` (the page's files,
`/audio` in byte ranges, and the API a softphone or CRM calls):

    POST /api/call/start?agent=...&call_id=...   (fields optional)
    POST /api/call/end
    POST /api/feedback?rule=...&start=12.3        ("not helpful" on a card)
    POST /api/name?name=...                       (the customer's name, from a CRM)
    GET  /api/state

Rules on top:

* it binds 127.0.0.1 unless told otherwise;
* only GET/HEAD are served, POST only on the API; anything else is 405 with
  `Allow`, and a malformed path (a NUL byte...) is 400, with no traceback;
* requests whose `Host` is not a loopback name are refused while bound to
  loopback (DNS rebinding), so are `Sec-Fetch-Site: cross-site` fetches, and
  a websocket or API request whose `Origin` is not this server's own page (so
  a web page open in the agent's browser can neither read the call nor
  start or end one). A request with no `Origin` (curl, a softphone, any
  local process) is accepted: on a personal desktop that is the user;
* with a token (`--token`, or one generated when bound beyond loopback)
  every request needs it: `?token=` on the URL (the page then gets a
  cookie for its files and sends the token on the websocket),
  `Authorization: Bearer`, or `X-Coach-Token`.

The pipeline runs in its own thread and calls `publish()`, which never
blocks: each message is serialised once and appended to every client's
bounded queue, drained by that client's own task. A slow or dead client
therefore only delays itself. When a queue is full, partial transcripts and
superseded metrics are dropped first; events are never dropped: a client too
far behind to take one more is disconnected instead, and on reconnecting it
receives the backlog (session, final transcripts, events, cues, status, end,
and the latest metrics, checklist and name) like any new client.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from coach.contract import status_message
from coach.errors import CoachError
from coach.live import http
from coach.paths import ui_root

log = logging.getLogger(__name__)

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
DROPPABLE = ("partial", "metrics")  # kinds a slow client may lose
LATEST_ONLY = ("metrics", "checklist", "name")  # each supersedes the previous one of its kind
MAX_BODY = 1 << 16  # websocket messages from the overlay are small
COMMAND_TIMEOUT_S = 60.0  # ending a call decodes its last words and writes the result
OVERLAY_COMMANDS = ("feedback", "call", "name")  # what the overlay may send on the websocket


class CommandError(Exception):
    """A command that cannot be carried out now: an HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


Command = Callable[[dict[str, Any]], concurrent.futures.Future]


@dataclass
class HubOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    ui_dir: Path = field(default_factory=ui_root)
    audio_path: Path | None = None  # replay: the recording, served at /audio for the timeline
    client_queue: int = 512  # messages waiting per client before droppable ones go
    backlog: int = 5000  # important messages kept for clients that connect later
    ping_interval_s: float = 10.0  # dead clients are found and closed by websocket pings
    token: str | None = None  # required on every request when set


class _Client:
    def __init__(self, ws: ServerConnection, limit: int):
        self.ws = ws
        self.peer = ws.remote_address  # (host, port) of the client
        self.limit = limit
        self.queue: deque[tuple[str, str]] = deque()  # (kind, json)
        self.wakeup = asyncio.Event()
        self.dropped = 0
        self.too_slow = False

    def push(self, kind: str, text: str) -> None:
        if self.too_slow:
            return
        if kind in LATEST_ONLY:  # only the newest metrics, checklist, name matter
            for i, (k, _) in enumerate(self.queue):
                if k == kind:
                    del self.queue[i]
                    self.dropped += 1
                    break
        # Make room before appending, so the queue never exceeds its limit, even for a
        # moment (another thread may be looking at its length).
        if len(self.queue) >= self.limit:
            victim = next((i for i, (k, _) in enumerate(self.queue) if k in DROPPABLE), None)
            if victim is not None:
                del self.queue[victim]
                self.dropped += 1
            elif kind in DROPPABLE:  # full of events and finals: the new partial goes
                self.dropped += 1
                return
            else:  # an event that cannot be queued: never drop it silently, drop the client
                self.too_slow = True
                self.queue.clear()
                self.wakeup.set()
                return
        self.queue.append((kind, text))
        self.wakeup.set()


class Hub:
    """HTTP + websocket server in a background thread (`start`, `publish`, `stop`).

    `on_command` (set by the caller) receives the API's and the overlay's
    commands and returns a Future of a reply dict with `status`; `state`
    answers GET /api/state.
    """

    def __init__(self, options: HubOptions | None = None):
        self.options = options or HubOptions()
        self.clients: set[_Client] = set()
        self.on_command: Command | None = None
        self.state: Callable[[], dict[str, Any]] | None = None
        self.audio_path = self.options.audio_path
        self._backlog: deque[tuple[str, str]] = deque(maxlen=self.options.backlog)
        self._latest: dict[str, str] = {}  # kind -> the newest message of a LATEST_ONLY kind
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self.port = self.options.port
        self.sent = 0

    # -- lifecycle ---------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Hub:
        self._thread = threading.Thread(target=self._run, name="coach-hub", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise CoachError("the overlay server did not start")
        if self._error is not None:
            raise CoachError(
                f"cannot listen on {self.options.host}:{self.options.port}: {self._error} "
                "(another coach running? try --port)"
            ) from None
        return self

    @property
    def url(self) -> str:
        host = self.options.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        token = f"?token={self.options.token}" if self.options.token else ""
        return f"http://{shown}:{self.port}/{token}"

    def set_audio(self, path: Path | None) -> None:
        """The recording /audio serves (replay: changes with every call)."""
        self.audio_path = path

    def stop(self, flush_s: float = 2.0) -> None:
        """Stop serving; first give clients up to `flush_s` to receive what is queued."""
        loop = self._loop
        if loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(flush_s), loop)
        try:
            fut.result(timeout=flush_s + 10)
        except Exception as exc:  # shutting down anyway
            log.debug("hub shutdown: %s", exc)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = None

    def publish(self, message: dict[str, Any]) -> None:
        """Thread-safe and non-blocking: queue a message for every client (and the backlog)."""
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=_json_default)
        kind = _kind(message)
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._fanout, kind, text)
        except RuntimeError:  # the loop closed under us: shutting down
            pass

    def wait_drained(self, timeout: float = 2.0) -> bool:
        """Block until every connected client's queue is empty (or timeout)."""
        if self._loop is None:
            return True
        fut = asyncio.run_coroutine_threadsafe(self._drained(timeout), self._loop)
        return fut.result(timeout=timeout + 1)

    # -- event loop side ---------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # bind errors end up here before _ready is set
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        opts = self.options
        self._stopping = asyncio.Event()
        self._server = await serve(
            self._handler, opts.host, opts.port, process_request=self._http,
            ping_interval=opts.ping_interval_s, ping_timeout=opts.ping_interval_s,
            max_size=MAX_BODY, logger=logging.getLogger("coach.live.websockets"),
        )
        self.port = self._server.sockets[0].getsockname()[1] if opts.port == 0 else opts.port
        self._ready.set()
        await self._stopping.wait()

    async def _shutdown(self, flush_s: float) -> None:
        await self._drained(flush_s)
        for client in list(self.clients):
            try:
                await asyncio.wait_for(client.ws.close(code=1001, reason="coach stopped"), 1.0)
            except Exception:
                pass
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._stopping is not None:
            self._stopping.set()

    async def _drained(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if all(not c.queue for c in self.clients):
                return True
            await asyncio.sleep(0.02)
        return False

    def _fanout(self, kind: str, text: str) -> None:
        if kind == "session":  # a new call: forget the previous one's backlog
            self._backlog.clear()
            self._latest.clear()
        if kind in LATEST_ONLY:
            self._latest[kind] = text
        elif kind != "partial":
            self._backlog.append((kind, text))
        for client in list(self.clients):
            client.push(kind, text)
            if client.too_slow:
                asyncio.ensure_future(self._drop(client))

    async def _drop(self, client: _Client) -> None:
        self.clients.discard(client)
        log.warning("client %s too slow: disconnected (it will get the backlog on reconnect)", client.peer)
        try:
            await asyncio.wait_for(client.ws.close(code=1013, reason="too slow, reconnect"), 2.0)
        except Exception:
            pass

    # -- websocket ---------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        backlog = list(self._backlog) + list(self._latest.items())
        # the backlog itself never counts against the live-traffic bound
        client = _Client(ws, self.options.client_queue + len(backlog))
        client.queue.extend(backlog)
        client.wakeup.set()
        self.clients.add(client)
        sender = asyncio.create_task(self._sender(client))
        try:
            async for message in ws:
                if isinstance(message, str):
                    await self._from_overlay(client, message)
        except ConnectionClosed:
            pass  # a client going away (or dropped as too slow) is routine
        finally:
            self.clients.discard(client)
            sender.cancel()

    async def _sender(self, client: _Client) -> None:
        try:
            while True:
                await client.wakeup.wait()
                client.wakeup.clear()
                while client.queue:
                    _kind_, text = client.queue.popleft()
                    await client.ws.send(text)
                    self.sent += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # connection closed: the handler cleans up
            log.debug("sender for %s ended: %s", client.peer, exc)

    async def _from_overlay(self, client: _Client, data: str) -> None:
        """A command from the overlay (a button, a hotkey, "not helpful"); refusals go back to it."""
        try:
            command = json.loads(data)
        except ValueError:
            return
        if not isinstance(command, dict) or command.get("type") not in OVERLAY_COMMANDS:
            return
        if command.get("via") not in ("button", "hotkey", "card"):
            command["via"] = "button"
        try:
            await self._command(command)
        except CommandError as exc:
            text = json.dumps(status_message("command", "refused", str(exc), code=f"http_{exc.status}",
                                             command=command.get("type")), ensure_ascii=False)
            client.push("status", text)

    async def _command(self, command: dict[str, Any]) -> dict[str, Any]:
        if self.on_command is None:
            raise CommandError(503, "this server takes no commands")
        future = self.on_command(command)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), COMMAND_TIMEOUT_S)
        except TimeoutError:
            raise CommandError(504, "coach did not answer in time") from None

    # -- HTTP ------------------------------------------------------------------------------

    async def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        """Everything but the websocket handshake is answered here (None: go on with /ws)."""
        parsed = http.split_path(request.path)
        if parsed is None:
            return http.text(400, "Bad Request: malformed path\n")
        path, query = parsed
        headers = request.headers
        host = (headers.get("Host") or "").strip()
        if self._loopback_only() and http.hostname(host) not in LOOPBACK_NAMES:
            return http.text(403, "Forbidden: unexpected Host header\n")
        if headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
            return http.text(403, "Forbidden: cross-site request\n")
        if path == "/ws" or path.startswith("/api/"):
            origin = headers.get("Origin")
            if origin is not None and origin not in self._allowed_origins(host):
                log.warning("refused %s from origin %s", path, origin)
                return http.text(403, "Forbidden: cross-origin request refused\n")
        token = self.options.token
        given = self._token_given(request, query)
        if token is not None and (given is None or not hmac.compare_digest(given, token)):
            return http.text(401, "Unauthorized: this coach needs its token: open the URL it printed "
                                  "(…/?token=…)\n")
        if path == "/ws":
            return None if request.method == "GET" else http.text(405, "Method Not Allowed\n",
                                                                   extra=[("Allow", "GET")])
        allowed = http.allowed_methods(path)
        if request.method not in allowed:
            return http.text(405, "Method Not Allowed\n", extra=[("Allow", ", ".join(allowed) or "none")])
        head = request.method == "HEAD"
        if path.startswith("/api/"):
            return await self._api(path, query)
        if path == "/audio":
            return http.audio_range(self.audio_path, headers, head)
        reply = http.static_file(self.options.ui_dir, path, head)
        if token is not None and query.get("token") and path in ("/", "/index.html"):
            reply.headers["Set-Cookie"] = f"{self._cookie()}={token}; HttpOnly; SameSite=Strict; Path=/"
        return reply

    async def _api(self, path: str, query: dict[str, str]) -> Response:
        if path == "/api/state":
            return http.json_response(200, self.state() if self.state is not None else {})
        try:
            reply = dict(await self._command(http.api_command(path, query)))
        except CommandError as exc:
            return http.json_response(exc.status, {"error": str(exc)})
        return http.json_response(int(reply.pop("status", 200)), reply)

    def _cookie(self) -> str:
        return f"coach_token_{self.port}"  # cookies ignore ports: one per coach

    def _token_given(self, request: Request, query: dict[str, str]) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return (request.headers.get("X-Coach-Token") or query.get("token")
                or http.cookie_value(request.headers, self._cookie()))

    def _loopback_only(self) -> bool:
        return self.options.host in LOOPBACK_NAMES

    def _allowed_origins(self, host: str) -> set[str]:
        port = self.port
        names = set(LOOPBACK_NAMES) | {self.options.host}
        allowed = {f"http://{n}:{port}" for n in names}
        if not self._loopback_only() and host:
            allowed.add(f"http://{host}")  # bound to a LAN address on purpose: its own page
        return allowed


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays in analyzer details; anything else as text rather than a crash."""
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (TypeError, ValueError):
            pass
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _kind(message: dict[str, Any]) -> str:
    kind = str(message.get("type", ""))
    if kind == "transcript" and not message.get("final", True):
        return "partial"
    return kind
