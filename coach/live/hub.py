"""The overlay's server: the page, its websocket, the replayed recording and a small local API, on one port.

One port keeps the overlay a plain static page (`new WebSocket(... "/ws")`),
and lets a softphone or CRM on the same machine mark calls with two plain
HTTP requests:

    POST /api/call/start   {"agent": "...", "call_id": "..."}   (body optional)
    POST /api/call/end
    POST /api/feedback     {"rule": "...", "start": 12.3}        ("not helpful" on a card)
    GET  /api/state

Built on aiohttp (HTTP/1.1 parsing, HEAD, ranges, 405 with `Allow`), with
these rules on top:

* it binds 127.0.0.1 unless told otherwise;
* only GET/HEAD are served, POST only on /api/; anything else is 405, and a
  malformed path (a NUL byte...) is 400, with no traceback anywhere;
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
receives the backlog (session, final transcripts, events, status, last
metrics, end) like any new client.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import json
import logging
import mimetypes
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from coach.contract import status_message
from coach.errors import CoachError
from coach.paths import ui_root

log = logging.getLogger(__name__)

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
DROPPABLE = ("partial", "metrics")  # kinds a slow client may lose
MAX_BODY = 1 << 16  # API bodies and websocket messages from the overlay are small
COMMAND_TIMEOUT_S = 60.0  # ending a call decodes its last words and writes the result
OVERLAY_COMMANDS = ("feedback", "call")  # what the overlay may send on the websocket


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


class _OneLine(logging.Filter):
    """aiohttp logs a malformed request with its traceback; one line (at debug) is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {record.exc_info[1]}"
            record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger("coach.live.http").isEnabledFor(logging.DEBUG)


class _Client:
    def __init__(self, ws: web.WebSocketResponse, limit: int, peer: Any):
        self.ws = ws
        self.peer = peer  # (host, port) of the client
        self.limit = limit
        self.queue: deque[tuple[str, str]] = deque()  # (kind, json)
        self.wakeup = asyncio.Event()
        self.dropped = 0
        self.too_slow = False

    def push(self, kind: str, text: str) -> None:
        if self.too_slow:
            return
        if kind == "metrics":  # only the newest metrics matter
            for i, (k, _) in enumerate(self.queue):
                if k == "metrics":
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
        self._last_metrics: tuple[str, str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
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
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY)
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/audio", self._audio)
        app.router.add_get("/api/state", self._api_state)
        app.router.add_post("/api/call/start", self._api_call)
        app.router.add_post("/api/call/end", self._api_call)
        app.router.add_post("/api/feedback", self._api_feedback)
        app.router.add_get(r"/{path:(?!api/).*}", self._static)
        server_log = logging.getLogger("coach.live.http.server")
        server_log.addFilter(_OneLine())
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0,
                                     logger=server_log)
        await self._runner.setup()
        site = web.TCPSite(self._runner, opts.host, opts.port)
        await site.start()
        if opts.port == 0:
            self.port = self._runner.addresses[0][1]
        self._ready.set()
        await self._stopping.wait()

    async def _shutdown(self, flush_s: float) -> None:
        await self._drained(flush_s)
        for client in list(self.clients):
            try:
                await asyncio.wait_for(client.ws.close(code=1001, message=b"coach stopped"), 1.0)
            except Exception:
                pass
        if self._runner is not None:
            await self._runner.cleanup()
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
            self._last_metrics = None
        if kind == "metrics":
            self._last_metrics = (kind, text)
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
            await asyncio.wait_for(client.ws.close(code=1013, message=b"too slow, reconnect"), 2.0)
        except Exception:
            pass

    # -- websocket ---------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        opts = self.options
        ws = web.WebSocketResponse(heartbeat=opts.ping_interval_s, max_msg_size=MAX_BODY)
        if not ws.can_prepare(request).ok:
            return _text(400, "Bad Request: /ws is a websocket\n")
        await ws.prepare(request)
        backlog = list(self._backlog)
        if self._last_metrics is not None:
            backlog.append(self._last_metrics)
        # the backlog itself never counts against the live-traffic bound
        client = _Client(ws, opts.client_queue + len(backlog), request.transport.get_extra_info("peername")
                         if request.transport else None)
        client.queue.extend(backlog)
        client.wakeup.set()
        self.clients.add(client)
        sender = asyncio.create_task(self._sender(client))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._from_overlay(client, msg.data)
        finally:
            self.clients.discard(client)
            sender.cancel()
        return ws

    async def _sender(self, client: _Client) -> None:
        try:
            while True:
                await client.wakeup.wait()
                client.wakeup.clear()
                while client.queue:
                    _kind_, text = client.queue.popleft()
                    await client.ws.send_str(text)
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

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        path = request.path
        if "\x00" in path or "%00" in request.raw_path.lower() or "\ufffd" in path:
            return _text(400, "Bad Request: malformed path\n")
        host = (request.headers.get("Host") or "").strip()
        if self._loopback_only() and _hostname(host) not in LOOPBACK_NAMES:
            return _text(403, "Forbidden: unexpected Host header\n")
        if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
            return _text(403, "Forbidden: cross-site request\n")
        if path == "/ws" or path.startswith("/api/"):
            origin = request.headers.get("Origin")
            if origin is not None and origin not in self._allowed_origins(host):
                log.warning("refused %s from origin %s", path, origin)
                return _text(403, "Forbidden: cross-origin request refused\n")
        given = self._token_given(request)
        token = self.options.token
        if token is not None and (given is None or not hmac.compare_digest(given, token)):
            return _text(401, "Unauthorized: this coach needs its token: open the URL it printed "
                              "(…/?token=…)\n")
        response = await handler(request)
        if token is not None and request.query.get("token") and path in ("/", "/index.html"):
            response.set_cookie(self._cookie(), token, httponly=True, samesite="Strict", path="/")
        return response

    def _cookie(self) -> str:
        return f"coach_token_{self.port}"  # cookies ignore ports: one per coach

    def _token_given(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return (request.headers.get("X-Coach-Token") or request.query.get("token")
                or request.cookies.get(self._cookie()))

    def _loopback_only(self) -> bool:
        return self.options.host in LOOPBACK_NAMES

    def _allowed_origins(self, host: str) -> set[str]:
        port = self.port
        names = set(LOOPBACK_NAMES) | {self.options.host}
        allowed = {f"http://{n}:{port}" for n in names}
        if not self._loopback_only() and host:
            allowed.add(f"http://{host}")  # bound to a LAN address on purpose: its own page
        return allowed

    async def _static(self, request: web.Request) -> web.StreamResponse:
        root = self.options.ui_dir.resolve()
        rel = request.match_info.get("path") or "index.html"
        try:
            target = (root / rel).resolve()
            ok = root in target.parents and target.is_file()
        except (OSError, ValueError):
            return _text(400, "Bad Request: malformed path\n")
        if not ok:
            return _text(404, "Not found\n")
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        text = kind.startswith("text/") or kind in ("application/javascript", "application/json")
        return web.Response(body=target.read_bytes(), content_type=kind, charset="utf-8" if text else None,
                            headers={
                                "Cache-Control": "no-cache",
                                "Content-Security-Policy":
                                    "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self'; "
                                    "img-src 'self' data:; frame-ancestors 'none'",
                                "X-Content-Type-Options": "nosniff",
                            })

    async def _audio(self, request: web.Request) -> web.StreamResponse:
        """The replayed recording; aiohttp serves byte ranges so the <audio> element can seek."""
        path = self.audio_path
        if path is None or not path.is_file():
            return _text(404, "No audio in this session\n")
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind == "audio/x-wav":
            kind = "audio/wav"
        return web.FileResponse(path, headers={"Content-Type": kind, "Cache-Control": "no-cache"})

    async def _api_state(self, request: web.Request) -> web.StreamResponse:
        return _json(200, self.state() if self.state is not None else {})

    async def _api_call(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        action = "start" if request.path.endswith("/start") else "end"
        command = {"type": "call", "action": action, "via": "api",
                   **{k: body[k] for k in ("agent", "call_id") if k in body}}
        return await self._reply(command)

    async def _api_feedback(self, request: web.Request) -> web.StreamResponse:
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        command = {"type": "feedback", "via": "api",
                   **{k: body[k] for k in ("rule", "start", "category", "number", "call_id") if k in body}}
        return await self._reply(command)

    async def _reply(self, command: dict[str, Any]) -> web.StreamResponse:
        try:
            reply = dict(await self._command(command))
        except CommandError as exc:
            return _json(exc.status, {"error": str(exc)})
        return _json(int(reply.pop("status", 200)), reply)


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    """The request's JSON object ({} when there is no body), or a 400/413 response."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _json(413, {"error": f"body larger than {MAX_BODY} bytes"})
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _json(400, {"error": "body is not JSON"})
    if not isinstance(body, dict):
        return _json(400, {"error": "body must be a JSON object"})
    return body


def _text(status: int, body: str) -> web.Response:
    return web.Response(status=status, text=body, content_type="text/plain", charset="utf-8")


def _json(status: int, data: dict[str, Any]) -> web.Response:
    return web.Response(status=status, text=json.dumps(data, ensure_ascii=False),
                        content_type="application/json", charset="utf-8")


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


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
