"""``labledger artifacts``: list, show and get."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from typer.testing import Result

    from labledger.workspace.workspace import Workspace


def _where(ws: Workspace) -> str:
    return str(ws.settings.root)


def test_list_json_and_filters(cli: Callable[..., Result], populated: Workspace) -> None:
    result = cli("artifacts", "list", "-w", _where(populated), "--json")
    assert result.exit_code == 0, result.output
    artifacts = json.loads(result.stdout)
    assert sorted(a["name"] for a in artifacts) == ["images", "model.bin", "scores.json"]

    trees = json.loads(
        cli("artifacts", "list", "-w", _where(populated), "--kind", "tree", "--json").stdout
    )
    assert [a["name"] for a in trees] == ["images"]

    baseline = next(a["run_id"] for a in artifacts if a["name"] == "images")
    of_run = cli("artifacts", "list", "-w", _where(populated), "--run", baseline[:20], "--json")
    assert sorted(a["name"] for a in json.loads(of_run.stdout)) == ["images", "scores.json"]


def test_list_table(cli: Callable[..., Result], populated: Workspace) -> None:
    result = cli("artifacts", "list", "-w", _where(populated))
    assert result.exit_code == 0
    for text in ("images", "tree", "model.bin", "scores.json", "json"):
        assert text in result.stdout


def test_show_by_name_json_and_table(cli: Callable[..., Result], populated: Workspace) -> None:
    result = cli("artifacts", "show", "images", "-w", _where(populated), "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["kind"] == "tree"
    assert shown["stats"] == {"bytes": 9, "files": 2}
    assert shown["digest"].startswith("blake3:")

    by_digest = json.loads(
        cli("artifacts", "show", shown["digest"], "-w", _where(populated), "--json").stdout
    )
    assert by_digest["id"] == shown["id"]

    table = cli("artifacts", "show", shown["id"], "-w", _where(populated))
    assert table.exit_code == 0
    assert shown["digest"] in table.stdout and "files" in table.stdout


def test_get_file_into_a_folder(
    cli: Callable[..., Result], populated: Workspace, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    result = cli("artifacts", "get", "model.bin", str(dest), "-w", _where(populated))
    assert result.exit_code == 0, result.output
    assert (dest / "model.bin").read_bytes() == b"weights"
    assert [p.name for p in dest.iterdir()] == ["model.bin"]
    assert "wrote" in result.stdout


def test_get_file_to_a_path(
    cli: Callable[..., Result], populated: Workspace, tmp_path: Path
) -> None:
    target = tmp_path / "scores-copy.json"
    assert (
        cli("artifacts", "get", "scores.json", str(target), "-w", _where(populated)).exit_code == 0
    )
    assert json.loads(target.read_text()) == {"auc": 0.75}


def test_get_tree_defaults_to_a_folder_named_after_it(
    cli: Callable[..., Result],
    populated: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    result = cli("artifacts", "get", "images", "-w", _where(populated))
    assert result.exit_code == 0, result.output
    assert (here / "images" / "a.txt").read_text() == "alpha"
    assert (here / "images" / "sub" / "b.txt").read_text() == "beta"
    assert sorted(p.relative_to(here).as_posix() for p in here.rglob("*")) == [
        "images",
        "images/a.txt",
        "images/sub",
        "images/sub/b.txt",
    ]


def test_unknown_artifact_is_one_line(cli: Callable[..., Result], populated: Workspace) -> None:
    for args in (("show", "nope"), ("get", "nope"), ("list", "--run", "ffffffff-0000")):
        result = cli("artifacts", *args, "-w", _where(populated))
        assert result.exit_code == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: no "), result.stderr


def test_get_into_a_new_folder_given_with_a_trailing_slash(
    cli: Callable[..., Result], populated: Workspace, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    result = cli("artifacts", "get", "model.bin", f"{dest}/", "-w", _where(populated))
    assert result.exit_code == 0, result.output
    assert dest.is_dir()
    assert (dest / "model.bin").read_bytes() == b"weights"


def test_get_refuses_to_overwrite_a_file_without_force(
    cli: Callable[..., Result], populated: Workspace, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    assert cli("artifacts", "get", "model.bin", str(target), "-w", _where(populated)).exit_code == 0
    assert target.read_bytes() == b"weights"
    again = cli("artifacts", "get", "scores.json", str(target), "-w", _where(populated))
    assert again.exit_code == 1
    assert "exists" in again.stderr and "--force" in again.stderr
    assert target.read_bytes() == b"weights"
    forced = cli("artifacts", "get", "scores.json", str(target), "--force", "-w", _where(populated))
    assert forced.exit_code == 0, forced.output
    assert json.loads(target.read_text()) == {"auc": 0.75}


def _forge_name(ws: Workspace, ref: str, name: str) -> str:
    """Give an artifact's catalog row another name, as an edited catalog would; return its id."""
    import sqlalchemy as sa

    from labledger.tracking import get_artifact
    from labledger.workspace import schema

    artifact_id = get_artifact(ref, workspace=ws).id
    with ws.write() as conn:
        conn.execute(
            sa.update(schema.artifacts)
            .where(schema.artifacts.c.id == artifact_id)
            .values(name=name)
        )
    return artifact_id


def _corrupt(ws: Workspace, digest: str) -> None:
    path = ws.settings.root / "objects" / digest[7:9] / digest[7:]
    path.chmod(0o644)  # blobs are read-only
    path.write_bytes(b"tampered bytes")


@pytest.fixture
def below(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder ``parent/here``, with ``parent/a.txt`` that no export may touch."""
    parent = tmp_path / "parent"
    (parent / "here").mkdir(parents=True)
    (parent / "a.txt").write_text("original")
    monkeypatch.chdir(parent / "here")
    return parent


def _untouched(parent: Path) -> None:
    assert (parent / "a.txt").read_text() == "original"
    assert sorted(p.relative_to(parent).as_posix() for p in parent.rglob("*")) == [
        "a.txt",
        "here",
    ]


@pytest.mark.parametrize("ref", ["images", "model.bin"])
def test_get_an_artifact_named_dot_dot_is_refused(
    cli: Callable[..., Result], populated: Workspace, below: Path, ref: str
) -> None:
    artifact_id = _forge_name(populated, ref, "..")
    result = cli("artifacts", "get", artifact_id, "-w", _where(populated))
    assert result.exit_code == 1
    assert "'..'" in result.stderr and "pass a destination" in result.stderr
    _untouched(below)
    named = cli("artifacts", "get", artifact_id, "exported", "-w", _where(populated))
    assert named.exit_code == 0, named.output
    assert (below / "here" / "exported").exists()


@pytest.mark.parametrize("entry", ["../a.txt", "/etc/x", "C:x", "a\x00b", "a", "a/b"])
def test_get_refuses_a_manifest_entry_that_leaves_the_folder(
    cli: Callable[..., Result],
    workspace_factory: Callable[..., Workspace],
    below: Path,
    entry: str,
) -> None:
    from labledger._foundation.canonical import canonical_json

    ws = workspace_factory(runs=[{"name": "r", "artifacts": {"t": b"placeholder"}}])
    blob = ws.store.put(b"evil")
    entries = [{"path": entry.replace("\\x00", "\x00"), "digest": blob, "size": 4}]
    if entry == "a/b":  # a file named a, and a file inside it
        entries.insert(0, {"path": "a", "digest": blob, "size": 4})
    document = canonical_json({"kind": "tree", "entries": entries})
    manifest = ws.store.put(document)
    import sqlalchemy as sa

    from labledger.workspace import schema

    with ws.write() as conn:
        ws.register_blob(conn, manifest, len(document))
        conn.execute(
            sa.update(schema.artifacts)
            .where(schema.artifacts.c.name == "t")
            .values(kind="tree", format="tree", digest=manifest)
        )
    for args in ((), ("out",)):
        result = cli("artifacts", "get", "t", *args, "-w", _where(ws))
        if entry == "a":  # a plain entry: the forged tree exports
            assert result.exit_code == 0, result.output
            continue
        assert result.exit_code == 1, result.output
        assert "tree entry" in result.stderr
        _untouched(below)


def test_get_refuses_a_linked_destination(
    cli: Callable[..., Result], populated: Workspace, below: Path
) -> None:
    (below / "here" / "link.bin").symlink_to(below / "a.txt")
    (below / "here" / "dir").symlink_to(below, target_is_directory=True)
    for args in (("model.bin", "link.bin", "--force"), ("model.bin", "dir/"), ("images", "dir")):
        result = cli("artifacts", "get", *args, "-w", _where(populated))
        assert result.exit_code == 1, result.output
        assert "symbolic link" in result.stderr
    assert (below / "a.txt").read_text() == "original"
    assert sorted(p.name for p in below.iterdir()) == ["a.txt", "here"]


@pytest.mark.parametrize(("ref", "dest"), [("model.bin", "out.bin"), ("images", "out")])
def test_get_refuses_corrupt_bytes_and_writes_nothing(
    cli: Callable[..., Result], populated: Workspace, below: Path, ref: str, dest: str
) -> None:
    from labledger.tracking import get_artifact
    from labledger.tracking.artifacts import read_tree

    artifact = get_artifact(ref, workspace=populated)
    digest = artifact.digest
    if artifact.kind == "tree":
        digest = read_tree(populated, digest)[-1]["digest"]
    _corrupt(populated, digest)
    for args in ((ref,), (ref, dest), (ref, "../", "--force")):
        result = cli("artifacts", "get", *args, "-w", _where(populated))
        assert result.exit_code == 1, result.output
        assert "corrupt" in result.stderr and digest in result.stderr, result.stderr
        assert f"artifact {ref!r}" in result.stderr
        _untouched(below)


def test_show_draws_numeric_statistics_as_a_table_per_column(
    cli: Callable[..., Result], workspace_factory: Callable[..., Workspace]
) -> None:
    import pandas as pd

    frame = pd.DataFrame({"dose": [1.0, 2.0, None], "cell_line": ["HeLa", "A549", "HeLa"]})
    ws = workspace_factory(runs=[{"name": "r", "artifacts": {"doses": frame}}])
    result = cli("artifacts", "show", "doses", "-w", _where(ws))
    assert result.exit_code == 0, result.output
    assert "{" not in result.stdout  # no dict dumped
    header = next(
        line for line in result.stdout.splitlines() if "column" in line and "mean" in line
    )
    for figure in ("type", "nulls", "min", "max"):
        assert figure in header
    dose = next(line for line in result.stdout.splitlines() if line.startswith("│ dose"))
    assert "1.5" in dose and "double" in dose
    assert any(line.startswith("│ cell_line") for line in result.stdout.splitlines())
