"""The recursive lineage queries and the statuses against a real PostgreSQL server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger.lineage import (
    ReproStatus,
    ancestors,
    descendants,
    export_prov,
    graph_reproducibility,
    reproducibility,
    run_lineage,
)
from tests.unit.lineage.graphs import LineageBuilder, build_study

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration


def test_lineage_queries_on_postgres(pg_workspace: Workspace) -> None:
    ws = pg_workspace
    study = build_study(ws)
    a, t = study.artifacts, study.tasks

    up = ancestors("report", workspace=ws)
    assert {n.id for n in up.nodes} == study.ids(
        "report", "task:report", "model", "task:train", "clean", "task:clean", "raw"
    )
    assert len(up.edges) == 6
    assert {n.id for n in ancestors("report", depth=1, workspace=ws).nodes} == study.ids(
        "report", "task:report", "model"
    )

    down = descendants(a["raw"], workspace=ws)
    assert len(down.nodes) == 18 and len(down.edges) == len(set(down.edges))
    assert {(e.source, e.cached) for e in down.edges if e.target == a["clean"]} == {
        (t["clean"], False),
        (t["clean2"], True),
    }
    assert {n.id for n in descendants(a["raw"], depth=1, workspace=ws).nodes} == study.ids(
        "raw", "task:clean", "task:clean2", "clean"
    )
    assert len(run_lineage(study.runs["second"], workspace=ws).tasks()) == 4

    statuses = graph_reproducibility(down, workspace=ws)
    assert statuses[a["model"]] == ReproStatus.VERIFIED
    assert statuses[a["noisy"]] == ReproStatus.UNVERIFIABLE
    assert statuses[a["report"]] == ReproStatus.REPRODUCIBLE
    ws.store.delete(study.digest("clean"))
    assert reproducibility(a["report"], workspace=ws) == ReproStatus.BROKEN
    assert reproducibility(a["raw"], workspace=ws) == ReproStatus.REPRODUCIBLE

    document = export_prov(study.runs["second"], workspace=ws)
    assert len(document["entity"]) == 7


def test_a_deep_chain_on_postgres(pg_workspace: Workspace) -> None:
    b = LineageBuilder(pg_workspace)
    links = b.chain(b.run("chain"), 1100)
    up = ancestors(links[-1], workspace=pg_workspace)
    assert len(up.artifacts()) == 1101 and len(up.edges) == 2200
    down = descendants(links[0], depth=5, workspace=pg_workspace)
    assert {n.id for n in down.artifacts()} == set(links[:6])
    assert reproducibility(links[-1], workspace=pg_workspace) == ReproStatus.REPRODUCIBLE
