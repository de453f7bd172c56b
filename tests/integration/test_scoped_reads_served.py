"""Two projects, two users, a real ``labledger server``: each user sees the metadata values,
search hits and collections of their own project only, reads no ledger entries, and still holds
the server to its ledger with ``labledger verify``; an administrator sees both projects."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

import labledger
from labledger import metadata
from labledger._foundation.errors import NotFoundError, PermissionDeniedError
from labledger._foundation.settings import server_settings
from labledger.cli import app
from labledger.identity import IdentityService, Role, local_user
from labledger.tracking import start_run
from labledger.workspace.http.workspace import RemoteWorkspace
from labledger.workspace.workspace import Workspace
from tests.integration.served import start_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.integration


class Team:
    """A served workspace with projects ``a`` (amy, editor) and ``b`` (ben, editor), an
    administrator ``ada``, their tokens, and the server's URL."""

    def __init__(self, served: Workspace, url: str, tokens: dict[str, str]) -> None:
        self.served, self.url, self.tokens = served, url, tokens
        self.opened: list[RemoteWorkspace] = []

    def open_as(self, user: str) -> RemoteWorkspace:
        ws = RemoteWorkspace(
            server_settings(self.url), token=self.tokens[user], store=self.served.store
        )
        self.opened.append(ws)
        return ws


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    served = Workspace.init(tmp_path / "served")
    service = IdentityService(served.stores.identity)
    root = local_user("root")
    for project in ("a", "b"):
        served.project_id(project)
    service.create_user("amy", by="root")
    service.create_user("ben", by="root")
    service.create_user("ada", by="root", is_admin=True)
    service.grant("a", "amy", Role.EDITOR, actor=root)
    service.grant("b", "ben", Role.EDITOR, actor=root)
    tokens = {
        name: service.issue_token(name, "t", by="root").secret for name in ("amy", "ben", "ada")
    }
    try:
        with start_server(served.settings.root or tmp_path) as url:
            made = Team(served, url, tokens)
            yield made
            for ws in made.opened:
                ws.close()
    finally:
        labledger.set_workspace(None)
        served.close()


def test_each_user_sees_their_projects_values_hits_and_collections(team: Team) -> None:
    amy, ben, ada = team.open_as("amy"), team.open_as("ben"), team.open_as("ada")
    metadata.define_field("conc", "number", workspace=ada)
    runs = {}
    for who, ws, project in (("amy", amy, "a"), ("ben", ben, "b")):
        with start_run(f"titration-{who}", project=project, workspace=ws) as run:
            pass
        runs[who] = run.id
        metadata.set_metadata(run.id, {"conc": 5}, workspace=ws)

    # Values: ben's run does not exist for amy, and the other way round.
    assert metadata.get_metadata(runs["amy"], workspace=amy) == {"conc": 5.0}
    with pytest.raises(NotFoundError):
        metadata.get_metadata(runs["ben"], workspace=amy)
    with pytest.raises(NotFoundError):
        metadata.set_metadata(runs["amy"], {"conc": 1}, workspace=ben)
    assert metadata.get_metadata(runs["ben"], workspace=ben) == {"conc": 5.0}

    # Searches: conditions and full text find only the user's project's runs.
    for who, ws in (("amy", amy), ("ben", ben)):
        assert [h.id for h in metadata.search(where="conc > 1", workspace=ws)] == [runs[who]]
        assert [h.id for h in metadata.search("titration", workspace=ws)] == [runs[who]]
    found = {h.id for h in metadata.search(where="conc > 1", workspace=ada)}
    assert found == set(runs.values())

    # Collections: ben's "screen" in b is not found for amy; amy has her own of the same name.
    made = metadata.create_collection("screen", project="b", workspace=ben)
    assert made.project_id == ben.project_id("b")
    metadata.add_to_collection("screen", runs["ben"], project="b", workspace=ben)
    with pytest.raises(NotFoundError):
        metadata.get_collection("screen", project="b", workspace=amy)
    with pytest.raises(NotFoundError):
        metadata.create_collection("mine", project="b", workspace=amy)
    metadata.create_collection("screen", project="a", workspace=amy)
    with pytest.raises(NotFoundError):  # she may not add a run she cannot read
        metadata.add_to_collection("screen", runs["ben"], project="a", workspace=amy)
    listed = metadata.list_collections(workspace=amy)
    assert [(c.name, c.project_id) for c in listed] == [("screen", amy.project_id("a"))]
    shown = metadata.get_collection("screen", project="b", workspace=ben)
    assert [m.id for m in shown.members] == [runs["ben"]]
    assert len(metadata.list_collections(workspace=ada)) == 2

    # The ledger's entries name every project's runs: administrators read them, others do not.
    with pytest.raises(PermissionDeniedError):
        amy.stores.ledger.entries(after_seq=0, limit=100)
    payloads = json.dumps([e.payload for e in ada.stores.ledger.entries(after_seq=0, limit=1000)])
    assert runs["ben"] in payloads and runs["amy"] in payloads


def test_members_of_one_project_still_check_the_server_with_verify(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    amy = team.open_as("amy")
    with start_run("fit", project="a", workspace=amy):
        pass
    runner = CliRunner()
    for who in ("amy", "ben"):
        monkeypatch.setenv("LABLEDGER_TOKEN", team.tokens[who])
        result = runner.invoke(app, ["verify", "-w", team.url, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["ok"] is True
    monkeypatch.setenv("LABLEDGER_TOKEN", team.tokens["amy"])
    refused = runner.invoke(app, ["verify", "-w", team.url, "--full"])
    assert refused.exit_code != 0 and "administrators" in refused.output, refused.output
    assert "leave out --full" in refused.output  # and what a member can do instead
