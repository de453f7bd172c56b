"""A pipeline run in one project, recorded through a workspace's stores.

``record_scene`` writes (over HTTP, for a remote workspace) what a pipeline leaves behind: a tracked run of kind
``pipeline`` in the project, its pipeline record, one task that read an input artifact and made
an output (whose blobs it uploads first), an artifact the run logged itself, and the run's seal.
The project-scoping tests read the scene back as members and non-members of its project, and
through the stores' ``projects=``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labledger._foundation.ids import new_id
from labledger.stores.artifacts import Artifact
from labledger.stores.artifacts import NewArtifact as NewLoggedArtifact
from labledger.stores.tasks import (
    NewArtifact,
    PipelineRunRecord,
    TaskBatch,
    TaskInput,
    TaskOutput,
    TaskRow,
)
from labledger.tracking import start_run

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = ["Scene", "record_scene"]


@dataclass(frozen=True)
class Scene:
    """What ``record_scene`` recorded, by id."""

    project: str
    run_id: str
    pipeline: str
    task_id: str
    cache_key: str
    input_id: str
    output_id: str
    output_name: str
    output_digest: str
    logged_id: str


def record_scene(remote: Workspace, project: str, *, reads: str | None = None) -> Scene:
    """Record a pipeline run in ``project`` through ``remote`` (an editor's workspace there).

    Args:
        remote: The workspace of an editor of ``project`` (reached over HTTP or not).
        project: The project's name.
        reads: An artifact id (of any project the editor reads) for the task to read; by
            default it reads a file of its own run.
    """
    tasks = remote.stores.tasks
    run = start_run(f"pipe-{project}", kind="pipeline", project=project, workspace=remote)
    pipeline = f"scenes:{project}"
    tasks.create_pipeline_run(PipelineRunRecord(run.id, pipeline, None, None, 0, "{}"))
    now = time.time()
    project_id = remote.project_id(project)  # a server sets it itself
    raw, made, logged = (f"{part} of {project} {new_id()}".encode() for part in "rml")
    blobs = {remote.store.put(data): len(data) for data in (raw, made, logged)}
    raw_digest, made_digest, logged_digest = list(blobs)
    cache_key = f"key-{project}-{new_id()}"
    task = TaskRow(
        new_id(), run.id, "fit", "scenes.fit", "f" * 8, cache_key, "finished", None, 1, now, now,
        "{}", "{}", True, None, None, None,
    )  # fmt: skip
    output = NewArtifact(
        new_id(), project_id, f"model-{project}", "value", "json", made_digest, len(made), "{}", "{}",
        run.id, now, "anyone",
    )  # fmt: skip
    artifacts = [output]
    input_id = reads
    if input_id is None:
        source = NewArtifact(
            new_id(), project_id, f"plate-{project}", "file", "bytes", raw_digest, len(raw), "{}", "{}",
            run.id, now, "anyone",
        )  # fmt: skip
        artifacts.append(source)
        input_id = source.id
    tasks.record_tasks(
        TaskBatch(
            tasks=[task],
            inputs=[TaskInput(task.id, "plate", input_id)],
            outputs=[TaskOutput(task.id, "return", output.id, True, "json")],
            artifacts=artifacts,
            blobs=blobs,
        )
    )
    note = Artifact(
        id=new_id(),
        name=f"notes-{project}",
        kind="file",
        format="bytes",
        digest=logged_digest,
        size=len(logged),
        run_id=run.id,
        created_at=now,
        created_by="anyone",
    )
    remote.stores.artifacts.add_artifacts(
        [NewLoggedArtifact(note, project_id, ((logged_digest, len(logged)),))]
    )
    run.end("finished")
    return Scene(
        project=project,
        run_id=run.id,
        pipeline=pipeline,
        task_id=task.id,
        cache_key=cache_key,
        input_id=input_id,
        output_id=output.id,
        output_name=output.name,
        output_digest=made_digest,
        logged_id=note.id,
    )
