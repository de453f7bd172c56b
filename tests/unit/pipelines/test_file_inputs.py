"""Files and folders a step reads are part of its cache key by content, and inputs in its lineage."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labledger._foundation.errors import NotFoundError, PipelineDefinitionError
from labledger.lineage import ReproStatus, ancestors, reproducibility
from labledger.pipelines import File, Folder, FolderArgumentWarning, step
from labledger.workspace import schema
from tests.unit.pipelines import file_pipelines as fp

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.workspace import Workspace


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def _age(path: Path, seconds: float = 10.0) -> None:
    """Make a file look untouched for a while, as files are between two real runs."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - int(seconds * 1e9)))


def test_editing_a_file_named_by_a_string_reruns_the_step(workspace: Workspace, here: Path) -> None:
    (here / "assay.csv").write_text("a,b\n1,2\n")
    first = fp.by_string.run(workspace=workspace)
    assert first.load("shout") == "A,B\n1,2\n"
    assert fp.by_string.run(workspace=workspace).executed == []
    (here / "assay.csv").write_text("a,b\n1,3\n")
    edited = fp.by_string.run(workspace=workspace)
    assert edited.executed == ["read_text", "shout"]
    assert edited.load("shout") == "A,B\n1,3\n"


def test_same_bytes_with_a_new_modification_time_stay_cached(
    workspace: Workspace, here: Path
) -> None:
    path = here / "assay.csv"
    path.write_text("x")
    fp.by_string.run(workspace=workspace)
    path.write_text("x")  # rewritten: new times, same bytes
    os.utime(path)
    assert fp.by_string.run(workspace=workspace).executed == []


def test_file_input_passes_a_path_and_is_recorded_as_an_input_artifact(
    workspace: Workspace, here: Path
) -> None:
    (here / "assay.csv").write_text("plate 1")
    result = fp.by_file.run(workspace=workspace)
    assert result.load("read_file") == "plate 1"
    task = result.tasks["read_file"]
    with workspace.read() as conn:
        rows = conn.execute(
            sa.select(
                schema.task_inputs.c.name.label("input"),
                schema.artifacts.c.kind,
                schema.artifacts.c.digest,
            )
            .select_from(
                schema.task_inputs.join(
                    schema.artifacts, schema.artifacts.c.id == schema.task_inputs.c.artifact_id
                )
            )
            .where(schema.task_inputs.c.task_id == task.task_id)
        ).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.input == "path"
    assert row.kind == "file"
    assert workspace.store.exists(row.digest)
    graph = ancestors(task.outputs["out"], workspace=workspace)
    assert "assay.csv" in {node.name for node in graph.nodes}
    assert reproducibility(task.outputs["out"], workspace=workspace) == ReproStatus.REPRODUCIBLE


def test_the_same_file_read_again_is_one_artifact(workspace: Workspace, here: Path) -> None:
    (here / "assay.csv").write_text("plate 1")
    fp.by_file.run(workspace=workspace)
    fp.by_file.run(workspace=workspace, path=str(here / "assay.csv"))  # a new key, same bytes
    with workspace.read() as conn:
        names = conn.execute(
            sa.select(schema.artifacts.c.name).where(schema.artifacts.c.kind == "file")
        ).scalars()
        assert sorted(names) == sorted(["assay.csv", str(here / "assay.csv")])
    fp.by_file.run(workspace=workspace, path=str(here / "assay.csv"))
    with workspace.read() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).where(schema.artifacts.c.kind == "file")
        ).scalar()
    assert count == 2


def test_one_file_given_twice_to_a_step_is_one_artifact(workspace: Workspace, here: Path) -> None:
    (here / "assay.csv").write_text("plate 1")
    run = fp.same_file_twice.run(workspace=workspace)
    assert run.load("read_both") == "plate 1plate 1"
    with workspace.read() as conn:
        names = conn.execute(
            sa.select(schema.artifacts.c.name).where(schema.artifacts.c.kind == "file")
        ).scalars()
        assert list(names) == ["assay.csv"]


def test_artifacts_of_many_file_inputs_are_found_in_one_query(
    workspace: Workspace, here: Path
) -> None:
    paths = []
    for index in range(50):
        (here / f"plate-{index}.csv").write_text(f"plate {index}")
        paths.append(f"plate-{index}.csv")
    fp.many.run(workspace=workspace, paths=paths)
    lookups: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        # Artifacts looked up by content (on PostgreSQL the reader is the writer too: the
        # statements that record and seal the run pass here as well).
        if statement.lstrip().upper().startswith("SELECT") and "artifacts.digest IN" in statement:
            lookups.append(statement)

    sa.event.listen(workspace.catalog.reader, "before_cursor_execute", count)
    try:
        again = fp.many.run(workspace=workspace, paths=paths)
    finally:
        sa.event.remove(workspace.catalog.reader, "before_cursor_execute", count)
    assert again.executed == []
    assert len(lookups) == 1  # the inputs' artifacts in one query, not one per file
    with workspace.read() as conn:
        count_ = conn.execute(
            sa.select(sa.func.count()).where(schema.artifacts.c.kind == "file")
        ).scalar()
    assert count_ == 50


def test_a_referenced_file_is_not_stored_and_makes_lineage_unverifiable(
    workspace: Workspace, here: Path
) -> None:
    (here / "assay.csv").write_text("secret plate")
    result = fp.by_file.run(workspace=workspace, store=False)
    out = result.tasks["read_file"].outputs["out"]
    assert reproducibility(out, workspace=workspace) == ReproStatus.UNVERIFIABLE
    import json

    from labledger._foundation.digests import digest_bytes

    with workspace.read() as conn:
        kinds = conn.execute(
            sa.select(schema.artifacts.c.kind, schema.artifacts.c.schema_json).where(
                schema.artifacts.c.name == "assay.csv"
            )
        ).all()
    assert [kind for kind, _ in kinds] == ["reference"]
    assert json.loads(kinds[0][1])["digest"] == digest_bytes(b"secret plate")
    # The bytes still decide the cache key.
    assert fp.by_file.run(workspace=workspace, store=False).executed == []
    (here / "assay.csv").write_text("secret plate 2")
    assert fp.by_file.run(workspace=workspace, store=False).executed == ["read_file"]


def test_editing_adding_or_removing_a_file_in_a_folder_reruns(
    workspace: Workspace, here: Path
) -> None:
    plates = here / "plates"
    (plates / "a").mkdir(parents=True)
    (plates / "a" / "1.txt").write_text("one")
    (plates / "2.txt").write_text("two")
    assert fp.by_folder.run(workspace=workspace).load("list_folder") == ["2.txt=two", "a/1.txt=one"]
    assert fp.by_folder.run(workspace=workspace).executed == []
    (plates / "a" / "1.txt").write_text("ONE")
    assert fp.by_folder.run(workspace=workspace).executed == ["list_folder"]
    (plates / "3.txt").write_text("three")
    assert fp.by_folder.run(workspace=workspace).executed == ["list_folder"]
    (plates / "3.txt").unlink()
    result = fp.by_folder.run(workspace=workspace)
    assert result.executed == []  # back to bytes seen before: a cache hit
    assert result.load("list_folder") == ["2.txt=two", "a/1.txt=ONE"]


def test_folder_digest_is_the_tree_digest_the_store_gives_it(
    workspace: Workspace, here: Path
) -> None:
    from labledger.materializers.paths import store_tree
    from labledger.workspace.stat_cache import StatCache

    (here / "plates" / "x").mkdir(parents=True)
    (here / "plates" / "x" / "b.txt").write_text("b")
    (here / "plates" / "a.txt").write_text("a")
    (here / "plates" / "x-y.txt").write_text("c")
    stored = store_tree(workspace.store, here / "plates")
    assert StatCache(None).hash_folder(here / "plates").digest == stored.digest


def test_a_path_value_is_an_input(workspace: Workspace, here: Path) -> None:
    (here / "assay.csv").write_text("1")
    assert fp.by_path_value.run(workspace=workspace).load("read_file") == "1"
    (here / "assay.csv").write_text("2")
    assert fp.by_path_value.run(workspace=workspace).load("read_file") == "2"


def test_declared_reads_are_part_of_the_key(workspace: Workspace, here: Path) -> None:
    (here / "assay.csv").write_text("a")
    (here / "settings.txt").write_text("+s1")
    assert fp.declared.run(workspace=workspace).load("with_settings") == "a+s1"
    (here / "settings.txt").write_text("+s2")
    result = fp.declared.run(workspace=workspace)
    assert result.executed == ["with_settings"]
    assert result.load("with_settings") == "a+s2"


def test_files_inside_a_list_argument_are_inputs(workspace: Workspace, here: Path) -> None:
    for name in ("a", "b"):
        (here / name).write_text(name)
    assert fp.many.run(workspace=workspace, paths=["a", "b"]).load("join_all") == "ab"
    (here / "b").write_text("B")
    assert fp.many.run(workspace=workspace, paths=["a", "b"]).load("join_all") == "aB"


def test_a_string_naming_a_folder_warns_with_the_fix(workspace: Workspace, here: Path) -> None:
    (here / "plates").mkdir()
    with pytest.warns(FolderArgumentWarning, match=r"labledger\.Folder\('plates'\)"):
        fp.folder_as_text.trace()


def test_a_missing_file_input_fails_naming_the_step_and_the_path(
    workspace: Workspace, here: Path
) -> None:
    with pytest.raises(NotFoundError, match=r"step 'read_file' reads 'nowhere\.csv'"):
        fp.by_file.run(workspace=workspace, path="nowhere.csv")


def test_file_and_folder_must_be_given_paths() -> None:
    with pytest.raises(PipelineDefinitionError):
        File(3)  # type: ignore[arg-type]
    with pytest.raises(PipelineDefinitionError):
        step(reads=[3])(lambda: None)  # type: ignore[list-item]
    assert repr(Folder("x", store=False)) == "Folder('x', store=False)"


def test_a_folder_given_as_a_file_is_refused(workspace: Workspace, here: Path) -> None:
    (here / "plates").mkdir()
    from labledger._foundation.errors import ValidationError

    with pytest.raises(ValidationError, match="is a folder"):
        fp.by_file.run(workspace=workspace, path="plates")


def test_symbolic_links_in_a_folder_input_are_refused(workspace: Workspace, here: Path) -> None:
    from labledger._foundation.errors import ValidationError

    (here / "plates").mkdir()
    (here / "outside.txt").write_text("o")
    (here / "plates" / "link.txt").symlink_to(here / "outside.txt")
    with pytest.raises(ValidationError, match="symbolic link"):
        fp.by_folder.run(workspace=workspace)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=st.binary(max_size=32), second=st.binary(max_size=32))
def test_the_key_changes_exactly_when_the_bytes_do(
    workspace: Workspace, here: Path, first: bytes, second: bytes
) -> None:
    path = here / "assay.csv"
    path.write_bytes(first)
    before = fp.by_bytes.run(workspace=workspace).tasks["read_bytes"].cache_key
    stat = path.stat()
    path.write_bytes(second)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the old times back
    after = fp.by_bytes.run(workspace=workspace).tasks["read_bytes"].cache_key
    assert (after == before) == (first == second)
    os.utime(path)  # a new modification time, the same bytes
    assert fp.by_bytes.run(workspace=workspace).tasks["read_bytes"].cache_key == after


def test_a_file_changed_while_the_step_ran_is_never_a_cache_hit(
    workspace: Workspace, here: Path
) -> None:
    from labledger.pipelines import InputChangedWarning

    (here / "assay.csv").write_text("v1")
    with pytest.warns(InputChangedWarning, match="changed while the step ran"):
        first = fp.self_editing.run(workspace=workspace)
    assert first.load("edits_its_input") == "v1"
    (here / "assay.csv").write_text("v1")  # the bytes the first key held, again
    with pytest.warns(InputChangedWarning):
        again = fp.self_editing.run(workspace=workspace)
    assert again.executed == ["edits_its_input"]


def test_inputs_are_never_hard_linked_into_the_store(
    tmp_path: Path, here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.workspace.workspace import Workspace as _Workspace

    monkeypatch.setenv("LABLEDGER_STORE_LINK", "hardlink")
    ws = _Workspace.init(tmp_path / "linked")
    try:
        path = here / "assay.csv"
        path.write_text("original")
        result = fp.by_file.run(workspace=ws)
        assert path.stat().st_nlink == 1
        with open(path, "r+") as handle:  # edited in place, as many tools do
            handle.write("EDITED!!")
        from labledger.workspace.verify import verify_workspace

        assert verify_workspace(ws).ok
        assert result.load("read_file") == "original"
    finally:
        ws.close()


def test_a_file_an_earlier_step_rewrites_is_hashed_again_for_a_later_step(
    workspace: Workspace, here: Path
) -> None:
    (here / "shared.txt").write_text("version 0\n")
    first = fp.rewritten_mid_run.run(workspace=workspace, version=1)
    assert first.load("peek") == "version 0\n"
    assert first.load("consume") == "version 1\n"
    fp.rewritten_mid_run.run(workspace=workspace, version=1)
    result = fp.rewritten_mid_run.run(workspace=workspace, version=2)
    assert result.load("consume") == "version 2\n"
    assert "consume" in result.executed
    with workspace.read() as conn:
        names = conn.execute(
            sa.select(schema.artifacts.c.name).where(schema.artifacts.c.run_id == first.run_id)
        ).scalars()
        assert {"shared.txt", "shared.txt#2"} <= set(names)


def test_a_referenced_input_cannot_be_exported_as_if_it_were_the_file(
    workspace: Workspace, here: Path
) -> None:
    import labledger
    from labledger._foundation.errors import ValidationError

    (here / "assay.csv").write_text("secret plate")
    fp.by_file.run(workspace=workspace, store=False)
    with pytest.raises(ValidationError, match="recorded by reference only"):
        labledger.tracking.export_artifact("assay.csv", here / "out/", workspace=workspace)
    assert not (here / "out" / "assay.csv").exists()


def test_a_folder_input_holding_the_workspace_leaves_the_workspace_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.workspace.workspace import Workspace as _Workspace

    project = tmp_path / "whole"
    project.mkdir()
    (project / "notes.txt").write_text("n")
    monkeypatch.chdir(project)
    ws = _Workspace.init(project)
    try:
        first = fp.whole_project.run(workspace=ws)
        assert first.load("list_texts") == ["notes.txt=n"]
        assert fp.whole_project.run(workspace=ws).executed == []
    finally:
        ws.close()


def test_an_unreadable_input_is_a_clear_error_naming_the_step(
    workspace: Workspace, here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger._foundation.errors import ValidationError
    from labledger.workspace import stat_cache

    (here / "assay.csv").write_text("x")

    def refused(path: object) -> str:  # a file the user may not read (root reads anything)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(stat_cache, "digest_file", refused)
    with pytest.raises(
        ValidationError, match=r"step 'read_text' reads 'assay.csv'.*Permission denied"
    ):
        fp.by_string.run(workspace=workspace)


def test_a_file_name_with_a_newline_is_still_an_input(workspace: Workspace, here: Path) -> None:
    name = "odd\nname.csv"
    (here / name).write_text("one")
    assert fp.by_string.run(workspace=workspace, path=name).load("shout") == "ONE"
    (here / name).write_text("two")
    assert fp.by_string.run(workspace=workspace, path=name).load("shout") == "TWO"


def test_a_file_constant_the_code_opens_is_an_input(workspace: Workspace, here: Path) -> None:
    (here / "notes.txt").write_text("first")
    assert fp.notes_constant.run(workspace=workspace).load("read_notes") == "first"
    (here / "notes.txt").write_text("second")
    result = fp.notes_constant.run(workspace=workspace)
    assert result.executed == ["read_notes"]
    assert result.load("read_notes") == "second"
