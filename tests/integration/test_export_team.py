"""Exporting from a team workspace (PostgreSQL + S3): damaged bytes are refused, nothing written."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import labledger
from labledger._foundation.errors import IntegrityError
from labledger.workspace.current import set_workspace
from labledger.workspace.fsspec_store import FsspecBlobStore

if TYPE_CHECKING:
    from pathlib import Path

    from tests.integration.conftest import S3Server

pytestmark = pytest.mark.integration


def test_a_corrupt_s3_blob_is_refused_and_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch,
    fresh_postgres_url: str,
    s3_server: S3Server,
    s3_bucket_url: str,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("LABLEDGER_URI", fresh_postgres_url)
    monkeypatch.setenv("LABLEDGER_STORE", s3_bucket_url)
    monkeypatch.setenv("LABLEDGER_S3_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    ws = labledger.init()
    try:
        assert isinstance(ws.store, FsspecBlobStore)
        data = tmp_path / "model.bin"
        data.write_bytes(b"weights" * 1000)
        with labledger.start_run("train"):
            artifact = labledger.log_artifact(data)
        out = tmp_path / "out"
        assert labledger.tracking.export_artifact(artifact, out / "ok.bin").read_bytes() == (
            data.read_bytes()
        )
        # Someone rewrites the object in the bucket behind the store's back.
        s3_server.filesystem().pipe_file(ws.store.path_of(artifact.digest), b"tampered")
        ws.store._fresh(ws.store.path_of(artifact.digest))
        with pytest.raises(IntegrityError, match=r"artifact 'model.bin' .*corrupt"):
            labledger.tracking.export_artifact(artifact, out / "bad.bin")
        with pytest.raises(IntegrityError):
            labledger.tracking.export_artifact(artifact, out / "ok.bin", overwrite=True)
        assert sorted(p.name for p in out.iterdir()) == ["ok.bin"]
        assert (out / "ok.bin").read_bytes() == data.read_bytes()
    finally:
        set_workspace(None)
        ws.close()
