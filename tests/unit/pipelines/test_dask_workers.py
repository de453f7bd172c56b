"""What Dask workers receive: the task and where the blob store is, never the catalog."""

from __future__ import annotations

import dataclasses
import pickle
from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.settings import Settings
from labledger.workspace.fsspec_store import FsspecBlobStore
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.store_spec import StoreSpec
from labledger.workspace.workspace import make_store
from tests.unit.pipelines import sample_pipelines as sp

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from labledger.workspace.workspace import Workspace

PASSWORD = "hunter2-catalog-password"
CATALOG_URL = f"postgresql+psycopg://lab:{PASSWORD}@catalog.internal:5432/lab"


def test_a_store_spec_holds_the_store_and_nothing_of_the_catalog(tmp_path: Path) -> None:
    settings = Settings(
        catalog_url=CATALOG_URL,
        store_url=str(tmp_path / "objects"),
        s3_endpoint_url="http://s3.internal:9000",
        verify_on_read=True,
        store_link="copy",
    )
    spec = StoreSpec.of(settings)
    assert spec == StoreSpec(
        url=str(tmp_path / "objects"),
        s3_endpoint_url="http://s3.internal:9000",
        verify_on_read=True,
        link="copy",
    )
    sent = pickle.dumps(spec)
    assert PASSWORD.encode() not in sent
    assert b"catalog.internal" not in sent
    assert pickle.loads(sent) == spec
    store = spec.open()
    assert isinstance(store, LocalBlobStore)
    assert (store.verify_on_read, store.link) == (True, "copy")
    digest = store.put(b"blob")
    assert make_store(settings).open(digest).read() == b"blob"


def test_a_store_spec_opens_an_fsspec_store_for_a_url() -> None:
    store = StoreSpec(url="memory://labledger-spec/blobs", verify_on_read=True).open()
    assert isinstance(store, FsspecBlobStore)
    digest = store.put(b"in memory")
    assert store.open(digest).read() == b"in memory"
    assert store.verify_on_read


def test_a_store_spec_of_a_server_workspace_reaches_the_server_with_the_workers_own_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("httpx")
    from labledger._foundation.settings import server_settings
    from labledger.workspace.http.blobs import HttpBlobStore

    monkeypatch.setenv("LABLEDGER_TOKEN", "lle_worker-secret")
    spec = StoreSpec.of(server_settings("http://lab.internal:8080/"))
    assert spec.server and spec.url == "http://lab.internal:8080"
    assert b"lle_worker-secret" not in pickle.dumps(spec)  # each worker finds its own
    store = pickle.loads(pickle.dumps(spec)).open()
    assert isinstance(store, HttpBlobStore)
    assert store.url == "http://lab.internal:8080"
    # A worker the server refuses is told that it is the worker's token that is missing.
    import httpx

    from labledger._foundation.errors import AuthenticationError
    from labledger.workspace.http.client import error_from_response

    refused = httpx.Response(401, json={"code": "unauthenticated", "message": "needs a token"})
    hint = store._client.login_hint  # type: ignore[attr-defined]
    error = error_from_response(refused, store.url, login_hint=hint)
    assert isinstance(error, AuthenticationError)
    assert "LABLEDGER_TOKEN" in (error.hint or "") and "Dask" in (error.hint or "")


@pytest.fixture
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        dashboard_address="127.0.0.1:0",
        silence_logs=50,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_dask_workers_are_sent_no_catalog_url_or_password(
    workspace: Workspace, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed.protocol.pickle import dumps

    from labledger.pipelines import DaskExecutor

    sqlite_url = workspace.settings.catalog_url
    # A SQLite catalog has no password: the settings the executor reads name a PostgreSQL one.
    workspace.settings = dataclasses.replace(workspace.settings, catalog_url=CATALOG_URL)
    submitted: list[tuple[Any, ...]] = []
    submit = client.submit

    def recording_submit(function: Any, *args: Any, **kwargs: Any) -> Any:
        submitted.append(args)
        return submit(function, *args, **kwargs)

    monkeypatch.setattr(client, "submit", recording_submit)

    result = sp.arithmetic.run(workspace=workspace, executor=DaskExecutor(client), cache=False)

    assert result.status == "finished"
    assert len(submitted) == len(result.executed) > 0
    for args in submitted:
        assert not any(isinstance(arg, Settings) for arg in args)
        assert StoreSpec.of(workspace.settings) in args
        sent = dumps(args)
        for secret in (PASSWORD, CATALOG_URL, "catalog.internal", sqlite_url, "catalog.db"):
            assert secret.encode() not in sent, secret
    # The worker wrote every output to the workspace's folder store.
    for task in result.tasks.values():
        for digest in task.digests.values():
            assert workspace.store.exists(digest)
    local = sp.arithmetic.run(workspace=workspace, cache=False)
    assert {n: t.digests for n, t in local.tasks.items()} == {
        n: t.digests for n, t in result.tasks.items()
    }
