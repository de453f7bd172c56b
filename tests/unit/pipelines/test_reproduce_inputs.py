"""Reproducing a run that read files: the re-run reads them as the run recorded them, from anywhere."""

from __future__ import annotations

import shutil
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import IntegrityError, ValidationError
from labledger.lineage import ReproStatus, explain_status
from labledger.pipelines import load_pipeline, reproduce

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.workspace import Workspace

STUDY = """
from pathlib import Path

from labledger.pipelines import File, Folder, pipeline, step


@step
def read_text(path: str) -> str:
    return Path(path).read_text()


@step(reads=["settings.txt"])
def with_settings(text: str) -> str:
    return text + Path("settings.txt").read_text()


@step
def listing(folder: Path) -> list:
    return sorted(
        f"{p.relative_to(folder).as_posix()}={p.read_text()}"
        for p in folder.rglob("*")
        if p.is_file()
    )


@pipeline
def by_string(path: str = "assay.csv") -> None:
    with_settings(read_text(path))


@pipeline
def by_file(path: str = "assay.csv", store: bool = True) -> None:
    read_text(File(path, store=store))


@pipeline
def by_folder(folder: str = "plates") -> None:
    listing(Folder(folder))


@step(reads=["../shared.csv"])
def above() -> str:
    return Path("../shared.csv").read_text()


@pipeline
def reads_above() -> None:
    above()


@step
def first_line(path: Path, folder: Path) -> str:
    return path.read_text() + str(sorted(p.name for p in folder.iterdir()))


@pipeline
def referenced_folder_and_stored_file() -> None:
    first_line(File("plates/a.csv"), Folder("plates", store=False))
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A project folder holding study_inputs.py and its data, as the working folder."""
    folder = tmp_path / "project"
    (folder / "plates" / "sub").mkdir(parents=True)
    (folder / "study_inputs.py").write_text(textwrap.dedent(STUDY))
    (folder / "assay.csv").write_text("dose,response\n1,0.2\n")
    (folder / "settings.txt").write_text("scale=2\n")
    (folder / "plates" / "a.csv").write_text("a")
    (folder / "plates" / "sub" / "b.csv").write_text("b")
    monkeypatch.chdir(folder)
    yield folder
    sys.modules.pop("study_inputs", None)
    if str(folder) in sys.path:
        sys.path.remove(str(folder))


def _pipe(folder: Path, name: str):
    return load_pipeline(f"{folder / 'study_inputs.py'}:{name}")


def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    return other


def test_relative_inputs_are_read_as_recorded_from_another_folder(
    workspace: Workspace, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _pipe(project, "by_string").run(workspace=workspace)
    _elsewhere(tmp_path, monkeypatch)
    # The originals are gone or edited: only the recorded bytes can give the same outputs.
    (project / "assay.csv").unlink()
    (project / "settings.txt").write_text("scale=3\n")
    result = reproduce(run.run_id, workspace=workspace)
    assert result.error is None, (result.error, result.hint)
    assert result.matched
    assert {c.node for c in result.checks} == {"read_text", "with_settings"}
    assert explain_status("with_settings", workspace=workspace).status is ReproStatus.VERIFIED


def test_a_folder_input_is_written_back_whole(
    workspace: Workspace, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _pipe(project, "by_folder").run(workspace=workspace)
    assert run.load("listing") == ["a.csv=a", "sub/b.csv=b"]
    _elsewhere(tmp_path, monkeypatch)
    shutil.rmtree(project / "plates")
    result = reproduce(run.run_id, workspace=workspace)
    assert result.error is None, (result.error, result.hint)
    assert result.matched


@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_absolute_and_dotdot_paths_are_mapped_to_the_recorded_bytes(
    workspace: Workspace,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "assay.csv").write_text("recorded")
    path = str(data / "assay.csv") if how == "absolute" else "../data/assay.csv"
    run = _pipe(project, "by_file").run(workspace=workspace, path=path)
    assert run.load("read_text") == "recorded"
    (data / "assay.csv").write_text("edited since")
    _elsewhere(tmp_path, monkeypatch)
    result = reproduce(run.run_id, workspace=workspace)
    assert result.error is None, (result.error, result.hint)
    assert result.matched


def test_an_unchanged_reference_input_is_read_where_it_was(
    workspace: Workspace, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _pipe(project, "by_file").run(workspace=workspace, store=False)
    _elsewhere(tmp_path, monkeypatch)
    result = reproduce(run.run_id, workspace=workspace)
    assert result.error is None, (result.error, result.hint)
    assert result.matched


def test_a_reference_input_that_changed_is_refused_naming_the_file(
    workspace: Workspace, project: Path
) -> None:
    run = _pipe(project, "by_file").run(workspace=workspace, store=False)
    why = explain_status("read_text", workspace=workspace)
    assert why.status is ReproStatus.UNVERIFIABLE
    assert any("'assay.csv'" in r and "store=False" in r for r in why.reasons), why.reasons
    (project / "assay.csv").write_text("dose,response\n1,0.9\n")
    with pytest.raises(ValidationError, match=r"'assay\.csv'.*store=False.*changed") as caught:
        reproduce(run.run_id, workspace=workspace)
    assert str(project / "assay.csv") in caught.value.message
    (project / "assay.csv").unlink()
    with pytest.raises(ValidationError, match="store=False"):
        reproduce(run.run_id, workspace=workspace)


def test_a_failing_rerun_says_which_step_and_where_its_log_is(
    workspace: Workspace, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _pipe(project, "by_string").run(workspace=workspace)
    # The snapshot's code is what re-runs: break it there, as a lost dependency would. The seal
    # covers these rows, so the check that refuses edited runs is set aside for this test.
    import sqlalchemy as sa

    from labledger.pipelines import reproduction
    from labledger.workspace import schema

    monkeypatch.setattr(reproduction, "_check_sealed", lambda ws, run_id: None)

    with workspace.write() as conn:
        conn.execute(
            sa.update(schema.pipeline_runs)
            .where(schema.pipeline_runs.c.run_id == run.run_id)
            .values(params_json='{"path": "nowhere.csv"}')
        )
    _elsewhere(tmp_path, monkeypatch)
    result = reproduce(run.run_id, workspace=workspace)
    assert not result.matched
    assert result.error is not None and "nowhere.csv" in result.error
    assert result.hint is not None
    assert "cached" not in result.hint
    assert f"labledger runs logs {result.rerun_id} read_text" in result.hint


def test_a_path_above_the_working_folder_is_read_from_the_recorded_copy(
    workspace: Workspace, project: Path, tmp_path: Path
) -> None:
    (project.parent / "shared.csv").write_text("recorded")
    pipe = _pipe(project, "reads_above")
    result = pipe.run(workspace=workspace)
    (project.parent / "shared.csv").write_text("planted by someone else")
    outcome = reproduce(result.run_id, workspace=workspace)
    assert outcome.matched, outcome
    # A reproduction is evidence, never a cache entry: the original result stays the cached one.
    (project.parent / "shared.csv").write_text("recorded")
    again = pipe.run(workspace=workspace)
    assert again.executed == []
    assert again.load("above") == "recorded"


def test_a_reproduction_that_differs_is_never_served_from_the_cache(
    workspace: Workspace, project: Path
) -> None:
    import sqlalchemy as sa

    from labledger.workspace import schema

    pipe = _pipe(project, "by_string")
    result = pipe.run(workspace=workspace)
    outcome = reproduce(result.run_id, workspace=workspace)
    assert outcome.rerun_id is not None
    with workspace.read() as conn:
        rerun_keys = set(
            conn.execute(
                sa.select(schema.tasks.c.cache_key).where(schema.tasks.c.run_id == outcome.rerun_id)
            ).scalars()
        )
    from labledger.pipelines.cache import CacheReader

    with CacheReader(workspace) as reader:
        for key in rerun_keys:
            hit = reader.lookup(key, outputs=("out",))
            assert hit is None or hit.run_id == result.run_id


def test_reproduce_never_writes_to_the_users_files(workspace: Workspace, project: Path) -> None:
    pipe = _pipe(project, "referenced_folder_and_stored_file")
    result = pipe.run(workspace=workspace)
    original = project / "plates" / "a.csv"
    before = original.stat()
    outcome = reproduce(result.run_id, workspace=workspace)
    assert outcome.matched, outcome
    after = original.stat()
    assert (after.st_ino, after.st_mtime_ns, original.read_text()) == (
        before.st_ino,
        before.st_mtime_ns,
        "a",
    )


def test_a_run_whose_record_changed_after_the_seal_is_not_reproduced(
    workspace: Workspace, project: Path
) -> None:
    import sqlalchemy as sa

    from labledger._foundation.errors import IntegrityError
    from labledger.workspace import schema

    result = _pipe(project, "by_string").run(workspace=workspace)
    with workspace.write() as conn:
        conn.execute(
            sa.update(schema.tasks)
            .where(schema.tasks.c.run_id == result.run_id, schema.tasks.c.node == "read_text")
            .values(status="cached")
        )
    with pytest.raises(IntegrityError, match="changed after it was sealed"):
        reproduce(result.run_id, workspace=workspace)


def test_a_damaged_input_blob_is_refused_not_replayed(
    workspace: Workspace, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger._foundation.digests import digest_file

    run = _pipe(project, "by_folder").run(workspace=workspace)
    blob = workspace.store.path_of(digest_file(project / "plates" / "sub" / "b.csv"))  # type: ignore[attr-defined]
    blob.chmod(0o644)  # blobs are read-only
    blob.write_text("B")
    _elsewhere(tmp_path, monkeypatch)
    with pytest.raises(IntegrityError, match=r"'sub/b.csv' of input 'plates'.*corrupt"):
        reproduce(run.run_id, workspace=workspace)
