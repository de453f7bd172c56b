"""Pipelines: plain Python steps whose outputs are cached by content and recorded with lineage.

Decorate functions with ``@step``, call them in a ``@pipeline`` body, and ``run`` it: every step's
result is cached by its code, inputs, params and environment, stored by a materializer, and linked
to what it read. What steps print or log is kept per task (``get_task_logs``). ``reproduce``
re-executes a run from its code snapshot and compares digests.
"""

from labledger.pipelines.cache import CorruptCacheWarning, UnsealedCacheWarning
from labledger.pipelines.definition import Pipeline, pipeline
from labledger.pipelines.executor import Executor, LocalExecutor
from labledger.pipelines.explain import PipelineStatus, Reason, StepStatus, status
from labledger.pipelines.file_inputs import File, Folder, FolderArgumentWarning, InputChangedWarning
from labledger.pipelines.graph import Handle
from labledger.pipelines.loader import load_pipeline
from labledger.pipelines.reproduction import OutputCheck, Reproduction, reproduce
from labledger.pipelines.resources import Resources
from labledger.pipelines.steps import Step, step
from labledger.pipelines.task_logs import TaskLog, get_task_logs
from labledger.pipelines.types import PipelineRun, RunInterrupted, TaskOutcome

__all__ = [
    "CorruptCacheWarning",
    "DaskExecutor",
    "Executor",
    "File",
    "Folder",
    "FolderArgumentWarning",
    "Handle",
    "InputChangedWarning",
    "LocalExecutor",
    "OutputCheck",
    "Pipeline",
    "PipelineRun",
    "PipelineStatus",
    "Reason",
    "Reproduction",
    "Resources",
    "RunInterrupted",
    "Step",
    "StepStatus",
    "TaskLog",
    "TaskOutcome",
    "UnsealedCacheWarning",
    "get_task_logs",
    "load_pipeline",
    "pipeline",
    "reproduce",
    "status",
    "step",
]


def __getattr__(name: str) -> object:
    # The Dask executor is imported on first use: Dask is an optional, heavy dependency.
    if name == "DaskExecutor":
        from labledger.pipelines.dask_executor import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
