"""How settings reach an opened workspace: LABLEDGER_URI, discovery, verify-on-read, stores."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import ConfigurationError, IntegrityError
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path


def test_open_reads_labledger_uri(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("LABLEDGER_URI", str(tmp_path))
    with Workspace.open() as ws:
        assert ws.settings.root == workspace.settings.root


def test_open_discovers_from_a_nested_folder(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nested = tmp_path / "src" / "analysis"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    with Workspace.open() as ws:
        assert ws.settings.root == workspace.settings.root


def test_verify_on_read_reaches_the_store(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = workspace.store.put(b"original")
    assert isinstance(workspace.store, LocalBlobStore)
    path = workspace.store.path_of(digest)
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    with workspace.store.open(digest) as handle:
        assert handle.read() == b"tampered"  # off by default: reads are not re-hashed
    monkeypatch.setenv("LABLEDGER_VERIFY_ON_READ", "1")
    with Workspace.open(tmp_path) as ws:
        assert ws.settings.verify_on_read
        with pytest.raises(IntegrityError, match="corrupt"), ws.store.open(digest) as handle:
            handle.read()


def test_a_database_uri_without_a_store_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LABLEDGER_URI", "postgresql://lab@127.0.0.1:1/lab")
    with pytest.raises(ConfigurationError, match="LABLEDGER_STORE"):
        Workspace.open()
    with pytest.raises(ConfigurationError, match="LABLEDGER_STORE"):
        Workspace.init()


def test_sqlite_url_with_a_folder_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABLEDGER_STORE", str(tmp_path / "blobs"))
    with Workspace.init(f"sqlite:///{tmp_path / 'team.db'}") as ws:
        assert ws.settings.root is None
        assert isinstance(ws.store, LocalBlobStore)
        digest = ws.store.put(b"shared")
        assert (tmp_path / "blobs").is_dir()
        assert ws.store.exists(digest)
    with Workspace.open(f"sqlite:///{tmp_path / 'team.db'}") as ws:
        assert ws.store.exists(digest)


def test_an_unreadable_signing_key_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "key.pem").write_text("not a key")
    monkeypatch.setenv("LABLEDGER_SIGNING_KEY", str(tmp_path / "key.pem"))
    with pytest.raises(ConfigurationError, match="labledger keys create"):
        Workspace.init(tmp_path)
