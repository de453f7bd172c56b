"""The body text check: a NUL byte, a ``\\u0000`` escape or half a surrogate pair is refused
however the body is cut into chunks and whatever its declared type, a blob's bytes pass, and a
literal backslash before ``u0000`` is text."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from labledger.server.middleware import CALLER, NoNulCharacters

_JSON = (b"content-type", b"application/json")


def _send_through(
    chunks: list[bytes],
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    method: str = "POST",
    path: str = "/api/v1/collections",
) -> tuple[int | None, bytes]:
    """``chunks`` as a request body through the middleware to an app that reads it all: the
    status the middleware answered (``None`` when the app got the body) and what the app read."""
    pending = list(chunks)
    read: list[bytes] = []
    answered: list[int] = []

    async def receive() -> dict[str, Any]:
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            read.append(message["body"])
            if not message["more_body"]:
                return

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": headers if headers is not None else [_JSON],
    }
    asyncio.run(NoNulCharacters(app)(scope, receive, send))
    return (answered[0] if answered else None), b"".join(read)


def _cuts(body: bytes) -> list[list[bytes]]:
    return [[body[:cut], body[cut:]] for cut in range(1, len(body))] + [[bytes([b]) for b in body]]


@pytest.mark.parametrize(
    "text",
    [
        "x\\u0000",  # a NUL
        "x\\\\\\u0000",  # an escaped backslash, then a NUL
        "x\\ud800",  # half a pair, alone
        "x\\ud83dy",  # a first half with no second
        "x\\ude00",  # a second half with no first
        "\\ude00\\ud83d",  # the halves the wrong way round
        "\\\\ud83d\\ude00",  # a literal backslash, text, then a second half alone
        "\\ud83d\\ud83d",  # two first halves
    ],
)
def test_bad_text_is_refused_wherever_the_chunks_are_cut(text: str) -> None:
    body = ('{"name": "' + text + '"}').encode()
    for chunks in _cuts(body):
        status, read = _send_through(chunks)
        assert status == 400 and read == b"", chunks


@pytest.mark.parametrize(
    "text",
    [
        "x\\\\u0000",  # a literal backslash, then the text u0000
        "x\\\\ud800",
        "\\ud83d\\ude00",  # both halves: one character
        "plain \u00e9 text",
    ],
)
def test_good_text_reaches_the_route_unchanged(text: str) -> None:
    body = ('{"name": "' + text + '"}').encode()
    json.loads(body)  # a body any JSON reader takes
    for chunks in _cuts(body)[:5]:
        assert _send_through(chunks) == (None, body)


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-type", b"application/octet-stream")],
        [(b"content-type", b"application/octet-stream+json")],
        [_JSON, (b"content-type", b"application/octet-stream")],
        [],
    ],
)
def test_only_a_blob_upload_passes_unscanned(headers: list[tuple[bytes, bytes]]) -> None:
    body = b'{"name": "x\\u0000y"}'
    assert _send_through([body], headers=headers)[0] == 400
    raw = b"\x00\\u0000\\ud800 raw bytes"
    upload = _send_through([raw], headers=headers, method="PUT", path="/api/v1/blobs/blake3:ab")
    assert upload == (None, raw)


def test_a_body_in_utf16_is_refused_for_its_nul_bytes() -> None:
    assert _send_through(['{"name": "x"}'.encode("utf-16")])[0] == 400


def test_a_long_run_of_backslashes_is_read_in_one_pass() -> None:
    even = b'{"a": "' + b"\\" * 2_000_000 + b'u0000"}'  # literal backslashes, then text
    assert _send_through([even[i : i + 65536] for i in range(0, len(even), 65536)])[0] is None
    odd = b'{"a": "' + b"\\" * 1_999_999 + b'u0000"}'  # the last one begins an escape
    assert _send_through([odd])[0] == 400


def test_a_path_outside_the_api_is_not_read_here() -> None:
    body = b'{"name": "x\\u0000y"}'
    assert _send_through([body], path="/nothere") == (None, body)


def test_a_body_that_trickles_in_is_answered_408() -> None:
    answered: list[int] = []

    async def slow() -> dict[str, Any]:
        await asyncio.sleep(5)
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def app(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - not reached
        raise AssertionError("the route got a body that never came")

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            answered.append(message["status"])

    scope = {"type": "http", "method": "POST", "path": "/api/v1/runs", "query_string": b"",
             "headers": [_JSON]}  # fmt: skip
    asyncio.run(NoNulCharacters(app, read_timeout_s=0.05)(scope, slow, send))
    assert answered == [408]


def test_bodies_past_a_callers_share_are_answered_503_and_others_pass() -> None:
    # Three slow 40-byte bodies of one caller against a 100-byte share: the third is refused
    # (busy, try again) while the first two are held; another caller's body still passes.
    answered: dict[bytes, list[int]] = {}
    reached: list[bytes] = []
    release = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        reached.append(dict(scope["headers"])[b"authorization"])
        await release.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = NoNulCharacters(app, held_bytes=1000, held_bytes_per_caller=100)

    async def request(token: bytes) -> None:
        parts = [b'{"a": "' + b"x" * 30, b'"}' + b" " * 3]

        async def receive() -> dict[str, Any]:
            await asyncio.sleep(0)
            part = parts.pop(0)
            return {"type": "http.request", "body": part, "more_body": bool(parts)}

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                answered.setdefault(token, []).append(message["status"])
                assert message["status"] != 503 or (b"retry-after", b"1") in message["headers"]

        scope = {"type": "http", "method": "POST", "path": "/api/v1/runs/search",
                 "query_string": b"", "headers": [_JSON, (b"authorization", token)],
                 CALLER: f"user:{token.decode()}"}  # as NeedsToken leaves it  # fmt: skip
        await middleware(scope, receive, send)

    async def scenario() -> None:
        held = [asyncio.create_task(request(b"Bearer m")) for _ in range(3)]
        other = asyncio.create_task(request(b"Bearer a"))
        while len(reached) < 3:
            await asyncio.sleep(0.001)
        release.set()
        await asyncio.gather(*held, other)

    asyncio.run(scenario())
    assert sorted(answered[b"Bearer m"]) == [204, 204, 503]
    assert answered[b"Bearer a"] == [204]
    assert middleware.held.total == 0 and middleware.held.by_caller == {}


def test_needs_token_names_the_user_not_the_header_as_the_caller() -> None:
    from labledger.server.middleware import NeedsToken

    seen: list[object] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope.get(CALLER))

    users = {"t1": "user:ada", "t2": "user:ada", "t3": "user:bob"}
    middleware = NeedsToken(
        app,
        enabled=True,
        open_paths=frozenset({"/api/v1/sessions"}),
        known=lambda secret: secret in users,
        check=lambda secret: False,
        who=lambda secret: users[secret],
    )

    async def call(path: str, authorization: bytes) -> None:
        scope = {"type": "http", "method": "POST", "path": path, "query_string": b"",
                 "headers": [_JSON, (b"authorization", authorization)]}  # fmt: skip

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: Any) -> None:
            pass

        await middleware(scope, receive, send)

    for header in (b"Bearer t1", b"bearer   t1 ", b"Bearer t2", b"Bearer t3"):
        asyncio.run(call("/api/v1/runs/search", header))
    # Signing in checks no token: whatever the header says, the caller is nobody in particular.
    asyncio.run(call("/api/v1/sessions", b"Bearer junk-1"))
    assert seen == ["user:ada", "user:ada", "user:ada", "user:bob", None]


def test_large_bodies_are_handed_on_a_few_at_a_time() -> None:
    inside: list[int] = []
    answered: list[int] = []
    release = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        inside.append(1)
        await release.wait()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = NoNulCharacters(app)
    middleware.LARGE, middleware.LARGE_AT_ONCE, middleware.LARGE_WAIT_S = 100, 1, 0.05

    async def request(body: bytes) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Any) -> None:
            if message["type"] == "http.response.start":
                answered.append(message["status"])

        scope = {"type": "http", "method": "POST", "path": "/api/v1/runs/search",
                 "query_string": b"", "headers": [_JSON]}  # fmt: skip
        await middleware(scope, receive, send)

    async def scenario() -> None:
        big, small = b'{"a": "' + b"x" * 200 + b'"}', b'{"a": 1}'
        first = asyncio.create_task(request(big))
        while not inside:
            await asyncio.sleep(0)
        # While one large body is in, another waits and is told busy; a small one goes in.
        await request(big)
        small_one = asyncio.create_task(request(small))
        while len(inside) < 2:
            await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, small_one)

    asyncio.run(scenario())
    assert answered == [503, 204, 204]
    assert middleware.held.total == 0


def test_a_request_whose_client_left_before_the_answer_is_logged_499(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from labledger.server.middleware import RequestIds

    async def gone(scope: Any, receive: Any, send: Any) -> None:
        return  # the client went away mid-body: nothing to answer

    async def fails(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        pass

    scope = {"type": "http", "method": "POST", "path": "/api/v1/runs", "query_string": b"",
             "headers": []}  # fmt: skip
    with caplog.at_level("INFO", logger="labledger.server"):
        asyncio.run(RequestIds(gone)(dict(scope), receive, send))
        with pytest.raises(RuntimeError):
            asyncio.run(RequestIds(fails)(dict(scope), receive, send))
    assert [r.status for r in caplog.records if r.message == "request"] == [499, 500]
