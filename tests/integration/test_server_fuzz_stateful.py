"""A real server process fuzzed in sequences of calls: no 5xx, every answer as documented.

Schemathesis reads the served OpenAPI document, works out which operations make what others take
(a project made, then its members set; a collection made, then members added; a run created, then
its metrics read) and strings generated calls together, feeding each the ids and names that
earlier answers gave. It runs against ``labledger server`` in its own process, so what is checked
is what a client meets: uvicorn, the middleware, the catalog on disk.

Two identities drive it: a workspace administrator, and an editor of one project who is no member
of the others. Each sequence starts on a fresh copy of the same workspace, served by a process of
its own: what one sequence made cannot turn the next one's calls into conflicts (and Hypothesis
sees the same answers when it replays a sequence). Revoking tokens is left out of the sequences: a
sequence that revokes the token it signs in with learns nothing more than 401s.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

from labledger.identity import IdentityService
from labledger.stores.identity import Role
from labledger.workspace.workspace import Workspace
from tests.integration.served import start_server

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _tokens(root: Path) -> dict[str, str]:
    ws = Workspace.init(root)
    try:
        service = IdentityService(ws.stores.identity)
        ada = service.create_user("ada", by="root", is_admin=True)
        service.create_user("eve", by="root")
        ws.project_id("assay")
        ws.project_id("imaging")
        service.grant("assay", "eve", Role.EDITOR, actor=ada)
        return {
            name: service.issue_token(name, "fuzz", by="root").secret for name in ("ada", "eve")
        }
    finally:
        ws.close()


@pytest.mark.parametrize("who", ["ada", "eve"])
def test_sequences_of_calls_get_no_5xx_and_keep_to_the_document(tmp_path: Path, who: str) -> None:
    template = tmp_path / "template"
    tokens = _tokens(template)
    copies = iter(range(1_000_000))
    with start_server(template) as base:
        schema = schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    machine = schema.exclude(method="DELETE", path_regex="^/api/v1/tokens/").as_state_machine()
    seen: list[tuple[str, int]] = []

    class Sequences(machine):  # type: ignore[misc,valid-type]
        def setup(self) -> None:
            root = tmp_path / f"sequence-{next(copies)}"
            shutil.copytree(template, root)
            self.server = contextlib.ExitStack()
            self.base = self.server.enter_context(start_server(root, forked=True))

        def teardown(self) -> None:
            self.server.close()

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {
                "base_url": self.base,
                "headers": {"Authorization": f"Bearer {tokens[who]}"},
                "timeout": 30,
            }

        def validate_response(
            self,
            response: Any,
            case: Any,
            additional_checks: Any = None,
            **kwargs: Any,
        ) -> None:
            # As in the unit fuzzing: the document states a request's shape, the service its
            # rules (a name's characters, a page token only it makes), so a well-shaped request
            # may be refused with a 4xx; no 5xx, and no answer off the document.
            case.validate_response(
                response,
                additional_checks=additional_checks,
                excluded_checks=[positive_data_acceptance],
                transport_kwargs=kwargs or None,
            )
            seen.append((case.operation.label, response.status_code))

    Sequences.run(
        settings=settings(
            max_examples=25,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
    )
    statuses = [status for _, status in seen]
    assert len(seen) > 100
    assert all(status < 500 for status in statuses)
    # The sequences reached past the front door: writes were accepted, not only refused.
    assert any(200 <= status < 300 for label, status in seen if not label.startswith("GET"))


def test_a_request_the_http_layer_cannot_parse_is_answered_as_documented(tmp_path: Path) -> None:
    """uvicorn refuses a request line over its limit with a plain-text 400 before labledger
    sees it; the document says every operation may answer so."""
    import http.client
    import urllib.parse
    import urllib.request

    _tokens(tmp_path / "ws")
    with start_server(tmp_path / "ws") as base:
        document = json.loads(urllib.request.urlopen(f"{base}/api/v1/openapi.json").read())
        listed = document["paths"]["/api/v1/collections"]["get"]["responses"]["400"]["content"]
        assert "text/plain" in listed
        host = urllib.parse.urlsplit(base)
        connection = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
        connection.request("GET", "/api/v1/collections?" + "&".join(["visible=x"] * 20_000))
        answer = connection.getresponse()
        assert answer.status == 400
        assert (answer.getheader("content-type") or "").split(";")[0] in listed
