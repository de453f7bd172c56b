"""Why a run search found nothing: names no run has, with the close ones runs do have."""

from __future__ import annotations

from typing import TYPE_CHECKING

import labledger
from labledger.tracking.filter_hints import UnknownKey, unknown_keys

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


def test_names_no_run_has_come_with_the_closest_known_one(workspace: Workspace) -> None:
    with labledger.start_run(
        params={"model": "gbm"}, tags={"team": "assay"}, workspace=workspace
    ) as run:
        run.log_metric("val_loss", 0.3)
    found = unknown_keys(
        "metrics.val_los < 1 or (params.modle = gbm and not tags.team = x) or metrics.zzz > 1",
        workspace=workspace,
    )
    assert found == [
        UnknownKey("metrics.val_los", "metrics.val_loss"),
        UnknownKey("params.modle", "params.model"),
        UnknownKey("metrics.zzz", None),
    ]
    assert unknown_keys("metrics.val_loss > 5 and status = 'failed'", workspace=workspace) == []
    assert unknown_keys("assay", workspace=workspace) == []  # a text term names no key


def test_keys_are_looked_for_in_the_project_searched(workspace: Workspace) -> None:
    with labledger.start_run(project="other", workspace=workspace) as run:
        run.log_metric("auc", 0.9)
    assert unknown_keys("metrics.auc > 0.95", project="other", workspace=workspace) == []
    with labledger.start_run(workspace=workspace):
        pass
    assert unknown_keys("metrics.auc > 0.95", project="default", workspace=workspace) == [
        UnknownKey("metrics.auc", None)
    ]
