"""The overlay server's plain-HTTP side: the page's files, the replayed recording, the local API.

The server is websockets' (coach.live.hub); what is not the websocket
handshake is answered here, from the request line and headers alone:

    GET/HEAD  /, /app.js, ...          the overlay's static files
    GET/HEAD  /audio                   the replayed recording, in byte ranges
    GET       /api/state               what is running
    POST      /api/call/start?agent=A&call_id=C
    POST      /api/call/end
    POST      /api/feedback?rule=R&start=12.3[&call_id=C|&number=N]
    POST      /api/name?name=Николай          the customer's name (a CRM knows it)

Fields travel in the query string, the way softphones and CRMs fire their
"call started" URL templates; a request body is not read (the websocket
server refuses requests that carry one). Other methods get 405 with an
`Allow` header, HEAD gets the headers without the body, and a malformed path
(a NUL byte...) gets 400, all without a traceback anywhere.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Response

MAX_RANGE = 1 << 20  # audio is served in ranges of at most 1 MiB: memory stays flat
REASONS = {200: "OK", 206: "Partial Content", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           416: "Range Not Satisfiable", 500: "Internal Server Error", 503: "Service Unavailable",
           504: "Gateway Timeout", 507: "Insufficient Storage"}
CSP = ("default-src 'self'; connect-src 'self' ws: wss:; media-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'")
API_FIELDS = {
    "/api/call/start": ("agent", "call_id"),
    "/api/call/end": (),
    "/api/feedback": ("rule", "start", "category", "number", "call_id"),
    "/api/name": ("name",),
}


def response(status: int, body: bytes = b"", kind: str = "text/plain; charset=utf-8",
             extra: list[tuple[str, str]] | None = None, head: bool = False) -> Response:
    """A complete response; with `head`, the same headers and no body."""
    headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))),
                       ("Connection", "close")])
    for key, value in extra or []:
        headers[key] = value
    return Response(status, REASONS.get(status, "OK"), headers, b"" if head else body)


def text(status: int, message: str, **kw: Any) -> Response:
    return response(status, message.encode("utf-8"), **kw)


def json_response(status: int, data: dict[str, Any]) -> Response:
    return response(status, json.dumps(data, ensure_ascii=False).encode("utf-8"),
                    "application/json; charset=utf-8")


def split_path(raw: str) -> tuple[str, dict[str, str]] | None:
    """(decoded path, query fields) of a request target; None when it is malformed."""
    try:
        parts = urlsplit(raw)
        path = unquote(parts.path, errors="strict")
    except (ValueError, UnicodeDecodeError):
        return None
    if "\x00" in raw or "\x00" in path or "\ufffd" in path:
        return None
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return path or "/", query


def allowed_methods(path: str) -> tuple[str, ...]:
    if path in API_FIELDS:
        return ("POST",)
    if path.startswith("/api/"):
        return ("GET",) if path == "/api/state" else ()
    return ("GET", "HEAD")


def static_file(root: Path, path: str, head: bool) -> Response:
    root = root.resolve()
    rel = "index.html" if path in ("", "/") else path.lstrip("/")
    try:
        target = (root / rel).resolve()
        found = root in target.parents and target.is_file()
    except (OSError, ValueError):
        return text(400, "Bad Request: malformed path\n")
    if not found:
        return text(404, "Not found\n")
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
        kind += "; charset=utf-8"
    return response(200, target.read_bytes(), kind, head=head, extra=[
        ("Cache-Control", "no-cache"), ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
    ])


def audio_range(path: Path | None, headers: Headers, head: bool) -> Response:
    """The replayed recording, with Range support so the <audio> element can seek."""
    if path is None or not path.is_file():
        return text(404, "No audio in this session\n")
    size = path.stat().st_size
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if kind == "audio/x-wav":
        kind = "audio/wav"
    start, end, status = 0, min(size, MAX_RANGE) - 1, 200
    wanted = headers.get("Range")
    if head and not wanted:  # what a GET of the whole file would be, without reading it
        reply = response(200, b"", kind, extra=[("Accept-Ranges", "bytes"), ("Cache-Control", "no-cache")])
        reply.headers["Content-Length"] = str(size)
        return reply
    unsatisfiable = [("Content-Range", f"bytes */{size}")]
    if wanted and wanted.startswith("bytes="):
        first, _, last = wanted[6:].split(",")[0].partition("-")
        try:
            if first:
                start = int(first)
                end = int(last) if last else size - 1
            else:  # suffix range: the last N bytes
                start, end = max(size - int(last), 0), size - 1
        except ValueError:
            return response(416, extra=unsatisfiable)
        if start >= size or start > end:
            return response(416, extra=unsatisfiable)
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
    return response(status, body, kind, extra=extra, head=head)


def api_command(path: str, query: dict[str, str]) -> dict[str, Any]:
    """The command an API request asks for, from its query fields (unknown fields ignored)."""
    fields = {k: query[k] for k in API_FIELDS[path] if k in query}
    if path == "/api/feedback":
        return {"type": "feedback", "via": "api", **fields}
    if path == "/api/name":
        return {"type": "name", "via": "api", **fields}
    action = "start" if path.endswith("/start") else "end"
    return {"type": "call", "action": action, "via": "api", **fields}


def hostname(host: str) -> str:
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def cookie_value(headers: Headers, name: str) -> str | None:
    for header in headers.get_all("Cookie"):
        for part in header.split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
    return None
