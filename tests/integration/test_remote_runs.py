"""Tracked runs against a real ``labledger server`` with signed-in users: ``start_run`` and its
logging through a ``RemoteWorkspace``, few requests per run, seals that verify, and the ``runs``
commands with ``LABLEDGER_URI``, each user seeing the runs of their projects only."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

import labledger
from labledger._foundation.errors import NotFoundError, PermissionDeniedError
from labledger._foundation.settings import server_settings
from labledger.cli import app
from labledger.identity import IdentityService, Role, local_user
from labledger.workspace.http.workspace import RemoteWorkspace
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace
from tests.integration.served import start_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.integration


class Team:
    """A served workspace with users and their tokens, and its server's URL."""

    def __init__(self, served: Workspace, url: str, tokens: dict[str, str]) -> None:
        self.served, self.url, self.tokens = served, url, tokens
        self.opened: list[RemoteWorkspace] = []

    def open_as(self, user: str) -> RemoteWorkspace:
        # The environment blob goes to the served store directly: uploads are not part of this.
        ws = RemoteWorkspace(
            server_settings(self.url), token=self.tokens[user], store=self.served.store
        )
        self.opened.append(ws)
        return ws


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    served = Workspace.init(tmp_path / "served")
    served.project_id("screening")
    service = IdentityService(served.stores.identity)
    root = local_user("root")
    tokens: dict[str, str] = {}
    for name in ("ed", "eve", "vera", "otto"):
        service.create_user(name, by="root")
    service.grant("default", "ed", Role.EDITOR, actor=root)
    service.grant("default", "eve", Role.EDITOR, actor=root)
    service.grant("default", "vera", Role.VIEWER, actor=root)
    service.grant("screening", "eve", Role.EDITOR, actor=root)
    for name in ("ed", "eve", "vera", "otto"):
        tokens[name] = service.issue_token(name, "test", by="root").secret
    try:
        with start_server(served.settings.root or tmp_path) as url:
            made = Team(served, url, tokens)
            yield made
            for ws in made.opened:
                ws.close()
    finally:
        labledger.set_workspace(None)
        served.close()


def _count_requests(ws: RemoteWorkspace) -> list[str]:
    sent: list[str] = []
    ws.client._http.event_hooks["request"].append(
        lambda request: sent.append(f"{request.method} {request.url.path}")
    )
    return sent


def test_a_run_through_the_server_is_few_requests_and_seals_what_the_server_holds(
    team: Team,
) -> None:
    ws = team.open_as("ed")
    sent = _count_requests(ws)
    with labledger.start_run("fit", params={"lr": 0.1}, tags={"team": "core"}, workspace=ws) as run:
        for step in range(5000):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
            run.log_metric("auc", math.nan if step == 7 else step / 5000, step=step)
        run.set_tag("stage", "done")
    metric_posts = [r for r in sent if r.endswith("/batch")]
    # 10,000 values in batches: a handful of requests, not one per value.
    assert len(sent) < 40, sent
    assert len(metric_posts) < 25
    stored = labledger.get_run(run.id, workspace=ws)
    assert (stored.status, stored.user, stored.params, stored.tags["stage"]) == (
        "finished",
        "ed",
        {"lr": "0.1"},
        "done",
    )
    history = labledger.get_metric_history(run.id, "auc", workspace=ws)
    assert len(history) == 5000 and math.isnan(history[7].value)
    # The server sealed the record from its own rows, and it verifies.
    report = verify_workspace(team.served, remember=False)
    assert report.ok, report.problems


def test_editors_write_to_runs_of_their_project_and_others_do_not_see_them(team: Team) -> None:
    ed, eve, vera, otto = (team.open_as(u) for u in ("ed", "eve", "vera", "otto"))
    run = labledger.start_run("shared", workspace=ed)
    # Another editor of the project may add to it; the ledger names each author.
    eve.stores.runs.log_batch(run.id, tags=[("reviewed", "yes")])
    run.end()
    hidden = labledger.start_run("private", project="screening", workspace=eve)
    hidden.end()
    assert labledger.get_run(run.id, workspace=vera).tags == {"reviewed": "yes"}
    with pytest.raises(PermissionDeniedError):
        vera.stores.runs.log_batch(run.id, tags=[("x", "y")])
    with pytest.raises(PermissionDeniedError):
        labledger.start_run("no", workspace=vera)
    with pytest.raises(NotFoundError, match="no project called 'screening'"):
        labledger.start_run("no", project="screening", workspace=ed)
    for reader, guessed in ((otto, run.id), (ed, hidden.id)):
        with pytest.raises(NotFoundError):
            labledger.get_run(guessed, workspace=reader)
    # otto has no role anywhere: told so, naming only the project every workspace has.
    with pytest.raises(NotFoundError, match="otto has no role in project 'default'"):
        labledger.search_runs(workspace=otto)
    assert {r.id for r in labledger.search_runs(workspace=ed)} == {run.id}
    assert {r.id for r in labledger.search_runs(workspace=eve)} == {run.id, hidden.id}
    assert labledger.search_runs(project="screening", workspace=ed) == []


def test_the_runs_commands_work_with_a_server_uri(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("NO_COLOR", "1")
    ws = team.open_as("ed")
    with labledger.start_run("dose", params={"model": "gbm"}, workspace=ws) as run:
        for step in range(3):
            run.log_metric("auc", 0.7 + step / 10, step=step)
    other = labledger.start_run("other", params={"model": "rf"}, workspace=ws)
    other.end("failed", "boom")
    runner = CliRunner()

    def cli(user: str, *args: str) -> tuple[int, str]:
        monkeypatch.setenv("LABLEDGER_URI", team.url)
        monkeypatch.setenv("LABLEDGER_TOKEN", team.tokens[user])
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    code, out = cli("vera", "runs", "list", "--json")
    assert code == 0, out
    listed = json.loads(out)
    assert {r["id"] for r in listed} == {run.id, other.id}
    code, out = cli("vera", "runs", "search", "params.model = 'gbm'", "--json")
    assert code == 0, out
    assert [r["id"] for r in json.loads(out)] == [run.id]
    # ``runs show``, ``runs compare`` and ``runs logs`` read a run's tasks (and the files its
    # steps read) through the server's task routes.
    code, out = cli("vera", "runs", "show", run.id, "--json")
    assert code == 0, out
    shown = json.loads(out)
    assert shown["id"] == run.id and shown["params"] == {"model": "gbm"}
    assert [p["value"] for p in shown["metric_history"]["auc"]] == pytest.approx([0.7, 0.8, 0.9])
    assert shown["tasks"] == []
    code, out = cli("vera", "runs", "show", run.id)
    assert code == 0 and "gbm" in out and "auc" in out, out
    code, out = cli("vera", "runs", "compare", run.id, other.id, "--json")
    assert code == 0, out
    compared = json.loads(out)
    assert [r["id"] for r in compared["runs"]] == [run.id, other.id]
    assert compared["files_read"] == {run.id: {}, other.id: {}}
    code, out = cli("vera", "runs", "compare", run.id, other.id)
    assert code == 0 and "gbm" in out and "rf" in out, out
    code, out = cli("vera", "runs", "logs", run.id, "--json")
    assert code == 0 and json.loads(out) == [], out
    code, out = cli("otto", "runs", "show", run.id)
    assert code == 1 and "no run" in out.lower(), out
    for command in (("runs", "list", "--json"), ("runs", "search", f"id = '{run.id}'")):
        code, out = cli("otto", *command)
        assert code == 1 and "otto has no role in project 'default'" in out, out
        assert "labledger projects grant otto viewer --project default" in out
    code, out = cli("ed", "runs", "reap")
    assert code == 0, out


def test_a_run_recorded_from_the_shell_through_a_server_is_its_users(
    team: Team, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "model.bin").write_bytes(b"weights")
    monkeypatch.setenv("LABLEDGER_URI", team.url)
    runner = CliRunner()

    def record(user: str, *args: str) -> tuple[int, str]:
        monkeypatch.setenv("LABLEDGER_TOKEN", team.tokens[user])
        result = runner.invoke(app, ["runs", "record", *args])
        return result.exit_code, result.output

    code, out = record("ed", "--name", "shell", "--metric", "auc=0.9", "--artifact",
                       str(tmp_path / "model.bin"))  # fmt: skip
    assert code == 0, out
    run = labledger.get_run(out.strip(), workspace=team.open_as("vera"))
    assert (run.user, run.status, run.metrics) == ("ed", "finished", {"auc": 0.9})
    monkeypatch.setenv("LABLEDGER_TOKEN", team.tokens["vera"])
    shown = json.loads(runner.invoke(app, ["runs", "show", run.id, "--json"]).output)
    assert [a["name"] for a in shown["artifacts"]] == ["model.bin"]
    code, out = record("vera", "--metric", "auc=0.1")  # a viewer
    assert code == 1, out
