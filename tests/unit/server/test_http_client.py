"""The HTTP client: errors raised again by their code, retries only where a second try is safe,
a hint to log in on 401, pages followed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from labledger._foundation import errors
from labledger._foundation.errors import (
    AuthenticationError,
    ConfigurationError,
    LabledgerError,
    StoreUnavailableError,
    ValidationError,
)
from labledger.server.errors import status_of
from labledger.stores.metadata import MetadataField
from labledger.workspace.http.client import Client
from labledger.workspace.http.metadata import HttpMetadataStore

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

URL = "http://server.test:8080"


def _classes() -> Iterator[type[LabledgerError]]:
    pending: list[type[LabledgerError]] = [LabledgerError]
    while pending:
        cls = pending.pop()
        if cls.__module__ == errors.__name__:
            yield cls
        pending.extend(cls.__subclasses__())


def _client(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> Client:
    return Client(URL, transport=httpx.MockTransport(handler), backoff_s=0.0, **kwargs)


def _error(status: int, code: str, message: str = "boom", hint: str | None = "do x") -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"code": code, "message": message, "hint": hint})

    return handler


@pytest.mark.parametrize("cls", sorted(_classes(), key=lambda c: c.code), ids=lambda c: c.code)
def test_each_error_code_raises_its_own_class_with_message_and_hint(
    cls: type[LabledgerError],
) -> None:
    error = cls.__new__(cls)
    LabledgerError.__init__(error, "boom", hint="do x")
    status, code = status_of(error)
    client = _client(_error(status, code))
    with pytest.raises(cls) as raised:
        client.call("GET", "/api/v1/anything", model=dict)
    assert type(raised.value) is cls
    assert raised.value.message == "boom"
    if cls is not AuthenticationError:
        assert raised.value.hint == "do x"


def test_401_says_how_to_log_in() -> None:
    client = _client(_error(401, "unauthenticated", "this server needs an API token"))
    with pytest.raises(AuthenticationError) as raised:
        client.call("GET", "/api/v1/me", model=dict)
    assert raised.value.message == "this server needs an API token"
    assert f"labledger login {URL}" in (raised.value.hint or "")
    assert "LABLEDGER_TOKEN" in (raised.value.hint or "")


def test_401_with_a_token_from_the_environment_says_that_token_is_the_one_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LABLEDGER_TOKEN", "lle_bogus")
    client = _client(_error(401, "unauthenticated", "the API token is not valid"))
    with pytest.raises(AuthenticationError) as raised:
        client.call("GET", "/api/v1/me", model=dict)
    hint = raised.value.hint or ""
    # Logging in again would change nothing: the variable goes first.
    assert "the one in LABLEDGER_TOKEN" in hint and "unset it" in hint
    assert f"labledger login {URL}" in hint


def test_a_request_the_server_cannot_take_is_a_validation_error() -> None:
    client = _client(_error(422, "invalid_request", "body.name: Field required"))
    with pytest.raises(ValidationError, match="Field required"):
        client.call("POST", "/api/v1/collections", {"x": 1}, dict)


def test_error_bodies_that_are_not_ours_map_by_status() -> None:
    client = _client(lambda request: httpx.Response(502, text="bad gateway"))
    with pytest.raises(StoreUnavailableError, match="502"):
        client.call("POST", "/api/v1/collections", {}, dict)


def _flaky(failure: Exception | int, answer: Any = None) -> tuple[Any, list[str]]:
    """A handler that fails once (raising ``failure`` or answering that status), then answers."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if len(seen) == 1:
            if isinstance(failure, Exception):
                raise failure
            return httpx.Response(failure, json={"code": "store_unavailable", "message": "busy"})
        return httpx.Response(200, json=answer if answer is not None else {"ok": True})

    return handler, seen


@pytest.mark.parametrize("failure", [httpx.ReadError("reset"), 503], ids=["transport", "503"])
def test_reads_are_retried(failure: Exception | int) -> None:
    handler, seen = _flaky(failure)
    assert _client(handler).call("GET", "/api/v1/x", model=dict) == {"ok": True}
    assert seen == ["GET", "GET"]


def test_idempotent_writes_are_retried() -> None:
    handler, seen = _flaky(httpx.ReadError("reset"))
    client = _client(handler)
    assert client.call("PUT", "/api/v1/x", {"a": 1}, dict, idempotent=True) == {"ok": True}
    assert seen == ["PUT", "PUT"]


@pytest.mark.parametrize("failure", [httpx.ReadError("reset"), 503], ids=["transport", "503"])
def test_other_writes_are_sent_once(failure: Exception | int) -> None:
    handler, seen = _flaky(failure)
    with pytest.raises(StoreUnavailableError) as raised:
        _client(handler).call("POST", "/api/v1/collections", {"name": "c"}, dict)
    assert seen == ["POST"]
    if isinstance(failure, Exception):
        assert "may or may not" in (raised.value.hint or "")


def test_a_refused_connection_is_tried_again_even_for_writes() -> None:
    handler, seen = _flaky(httpx.ConnectError("refused"))
    assert _client(handler).call("POST", "/api/v1/collections", {}, dict) == {"ok": True}
    assert seen == ["POST", "POST"]


def test_retries_give_up_with_store_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(StoreUnavailableError, match="cannot reach the server") as raised:
        _client(handler, retries=2).call("GET", "/api/v1/x", model=dict)
    assert "labledger server" in (raised.value.hint or "")


def test_waiting_on_a_server_that_is_down_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with caplog.at_level("WARNING", logger="labledger.http"):
        with pytest.raises(StoreUnavailableError):
            _client(handler, retries=3).call("GET", "/api/v1/x", model=dict)
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1 and URL in said[0] and "LABLEDGER_HTTP_RETRIES=0" in said[0]
    caplog.clear()
    with caplog.at_level("WARNING", logger="labledger.http"):
        with pytest.raises(StoreUnavailableError):
            _client(handler, retries=0).call("GET", "/api/v1/x", model=dict)
    assert caplog.records == []  # no retry, nothing to wait for


def test_the_retry_budget_rides_out_a_restart_and_the_environment_can_change_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    monkeypatch.setattr("labledger.workspace.http.client.time.sleep", waits.append)
    refused: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        refused.append(request.method)
        raise httpx.ConnectError("refused")

    with pytest.raises(StoreUnavailableError):
        Client(URL, transport=httpx.MockTransport(handler)).call("GET", "/api/v1/x", model=dict)
    # 8 more tries, waiting 0.2 s doubled each time up to 5 s: about 21 s for a server to return.
    assert waits == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0] and len(refused) == 9
    waits.clear()
    monkeypatch.setenv("LABLEDGER_HTTP_RETRIES", "2")
    monkeypatch.setenv("LABLEDGER_HTTP_BACKOFF_S", "1.5")
    with pytest.raises(StoreUnavailableError):
        Client(URL, transport=httpx.MockTransport(handler)).call("GET", "/api/v1/x", model=dict)
    assert waits == [1.5, 3.0]
    monkeypatch.setenv("LABLEDGER_HTTP_RETRIES", "lots")
    with pytest.raises(ConfigurationError, match="LABLEDGER_HTTP_RETRIES") as raised:
        Client(URL)
    assert "unset it" in (raised.value.hint or "")
    monkeypatch.setenv("LABLEDGER_HTTP_RETRIES", "3")
    monkeypatch.setenv("LABLEDGER_HTTP_BACKOFF_S", "nan")
    with pytest.raises(ConfigurationError, match="LABLEDGER_HTTP_BACKOFF_S"):
        Client(URL)


def test_the_token_is_sent_as_a_bearer() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={})

    _client(handler, token="lle_secret").call("GET", "/api/v1/me", model=dict)
    _client(handler).call("GET", "/api/v1/me", model=dict)
    assert seen == ["Bearer lle_secret", None]


def test_pages_are_followed() -> None:
    names = [f"f{i:02d}" for i in range(5)]
    tokens: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("page_token")
        tokens.append(token)
        start = 0 if token is None else int(token)
        chunk = names[start : start + 2]
        items = [{"name": n, "type": "number"} for n in chunk]
        following = str(start + 2) if start + 2 < len(names) else None
        return httpx.Response(200, json={"items": items, "next_page_token": following})

    fields = HttpMetadataStore(_client(handler)).get_fields()
    assert list(fields) == names
    assert all(isinstance(f, MetadataField) for f in fields.values())
    assert tokens == [None, "2", "4"]


def test_bodies_are_json_of_the_frozen_types() -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(201, content=request.content)

    field = MetadataField("conc", "number", unit="uM", choices=None, minimum=0.0)
    stored = HttpMetadataStore(_client(handler)).define_field(field)
    assert stored == field
    assert bodies[0]["name"] == "conc" and bodies[0]["minimum"] == 0.0


def test_a_404_without_our_error_body_says_this_is_no_labledger_root() -> None:
    client = _client(lambda request: httpx.Response(404, text="<html>Not Found</html>"))
    with pytest.raises(LabledgerError) as caught:
        client.call("GET", "/api/v1/me", model=dict)
    assert "does not answer as a labledger server" in (caught.value.hint or "")


def test_https_to_a_plain_http_server_says_so_at_once() -> None:
    import socket
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Quiet(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    plain = HTTPServer(("127.0.0.1", port), Quiet)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    try:
        client = Client(f"https://127.0.0.1:{port}", retries=5, backoff_s=5.0)
        with pytest.raises(StoreUnavailableError) as caught:
            client.call("GET", "/api/v1/me", model=dict)  # no retries: 5 x 5 s would show
        assert "does not speak TLS" in caught.value.message
        assert caught.value.hint == f"try http://127.0.0.1:{port}"
    finally:
        plain.shutdown()
        plain.server_close()
