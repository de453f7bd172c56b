"""ASGI middleware: a request id on every request and response (and log line), a body limit, and
no NUL character in a request's path, query string or JSON body."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from labledger._foundation.errors import LabledgerError, ValidationError
from labledger._foundation.ids import new_id
from labledger.server.errors import (
    RequestTimeoutError,
    RequestTooLargeError,
    ServerBusyError,
    error_response,
    status_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CALLER",
    "BodiesHeld",
    "BodyLimit",
    "NeedsToken",
    "NoNulCharacters",
    "RequestIds",
    "check_body_text",
]

REQUEST_ID_HEADER = "x-request-id"
CALLER = "labledger.caller"  # the scope key NeedsToken leaves who sent a request under
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
        # Unanswered when the app fails (the error handler outside answers 500), or 499 (as
        # proxies log it) when it returns without an answer: the client went away first.
        status, answered = 500, False

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
            if not answered:
                status = 499
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
    under ``/api/v1/`` without a valid one, before anything reads its body: nobody without a token
    makes the server parse megabytes. ``known`` says from memory whether a token is valid (the
    routes' access cache), ``check`` asks the catalog (run on a worker thread); what the user may
    do remains the routes' to judge.

    A single-user server (``enabled`` false) needs tokens from the moment its workspace has users:
    ``users_known`` says from memory whether there are users (``None``: not known), and
    ``users_exist`` asks the catalog, on a worker thread.

    A request whose token it checked carries who sent it in ``scope[CALLER]`` (``who`` of the
    token: its user's id), which ``NoNulCharacters`` bounds the memory of; any other request
    (signing in, a single-user server) is nobody's: ``""``.
    """

    _READS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(
        self,
        app: ASGIApp,
        *,
        enabled: bool,
        open_paths: frozenset[str],
        known: Callable[[str], bool],
        check: Callable[[str], bool],
        users_known: Callable[[], bool | None] | None = None,
        users_exist: Callable[[], bool] | None = None,
        who: Callable[[str], str] | None = None,
    ) -> None:
        self.app = app
        self.enabled = enabled
        self.open_paths = open_paths
        self.known, self.check = known, check
        self.users_known, self.users_exist = users_known, users_exist
        self.who = who or (lambda secret: secret)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope.get("method") not in self._READS
            and str(scope.get("path", "")).startswith("/api/v1/")
            and scope.get("path") not in self.open_paths
            and await self._needs_token()
        ):
            secret = await self._valid(scope)
            if secret is None:
                response = error_response(
                    401,
                    "unauthenticated",
                    "this server needs a valid API token",
                    "send `Authorization: Bearer <token>`; make one with `labledger tokens create`",
                )
                await response(scope, receive, send)
                return
            scope[CALLER] = self.who(secret)
        await self.app(scope, receive, send)

    async def _needs_token(self) -> bool:
        if self.enabled:
            return True
        if self.users_known is None or self.users_exist is None:
            return False
        known = self.users_known()
        if known is not None:
            return known
        return bool(await run_in_threadpool(self.users_exist))

    async def _valid(self, scope: Scope) -> str | None:
        """The request's token when it is valid, else ``None``."""
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if header is None:
            return None
        scheme, _, given = bytes(header).decode("latin-1").partition(" ")
        secret = given.strip()
        if scheme.lower() != "bearer" or not secret:
            return None
        if self.known(secret) or await run_in_threadpool(self.check, secret):
            return secret
        return None


class BodyLimit:
    """Refuse request bodies over the limit with 413, by header or while they stream in.

    Blob uploads (``PUT`` under ``upload_prefix``) have their own limit, ``upload_bytes``: a
    blob may be gigabytes where a JSON body is at most a few megabytes. The paths in ``small``
    (signing in, which anyone may call) have a lower one of their own.

    Before answering 413 the server reads and drops what is left of the body, up to
    ``DRAIN_BYTES`` more and for at most ``DRAIN_S`` seconds. A server that answers and closes
    with the body unread resets the connection, and a client still sending sees "broken pipe"
    instead of the answer saying why. A body larger than that is answered at once and the
    connection closed: reading gigabytes only to refuse them would cost more than the clear word.
    """

    DRAIN_BYTES = 8 * 1024 * 1024
    DRAIN_S = 10.0

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        upload_bytes: int | None = None,
        upload_prefix: str = "/api/v1/blobs/",
        small: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.small = dict(small or {})  # paths whose bodies are smaller: signing in
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
        limit = min(limit, self.small.get(str(scope.get("path", "")), limit))
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            read = int(declared) <= limit + self.DRAIN_BYTES and await self._drain(
                receive, self.DRAIN_BYTES + limit
            )
            # A body left unread ends the connection: nothing else can follow it on there.
            headers = None if read else {"Connection": "close"}
            words = self._words(limit, is_upload=is_upload)
            await error_response(413, "too_large", *words, headers)(scope, receive, send)
            return
        seen = 0
        cut = False  # a refused body's rest is still coming: the connection ends with the answer

        async def limited() -> Message:
            nonlocal seen, cut
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    if message.get("more_body", False):
                        cut = not await self._drain(receive, self.DRAIN_BYTES)
                    message_text, hint = self._words(limit, is_upload=is_upload)
                    raise RequestTooLargeError(message_text, hint=hint)
            return message

        async def closing(message: Message) -> None:
            if cut and message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, limited, closing)

    async def _drain(self, receive: Receive, budget: int) -> bool:
        """Read and drop the rest of a refused body, ``budget`` bytes and ``DRAIN_S`` at most:
        whether it was all read."""

        async def read() -> bool:
            left = budget
            while left >= 0:
                message = await receive()
                if message["type"] != "http.request":
                    return False
                left -= len(message.get("body", b""))
                if not message.get("more_body", False):
                    return True
            return False

        try:
            return await asyncio.wait_for(read(), timeout=self.DRAIN_S)
        except TimeoutError:
            return False

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
    """Refuse text no catalog can keep, with 400, before any route sees it: a NUL character
    (U+0000) in the path or the query string (``%00``), and in a request body to ``/api/v1/``
    that is not a blob's bytes, a NUL byte, the JSON escape ``\\u0000``, or the escape of half a
    UTF-16 surrogate pair (``\\ud800`` alone).

    No name, id, reference, filter or JSON field labledger keeps may hold a NUL, and PostgreSQL's
    text type cannot store one at all; half a surrogate pair is no character, and a server that
    kept one could not write it back as UTF-8. Refusing them here gives every route, on every
    catalog, the same clear answer. A JSON body is UTF-8 text, where a NUL byte has no place
    (UTF-16 and UTF-32 text is full of them, and is refused too).

    The body is read whole here (within the body limit, which wraps this, and within
    ``read_timeout_s``: a body that trickles in is answered 408) and handed on as one piece; a
    large one is checked on a worker thread, so the event loop keeps answering others. What the
    bodies in flight hold is bounded (``BodiesHeld``), and at most ``LARGE_AT_ONCE`` bodies over
    ``LARGE`` are handed on at a time (503 ``busy`` after ``LARGE_WAIT_S``). Paths
    outside ``/api/v1/`` take no body and are not read; blob uploads (``PUT`` under
    ``/api/v1/blobs/``) are bytes and stream through untouched.
    """

    _NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})
    _ON_A_THREAD = 256 * 1024  # bodies larger than this are checked off the event loop
    # A body this large is handed on only while fewer than LARGE_AT_ONCE others are: read as
    # JSON it becomes Python objects of up to twenty times its size.
    LARGE = 1024 * 1024
    LARGE_AT_ONCE = 2
    LARGE_WAIT_S = 30.0

    def __init__(
        self,
        app: ASGIApp,
        *,
        upload_prefix: str = "/api/v1/blobs/",
        read_timeout_s: float = 60.0,
        held_bytes: int = 512 * 1024 * 1024,
        held_bytes_per_caller: int = 64 * 1024 * 1024,
    ) -> None:
        self.app = app
        self.upload_prefix = upload_prefix
        self.read_timeout_s = read_timeout_s
        self.held = BodiesHeld(held_bytes, held_bytes_per_caller)
        self._large: asyncio.Semaphore | None = None  # made on the event loop, when first used

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
        method, path = scope.get("method"), str(scope.get("path", ""))
        if (
            method in self._NO_BODY
            or not path.startswith("/api/v1/")
            or (method == "PUT" and path.startswith(self.upload_prefix))
        ):
            await self.app(scope, receive, send)
            return
        caller = _caller(scope)
        try:
            try:
                body = await self._read(receive, caller)
                if body is None:
                    return  # the client went away before its body was all here
                if len(body) > self._ON_A_THREAD:
                    await run_in_threadpool(check_body_text, body)
                else:
                    check_body_text(body)
            except LabledgerError as exc:
                status, code = status_of(exc)
                headers = {"Retry-After": "1"} if isinstance(exc, ServerBusyError) else None
                response = error_response(status, code, exc.message, exc.hint, headers)
                await response(scope, receive, send)
                return
            handed = False

            async def replay() -> Message:
                nonlocal handed
                if not handed:
                    handed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self._hand_on(scope, replay, send, large=len(body) > self.LARGE)
        finally:
            self.held.release(caller)

    async def _hand_on(self, scope: Scope, receive: Receive, send: Send, *, large: bool) -> None:
        """Call the app; for a ``large`` body, once fewer than ``LARGE_AT_ONCE`` others are in."""
        if not large:
            await self.app(scope, receive, send)
            return
        if self._large is None:
            self._large = asyncio.Semaphore(self.LARGE_AT_ONCE)
        try:
            await asyncio.wait_for(self._large.acquire(), self.LARGE_WAIT_S)
        except TimeoutError:
            busy = ServerBusyError(
                "the server is reading as many large request bodies as it takes at once",
                hint="send again in a moment (labledger's client does), or send smaller bodies",
            )
            headers = {"Retry-After": "1"}
            await error_response(503, busy.code, busy.message, busy.hint, headers)(
                scope, receive, send
            )
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._large.release()

    async def _read(self, receive: Receive, caller: str) -> bytes | None:
        """The whole body, or ``None`` when the client disconnected.

        Raises:
            RequestTimeoutError: It did not all arrive within ``read_timeout_s``.
            ServerBusyError: Bodies in flight hold too much memory (``BodiesHeld``).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_timeout_s
        parts: list[bytes] = []
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.001))
            except TimeoutError:
                raise RequestTimeoutError(
                    f"the request body did not arrive within {self.read_timeout_s:.0f} seconds",
                    hint="send the body at once; large files go to PUT /api/v1/blobs/{digest}",
                ) from None
            if message["type"] != "http.request":
                return None
            part = message.get("body", b"")
            self.held.take(caller, len(part))
            parts.append(part)
            if not message.get("more_body", False):
                return b"".join(parts)


def _caller(scope: Scope) -> str:
    """Who sends a request, for ``BodiesHeld``: the user ``NeedsToken`` checked the token of, or
    ``""`` for every request it did not check (signing in, a single-user server)."""
    return str(scope.get(CALLER, ""))


class BodiesHeld:
    """The bytes of request bodies read and not yet answered, in all and by caller, kept under
    ``limit`` and ``per_caller``.

    A body is read whole before its route runs, and a caller may send it slowly: without a bound,
    a few hundred large bodies sent at a crawl would hold gigabytes of the server's memory. Past
    either bound the request is answered 503 (``busy``, ``Retry-After: 1``), which labledger's
    client waits on and sends again. A caller is a user (however many tokens they hold); every
    request no token was checked for counts as one caller, ``""``, whose share is what the
    sign-in route's small bodies may hold. Runs on the event loop only, so plain counters do.
    """

    def __init__(self, limit: int, per_caller: int) -> None:
        self.limit, self.per_caller = limit, per_caller
        self.total = 0
        self.by_caller: dict[str, int] = {}
        self._taken: dict[int, int] = {}

    def take(self, caller: str, size: int) -> None:
        """Count ``size`` more bytes for the request in progress of ``caller``.

        Raises:
            ServerBusyError: That would pass a bound (nothing more is counted).
        """
        held = self.by_caller.get(caller, 0)
        if self.total + size > self.limit or held + size > self.per_caller:
            mine = held + size > self.per_caller
            raise ServerBusyError(
                "the server holds too many request bodies "
                + ("of yours " if mine else "")
                + "still arriving or being answered",
                hint="send again in a moment (labledger's client does); send fewer large "
                "bodies at once",
            )
        self.total += size
        self.by_caller[caller] = held + size
        task = id(asyncio.current_task())
        self._taken[task] = self._taken.get(task, 0) + size

    def release(self, caller: str) -> None:
        """Forget what the request in progress (this task) counted."""
        size = self._taken.pop(id(asyncio.current_task()), 0)
        if not size:
            return
        self.total -= size
        left = self.by_caller.get(caller, 0) - size
        if left > 0:
            self.by_caller[caller] = left
        else:
            self.by_caller.pop(caller, None)


# A NUL escape, or a surrogate escape with the low half that may follow it: a literal prefix, so
# the search jumps from backslash to backslash. Whether each is an escape at all (the backslash
# runs before it) and whether the halves pair up are judged for each match.
_CANDIDATE = re.compile(
    rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?)"
)
_BACKSLASH = 0x5C


def check_body_text(body: bytes) -> None:
    """Refuse a request body that holds a NUL byte, or a JSON escape of a NUL character or of
    half a surrogate pair. Linear in the body's size.

    Raises:
        ValidationError: It does; the message says which.
    """
    if b"\x00" in body:
        raise ValidationError(
            "the request body holds a NUL byte: a JSON body is UTF-8 text, with no NUL "
            "character in it",
            hint="send the body as UTF-8 JSON; a blob's bytes go to PUT /api/v1/blobs/{digest}",
        )
    if b"\\u" not in body:
        return
    for found in _CANDIDATE.finditer(body):
        start, text = found.start(), found.group()
        run = 0  # backslashes right before it: an odd run makes this one a literal backslash
        while start - run > 0 and body[start - run - 1] == _BACKSLASH:
            run += 1
        if run % 2:
            if len(text) == 12:  # "\\ud83d" is text; the second half after it is alone
                _refuse_escape(text[6:])
            continue
        if text.endswith(b"0000"):
            raise ValidationError(
                "the request's JSON body holds a NUL character (\\u0000)",
                hint="remove the NUL character from the names and values sent",
            )
        high = text[3:4].lower() in b"89ab"
        if len(text) == 6 or not high:  # a half alone (a second half starts no pair)
            _refuse_escape(text[:6])


def _refuse_escape(escape: bytes) -> None:
    raise ValidationError(
        "the request's JSON body holds half a UTF-16 surrogate pair "
        f"({escape.decode('ascii')} without its other half): no character",
        hint="send text as UTF-8, or escape a character outside the BMP as both halves",
    )


def _holds_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    raw_path: bytes = scope.get("raw_path") or b""
    return (
        "\x00" in str(scope.get("path", ""))
        or b"%00" in raw_path
        or b"%00" in query
        or b"\x00" in query
    )
