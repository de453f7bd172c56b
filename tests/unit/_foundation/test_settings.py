"""Resolving where the workspace is: argument, LABLEDGER_URI, then discovery from the folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import (
    ConfigurationError,
    WorkspaceError,
    WorkspaceNotFoundError,
)
from labledger._foundation.settings import (
    DEFAULT_STORE_LINK,
    NO_STORE,
    STORE_LINKS,
    WORKSPACE_DIRNAME,
    find_workspace_root,
    local_settings,
    masked_uri,
    parse_store_link,
    resolve_settings,
)

if TYPE_CHECKING:
    from pathlib import Path


def _make(folder: Path) -> Path:
    root = folder / WORKSPACE_DIRNAME
    root.mkdir(parents=True)
    return root.resolve()


def test_local_settings_layout(tmp_path: Path) -> None:
    settings = local_settings(tmp_path / ".labledger")
    assert settings.catalog_url == f"sqlite:///{tmp_path / '.labledger' / 'catalog.db'}"
    assert settings.store_url == str(tmp_path / ".labledger" / "objects")
    assert settings.root == tmp_path / ".labledger"
    assert settings.verify_on_read is False


def test_discovery_walks_up_from_a_nested_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _make(tmp_path / "study")
    nested = tmp_path / "study" / "analysis" / "notebooks" / "deep"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    assert find_workspace_root() == root
    settings = resolve_settings()
    assert settings.root == root
    assert settings.catalog_url.endswith("catalog.db")


def test_discovery_finds_the_nearest_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make(tmp_path)
    inner = _make(tmp_path / "sub")
    monkeypatch.chdir(tmp_path / "sub")
    assert resolve_settings().root == inner


def test_a_file_named_like_the_workspace_is_not_a_workspace(tmp_path: Path) -> None:
    (tmp_path / WORKSPACE_DIRNAME).write_text("not a folder")
    assert find_workspace_root(tmp_path) in (
        None,
        *[p / WORKSPACE_DIRNAME for p in tmp_path.parents],
    )
    assert find_workspace_root(tmp_path) != tmp_path / WORKSPACE_DIRNAME


def test_env_uri_beats_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make(tmp_path / "here")
    there = _make(tmp_path / "there")
    monkeypatch.chdir(tmp_path / "here")
    monkeypatch.setenv("LABLEDGER_URI", str(tmp_path / "there"))
    assert resolve_settings().root == there


def test_argument_beats_env_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make(tmp_path / "env")
    arg = _make(tmp_path / "arg")
    monkeypatch.setenv("LABLEDGER_URI", str(tmp_path / "env"))
    assert resolve_settings(tmp_path / "arg").root == arg


def test_empty_env_uri_falls_back_to_discovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _make(tmp_path)
    monkeypatch.setenv("LABLEDGER_URI", "")
    monkeypatch.chdir(tmp_path)
    assert resolve_settings().root == root


def test_file_uri_and_dotlabledger_path_name_the_same_workspace(tmp_path: Path) -> None:
    root = _make(tmp_path)
    assert resolve_settings(f"file://{tmp_path}").root == root
    assert resolve_settings(tmp_path / WORKSPACE_DIRNAME).root == root
    assert resolve_settings(str(tmp_path)).root == root


def test_nothing_found_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    if find_workspace_root() is not None:
        pytest.skip("a workspace exists above the temporary folder")
    with pytest.raises(WorkspaceNotFoundError) as caught:
        resolve_settings()
    assert "labledger init" in str(caught.value)
    assert caught.value.hint


def test_missing_folder_raises_unless_it_may_not_exist(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceNotFoundError, match="labledger init"):
        resolve_settings(tmp_path / "nowhere")
    settings = resolve_settings(tmp_path / "nowhere", must_exist=False)
    assert settings.root == (tmp_path / "nowhere" / WORKSPACE_DIRNAME).resolve()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://lab:s3cret@db.example:5432/lab",
        "postgresql+psycopg://lab:s3cret@db.example/lab",
        "postgres://lab:s3cret@db.example/lab",
        "sqlite:////srv/lab/catalog.db",
    ],
)
def test_database_url_needs_a_blob_store(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_settings(url)
    assert "LABLEDGER_STORE" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    monkeypatch.setenv("LABLEDGER_URI", url)
    with pytest.raises(ConfigurationError):
        resolve_settings()


def test_database_url_with_a_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABLEDGER_STORE", "s3://bucket/prefix")
    monkeypatch.setenv("LABLEDGER_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("LABLEDGER_VERIFY_ON_READ", "yes")
    settings = resolve_settings("postgresql://lab@db/lab")
    assert settings.catalog_url == "postgresql://lab@db/lab"
    assert settings.store_url == "s3://bucket/prefix"
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"
    assert settings.root is None
    assert settings.verify_on_read is True


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_verify_on_read_truthy_values(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make(tmp_path)
    monkeypatch.setenv("LABLEDGER_VERIFY_ON_READ", value)
    assert resolve_settings(tmp_path).verify_on_read is True


@pytest.mark.parametrize("value", ["", "0", "no", "off", "maybe"])
def test_verify_on_read_falsy_values(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make(tmp_path)
    monkeypatch.setenv("LABLEDGER_VERIFY_ON_READ", value)
    assert resolve_settings(tmp_path).verify_on_read is False


@pytest.mark.parametrize("uri", ["mysql://db/lab", "ftp://host/folder", "s3://bucket/ws"])
def test_unknown_scheme(uri: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_settings(uri)
    assert "scheme" in str(caught.value)
    assert caught.value.hint


def test_not_found_is_a_workspace_error() -> None:
    assert issubclass(WorkspaceNotFoundError, WorkspaceError)


def test_store_link_defaults_to_reflink(tmp_path: Path) -> None:
    _make(tmp_path)
    assert DEFAULT_STORE_LINK == "reflink"
    assert resolve_settings(tmp_path).store_link == "reflink"
    assert local_settings(tmp_path / ".labledger").store_link == "reflink"


@pytest.mark.parametrize("value", ["copy", "reflink", "hardlink", " HardLink "])
def test_store_link_from_the_environment(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make(tmp_path)
    monkeypatch.setenv("LABLEDGER_STORE_LINK", value)
    assert resolve_settings(tmp_path).store_link == value.strip().lower()
    monkeypatch.setenv("LABLEDGER_STORE", "s3://bucket/prefix")
    assert resolve_settings("postgresql://lab@db/lab").store_link == value.strip().lower()


@pytest.mark.parametrize("value", ["symlink", "copy,reflink", "yes"])
def test_an_unknown_store_link_is_a_configuration_error(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make(tmp_path)
    monkeypatch.setenv("LABLEDGER_STORE_LINK", value)
    with pytest.raises(ConfigurationError, match="LABLEDGER_STORE_LINK") as caught:
        resolve_settings(tmp_path)
    assert all(link in str(caught.value) for link in STORE_LINKS)


def test_parse_store_link_treats_empty_as_the_default() -> None:
    assert parse_store_link(None) == parse_store_link("") == DEFAULT_STORE_LINK


def test_a_database_without_a_store_is_named_with_its_password_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LABLEDGER_STORE", raising=False)
    uri = "postgresql+psycopg://pi:hunter2@127.0.0.1:55432/labledger"
    with pytest.raises(ConfigurationError) as refused:
        resolve_settings(uri)
    message = str(refused.value)
    assert "'postgresql+psycopg://pi:***@127.0.0.1:55432/labledger'" in message
    assert "hunter2" not in message
    assert masked_uri("postgresql://db.example/labledger") == "postgresql://db.example/labledger"
    catalog = resolve_settings(uri, catalog_only=True)
    assert (catalog.catalog_url, catalog.store_url) == (uri, NO_STORE)


def test_a_workspace_opened_for_its_catalog_refuses_blobs() -> None:
    from labledger.workspace.no_store import NoBlobStore
    from labledger.workspace.store_spec import StoreSpec

    store = StoreSpec(url=NO_STORE).open()
    assert isinstance(store, NoBlobStore)
    with pytest.raises(ConfigurationError, match="LABLEDGER_STORE"):
        store.put(b"x")
    with pytest.raises(ConfigurationError, match="without a blob store"):
        store.exists("0" * 64)


@pytest.mark.parametrize("uri", ["127.0.0.1:18540", "localhost:8080", "lab.internal:8080/ll"])
def test_a_server_address_without_its_scheme_is_pointed_at_http(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises((ConfigurationError, WorkspaceNotFoundError)) as caught:
        resolve_settings(uri)
    assert f"http://{uri}" in (caught.value.hint or "")
    assert "labledger init" not in (caught.value.hint or "")


def test_a_server_url_copied_with_its_api_prefix_is_the_server_root() -> None:
    from labledger._foundation.settings import server_settings

    assert server_settings("http://lab:8080/api/v1/").server_url == "http://lab:8080"
