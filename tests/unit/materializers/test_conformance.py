"""Every built-in materializer against the same promises, in memory and in a local store."""

from __future__ import annotations

import importlib.metadata
import json
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.canonical import canonical_text
from labledger._foundation.digests import digest_bytes
from labledger.materializers import CatalogRef, Stored, load, ref_for, save
from labledger.materializers.registry import GROUP
from tests.unit.materializers.cases import CASES, Case

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.blobstore import BlobStore


def _read(store: BlobStore, digest: str) -> bytes:
    with store.open(digest) as handle:
        return handle.read()


@pytest.fixture(params=CASES, ids=[case.id for case in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    chosen: Case = request.param
    if chosen.needs:
        pytest.importorskip(chosen.needs)
    return chosen


def test_every_built_in_materializer_has_a_case() -> None:
    declared = {
        entry.name
        for entry in importlib.metadata.entry_points(group=GROUP)
        if entry.value.startswith("labledger.materializers.")
    }
    assert declared == {case.materializer for case in CASES}


def test_save_describes_what_it_wrote(case: Case, store: BlobStore, tmp_path: Path) -> None:
    stored = save(case.make(tmp_path), store, **case.save_options)
    assert isinstance(stored, Stored)
    assert (stored.materializer, stored.kind, stored.format) == (
        case.materializer,
        case.kind,
        case.format,
    )
    assert stored.schema or stored.stats
    # Both land in the catalog as canonical JSON.
    json.loads(canonical_text(stored.schema))
    json.loads(canonical_text(stored.stats))
    assert (stored.digest, stored.size) in stored.blobs
    assert len(set(stored.blobs)) == len(stored.blobs)


def test_the_store_holds_every_blob_listed(case: Case, store: BlobStore, tmp_path: Path) -> None:
    stored = save(case.make(tmp_path), store, **case.save_options)
    for digest, size in stored.blobs:
        data = _read(store, digest)
        assert len(data) == size == store.size(digest)
        assert digest_bytes(data) == digest


def test_equal_values_give_equal_digests(case: Case, store: BlobStore, tmp_path: Path) -> None:
    first = save(case.make(tmp_path), store, **case.save_options)
    twin = save(case.twin(tmp_path), store, **case.save_options)
    assert twin.digest == first.digest
    assert twin.blobs == first.blobs


def test_load_gives_the_value_back(case: Case, store: BlobStore, tmp_path: Path) -> None:
    value = case.make(tmp_path)
    stored = save(value, store, **case.save_options)
    loaded = load(stored, store, workdir=tmp_path / "loaded", **case.load_options)
    case.check(loaded, value)


def test_a_catalog_row_loads_like_the_stored_value(
    case: Case, store: BlobStore, tmp_path: Path
) -> None:
    value = case.make(tmp_path)
    stored = save(value, store, **case.save_options)
    ref = ref_for(
        digest=stored.digest,
        kind=stored.kind,
        format=stored.format,
        schema=stored.schema,
        materializer=stored.materializer,
    )
    assert isinstance(ref, CatalogRef)
    case.check(load(ref, store, workdir=tmp_path / "from-ref", **case.load_options), value)
