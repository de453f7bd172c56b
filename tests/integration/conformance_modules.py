"""The unit test modules each store conformance module reruns against another store, named once
so the PostgreSQL and HTTP runs of a service cannot drift apart."""

from __future__ import annotations

from tests.unit.tracking import (
    test_artifact_projects,
    test_artifacts,
    test_environment,
    test_filters,
    test_metric_batches,
    test_metrics,
    test_plots,
    test_query,
    test_run,
    test_run_store,
    test_search_index,
    test_step_log_records,
    test_values_at_the_door,
)

__all__ = ["TRACKING"]

# test_run_rows is left out: it compares SQLite's driver path with SQLAlchemy's on SQLite.
TRACKING = (
    test_artifact_projects,
    test_artifacts,
    test_environment,
    test_filters,
    test_metric_batches,
    test_metrics,
    test_plots,
    test_query,
    test_run,
    test_run_store,
    test_search_index,
    test_step_log_records,
    test_values_at_the_door,
)
