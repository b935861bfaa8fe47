"""The websocket hub: pushes contract messages to every overlay, serves `ui/` on the same port.

One port for the page, the audio and the websocket (`/ws`) keeps the
overlay a plain static page (`new WebSocket("ws://" + location.host + "/ws")`)
and lets the same-origin rule do the security work:

* it binds 127.0.0.1 unless told otherwise;
* `/ws` refuses a handshake whose `Origin` is not this server's own page, so
  a web page open in the agent's browser cannot read the call's transcript;
  requests whose `Host` is not a loopback name are refused when bound to
  loopback (DNS rebinding), and so are `Sec-Fetch-Site: cross-site` fetches.

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
import json
import logging
import mimetypes
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from coach.errors import CoachError
from coach.paths import ui_root

log = logging.getLogger(__name__)

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
DROPPABLE = ("partial", "metrics")  # kinds a slow client may lose
MAX_RANGE = 1 << 20  # audio is served in ranges of at most 1 MiB: memory stays flat


@dataclass
class HubOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    ui_dir: Path = field(default_factory=ui_root)
    audio_path: Path | None = None  # replay: the recording, served at /audio for the timeline
    client_queue: int = 512  # messages waiting per client before droppable ones go
    backlog: int = 5000  # important messages kept for clients that connect later
    ping_interval_s: float = 10.0  # dead clients are found and closed by websocket pings


class _Client:
    def __init__(self, ws: ServerConnection, limit: int):
        self.ws = ws
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
    """Websocket + static HTTP server in a background thread (`start`, `publish`, `stop`)."""

    def __init__(self, options: HubOptions | None = None):
        self.options = options or HubOptions()
        self.clients: set[_Client] = set()
        self._backlog: deque[tuple[str, str]] = deque(maxlen=self.options.backlog)
        self._last_metrics: tuple[str, str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port = self.options.port
        self.sent = 0

    # -- lifecycle ---------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Hub:
        self._thread = threading.Thread(target=self._run, name="coach-hub", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise CoachError("websocket hub did not start")
        if self._error is not None:
            raise CoachError(
                f"cannot listen on {self.options.host}:{self.options.port}: {self._error} "
                "(another coach running? try --port)"
            ) from self._error
        return self

    @property
    def url(self) -> str:
        host = self.options.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{shown}:{self.port}/"

    def stop(self, flush_s: float = 2.0) -> None:
        """Stop serving; first give clients up to `flush_s` to receive what is queued."""
        if self._loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(flush_s), self._loop)
        try:
            fut.result(timeout=flush_s + 5)
        except Exception as exc:  # shutting down anyway
            log.debug("hub shutdown: %s", exc)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop = None

    def publish(self, message: dict[str, Any]) -> None:
        """Thread-safe and non-blocking: queue a message for every client (and the backlog)."""
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=_json_default)
        kind = _kind(message)
        loop = self._loop
        if loop is None:
            return
        loop.call_soon_threadsafe(self._fanout, kind, text)

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
            max_size=1 << 16, logger=logging.getLogger("coach.live.websockets"),
        )
        self.port = self._server.sockets[0].getsockname()[1] if opts.port == 0 else opts.port
        self._ready.set()
        await self._stopping.wait()

    async def _shutdown(self, flush_s: float) -> None:
        await self._drained(flush_s)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
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
        log.warning("client %s too slow: disconnected (it will get the backlog on reconnect)",
                    client.ws.remote_address)
        await client.ws.close(code=1013, reason="too slow, reconnect")

    async def _handler(self, ws: ServerConnection) -> None:
        backlog = list(self._backlog)
        if self._last_metrics is not None:
            backlog.append(self._last_metrics)
        # the backlog itself never counts against the live-traffic bound
        client = _Client(ws, self.options.client_queue + len(backlog))
        client.queue.extend(backlog)
        client.wakeup.set()
        self.clients.add(client)
        sender = asyncio.create_task(self._sender(client))
        try:
            async for _message in ws:  # the overlay sends nothing that matters; keep reading
                pass
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
        except Exception as exc:  # connection closed: the handler cleans up
            log.debug("sender for %s ended: %s", client.ws.remote_address, exc)

    # -- HTTP ------------------------------------------------------------------------------

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = request.headers
        path = unquote(urlsplit(request.path).path)
        host = (headers.get("Host") or "").strip()
        if self._loopback_only() and _hostname(host) not in LOOPBACK_NAMES:
            return connection.respond(403, "Forbidden: unexpected Host header\n")
        if headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
            return connection.respond(403, "Forbidden: cross-site request\n")
        if path == "/ws":
            origin = headers.get("Origin")
            if origin is not None and origin not in self._allowed_origins(host):
                log.warning("refused websocket from origin %s", origin)
                return connection.respond(403, "Forbidden: cross-origin websocket refused\n")
            return None  # go on with the websocket handshake
        if path == "/audio":
            return self._audio(headers)
        return self._static(path)

    def _loopback_only(self) -> bool:
        return self.options.host in LOOPBACK_NAMES

    def _allowed_origins(self, host: str) -> set[str]:
        port = self.port
        names = set(LOOPBACK_NAMES) | {self.options.host}
        allowed = {f"http://{n}:{port}" for n in names}
        if not self._loopback_only() and host:
            allowed.add(f"http://{host}")  # bound to a LAN address on purpose: its own page
        return allowed

    def _static(self, path: str) -> Response:
        root = self.options.ui_dir.resolve()
        rel = "index.html" if path in ("", "/") else path.lstrip("/")
        target = (root / rel).resolve()
        if root not in target.parents or not target.is_file():
            return _response(404, b"Not found\n", "text/plain; charset=utf-8")
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
            kind += "; charset=utf-8"
        return _response(200, target.read_bytes(), kind, extra=[
            ("Cache-Control", "no-cache"),
            ("Content-Security-Policy",
             "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self'; "
             "img-src 'self' data:; frame-ancestors 'none'"),
            ("X-Content-Type-Options", "nosniff"),
        ])

    def _audio(self, headers: Headers) -> Response:
        """The replayed recording, with Range support so the <audio> element can seek."""
        path = self.options.audio_path
        if path is None or not path.is_file():
            return _response(404, b"No audio in this session\n", "text/plain; charset=utf-8")
        size = path.stat().st_size
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind == "audio/x-wav":
            kind = "audio/wav"
        start, end = 0, min(size, MAX_RANGE) - 1
        status = 200
        wanted = headers.get("Range")
        if wanted and wanted.startswith("bytes="):
            first, _, last = wanted[6:].split(",")[0].partition("-")
            try:
                if first:
                    start = int(first)
                    end = int(last) if last else size - 1
                else:  # suffix range: the last N bytes
                    start, end = max(size - int(last), 0), size - 1
            except ValueError:
                return _response(416, b"", "text/plain", extra=[("Content-Range", f"bytes */{size}")])
            if start >= size or start > end:
                return _response(416, b"", "text/plain", extra=[("Content-Range", f"bytes */{size}")])
            end = min(end, size - 1, start + MAX_RANGE - 1)
            status = 206
        elif size > MAX_RANGE:
            status, end = 206, MAX_RANGE - 1  # browsers continue with Range requests
        with path.open("rb") as fh:
            fh.seek(start)
            body = fh.read(end - start + 1)
        extra = [("Accept-Ranges", "bytes"), ("Cache-Control", "no-cache")]
        if status == 206:
            extra.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        return _response(status, body, kind, extra=extra)


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


def _response(status: int, body: bytes, kind: str, extra: list[tuple[str, str]] | None = None) -> Response:
    headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))),
                       ("Connection", "close")])
    for key, value in extra or []:
        headers[key] = value
    reasons = {200: "OK", 206: "Partial Content", 403: "Forbidden", 404: "Not Found",
               416: "Range Not Satisfiable"}
    return Response(status, reasons.get(status, "OK"), headers, body)
