"""Artifacts: files, folders as trees, values by type; names; reading and exporting them back."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import labledger
from labledger._foundation.canonical import canonical_json
from labledger._foundation.digests import digest_bytes, digest_file, digest_record
from labledger._foundation.errors import IntegrityError, NotFoundError, ValidationError
from labledger.tracking.artifacts import (
    export_artifact,
    get_artifact,
    list_artifacts,
    read_tree,
    store_artifact,
)
from labledger.workspace import schema
from labledger.workspace.ledger import iter_entries
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.tracking.types import Artifact
    from labledger.workspace.workspace import Workspace


def _read(ws: Workspace, digest: str) -> bytes:
    with ws.store.open(digest) as handle:
        return handle.read()


def test_a_file(current: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "plate.CSV"
    path.write_text("well,signal\nA1,0.5\n")
    with labledger.start_run() as run:
        artifact = labledger.log_artifact(path)
    assert artifact.name == "plate.CSV"
    assert (artifact.kind, artifact.format) == ("file", "csv")
    assert artifact.digest == digest_file(path)
    assert artifact.size == path.stat().st_size
    assert artifact.run_id == run.id
    assert artifact.created_by == current.actor
    assert artifact.stats == {"bytes": artifact.size}
    assert _read(current, artifact.digest) == path.read_bytes()
    assert get_artifact(artifact.id, workspace=current) == artifact
    out = export_artifact(artifact, tmp_path / "out.csv", workspace=current)
    assert out.read_bytes() == path.read_bytes()


def test_a_file_given_as_a_string_and_without_a_suffix(current: Workspace, tmp_path: Path) -> None:
    (tmp_path / "README").write_bytes(b"notes")
    with labledger.start_run():
        artifact = labledger.log_artifact(str(tmp_path / "README"))
    assert (artifact.kind, artifact.format) == ("file", "bin")


def test_a_folder_is_a_tree_and_exports_back(current: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (folder / "sub" / "config.json").write_text('{"depth": 3}')
    (folder / "sub" / "deeper" / "empty.txt").write_bytes(b"")
    with labledger.start_run():
        artifact = labledger.log_artifact(folder)
    assert (artifact.kind, artifact.format, artifact.name) == ("tree", "tree", "model")
    assert artifact.stats == {"files": 3, "bytes": 2000 + len('{"depth": 3}')}
    entries = read_tree(current, artifact.digest)
    assert [e["path"] for e in entries] == [
        "sub/config.json",
        "sub/deeper/empty.txt",
        "weights.bin",
    ]
    for entry in entries:
        assert entry["digest"] == digest_file(folder / entry["path"])
        assert current.store.exists(entry["digest"])
    out = export_artifact(artifact, tmp_path / "restored", workspace=current)
    restored = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert restored == [e["path"] for e in entries]
    for entry in entries:
        assert (out / entry["path"]).read_bytes() == (folder / entry["path"]).read_bytes()
    # Every blob of the tree is referenced, so verify re-hashes them all and gc keeps them.
    report = verify_workspace(current)
    assert report.ok
    assert report.blobs_checked >= 4


def test_tree_digest_changes_exactly_when_content_or_paths_change(
    current: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    with labledger.start_run():
        first = labledger.log_artifact(folder, name="v1")
        same = labledger.log_artifact(folder, name="v1-again")
        (folder / "a.txt").rename(folder / "b.txt")
        renamed = labledger.log_artifact(folder, name="v2")
        (folder / "b.txt").write_text("b")
        edited = labledger.log_artifact(folder, name="v3")
    assert first.digest == same.digest
    assert len({first.digest, renamed.digest, edited.digest}) == 3


def test_equal_dataframes_have_equal_digests(current: Workspace, tmp_path: Path) -> None:
    frame = pd.DataFrame({"well": ["A1", "A2", "A3"], "signal": [0.5, 0.7, float("nan")]})
    twin = pd.DataFrame({"well": ["A1", "A2", "A3"], "signal": [0.5, 0.7, float("nan")]})
    with labledger.start_run():
        artifact = labledger.log_artifact(frame, name="plate")
        again = labledger.log_artifact(twin, name="plate-again")
        changed = labledger.log_artifact(twin.assign(signal=[0.5, 0.7, 0.9]), name="changed")
    assert (artifact.kind, artifact.format) == ("table", "parquet")
    assert artifact.digest == again.digest
    assert changed.digest != artifact.digest
    assert artifact.stats["rows"] == 3
    assert artifact.stats["numeric"]["signal"] == {
        "min": 0.5,
        "max": 0.7,
        "mean": pytest.approx(0.6),
        "nulls": 1,
    }
    assert {"name": "signal", "type": "double"} in artifact.schema["fields"]
    out = export_artifact(artifact, tmp_path / "plate.parquet", workspace=current)
    pd.testing.assert_frame_equal(pd.read_parquet(out), frame)


def test_an_ndarray(current: Workspace, tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    with labledger.start_run():
        artifact = labledger.log_artifact(array, name="weights")
    assert (artifact.kind, artifact.format) == ("array", "npy")
    assert artifact.schema == {"dtype": "float32", "shape": [3, 4]}
    assert artifact.stats == {"size": 12, "min": 0.0, "max": 11.0, "mean": 5.5}
    out = export_artifact(artifact, tmp_path, workspace=current)
    assert out.name == "weights.npy"
    np.testing.assert_array_equal(np.load(out), array)


def test_json_values(current: Workspace) -> None:
    with labledger.start_run():
        artifact = labledger.log_artifact({"b": [1, 2], "a": float("inf")}, name="summary")
        listed = labledger.log_artifact([1, 2, 3])
    assert (artifact.kind, artifact.format) == ("json", "json")
    assert json.loads(_read(current, artifact.digest)) == {"a": "Infinity", "b": [1, 2]}
    assert artifact.stats == {"items": 2}
    assert listed.name == f"json-{listed.digest[7:15]}"


def test_bytes(current: Workspace) -> None:
    with labledger.start_run():
        artifact = labledger.log_artifact(b"\x00raw", name="raw")
        view = labledger.log_artifact(memoryview(b"\x00raw"), name="view")
    assert (artifact.kind, artifact.format) == ("bytes", "bin")
    assert artifact.digest == view.digest == digest_bytes(b"\x00raw")
    assert _read(current, artifact.digest) == b"\x00raw"


def test_a_model_is_stored_with_skops_and_reads_back(current: Workspace) -> None:
    from sklearn.linear_model import LogisticRegression

    from labledger.materializers import load, ref_for

    features = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(features, [0, 0, 1, 1])
    with labledger.start_run():
        artifact = labledger.log_artifact(model, name="classifier")
    assert (artifact.kind, artifact.format) == ("model", "skops")
    assert artifact.schema["type"] == "sklearn.linear_model._logistic.LogisticRegression"
    ref = ref_for(digest=artifact.digest, kind=artifact.kind, format=artifact.format)
    loaded = load(ref, current.store)
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    assert verify_workspace(current).ok


def test_a_folder_with_a_link_is_refused(current: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "real.txt").write_text("x")
    (folder / "link.txt").symlink_to(folder / "real.txt")
    with labledger.start_run(), pytest.raises(ValidationError, match="symbolic link"):
        labledger.log_artifact(folder)
    assert list_artifacts(workspace=current) == []


def test_a_name_clash_in_one_run_is_an_error(current: Workspace) -> None:
    with labledger.start_run() as run:
        labledger.log_artifact(b"one", name="model")
        with pytest.raises(ValidationError) as caught:
            labledger.log_artifact(b"two", name="model")
        assert "pass another name=" in str(caught.value)
    with labledger.start_run():
        labledger.log_artifact(b"two", name="model")  # another run may reuse the name
    assert [a.name for a in list_artifacts(run_id=run.id, workspace=current)] == ["model"]
    assert verify_workspace(current).ok


def test_a_missing_path_is_not_found(current: Workspace, tmp_path: Path) -> None:
    with labledger.start_run():
        with pytest.raises(NotFoundError) as caught:
            labledger.log_artifact(tmp_path / "absent.csv")
    assert "pass bytes, a dict or a list" in str(caught.value)


@pytest.mark.parametrize("name", ["x" * 301, 42])
def test_invalid_names(current: Workspace, name: object) -> None:
    with labledger.start_run(), pytest.raises(ValidationError, match="artifact name"):
        labledger.log_artifact(b"x", name=name)  # type: ignore[arg-type]


def test_unstorable_values(current: Workspace) -> None:
    with labledger.start_run():
        with pytest.raises(ValidationError, match="cannot store"):
            labledger.log_artifact(object())
        with pytest.raises(ValidationError, match="cannot store"):
            labledger.log_artifact({"k": {1, 2}})
        with pytest.raises(ValidationError, match="object arrays"):
            labledger.log_artifact(np.array([object()]))
    with current.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(schema.artifacts)).scalar_one() == 0
        )


def test_artifacts_are_in_the_ledger_and_search_index(current: Workspace) -> None:
    with labledger.start_run() as run:
        artifact = labledger.log_artifact(pd.DataFrame({"signal": [1.0]}), name="plate")
    with current.read() as conn:
        (entry,) = iter_entries(conn, kind="artifact.produced")
        body = conn.execute(
            sa.select(schema.search_documents.c.body).where(
                schema.search_documents.c.target_id == artifact.id
            )
        ).scalar_one()
    assert entry.payload == {
        "artifact_id": artifact.id,
        "name": "plate",
        "digest": artifact.digest,
        "run_id": run.id,
        "kind": "table",
        "size": artifact.size,
        "format": "parquet",
        "created_at": artifact.created_at,
        "schema_digest": digest_record(artifact.schema),
        "stats_digest": digest_record(artifact.stats),
    }
    assert "signal" in body


def test_artifacts_without_a_run(current: Workspace) -> None:
    artifact = store_artifact(current, b"free", name="loose")
    assert artifact.run_id is None
    assert store_artifact(current, b"free", name="loose").id != artifact.id


def test_get_artifact_by_id_name_or_digest(current: Workspace) -> None:
    with labledger.start_run():
        old = labledger.log_artifact(b"v1", name="model")
    with labledger.start_run():
        new = labledger.log_artifact(b"v2", name="model")
    assert get_artifact(old.id, workspace=current) == old
    assert get_artifact("model", workspace=current) == new  # the newest of that name
    assert get_artifact(old.digest, workspace=current) == old
    with pytest.raises(NotFoundError) as caught:
        get_artifact("nothing", workspace=current)
    assert "labledger artifacts list" in str(caught.value)


def test_get_artifact_by_the_digest_prefix_tables_show(current: Workspace) -> None:
    with labledger.start_run():
        first = labledger.log_artifact(b"v1", name="a")
    with labledger.start_run():
        again = labledger.log_artifact(b"v1", name="b")  # the same bytes, newer
        other = labledger.log_artifact(b"v2", name="c")
    shown = first.digest[7:19]  # as `labledger run` and `runs show` print a digest
    assert get_artifact(shown, workspace=current) == again  # the newest of that digest
    assert get_artifact(f"blake3:{shown}", workspace=current) == again
    assert get_artifact(other.digest[7:15], workspace=current) == other
    with pytest.raises(NotFoundError):
        get_artifact(first.digest[7:13], workspace=current)  # under 8 characters: no prefix
    with pytest.raises(NotFoundError):
        get_artifact("ffffffff" if not first.digest.startswith("blake3:ff") else "00000000",
                     workspace=current)  # fmt: skip


def test_a_digest_prefix_of_several_digests_is_ambiguous(current: Workspace) -> None:
    import sqlalchemy as sa

    with labledger.start_run():
        one = labledger.log_artifact(b"v1", name="a")
        two = labledger.log_artifact(b"v2", name="b")
    with current.write() as conn:  # two digests that share their first 10 characters
        for artifact, tail in ((one, "0" * 54), (two, "1" * 54)):
            conn.execute(
                sa.text("INSERT INTO blobs (digest, size, created_at) VALUES (:d, 2, 0)"),
                {"d": f"blake3:abcdef1234{tail}"},
            )
            conn.execute(
                sa.text("UPDATE artifacts SET digest = :d WHERE id = :i"),
                {"d": f"blake3:abcdef1234{tail}", "i": artifact.id},
            )
    with pytest.raises(ValidationError, match="digest prefix 'abcdef1234' is ambiguous"):
        get_artifact("abcdef1234", workspace=current)
    assert get_artifact("abcdef12340", workspace=current).id == one.id


def test_list_artifacts_filters(current: Workspace) -> None:
    with labledger.start_run() as run:
        labledger.log_artifact(b"x", name="b")
        labledger.log_artifact([1], name="j")
    with labledger.start_run():
        labledger.log_artifact(b"y", name="other")
    assert {a.name for a in list_artifacts(run_id=run.id, workspace=current)} == {"b", "j"}
    assert {a.name for a in list_artifacts(kind="bytes", workspace=current)} == {"b", "other"}
    assert len(list_artifacts(limit=1, workspace=current)) == 1


def test_export_into_a_folder_never_escapes_it(current: Workspace, tmp_path: Path) -> None:
    artifact = store_artifact(current, b"payload", name="../../escape")
    target = tmp_path / "exports"
    target.mkdir()
    out = export_artifact(artifact, target, workspace=current)
    assert out.parent == target
    assert out.read_bytes() == b"payload"


def test_a_tree_manifest_cannot_point_outside_the_destination(
    current: Workspace, tmp_path: Path
) -> None:
    inner = current.store.put(b"evil")
    manifest = canonical_json(
        {"kind": "tree", "entries": [{"path": "../evil.txt", "digest": inner, "size": 4}]}
    )
    digest = current.store.put(manifest)
    tree = get_artifact(store_artifact(current, b"placeholder", name="t").id, workspace=current)
    forged = dataclasses.replace(tree, kind="tree", digest=digest)
    with pytest.raises(ValidationError, match="outside"):
        export_artifact(forged, tmp_path / "dest", workspace=current)
    assert not (tmp_path / "evil.txt").exists()


def test_read_tree_refuses_other_blobs(current: Workspace) -> None:
    digest = current.store.put(b'{"kind": "not a tree"}')
    with pytest.raises(ValidationError, match="not a tree"):
        read_tree(current, digest)


def _rename(ws: Workspace, artifact_id: str, name: str) -> Artifact:
    """Forge the catalog row's name, as an edited catalog would hold it."""
    with ws.write() as conn:
        conn.execute(
            sa.update(schema.artifacts)
            .where(schema.artifacts.c.id == artifact_id)
            .values(name=name)
        )
    return get_artifact(artifact_id, workspace=ws)


def _corrupt(ws: Workspace, digest: str, data: bytes) -> None:
    path = ws.store.path_of(digest)  # type: ignore[attr-defined]
    path.chmod(0o644)  # blobs are read-only
    path.write_bytes(data)


@pytest.mark.parametrize("name", ["..", ".", "a/..", "", "C:", "a\nb"])
@pytest.mark.parametrize("kind", ["file", "tree"])
def test_a_name_that_is_no_file_name_is_refused_without_a_destination(
    current: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    kind: str,
) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "victim.txt").write_bytes(b"from the artifact")
    stored = store_artifact(current, source if kind == "tree" else source / "victim.txt")
    artifact = _rename(current, stored.id, name)
    parent = tmp_path / "parent"
    (parent / "here").mkdir(parents=True)
    (parent / "victim.txt").write_bytes(b"original")
    monkeypatch.chdir(parent / "here")
    with pytest.raises(ValidationError, match="pass a destination"):
        export_artifact(artifact, workspace=current)
    assert (parent / "victim.txt").read_bytes() == b"original"
    assert sorted(p.name for p in parent.rglob("*")) == ["here", "victim.txt"]
    out = export_artifact(artifact, parent / "here" / "named", workspace=current)
    assert out == parent / "here" / "named"


def test_a_corrupt_file_artifact_raises_and_writes_nothing(
    current: Workspace, tmp_path: Path
) -> None:
    artifact = store_artifact(current, b"weights", name="model.bin")
    _corrupt(current, artifact.digest, b"tampered")
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "model.bin").write_bytes(b"original")
    for destination, overwrite in ((exports / "out.bin", False), (exports, True)):
        with pytest.raises(IntegrityError, match=r"artifact 'model.bin' \(.*corrupt") as raised:
            export_artifact(artifact, destination, overwrite=overwrite, workspace=current)
        assert artifact.id in str(raised.value) and artifact.digest in str(raised.value)
    assert sorted(p.name for p in exports.iterdir()) == ["model.bin"]
    assert (exports / "model.bin").read_bytes() == b"original"


def test_a_corrupt_file_in_a_tree_raises_and_writes_nothing(
    current: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.txt").write_text("beta")
    artifact = store_artifact(current, folder)
    bad = next(e for e in read_tree(current, artifact.digest) if e["path"] == "sub/b.txt")
    _corrupt(current, bad["digest"], b"evil")
    out = tmp_path / "out"
    with pytest.raises(IntegrityError, match=r"'sub/b.txt' of artifact 'images'"):
        export_artifact(artifact, out, workspace=current)
    assert not out.exists()
    # Nothing else was written either: the workspace (and its blobs) and the folder remain.
    assert "images" in {p.name for p in tmp_path.iterdir()}
    assert {p.name for p in tmp_path.iterdir()} <= {".labledger", "objects", "images"}


@pytest.mark.parametrize(
    "entry", ["../evil.txt", "/tmp/evil.txt", "C:evil.txt", "a\x00b", "a\\..\\..\\evil.txt"]
)
def test_tree_entries_that_leave_the_destination_are_refused(
    current: Workspace, tmp_path: Path, entry: str
) -> None:
    inner = current.store.put(b"evil")
    manifest = canonical_json(
        {
            "kind": "tree",
            "entries": [
                {"path": "ok.txt", "digest": inner, "size": 4},
                {"path": entry, "digest": inner, "size": 4},
            ],
        }
    )
    tree = get_artifact(store_artifact(current, b"placeholder", name="t").id, workspace=current)
    forged = dataclasses.replace(tree, kind="tree", digest=current.store.put(manifest))
    with pytest.raises(ValidationError, match="tree entry"):
        export_artifact(forged, tmp_path / "dest", workspace=current)
    assert not (tmp_path / "dest").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_a_linked_destination_is_refused(current: Workspace, tmp_path: Path) -> None:
    artifact = store_artifact(current, b"weights", name="model.bin")
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"original")
    (tmp_path / "link.bin").symlink_to(victim)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "linked").symlink_to(elsewhere, target_is_directory=True)
    for destination in (tmp_path / "link.bin", tmp_path / "linked", f"{tmp_path}/linked/"):
        with pytest.raises(ValidationError, match="symbolic link"):
            export_artifact(artifact, destination, overwrite=True, workspace=current)
    assert victim.read_bytes() == b"original"
    assert list(elsewhere.iterdir()) == []


def test_an_artifact_is_filed_in_its_runs_project(current: Workspace) -> None:
    """Who may see a run may see what it made, and nobody else: a run's artifact is in its
    project, not in the workspace's default one."""
    with labledger.start_run("fit", project="imaging") as run:
        made = run.log_artifact({"auc": 0.9}, name="scores.json")
    with current.read() as conn:
        filed = conn.execute(
            sa.select(schema.artifacts.c.project_id).where(schema.artifacts.c.id == made.id)
        ).scalar_one()
    assert filed == current.project_id("imaging") != current.project_id()
    assert verify_workspace(current, remember=False).ok
