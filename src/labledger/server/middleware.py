"""ASGI middleware: a request id on every request and response (and log line), a body limit, and
no NUL character in a request's path, query string or JSON body."""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import ValidationError
from labledger._foundation.ids import new_id
from labledger.server.errors import RequestTooLargeError, error_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "NeedsToken", "NoNulCharacters", "RequestIds"]

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_log = logging.getLogger("labledger.server")


class RequestIds:
    """Give each request an id (the client's ``X-Request-ID`` when it is sane), echo it in the
    response, and log one structured line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = given if _SAFE_ID.match(given) else new_id()
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            _log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "path": scope.get("path"),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user": state.get("user_name"),
                    "client": client[0] if client else None,
                },
            )


class NeedsToken:
    """Where every route but signing in needs a token, answer 401 to a request that sends a body
    under ``/api/v1/`` without one, before anything reads its body (what the token itself is worth
    is the routes' to judge): nobody without a token makes the server parse megabytes."""

    _READS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app: ASGIApp, *, enabled: bool, open_paths: frozenset[str]) -> None:
        self.app = app
        self.enabled = enabled
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.enabled
            and scope["type"] == "http"
            and scope.get("method") not in self._READS
            and str(scope.get("path", "")).startswith("/api/v1/")
            and scope.get("path") not in self.open_paths
            and not any(k == b"authorization" for k, _ in scope["headers"])
        ):
            response = error_response(
                401,
                "unauthenticated",
                "this server needs an API token",
                "send `Authorization: Bearer <token>`; make one with `labledger tokens create`",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse request bodies over the limit with 413, by header or while they stream in.

    Blob uploads (``PUT`` under ``upload_prefix``) have their own limit, ``upload_bytes``: a
    blob may be gigabytes where a JSON body is at most a few megabytes.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        upload_bytes: int | None = None,
        upload_prefix: str = "/api/v1/blobs/",
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = max_bytes if upload_bytes is None else upload_bytes
        self.upload_prefix = upload_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_upload = scope.get("method") == "PUT" and str(scope.get("path", "")).startswith(
            self.upload_prefix
        )
        limit = self.upload_bytes if is_upload else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = error_response(413, "too_large", *self._words(limit, is_upload=is_upload))
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    message_text, hint = self._words(limit, is_upload=is_upload)
                    raise RequestTooLargeError(message_text, hint=hint)
            return message

        await self.app(scope, limited, send)

    @staticmethod
    def _words(limit: int, *, is_upload: bool) -> tuple[str, str]:
        if is_upload:
            return (
                f"the blob is larger than the server's upload limit of {limit} bytes",
                "ask the server's administrator to raise --max-upload-mb",
            )
        return (
            f"the request body is larger than {limit} bytes",
            "send less per request, or raise the server's body limit",
        )


class NoNulCharacters:
    """Refuse a NUL character (U+0000) with 400: in the path or the query string (``%00``) before
    any route sees it, and in a request body that is not a blob's bytes as the body streams in:
    the JSON escape ``\\u0000``, or a NUL byte (a JSON body is UTF-8 text, where it has no place;
    UTF-16 and UTF-32 text is full of them, and is refused too).

    No name, id, reference, filter or JSON field labledger keeps may hold one, and PostgreSQL's
    text type cannot store one at all; refusing it here gives every route, on every catalog, the
    same clear answer (a SQLite catalog would otherwise keep what a PostgreSQL one refuses). Blob
    uploads (``PUT`` under ``/api/v1/blobs/``, or a body sent as ``application/octet-stream`` by
    the first ``Content-Type`` header, the one the routes read) are bytes and pass untouched. The
    scan costs the same for every byte, whatever the body holds.
    """

    def __init__(self, app: ASGIApp, *, upload_prefix: str = "/api/v1/blobs/") -> None:
        self.app = app
        self.upload_prefix = upload_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _holds_nul(scope):
            response = error_response(
                400,
                "validation",
                "the request's path or query string holds a NUL character (%00)",
                "remove the NUL character from the name, id or value in the URL",
            )
            await response(scope, receive, send)
            return
        if self._is_bytes(scope):
            await self.app(scope, receive, send)
            return
        scan = _NulScan()

        async def scanned() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                scan.feed(message.get("body", b""))
            return message

        await self.app(scope, scanned, send)

    def _is_bytes(self, scope: Scope) -> bool:
        if scope.get("method") == "PUT" and str(scope.get("path", "")).startswith(
            self.upload_prefix
        ):
            return True
        first = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
        media = first.split(b";", 1)[0].strip().lower()
        return media == b"application/octet-stream" or media.startswith(b"multipart/")


_JSON_NUL = b"\\u0000"
# The escape itself, not a literal backslash before "u0000": an even run of backslashes before it.
_JSON_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class _NulScan:
    """A body's bytes, chunk by chunk: raises on a NUL byte or a ``\\u0000`` escape, even one
    split across chunks. Between chunks it keeps the last five bytes and whether the run of
    backslashes right before them is odd (as one backslash), so each byte is looked at a bounded
    number of times."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        if b"\x00" in chunk:
            raise ValidationError(
                "the request body holds a NUL byte: a JSON body is UTF-8 text, with no NUL "
                "character in it",
                hint="send the body as UTF-8 JSON; a blob's bytes go to PUT /api/v1/blobs/{digest}",
            )
        data = self._tail + chunk
        if _JSON_NUL in data and _JSON_NUL_ESCAPE.search(data):
            raise ValidationError(
                "the request's JSON body holds a NUL character (\\u0000)",
                hint="remove the NUL character from the names and values sent",
            )
        start = max(len(data) - 5, 0)
        run = start - len(data[:start].rstrip(b"\\"))  # backslashes right before the tail
        self._tail = (b"\\" if run % 2 else b"") + data[start:]


def _holds_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    raw_path: bytes = scope.get("raw_path") or b""
    return (
        "\x00" in str(scope.get("path", ""))
        or b"%00" in raw_path
        or b"%00" in query
        or b"\x00" in query
    )
