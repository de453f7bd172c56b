"""One value per built-in materializer, a twin equal to it but built another way, and a check."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
from sklearn.linear_model import LogisticRegression

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


@dataclass(frozen=True)
class Sample:
    """A module-level type, so that it can be pickled."""

    name: str
    weights: list[float]


@dataclass(frozen=True)
class Case:
    id: str
    materializer: str
    kind: str
    format: str
    make: Callable[[Path], Any]
    twin: Callable[[Path], Any]
    check: Callable[[Any, Any], None]
    save_options: dict[str, Any] = field(default_factory=dict)
    load_options: dict[str, Any] = field(default_factory=dict)
    needs: str | None = None


def _equal(loaded: Any, original: Any) -> None:
    assert loaded == original


def _frame(_: Path) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "count": pd.array([1, None, 3], dtype="Int64"),
            "signal": [0.5, float("nan"), 2.5],
            "well": ["A1", "A2", None],
            "group": pd.Categorical(["x", "y", "x"]),
            "at": pd.date_range("2024-01-01", periods=3, tz="UTC"),
            "ok": [True, False, True],
        },
        index=pd.Index([10, 20, 30], name="plate"),
    )


def _frame_twin(tmp: Path) -> pd.DataFrame:
    # Built row by row, then columns put in order: equal to _frame, not the same object.
    original = _frame(tmp)
    records = original.reset_index().to_dict("records")
    rebuilt = pd.DataFrame.from_records(records).set_index("plate")
    return rebuilt.astype(original.dtypes.to_dict())[list(original.columns)]


def _check_frame(loaded: Any, original: Any) -> None:
    # "equiv": a regular int64 index comes back as the RangeIndex pandas considers equal to it.
    pd.testing.assert_frame_equal(loaded, original, check_index_type="equiv")


def _polars(_: Path) -> pl.DataFrame:
    return pl.DataFrame(
        {"id": [1, 2, 3, 4], "label": ["a", None, "c", "d"], "x": [0.1, 0.2, None, 0.4]}
    )


def _polars_twin(tmp: Path) -> pl.DataFrame:
    whole = _polars(tmp)
    return pl.concat([whole.slice(0, 1), whole.slice(1)], rechunk=False)


def _arrow(_: Path) -> pa.Table:
    return pa.table({"id": [1, 2, 3], "name": ["a", "b", None]})


def _arrow_twin(tmp: Path) -> pa.Table:
    whole = _arrow(tmp)
    return pa.concat_tables([whole.slice(0, 2), whole.slice(2)])


def _array(_: Path) -> np.ndarray[Any, Any]:
    return np.arange(12, dtype=np.float64).reshape(3, 4)


def _check_array(loaded: Any, original: Any) -> None:
    assert loaded.dtype == original.dtype
    np.testing.assert_array_equal(loaded, original)


def _file(tmp: Path, where: str = "a") -> Path:
    folder = tmp / where
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plate.csv"
    path.write_text("well,signal\nA1,0.5\n")
    return path


def _check_file(loaded: Any, original: Any) -> None:
    assert loaded.name == original.name
    assert loaded.read_bytes() == original.read_bytes()
    assert loaded != original


def _tree(tmp: Path, where: str = "a", *, reverse: bool = False) -> Path:
    folder = tmp / where / "model"
    files = {"weights.bin": b"\x00\x01" * 50, "sub/config.json": b"{}", "a-b/x.txt": b"x"}
    for relative, data in sorted(files.items(), reverse=reverse):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(data)
    return folder


def _check_tree(loaded: Any, original: Any) -> None:
    def listing(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }

    assert loaded.name == original.name
    assert listing(loaded) == listing(original)


_X = np.random.default_rng(0).normal(size=(40, 3))
_Y = (_X[:, 0] > 0).astype(int)


def _model(_: Path) -> LogisticRegression:
    return LogisticRegression(C=0.5).fit(_X, _Y)


def _check_model(loaded: Any, original: Any) -> None:
    assert type(loaded) is type(original)
    assert loaded.get_params() == original.get_params()
    np.testing.assert_array_equal(loaded.coef_, original.coef_)
    np.testing.assert_array_equal(loaded.predict(_X), original.predict(_X))


def _figure(_: Path) -> Any:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1.5))
    figure.subplots().plot([0, 1, 2], [0, 1, 4])
    return figure


def _check_png(loaded: Any, original: Any) -> None:
    import io

    expected = io.BytesIO()
    original.savefig(expected, format="png", dpi=100, metadata={"Software": None})
    assert loaded == expected.getvalue()


CASES = [
    Case(
        "json-dict",
        "json",
        "json",
        "json",
        lambda _: {"b": [1, 2.5, None], "a": True},
        lambda _: dict([("a", True), ("b", [1, 2.5, None])]),
        _equal,
    ),
    Case("json-int", "json", "json", "json", lambda _: 7, lambda _: int("7"), _equal),
    Case(
        "bytes",
        "bytes",
        "bytes",
        "bin",
        lambda _: b"\x00raw",
        lambda _: bytearray(b"\x00raw"),
        _equal,
    ),
    Case(
        "text",
        "text",
        "text",
        "txt",
        lambda _: "héllo\nworld",
        lambda _: "".join(["hé", "llo\nworld"]),
        _equal,
    ),
    Case(
        "numpy",
        "numpy",
        "array",
        "npy",
        _array,
        lambda t: np.asfortranarray(_array(t)),
        _check_array,
    ),
    Case("pandas", "pandas", "table", "parquet", _frame, _frame_twin, _check_frame),
    Case(
        "polars",
        "polars",
        "table",
        "parquet",
        _polars,
        _polars_twin,
        lambda a, b: a.equals(b) or _fail(a, b),
    ),
    Case(
        "arrow",
        "arrow",
        "table",
        "parquet",
        _arrow,
        _arrow_twin,
        lambda a, b: a.equals(b) or _fail(a, b),
    ),
    Case("path-file", "path", "file", "csv", _file, lambda t: _file(t, "b"), _check_file),
    Case(
        "path-tree",
        "path",
        "tree",
        "tree",
        _tree,
        lambda t: _tree(t, "b", reverse=True),
        _check_tree,
    ),
    Case("sklearn", "sklearn", "model", "skops", _model, _model, _check_model),
    Case(
        "pickle",
        "pickle",
        "object",
        "pickle",
        lambda _: Sample("a", [0.5, 1.5]),
        lambda _: dataclasses.replace(Sample("b", [0.5, 1.5]), name="a"),
        _equal,
        save_options={"materializer": "pickle", "allow_pickle": True},
        load_options={"trusted": True},
    ),
    Case(
        "matplotlib",
        "matplotlib",
        "figure",
        "png",
        _figure,
        _figure,
        _check_png,
        needs="matplotlib",
    ),
]


def _fail(loaded: Any, original: Any) -> None:
    raise AssertionError(f"{loaded!r} != {original!r}")
