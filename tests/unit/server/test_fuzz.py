"""Every route, fuzzed from the OpenAPI document: no 5xx, and every response matches its schema.

Schemathesis generates requests for each operation the document describes (valid ones and
malformed ones), sends them as a workspace administrator and as a user with no role, and checks
each response against the document: status codes, content types, bodies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings

from labledger.identity import IdentityService
from labledger.server import create_app

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


@pytest.fixture
def tokens(workspace: Workspace) -> dict[str, str]:
    service = IdentityService(workspace.stores.identity)
    service.create_user("ada", by="root", is_admin=True)
    service.create_user("otto", by="root")
    workspace.project_id("assay")
    return {name: service.issue_token(name, "fuzz", by="root").secret for name in ("ada", "otto")}


@pytest.mark.slow
def test_no_route_answers_5xx_or_breaks_its_schema(
    workspace: Workspace, tokens: dict[str, str]
) -> None:
    app = create_app(workspace, auth_required=True)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        )
        def fuzz(case: Any) -> None:
            # The document states the shape of a request; the rules of a value (a field's
            # settings, a page token only the server makes, a ledger size it has) are checked by
            # the service, which answers 400 with the error body. So "every request the document
            # allows is accepted" is not asked; malformed requests must still be refused (4xx),
            # and no request may get a 5xx or an answer the document does not describe.
            for who in ("ada", "otto"):  # an administrator, and a user with no role anywhere
                case.call_and_validate(
                    headers={"Authorization": f"Bearer {tokens[who]}"},
                    excluded_checks=[positive_data_acceptance],
                )

        fuzz()
