"""``Client``: one labledger server's ``/api/v1``, with its errors raised again as labledger errors.

Every store method is one ``call``: a request, the error body mapped back to the error class the
server raised (``error_class(code)``, message and hint kept), the answer read into the frozen type.
Transport failures raise ``StoreUnavailableError``. Only idempotent calls are retried (GETs, and
writes that may safely happen twice), with exponential backoff; a write that is not idempotent is
sent again only when its connection was refused (it never reached the server), so a lost answer
says so rather than risking a second write.

The retry budget rides out a server or database restart: by default 8 tries again, waiting 0.2 s,
then twice as long each time up to 5 s (about 21 s in all). ``LABLEDGER_HTTP_RETRIES`` and
``LABLEDGER_HTTP_BACKOFF_S`` change it for every client of a process. The first retry of an outage
logs a warning (logger ``labledger.http``) that says so, so a command waiting on a server that is
down tells why it waits.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from typing import TYPE_CHECKING, Any, TypeVar

from labledger._foundation.errors import (
    AuthenticationError,
    ConfigurationError,
    LabledgerError,
    StoreUnavailableError,
    ValidationError,
    error_class,
)
from labledger._foundation.extras import install_hint
from labledger.stores.wire import ATTEMPT_HEADER

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    import httpx

__all__ = ["Client", "error_from_response"]

_log = logging.getLogger("labledger.http")
T = TypeVar("T")
N = TypeVar("N", int, float)
_RETRY_STATUSES = frozenset({502, 503, 504})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_STATUS_CODES = {401: "unauthenticated", 403: "permission_denied", 404: "not_found"}
DEFAULT_RETRIES = 8
DEFAULT_BACKOFF_S = 0.2
MAX_BACKOFF_S = 5.0


@functools.lru_cache(maxsize=256)
def _adapter(model: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(model)


def _login_hint(base_url: str) -> str:
    if os.environ.get("LABLEDGER_TOKEN"):
        # It goes before a saved login (``credentials.token_for``): logging in again would not
        # change what is sent.
        return (
            "the token sent is the one in LABLEDGER_TOKEN, which goes before any saved login: "
            "set it to a valid API token (`labledger tokens create`), or unset it and run "
            f"`labledger login {base_url}`"
        )
    return f"run `labledger login {base_url}`, or set LABLEDGER_TOKEN to an API token"


def error_from_response(
    response: httpx.Response, base_url: str, *, login_hint: str | None = None
) -> LabledgerError:
    """The labledger error an error response stands for (its body's code, message and hint;
    ``login_hint`` for a refused token, when the caller knows better than the default)."""
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        code, message = body["code"], str(body.get("message") or "request failed")
        hint = body.get("hint") if isinstance(body.get("hint"), str) else None
    elif response.status_code >= 500:
        code, message, hint = (
            "store_unavailable",
            f"the server answered {response.status_code}",
            None,
        )
    else:
        code = _STATUS_CODES.get(response.status_code, "error")
        message, hint = f"the server answered {response.status_code}", None
        if response.status_code in (404, 405):
            # No labledger error body: not a labledger server, or not its root URL.
            hint = (
                f"{base_url} does not answer as a labledger server: give the server's root URL "
                "(http://host:port, as `labledger server` prints it)"
            )
    cls = error_class(code)
    if cls is LabledgerError and code != cls.code and response.status_code in (400, 422):
        # A request the server could not take as sent (``invalid_request``): a value that does
        # not fit, as a local store would have said.
        cls = ValidationError
    if issubclass(cls, AuthenticationError):
        hint = login_hint or _login_hint(base_url)
    try:
        return cls(message, hint=hint)
    except TypeError:
        # A class whose constructor wants more than a message (a step's failure, say).
        error = cls.__new__(cls)
        LabledgerError.__init__(error, message, hint=hint)
        return error


class Client:
    """A labledger server's ``/api/v1``, over httpx.

    Args:
        base_url: The server, e.g. ``http://127.0.0.1:8080``.
        token: An API token; ``None`` sends no ``Authorization`` (a single-user server).
        transport: An httpx transport (``httpx.MockTransport``, ``httpx.ASGITransport``...) in
            place of the network, for tests.
        retries: How many times an idempotent call is tried again after a transport failure or
            a 502/503/504; by default ``LABLEDGER_HTTP_RETRIES``, else 8.
        backoff_s: The first wait before trying again, doubled each time up to 5 s; by default
            ``LABLEDGER_HTTP_BACKOFF_S``, else 0.2.
        timeout_s: How long to wait for the server.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        retries: int | None = None,
        backoff_s: float | None = None,
        timeout_s: float = 60.0,
        login_hint: str | None = None,
    ) -> None:
        try:
            import httpx
        except ModuleNotFoundError as exc:  # pragma: no cover - an installation problem
            raise ConfigurationError(
                "talking to a labledger server needs httpx", hint=install_hint("server")
            ) from exc
        self.base_url = base_url.rstrip("/")
        self.retries = _setting("LABLEDGER_HTTP_RETRIES", int, DEFAULT_RETRIES, retries)
        self.backoff_s = _setting("LABLEDGER_HTTP_BACKOFF_S", float, DEFAULT_BACKOFF_S, backoff_s)
        self.timeout_s = timeout_s
        self.login_hint = login_hint  # what to do when the server refuses the token
        self.signed_in = bool(token)  # whether requests carry a token
        headers = {"User-Agent": f"labledger/{_version()}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, transport=transport, timeout=timeout_s
        )

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def call(
        self,
        method: str,
        route: str,
        body: Any = None,
        model: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request and read its answer.

        Args:
            method: ``GET``, ``POST``, ``PUT``, ``DELETE``, ``HEAD``.
            route: The path under the base URL, e.g. ``/api/v1/lineage/walk``.
            body: A JSON body: a pydantic model, a dataclass or plain JSON values.
            model: The type to read the answer as (a frozen type, a pydantic model, ``list[...]``);
                ``None`` returns nothing.
            params: Query parameters.
            idempotent: Whether the call may be sent again after a failure; by default GETs and
                HEADs are, other methods are not.

        Raises:
            LabledgerError: The class the server raised, by its error code.
            StoreUnavailableError: The server cannot be reached, or stays unavailable.
        """
        again = method in _IDEMPOTENT_METHODS if idempotent is None else idempotent
        content = None if body is None else _adapter(type(body)).dump_json(body)  # type: ignore[arg-type]
        headers = {"Content-Type": "application/json"} if content is not None else {}

        def send(attempt: int) -> httpx.Response:
            # A request sent again says so: a create that the first try may have done answers
            # the same on the second, where a second create of its own would be a conflict.
            sent = {**headers, ATTEMPT_HEADER: str(attempt + 1)} if attempt else headers
            return self._http.request(method, route, content=content, params=params, headers=sent)

        response = self._send(again, send)
        if model is None or response.status_code == 204:
            return None
        return _adapter(model).validate_json(response.content)

    def upload(
        self, route: str, chunks: Callable[[], Iterator[bytes]], size: int, model: Any
    ) -> Any:
        """``PUT`` a body of ``size`` bytes, streamed from ``chunks()``, and read the answer.

        Tried again like an idempotent call (storing the same bytes twice is a no-op): each try
        calls ``chunks`` afresh, so the body is streamed from its start again.
        """
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        response = self._send(
            True,
            lambda _: self._http.request("PUT", route, content=chunks(), headers=headers),
        )
        return _adapter(model).validate_json(response.content)

    def head(self, route: str) -> int:
        """The ``Content-Length`` a HEAD request answers; errors raised as in ``call``."""
        response = self._send(True, lambda _: self._http.head(route))
        return int(response.headers.get("content-length", "0"))

    def stream(self, route: str) -> httpx.Response:
        """An open streaming GET response (the caller closes it); errors raised as in ``call``."""
        return self._send(
            True, lambda _: self._http.send(self._http.build_request("GET", route), stream=True)
        )

    def _send(self, again: bool, send: Callable[[int], httpx.Response]) -> httpx.Response:
        """``send(attempt)``, tried again (when ``again``) after transport failures and
        502/503/504; ``attempt`` counts from 0."""
        import httpx

        attempt = 0
        while True:
            try:
                response = send(attempt)
            except httpx.TransportError as exc:
                if _tls_mismatch(exc):  # trying again cannot mend a wrong scheme
                    raise self._unreachable(exc, sent=False) from exc
                # A refused connection never reached the server: trying again is always safe.
                unsent = isinstance(exc, httpx.ConnectError)
                if (again or unsent) and attempt < self.retries:
                    self._wait(attempt, "does not answer")
                    attempt += 1
                    continue
                raise self._unreachable(exc, sent=not (again or unsent)) from exc
            if response.status_code in _RETRY_STATUSES and again and attempt < self.retries:
                response.close()
                self._wait(attempt, f"answered {response.status_code} (busy or restarting)")
                attempt += 1
                continue
            if response.status_code >= 400:
                response.read()
                response.close()
                raise error_from_response(response, self.base_url, login_hint=self.login_hint)
            return response

    def _wait(self, attempt: int, why: str) -> None:
        if attempt == 0:
            budget = sum(
                min(self.backoff_s * (2 ** min(n, 32)), MAX_BACKOFF_S) for n in range(self.retries)
            )
            _log.warning(
                "the server at %s %s; trying again for up to %.1f s "
                "(LABLEDGER_HTTP_RETRIES=0 fails at once)",
                self.base_url,
                why,
                budget,
            )
        time.sleep(min(self.backoff_s * (2 ** min(attempt, 32)), MAX_BACKOFF_S))

    def _unreachable(self, exc: Exception, *, sent: bool) -> StoreUnavailableError:
        detail = type(exc).__name__
        if _tls_mismatch(exc):
            plain = self.base_url.startswith("https://")
            other = (
                self.base_url.replace("https://", "http://", 1)
                if plain
                else self.base_url.replace("http://", "https://", 1)
            )
            return StoreUnavailableError(
                f"cannot reach the server at {self.base_url}: it does not speak "
                + ("TLS (https) there" if plain else "plain http there"),
                hint=f"try {other}",
            )
        hint = (
            "the server may or may not have done it: look before trying again"
            if sent
            else "check that the server is running (`labledger server`) and the URL is right"
        )
        return StoreUnavailableError(
            f"cannot reach the server at {self.base_url}: {detail}", hint=hint
        )


def _tls_mismatch(exc: BaseException) -> bool:
    """Whether a transport error is TLS spoken to a plain-http server (or the other way)."""
    import ssl

    seen: BaseException | None = exc
    for _ in range(5):  # httpx wraps the ssl error in its own, maybe twice
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError) and any(
            word in str(seen) for word in ("WRONG_VERSION_NUMBER", "record layer failure")
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "WRONG_VERSION_NUMBER" in text or "record layer failure" in text


def _setting(name: str, kind: Callable[[str], N], default: N, given: N | None) -> N:
    """``given``, else the environment variable ``name`` read as ``kind`` (not below 0), else
    ``default``."""
    if given is not None:
        return given
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not value >= 0:  # NaN too
        raise ConfigurationError(
            f"{name}={raw!r} is not a number of the right kind",
            hint=f"set {name} to a number of 0 or more, or unset it (default {default})",
        )
    return value


def _version() -> str:
    """This labledger's version, as installed (the package root is above this layer)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("labledger")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree only
        return "unknown"
