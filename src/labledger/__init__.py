"""labledger: pipelines, lineage, experiment tracking and a tamper-evident ledger for research teams.

The public Python API. Start with ``labledger.init()`` (or let the workspace be found from the current
folder), then track work with ``with labledger.start_run(params=...) as run:`` and ``log_metric``,
``log_artifact`` and friends; find it again with ``search_runs``, ``get_run`` and ``compare_runs``;
check the chain of trust with ``verify``. Build pipelines from ``@step`` functions called in a
``@pipeline`` body; every step is cached by content and recorded with its lineage.
"""

from labledger._foundation.errors import (
    ConfigurationError,
    FilterSyntaxError,
    IntegrityError,
    LabledgerError,
    NotFoundError,
    PipelineDefinitionError,
    RunStateError,
    StepFailedError,
    ValidationError,
    WorkspaceError,
    WorkspaceNotFoundError,
)
from labledger.pipelines import File, Folder, LocalExecutor, Resources, pipeline, reproduce, step
from labledger.tracking import (
    ActiveRun,
    Artifact,
    MetricPoint,
    Run,
    RunComparison,
    active_run,
    compare_runs,
    end_run,
    get_artifact,
    get_metric_history,
    get_run,
    list_artifacts,
    log_artifact,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    search_runs,
    set_tag,
    set_tags,
    start_run,
)
from labledger.workspace import Workspace, get_workspace, set_workspace
from labledger.workspace.api import checkpoint, init, open_workspace, prove, verify, verify_proof

__version__ = "0.1.0"

__all__ = [
    "ActiveRun",
    "Artifact",
    "ConfigurationError",
    "File",
    "FilterSyntaxError",
    "Folder",
    "IntegrityError",
    "LabledgerError",
    "LocalExecutor",
    "MetricPoint",
    "NotFoundError",
    "PipelineDefinitionError",
    "Resources",
    "Run",
    "RunComparison",
    "RunStateError",
    "StepFailedError",
    "ValidationError",
    "Workspace",
    "WorkspaceError",
    "WorkspaceNotFoundError",
    "__version__",
    "active_run",
    "checkpoint",
    "compare_runs",
    "end_run",
    "get_artifact",
    "get_metric_history",
    "get_run",
    "get_workspace",
    "init",
    "list_artifacts",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "open_workspace",
    "pipeline",
    "prove",
    "reproduce",
    "search_runs",
    "set_tag",
    "set_tags",
    "set_workspace",
    "start_run",
    "step",
    "verify",
    "verify_proof",
]
