"""Choosing a materializer: by type along the MRO, cached, extensible, and pickle only on request."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from labledger._foundation.errors import (
    ConfigurationError,
    UnsupportedValueError,
    ValidationError,
)
from labledger.materializers import (
    MaterializerRegistry,
    get_materializer,
    load,
    materializer_for,
    ref_for,
    register_materializer,
    save,
)
from labledger.materializers import registry as registry_module
from labledger.materializers.registry import GROUP
from tests.unit.materializers.plugin import Point, Point3, PointMaterializer, Shouting

if TYPE_CHECKING:
    from labledger.workspace.blobstore import BlobStore


def _entry(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=GROUP)


BUILT_INS = [
    _entry("json", "labledger.materializers.primitives:JsonMaterializer"),
    _entry("text", "labledger.materializers.primitives:TextMaterializer"),
    _entry("pickle", "labledger.materializers.pickles:PickleMaterializer"),
]


class Frame(pd.DataFrame):
    """A DataFrame subclass: handled by the pandas materializer through the MRO."""


class Tag(str):
    __slots__ = ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "json"),
        (True, "json"),
        (3, "json"),
        (2.5, "json"),
        ([1], "json"),
        ((1,), "json"),
        (collections.OrderedDict(a=1), "json"),
        ("text", "text"),
        (Tag("t"), "text"),
        (b"x", "bytes"),
        (bytearray(b"x"), "bytes"),
        (memoryview(b"x"), "bytes"),
        (np.float64(1.5), "numpy"),  # a float subclass, but numpy.generic comes first
        (np.arange(2), "numpy"),
        (pd.DataFrame(), "pandas"),
        (Frame({"a": [1]}), "pandas"),
        (Path("x"), "path"),
    ],
)
def test_the_materializer_follows_the_type(value: Any, expected: str) -> None:
    assert materializer_for(value).name == expected


def test_the_choice_is_cached_per_type() -> None:
    registry = MaterializerRegistry(BUILT_INS)
    first = registry.for_value(1)
    assert registry._by_type[int] is first
    assert registry.for_value(2) is first


def test_a_numpy_scalar_comes_back_as_a_scalar(store: BlobStore) -> None:
    stored = save(np.float32(2.5), store)
    loaded = load(stored, store)
    assert type(loaded) is np.float32
    assert loaded == np.float32(2.5)


@pytest.mark.parametrize("value", [object(), {1, 2}, lambda: 1, Point(1, 2)])
def test_unsupported_types_say_what_to_do(value: Any, store: BlobStore) -> None:
    with pytest.raises(UnsupportedValueError) as caught:
        save(value, store)
    message = str(caught.value)
    assert f"cannot store a {type(value).__module__}.{type(value).__qualname__}" in message
    assert "register a materializer" in message
    assert "allow_pickle=True" in message


def test_unsupported_parts_of_json_values_are_named(store: BlobStore) -> None:
    with pytest.raises(UnsupportedValueError, match="cannot store a dict as JSON: set"):
        save({"k": {1, 2}}, store)
    with pytest.raises(UnsupportedValueError, match="keys must be str"):
        save({1: "a"}, store)


def test_a_registered_materializer_handles_its_type_and_subclasses(
    monkeypatch: pytest.MonkeyPatch, store: BlobStore
) -> None:
    monkeypatch.setattr(registry_module, "_default", MaterializerRegistry(BUILT_INS))
    with pytest.raises(UnsupportedValueError):
        materializer_for(Point(1, 2))
    register_materializer(PointMaterializer())
    stored = save(Point3(1, 2), store)
    assert (stored.materializer, stored.kind) == ("point", "point")
    loaded = load(stored, store)
    assert (loaded.x, loaded.y) == (1, 2)
    assert get_materializer("point").name == "point"


def test_registering_beats_built_ins_and_replaces_by_name(store: BlobStore) -> None:
    registry = MaterializerRegistry(BUILT_INS)
    assert registry.for_value("hi").name == "text"
    registry.register(Shouting())
    assert registry.for_value("hi").name == "shouting"
    assert registry.save("hi", store).digest == registry.save("HI", store).digest
    with pytest.raises(ValidationError, match="is not a materializer"):
        registry.register(object())  # type: ignore[arg-type]


def test_a_plugin_beats_a_built_in_for_the_same_type() -> None:
    plugin = _entry("shouting", "tests.unit.materializers.plugin:Shouting")
    registry = MaterializerRegistry([*BUILT_INS, plugin])
    assert registry.for_value("hi").name == "shouting"
    assert registry.get("text").name == "text"


def test_a_plugin_cannot_take_a_built_in_name() -> None:
    impostor = _entry("aaa", "tests.unit.materializers.plugin:Impostor")
    registry = MaterializerRegistry([*BUILT_INS, impostor])
    with pytest.warns(RuntimeWarning, match="'json' from tests.unit.materializers.plugin:Impostor"):
        assert registry.get("json").__class__.__name__ == "JsonMaterializer"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("tests.unit.materializers.plugin:NOT_A_MATERIALIZER", "has no name, types"),
        ("tests.unit.materializers.plugin:Exploding", "RuntimeError: boom"),
        ("tests.unit.materializers.absent:Nothing", "ModuleNotFoundError"),
    ],
)
def test_a_broken_plugin_warns_and_leaves_the_rest_working(value: str, reason: str) -> None:
    registry = MaterializerRegistry([*BUILT_INS, _entry("broken", value)])
    with pytest.warns(RuntimeWarning, match="materializer 'broken'"):
        assert registry.for_value(1).name == "json"
    with pytest.raises(ConfigurationError, match=reason):
        registry.get("broken")


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"no materializer named 'nope'.*numpy"):
        get_materializer("nope")


def test_catalog_rows_without_a_materializer_get_the_default_for_their_format() -> None:
    digest = "blake3:" + "0" * 64
    assert ref_for(digest=digest, kind="table", format="parquet").materializer == "pandas"
    assert ref_for(digest=digest, kind="file", format="png").materializer == "path"
    assert ref_for(digest=digest, kind="tree", format="tree").materializer == "path"
    assert ref_for(digest=digest, kind="figure", format="png").materializer == "matplotlib"
    assert (
        ref_for(digest=digest, kind="x", format="x", materializer="point").materializer == "point"
    )
    with pytest.raises(ConfigurationError, match="no default materializer"):
        ref_for(digest=digest, kind="model", format="onnx")


class Boom:
    """Unpickling this touches a file: proof of whether pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_pickle_needs_an_opt_in_to_save(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedValueError):
        save(Boom(tmp_path / "m"), store)
    with pytest.raises(ValidationError, match="run code when loaded"):
        save(Boom(tmp_path / "m"), store, materializer="pickle")
    stored = save(Boom(tmp_path / "m"), store, allow_pickle=True)
    assert (stored.materializer, stored.kind, stored.format) == ("pickle", "object", "pickle")
    assert stored.schema == {"type": f"{__name__}.Boom"}


def test_pickle_never_runs_without_trust_on_load(store: BlobStore, tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    stored = save(Boom(marker), store, allow_pickle=True)
    with pytest.raises(ValidationError, match="refusing to unpickle") as caught:
        load(stored, store)
    assert "trusted=True" in str(caught.value)
    assert not marker.exists()
    load(stored, store, trusted=True)
    assert marker.exists()


def test_with_pickle_allowed_values_nothing_else_can_store_are_pickled(store: BlobStore) -> None:
    value = {"model": "m", "classes": {1, 2}}
    stored = save(value, store, allow_pickle=True)
    assert stored.materializer == "pickle"
    assert load(stored, store, trusted=True) == value
    # Values that have a safe format keep it.
    assert save({"a": 1}, store, allow_pickle=True).materializer == "json"


def test_an_unpicklable_value_is_a_clear_error(store: BlobStore) -> None:
    with pytest.raises(ValidationError, match="cannot pickle"):
        save(lambda: 1, store, allow_pickle=True)


def test_saving_plain_values_imports_no_data_library() -> None:
    script = """
import json, sys
from labledger.materializers import materializer_for, save
from labledger.workspace.memory_store import MemoryBlobStore
store = MemoryBlobStore()
for value in (1, {"a": 1, "b": [2.5], "c": None}, "text", b"raw"):
    save(value, store)
print(json.dumps(sorted(sys.modules)))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    modules = json.loads(result.stdout)
    heavy = ("pandas", "numpy", "pyarrow", "polars", "sklearn", "skops", "matplotlib", "scipy")
    assert [m for m in modules if m.split(".")[0] in heavy] == []
