"""The server's identity routes: authentication, roles, errors, pages, limits, request ids."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from labledger.server.permissions import api_routes, route_permissions
from tests.unit.server.conftest import TestClient

if TYPE_CHECKING:
    from collections.abc import Callable

    from labledger.identity import IdentityService
    from labledger.workspace.workspace import Workspace


def _is_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "hint"}
    assert body["code"] == code
    return dict(body)


def test_every_route_declares_exactly_one_permission(app: Any, client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) >= 12
    missing = [
        f"{method.upper()} {path}"
        for path, method, operation in operations
        if "x-labledger-permission" not in operation
    ]
    assert missing == []
    # Routes left out of the document must declare one too.
    routes = list(api_routes(app.routes))
    assert len(routes) == len(operations)
    for route in routes:
        assert len(route_permissions(route)) == 1, route.path
    public = {
        path for path, _, operation in operations if operation["x-labledger-permission"] == "public"
    }
    # Health checks, and the password sign-in that gives a token.
    assert public == {"/healthz", "/readyz", "/api/v1/sessions"}


def test_health_and_readiness_are_public(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"


def test_missing_wrong_expired_and_revoked_tokens_get_401(
    client: TestClient, team: dict[str, str], service: IdentityService
) -> None:
    missing = client.get("/api/v1/me")
    _is_error(missing, 401, "unauthenticated")
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="labledger"'
    for header in ("Bearer lle_wrong", "Basic abc", "Bearer "):
        wrong = client.get("/api/v1/me", headers={"Authorization": header})
        _is_error(wrong, 401, "unauthenticated")
        assert "Bearer" in wrong.headers["WWW-Authenticate"]
    expiring = service.issue_token("vera", "brief", by="root", expires_in_s=0.001)
    import time

    time.sleep(0.01)
    expired = client.get("/api/v1/me", headers={"Authorization": f"Bearer {expiring.secret}"})
    assert "expired" in _is_error(expired, 401, "unauthenticated")["message"]
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    vera = {"Authorization": f"Bearer {team['vera']}"}
    listed = client.get("/api/v1/tokens", headers=vera).json()["items"]
    assert client.delete(f"/api/v1/tokens/{listed[0]['id']}", headers=vera).status_code == 200
    revoked = client.get("/api/v1/me", headers=vera)
    assert "revoked" in _is_error(revoked, 401, "unauthenticated")["message"]


def test_me_and_tokens_round_trip(client: TestClient, as_user: Any) -> None:
    assert client.get("/api/v1/me", headers=as_user("ed")).json()["name"] == "ed"
    made = client.post("/api/v1/tokens", json={"name": "ci"}, headers=as_user("ed"))
    assert made.status_code == 201
    secret = made.json()["secret"]
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    )
    listed = client.get("/api/v1/tokens", headers=as_user("ed")).json()
    assert [t["name"] for t in listed["items"]] == ["test", "ci"]
    assert all("secret" not in t and "secret_hash" not in t for t in listed["items"])
    # Someone else's token does not exist for you.
    other = listed["items"][0]["id"]
    _is_error(client.delete(f"/api/v1/tokens/{other}", headers=as_user("vera")), 404, "not_found")


def test_viewer_cannot_write_and_non_member_cannot_see(client: TestClient, as_user: Any) -> None:
    members = "/api/v1/projects/assay/members"
    assert client.get(members, headers=as_user("vera")).status_code == 200
    denied = client.put(f"{members}/otto", json={"role": "viewer"}, headers=as_user("vera"))
    _is_error(denied, 403, "permission_denied")
    denied = client.put(f"{members}/otto", json={"role": "viewer"}, headers=as_user("ed"))
    _is_error(denied, 403, "permission_denied")
    hidden = _is_error(client.get(members, headers=as_user("otto")), 404, "not_found")
    absent = _is_error(
        client.get("/api/v1/projects/nope/members", headers=as_user("otto")), 404, "not_found"
    )
    assert hidden["message"].replace("assay", "P") == absent["message"].replace("nope", "P")
    assert client.get("/api/v1/projects", headers=as_user("otto")).json()["items"] == []


def test_project_admin_grants_and_revokes(client: TestClient, as_user: Any) -> None:
    members = "/api/v1/projects/assay/members"
    granted = client.put(f"{members}/otto", json={"role": "editor"}, headers=as_user("pat"))
    assert granted.json()["role"] == "editor"
    projects = client.get("/api/v1/projects", headers=as_user("otto")).json()["items"]
    assert [(p["name"], p["role"]) for p in projects] == [("assay", "editor")]
    assert client.delete(f"{members}/otto", headers=as_user("pat")).status_code == 204
    _is_error(client.get(members, headers=as_user("otto")), 404, "not_found")
    bad = client.put(f"{members}/otto", json={"role": "owner"}, headers=as_user("pat"))
    _is_error(bad, 422, "invalid_request")


def test_users_are_for_admins(client: TestClient, as_user: Any) -> None:
    _is_error(client.get("/api/v1/users", headers=as_user("pat")), 403, "permission_denied")
    made = client.post("/api/v1/users", json={"name": "new"}, headers=as_user("ada"))
    assert made.status_code == 201
    again = client.post("/api/v1/users", json={"name": "new"}, headers=as_user("ada"))
    _is_error(again, 409, "conflict")
    one = client.get("/api/v1/users/new", headers=as_user("ada"))
    assert one.status_code == 200 and one.json()["name"] == "new"
    by_id = client.get(f"/api/v1/users/{one.json()['id']}", headers=as_user("ada"))
    assert by_id.json() == one.json()
    _is_error(client.get("/api/v1/users/new", headers=as_user("pat")), 403, "permission_denied")
    _is_error(client.get("/api/v1/users/nobody", headers=as_user("ada")), 404, "not_found")


def test_an_admin_creates_a_user_with_a_password_the_server_hashes(
    client: TestClient, as_user: Any, workspace: Workspace
) -> None:
    body = {"name": "bob", "display_name": "Bob", "password": "a long horse battery staple"}
    _is_error(
        client.post("/api/v1/users", json=body, headers=as_user("pat")), 403, "permission_denied"
    )
    made = client.post("/api/v1/users", json=body, headers=as_user("ada"))
    assert made.status_code == 201, made.text
    assert "password" not in made.text and body["password"] not in made.text
    stored = workspace.stores.identity.credentials("bob")
    assert stored is not None and (stored.password_hash or "").startswith("$argon2")
    (entry,) = [
        e for e in workspace.stores.ledger.entries()
        if e.kind == "user.created" and e.payload.get("name") == "bob"
    ]  # fmt: skip
    assert "ada" in (entry.actor, entry.payload.get("by"))
    for bad in ({"name": "no spaces"}, {"name": "bob2", "password": "short"}, {"name": ""}):
        _is_error(
            client.post("/api/v1/users", json=bad, headers=as_user("ada")), 422, "invalid_request"
        )
    assert {u.name for u in workspace.stores.identity.list_users()} == {
        "ada", "bob", "ed", "otto", "pat", "vera"
    }  # fmt: skip


def test_lists_are_paged_with_cursors(client: TestClient, as_user: Any) -> None:
    names: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"max_results": 2}
        if token:
            params["page_token"] = token
        page = client.get("/api/v1/users", params=params, headers=as_user("ada")).json()
        assert len(page["items"]) <= 2
        names += [u["name"] for u in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert names == ["ada", "ed", "otto", "pat", "vera"]
    bad = client.get("/api/v1/users", params={"page_token": "!!"}, headers=as_user("ada"))
    _is_error(bad, 400, "validation")


def test_unknown_routes_and_bodies_too_large_use_the_error_shape(
    client: TestClient, as_user: Any
) -> None:
    _is_error(client.get("/api/v1/nothing"), 404, "not_found")
    big = client.post(
        "/api/v1/tokens",
        content=b"x" * 5000,
        headers={**as_user("ed"), "content-type": "application/json"},
    )
    _is_error(big, 413, "too_large")


def test_request_ids_are_echoed_or_made(client: TestClient, caplog: Any) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="labledger.server"):
        given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert given.headers["x-request-id"] == "abc-123"
    assert made.headers["x-request-id"] != "bad id with spaces"
    assert len(made.headers["x-request-id"]) == 36
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == "abc-123"]
    assert logged and logged[0].status == 200 and logged[0].path == "/healthz"


def test_an_unexpected_error_is_logged_under_the_request_id_its_500_names(
    app: Any, caplog: Any
) -> None:
    import logging

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("the disk caught fire")

    client = TestClient(app, raise_server_exceptions=False)
    with caplog.at_level(logging.INFO, logger="labledger.server"):
        response = client.get("/boom", headers={"X-Request-ID": "req-500"})
    body = _is_error(response, 500, "internal")
    assert body["message"] == "internal server error"  # nothing of the error itself leaks out
    assert "the disk caught fire" not in response.text
    assert body["hint"] == "the server log has it under request req-500"
    assert response.headers["x-request-id"] == "req-500"
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == "req-500"]
    failure = next(r for r in logged if r.message == "unexpected error")
    assert failure.exc_info and "the disk caught fire" in str(failure.exc_info[1])
    access = next(r for r in logged if r.message == "request")
    assert access.status == 500 and access.path == "/boom"


def test_json_log_lines_carry_the_request_fields() -> None:
    import json
    import logging

    from labledger.server.logs import JsonFormatter

    record = logging.LogRecord("labledger.server", logging.INFO, "x", 1, "request", None, None)
    record.request_id = "abc"
    record.status = 200
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "abc" and line["status"] == 200 and line["message"] == "request"


_LOCAL = "http://127.0.0.1:8080"


def test_single_user_mode_acts_as_the_local_user(workspace: Workspace) -> None:
    from labledger.server import create_app

    client = TestClient(create_app(workspace, auth_required=False), base_url=_LOCAL)
    me = client.get("/api/v1/me").json()
    assert me["name"] == workspace.actor and me["is_admin"] is True
    # A token presented is still checked.
    _is_error(
        client.get("/api/v1/me", headers={"Authorization": "Bearer lle_nope"}),
        401,
        "unauthenticated",
    )


def test_single_user_mode_ends_once_the_workspace_has_users(workspace: Workspace) -> None:
    from labledger.server import create_app

    client = TestClient(create_app(workspace, auth_required=False), base_url=_LOCAL)
    made = client.post("/api/v1/users", json={"name": "ada", "is_admin": True})
    assert made.status_code == 201, made.text
    # From now on nobody acts without a token, on this server as after a restart.
    _is_error(client.get("/api/v1/me"), 401, "unauthenticated")
    _is_error(
        client.post("/api/v1/users", json={"name": "eve", "is_admin": True}), 401, "unauthenticated"
    )


def test_disabling_every_user_does_not_bring_single_user_mode_back(workspace: Workspace) -> None:
    from labledger.identity import IdentityService
    from labledger.server import create_app
    from labledger.server.launch import auth_required_for

    service = IdentityService(workspace.stores.identity)
    service.create_user("carl", by="root")
    service.disable_user("carl", by="root")
    assert auth_required_for("127.0.0.1", has_users=service.has_users())
    client = TestClient(create_app(workspace, auth_required=False), base_url=_LOCAL)
    _is_error(client.get("/api/v1/me"), 401, "unauthenticated")


def test_once_users_exist_a_single_user_server_refuses_a_body_without_a_token_unread(
    workspace: Workspace,
) -> None:
    from labledger.identity import IdentityService
    from labledger.server import create_app

    client = TestClient(create_app(workspace, auth_required=False), base_url=_LOCAL)
    bad = b'{"filter": "a\\u0000b"}'  # a body the text check would refuse with a 400
    headers = {"content-type": "application/json"}
    assert client.post("/api/v1/runs/search", content=bad, headers=headers).status_code == 400
    IdentityService(workspace.stores.identity).create_user("carl", by="root")
    # The first request after the user is made finds them; from then on no body is read
    # without a token.
    _is_error(client.get("/api/v1/me"), 401, "unauthenticated")
    answer = client.post("/api/v1/runs/search", content=bad, headers=headers)
    _is_error(answer, 401, "unauthenticated")
    # A server whose first request comes after the user was made asks the catalog before it
    # reads a body: no request to a route is needed first.
    fresh = TestClient(create_app(workspace, auth_required=False), base_url=_LOCAL)
    answer = fresh.post("/api/v1/runs/search", content=bad, headers=headers)
    _is_error(answer, 401, "unauthenticated")


def test_only_a_server_with_users_serves_the_interactive_docs(workspace: Workspace) -> None:
    """The page loads its scripts from a CDN; on a single-user server they would act as its
    administrator, without a token."""
    from labledger.server import create_app

    single = TestClient(create_app(workspace, auth_required=False), base_url=_LOCAL)
    assert single.get("/api/v1/docs").status_code == 404
    assert single.get("/api/v1/openapi.json").status_code == 200
    team = TestClient(create_app(workspace, auth_required=True), base_url=_LOCAL)
    assert team.get("/api/v1/docs").status_code == 200


def test_single_user_mode_refuses_other_hosts_and_web_pages(workspace: Workspace) -> None:
    from labledger.server import create_app

    client = TestClient(
        create_app(workspace, auth_required=False), base_url="http://127.0.0.1:8080"
    )
    assert client.get("/api/v1/me").status_code == 200
    # The server's own pages (same host and port) may call it; a page of another local server
    # (a notebook, a development server on another port) may not.
    assert client.get("/api/v1/me", headers={"Origin": "http://127.0.0.1:8080"}).status_code == 200
    _is_error(
        client.get("/api/v1/me", headers={"Origin": "http://localhost:3000"}),
        401,
        "unauthenticated",
    )
    _is_error(
        client.get("/api/v1/me", headers={"Host": "evil.example.com"}), 401, "unauthenticated"
    )
    _is_error(
        client.post("/api/v1/ledger/checkpoints", headers={"Origin": "http://evil.example.com"}),
        401,
        "unauthenticated",
    )


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Host", "127.evil.com"),
        ("Host", "127.0.0.1.nip.io:8080"),
        ("Host", "evil.com@127.0.0.1"),
        ("Host", "localhost.evil.com"),
        ("Host", "127.0.0.1:80x"),
        ("Origin", "http://127.attacker.example"),
        ("Origin", "http://127.0.0.1.nip.io"),
        ("Origin", "null"),
    ],
)
def test_single_user_mode_refuses_names_that_only_look_like_loopback(
    workspace: Workspace, header: str, value: str
) -> None:
    """A name a page can point at 127.0.0.1 after it loaded (DNS rebinding) is not this machine."""
    from labledger.server import create_app

    client = TestClient(
        create_app(workspace, auth_required=False), base_url="http://127.0.0.1:8080"
    )
    _is_error(client.get("/api/v1/me", headers={header: value}), 401, "unauthenticated")


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:8080", "localhost:8080", "[::1]:8080", "127.0.0.2"]
)
def test_single_user_mode_answers_loopback_addresses(workspace: Workspace, host: str) -> None:
    from labledger.server import create_app

    client = TestClient(
        create_app(workspace, auth_required=False), base_url="http://127.0.0.1:8080"
    )
    assert client.get("/api/v1/me", headers={"Host": host}).status_code == 200


def test_admins_create_projects_and_members_then_see_them(client: TestClient, as_user: Any) -> None:
    body = {"name": "screening", "description": "plate screens"}
    _is_error(
        client.post("/api/v1/projects", json=body, headers=as_user("pat")), 403, "permission_denied"
    )
    made = client.post("/api/v1/projects", json=body, headers=as_user("ada"))
    assert made.status_code == 201, made.text
    assert (made.json()["name"], made.json()["role"]) == ("screening", None)
    again = client.post("/api/v1/projects", json=body, headers=as_user("ada"))
    _is_error(again, 409, "conflict")
    for bad in ({"name": "a/b"}, {"name": ""}, {"name": "ok", "owner": "me"}):
        _is_error(
            client.post("/api/v1/projects", json=bad, headers=as_user("ada")),
            422,
            "invalid_request",
        )
    members = "/api/v1/projects/screening/members"
    granted = client.put(f"{members}/otto", json={"role": "editor"}, headers=as_user("ada"))
    assert granted.status_code == 200, granted.text
    projects = client.get("/api/v1/projects", headers=as_user("otto")).json()["items"]
    assert [(p["name"], p["role"]) for p in projects] == [("screening", "editor")]


def test_no_role_in_default_says_so_and_how_to_get_one(client: TestClient, as_user: Any) -> None:
    answer = _is_error(client.get("/api/v1/artifacts", headers=as_user("otto")), 404, "not_found")
    assert answer["message"] == "otto has no role in project 'default'"
    assert answer["hint"] == "ask an admin: labledger projects grant otto viewer --project default"


def test_a_collection_is_owned_by_a_user_of_the_server(client: TestClient, as_user: Any) -> None:
    ada = as_user("ada")
    forged = {"name": "release", "owner": "nobody-at-all"}
    refused = client.post("/api/v1/collections", json=forged, headers=ada)
    assert "no user of this server" in _is_error(refused, 400, "validation")["message"]
    assert client.get("/api/v1/collections", headers=ada).json()["items"] == []
    mine = client.post("/api/v1/collections", json={"name": "mine"}, headers=ada)
    assert mine.status_code == 201 and mine.json()["owner"] == "ada"
    given = {"name": "theirs", "owner": "ed"}
    theirs = client.post("/api/v1/collections", json=given, headers=ada)
    assert theirs.status_code == 201 and theirs.json()["owner"] == "ed"


def test_a_catalog_that_does_not_answer_is_a_503_that_names_no_database(
    app: Any, caplog: Any
) -> None:
    import logging

    from labledger._foundation.errors import StoreUnavailableError

    secret = "postgresql://lab@db.internal:5433/catalog does not answer: password auth failed"

    @app.get("/down")
    def down() -> None:  # the database going away, as the workspace reports it
        raise StoreUnavailableError(f"the catalog database at {secret}", hint="check db.internal")

    client = TestClient(app, raise_server_exceptions=False)
    with caplog.at_level(logging.INFO, logger="labledger.server"):
        response = client.get("/down", headers={"X-Request-ID": "req-503"})
    body = _is_error(response, 503, "store_unavailable")
    assert body["message"] == "the server's catalog database does not answer; try again later"
    assert "db.internal" not in response.text and "5433" not in response.text
    assert "req-503" in body["hint"]
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == "req-503"]
    assert any(secret in r.getMessage() for r in logged)


def test_names_of_system_actors_are_refused_for_users(
    client: TestClient, as_user: Any, workspace: Workspace
) -> None:
    # ``workspace`` signs checkpoints; the server's own actor records the server's writes.
    for name in ("workspace", workspace.actor, workspace.actor.upper()):
        refused = client.post("/api/v1/users", json={"name": name}, headers=as_user("ada"))
        body = _is_error(refused, 400, "validation")
        assert body["hint"] and name in body["message"]
        _is_error(client.get(f"/api/v1/users/{name}", headers=as_user("ada")), 404, "not_found")


def test_a_nul_character_in_a_path_or_query_string_is_a_400(
    client: TestClient, as_user: Any
) -> None:
    for path in (
        "/api/v1/projects/assay/members/ot%00to",
        "/api/v1/ledger/proofs/run%00x",
        "/api/v1/users/new%00",
        "/api/v1/artifacts?kind=a%00b",
        "/api/v1/runs/x/metrics?key=lo%00ss",
    ):
        body = _is_error(client.get(path, headers=as_user("ada")), 400, "validation")
        assert "NUL" in body["message"] and body["hint"]
    # Refused before routing, so even a request with no token gets the 400.
    _is_error(client.get("/api/v1/users/a%00b"), 400, "validation")


def test_a_nul_character_in_a_json_body_is_a_400_and_nothing_is_kept(
    client: TestClient, as_user: Any
) -> None:
    def make_token(body: bytes) -> Any:
        headers = {**as_user("ed"), "Content-Type": "application/json"}
        return client.post("/api/v1/tokens", content=body, headers=headers)

    def names() -> list[str]:
        listed = client.get("/api/v1/tokens", headers=as_user("ed"))
        assert listed.status_code == 200, listed.text
        return [token["name"] for token in listed.json()["items"]]

    before = names()
    for body in (b'{"name": "lap\\u0000top"}', b'{"name": "x\\\\\\u0000"}'):
        said = _is_error(make_token(body), 400, "validation")
        assert "NUL" in said["message"] and said["hint"]
    assert names() == before
    # A literal backslash before "u0000" is text, not a NUL: the request goes through.
    kept = make_token(b'{"name": "back\\\\u0000slash"}')
    assert kept.status_code == 201, kept.text
    assert "back\\u0000slash" in names()


def test_a_body_without_a_valid_token_is_refused_before_it_is_read(client: TestClient) -> None:
    for method, path in (
        ("post", "/api/v1/collections"),
        ("put", "/api/v1/blobs/blake3:" + "0" * 64),
        ("post", "/api/v1/runs/search"),
    ):
        answer = getattr(client, method)(path, content=b"{not json at all")
        _is_error(answer, 401, "unauthenticated")  # not 422: the body was never parsed
    # Nor with a token that is no token, or not a bearer one.
    for header in ("Bearer lle_not-a-token", "x", "Basic YWRhOnB3"):
        answer = client.post(
            "/api/v1/collections", content=b"{not json", headers={"Authorization": header}
        )
        _is_error(answer, 401, "unauthenticated")
    # Signing in is how one gets a token: its body is read, and may be small only.
    signing_in = client.post("/api/v1/sessions", content=b"{not json at all")
    assert signing_in.status_code == 422
    huge = client.post("/api/v1/sessions", json={"user": "ada", "password": "p" * 20_000})
    _is_error(huge, 413, "too_large")


def test_a_token_made_with_a_short_lived_token_expires_no_later(
    client: TestClient, as_user: Any
) -> None:
    short = client.post(
        "/api/v1/tokens", json={"name": "short", "expires_in_days": 1}, headers=as_user("ed")
    ).json()
    with_short = {"Authorization": f"Bearer {short['secret']}"}
    ends = short["token"]["expires_at"]
    for asked in ({"name": "forever"}, {"name": "longer", "expires_in_days": 30}):
        made = client.post("/api/v1/tokens", json=asked, headers=with_short)
        assert made.status_code == 201, made.text
        assert made.json()["token"]["expires_at"] == pytest.approx(ends, abs=5)
    sooner = client.post(
        "/api/v1/tokens", json={"name": "sooner", "expires_in_days": 0.5}, headers=with_short
    ).json()
    assert sooner["token"]["expires_at"] < ends - 3600
    # A token that never expires may make one that never does.
    lasting = client.post("/api/v1/tokens", json={"name": "kept"}, headers=as_user("ed")).json()
    assert lasting["token"]["expires_at"] is None


def test_revoking_a_token_revokes_the_tokens_made_with_it(
    client: TestClient, as_user: Any, workspace: Workspace
) -> None:
    from labledger.workspace.verify import verify_workspace

    def made_with(headers: dict[str, str], name: str) -> dict[str, Any]:
        answer = client.post("/api/v1/tokens", json={"name": name}, headers=headers)
        assert answer.status_code == 201, answer.text
        made: dict[str, Any] = answer.json()
        return made

    def bearer(made: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {made['secret']}"}

    parent = made_with(as_user("ed"), "leaked")
    child = made_with(bearer(parent), "child")
    grandchild = made_with(bearer(child), "grandchild")
    sibling = made_with(as_user("ed"), "kept")  # made with another token: not revoked
    assert client.get("/api/v1/me", headers=bearer(grandchild)).status_code == 200
    revoked = client.delete(f"/api/v1/tokens/{parent['token']['id']}", headers=bearer(sibling))
    assert revoked.status_code == 200, revoked.text
    for gone in (parent, child, grandchild):
        _is_error(client.get("/api/v1/me", headers=bearer(gone)), 401, "unauthenticated")
    assert client.get("/api/v1/me", headers=bearer(sibling)).status_code == 200
    assert client.get("/api/v1/me", headers=as_user("ed")).status_code == 200
    # Each revocation is in the ledger, so verify holds the rows to it.
    report = verify_workspace(workspace, blobs=False, remember=False)
    assert report.ok, report.problems


def test_a_token_revoked_elsewhere_makes_no_token_while_a_server_still_trusts_it(
    client: TestClient, as_user: Any, workspace: Workspace
) -> None:
    from labledger.identity import IdentityService, local_user

    made = client.post("/api/v1/tokens", json={"name": "leaked"}, headers=as_user("ed")).json()
    leaked = {"Authorization": f"Bearer {made['secret']}"}
    assert client.get("/api/v1/me", headers=leaked).status_code == 200  # now trusted from memory
    # Revoked on the workspace itself (the CLI), which this server's memory does not hear of.
    IdentityService(workspace.stores.identity).revoke_token(
        made["token"]["id"], actor=local_user("root")
    )
    child = client.post("/api/v1/tokens", json={"name": "escape"}, headers=leaked)
    _is_error(child, 401, "unauthenticated")
    names = [t["name"] for t in client.get("/api/v1/tokens", headers=as_user("ed")).json()["items"]]
    assert "escape" not in names


def test_a_user_made_through_a_single_user_server_ends_its_tokenless_bodies_at_once(
    tmp_path: Any,
) -> None:
    from labledger.server import create_app
    from labledger.workspace.workspace import Workspace as Opened

    with Opened.init(tmp_path / "alone") as alone:
        client = TestClient(create_app(alone, auth_required=False), base_url=_LOCAL)
        bad = b'{"filter": "a\\\\u0000b"}'
        headers = {"content-type": "application/json"}
        # Read (no users yet), which leaves "no users" remembered for a moment.
        assert client.post("/api/v1/runs/search", content=bad, headers=headers).status_code == 400
        made = client.post("/api/v1/users", json={"name": "first", "is_admin": True})
        assert made.status_code == 201, made.text
        answer = client.post("/api/v1/runs/search", content=bad, headers=headers)
        _is_error(answer, 401, "unauthenticated")


def test_a_viewer_gets_no_success_from_any_write_route_even_with_an_empty_body(
    client: TestClient, as_user: Any
) -> None:
    document = client.get("/api/v1/openapi.json").json()
    writes = [
        (method, path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if operation["x-labledger-permission"] in ("project:editor", "project:admin")
    ]
    assert len(writes) >= 10
    fake = "0193a5b0-0000-7000-8000-000000000000"
    answered = {}
    for method, path in writes:
        url = path
        for name in ("run_id", "id", "name", "project", "user", "digest", "upload_id", "key"):
            url = url.replace("{" + name + "}", "assay" if name == "project" else fake)
        body = None if method in ("get", "delete") else {}
        response = client.request(method.upper(), url, json=body, headers=as_user("vera"))
        answered[f"{method.upper()} {path}"] = response.status_code
    succeeded = {route: status for route, status in answered.items() if status < 300}
    assert succeeded == {}, succeeded


def test_reaping_as_a_viewer_says_what_role_it_needs(client: TestClient, as_user: Any) -> None:
    body = _is_error(
        client.post("/api/v1/runs/reap", json={}, headers=as_user("vera")), 403, "permission_denied"
    )
    assert body["message"] == "vera is viewer in assay; this needs editor"
    assert client.post("/api/v1/runs/reap", json={}, headers=as_user("ed")).json() == {"ids": []}


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/api/v1/tokens", {"name": "t", "expires_in_days": True}),
        ("/api/v1/runs/search", {"max_results": True}),
        ("/api/v1/tasks/cache/index", {"fingerprints": [], "limit": True}),
    ],
)
def test_a_boolean_where_the_document_says_number_is_refused(
    client: TestClient, as_user: Callable[[str], dict[str, str]], route: str, body: dict[str, Any]
) -> None:
    # JSON's true is no number: read leniently it would be 1, which the document does not allow.
    answer = client.post(route, json=body, headers=as_user("ada"))
    assert answer.status_code == 422, answer.text
