"""ASGI middleware: a request id on every request and response (and log line), a body limit, and
no NUL character in a request's path or query string."""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

from labledger._foundation.ids import new_id
from labledger.server.errors import RequestTooLargeError, error_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "NoNulCharacters", "RequestIds"]

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
    """Refuse a NUL character (U+0000, sent as ``%00``) in the path or the query string with 400,
    before any route sees it.

    No name, id, reference or filter labledger keeps may hold one, and PostgreSQL's text type cannot
    store one at all; refusing it here gives every route the same clear answer. (A NUL inside a
    JSON body is refused where it would be written: the workspace turns the database's refusal
    into the same error.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _holds_nul(scope):
            response = error_response(
                400,
                "validation",
                "the request's path or query string holds a NUL character (%00)",
                "remove the NUL character from the name, id or value in the URL",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _holds_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    raw_path: bytes = scope.get("raw_path") or b""
    return (
        "\x00" in str(scope.get("path", ""))
        or b"%00" in raw_path
        or b"%00" in query
        or b"\x00" in query
    )
