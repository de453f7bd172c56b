"""Loading a skops model runs no code from the archive: an exact allow-list, checked on load."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import time
import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import skops.io as sio

from labledger._foundation.errors import ValidationError
from labledger.materializers import load, ref_for, save
from labledger.materializers import skops_trust as trust
from labledger.materializers.models import canonical_skops, refused_types
from tests.unit.materializers import forged_models as fm

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.blobstore import BlobStore

# Payloads that, called while loading, run the code that creates the canary.
EXECUTING = [
    "builtins.eval",
    "builtins.exec",
    "os.system",
    "importlib.import_module",
    "runpy.run_path",
    "numpy-runstring",
    "numpy.load-allow_pickle",
    "pandas.read_pickle",
]


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, fm.CANARY_MODULE, raising=False)
    return fm.payloads(tmp_path)


def _named(payload: dict[str, Any]) -> str:
    return f"{payload['__module__']}.{payload['__class__']}"


@pytest.mark.parametrize("name", sorted(fm.payloads(__import__("pathlib").Path("."))))
def test_a_forged_model_is_refused_and_runs_nothing(
    name: str, corpus: dict[str, Any], store: BlobStore, tmp_path: Path
) -> None:
    payload = corpus[name]()
    ref = ref_for(digest=store.put(fm.forged_model(payload)), kind="model", format="skops")
    with pytest.raises(ValidationError, match="not known to be safe to load") as caught:
        load(ref, store)
    assert _named(payload) in str(caught.value)
    assert "trusted=True" in str(caught.value.hint)
    time.sleep(0.05 if name == "subprocess.Popen" else 0)
    assert not (tmp_path / "canary").exists()


@pytest.mark.parametrize("name", EXECUTING)
def test_the_forged_payloads_do_run_code_when_trusted(
    name: str, corpus: dict[str, Any], store: BlobStore, tmp_path: Path
) -> None:
    # What the refusal above prevents: the same archive, loaded with trust, runs its payload.
    ref = ref_for(digest=store.put(fm.forged_model(corpus[name]())), kind="model", format="skops")
    # The payload runs before anything can fail; whether the rest loads does not matter.
    with contextlib.suppress(Exception):
        load(ref, store, trusted=True)
    assert (tmp_path / "canary").exists()


def test_a_forged_archive_behind_a_saved_models_record_is_refused(
    store: BlobStore, tmp_path: Path
) -> None:
    stored = save(fm.model(), store)
    forged = fm.forged_model(fm.call("builtins", "eval", "1"))
    ref = ref_for(digest=store.put(forged), kind="model", format="skops", schema=stored.schema)
    with pytest.raises(ValidationError, match="not recorded when it was saved") as caught:
        load(ref, store)
    assert "builtins.eval" in str(caught.value)


def test_an_allowed_type_not_recorded_at_save_is_refused(store: BlobStore) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    recorded = save(fm.model(), store).schema
    other = save(make_pipeline(StandardScaler(), fm.model()).fit(fm.X, fm.Y), store)
    ref = ref_for(digest=other.digest, kind="model", format="skops", schema=recorded)
    with pytest.raises(ValidationError, match="not recorded when it was saved") as caught:
        load(ref, store)
    assert "sklearn.pipeline.Pipeline" in str(caught.value)
    assert load(ref, store, trusted=True).predict(fm.X).shape == (len(fm.X),)


def test_saving_records_the_archives_types_and_the_allow_list_version(store: BlobStore) -> None:
    stored = save(fm.model(), store)
    record = stored.schema["skops"]
    assert record["allow_list"] == trust.VERSION
    assert record["protocol"] == 2
    assert "sklearn.linear_model._logistic.LogisticRegression" in record["types"]
    assert "numpy.ndarray" in record["types"]
    assert record["types"] == sorted(set(record["types"]))


MODELS = [
    "boosting",
    "forest",
    "hist-boosting",
    "kmeans",
    "knn",
    "linear",
    "logistic",
    "mlp",
    "pca",
    "pipeline",
    "search",
    "sgd",
    "svm",
    "tree",
    "ufunc",
]


def _model(name: str) -> tuple[Any, Any]:
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LinearRegression, LogisticRegression, SGDClassifier
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    x, y = fm.X, fm.Y
    frame = pd.DataFrame({"n": x[:, 0], "c": ["a", "b"] * (len(x) // 2)})
    encode = ColumnTransformer(
        [("n", StandardScaler(), ["n"]), ("c", OneHotEncoder(handle_unknown="ignore"), ["c"])]
    )
    build = {
        "linear": lambda: (LinearRegression().fit(x, x[:, 1]), x),
        "logistic": lambda: (LogisticRegression().fit(x, y), x),
        "sgd": lambda: (SGDClassifier(random_state=0).fit(x, y), x),
        "tree": lambda: (DecisionTreeClassifier(random_state=0).fit(x, y), x),
        "forest": lambda: (RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y), x),
        "boosting": lambda: (GradientBoostingClassifier(n_estimators=5).fit(x, y), x),
        "hist-boosting": lambda: (HistGradientBoostingClassifier(max_iter=5).fit(x, y), x),
        "svm": lambda: (SVC(random_state=0).fit(x, y), x),
        "pipeline": lambda: (make_pipeline(encode, LogisticRegression()).fit(frame, y), frame),
        "ufunc": lambda: (make_pipeline(FunctionTransformer(np.abs), StandardScaler()).fit(x), x),
        "knn": lambda: (KNeighborsClassifier(n_neighbors=3).fit(x, y), x),
        "kmeans": lambda: (KMeans(n_clusters=2, n_init=2, random_state=0).fit(x), x),
        "pca": lambda: (PCA(2).fit(x), x),
        "mlp": lambda: (MLPClassifier(max_iter=20, random_state=0).fit(x, y), x),
        "search": lambda: (
            GridSearchCV(LogisticRegression(), {"C": [0.5, 1.0]}, cv=2).fit(x, y),
            x,
        ),
    }
    return build[name]()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", MODELS)
def test_common_models_round_trip_without_trust(name: str, store: BlobStore) -> None:
    model, features = _model(name)
    loaded = load(save(model, store), store)
    method = "predict" if hasattr(model, "predict") else "transform"
    np.testing.assert_array_equal(
        getattr(loaded, method)(features), getattr(model, method)(features)
    )


def test_the_allow_list_names_classes_and_ufuncs_exactly() -> None:
    from skops.utils._fixes import get_scipy_ufunc_wrapper_type

    wrapper = get_scipy_ufunc_wrapper_type()
    ufunc_types = (np.ufunc,) if wrapper is None else (np.ufunc, wrapper)
    for module, row in trust.CLASSES.items():
        for name in row.split():
            assert isinstance(getattr(importlib.import_module(module), name), type), name
    for module, row in trust.FUNCTIONS.items():
        for name in row.split():
            found = getattr(importlib.import_module(module), name)
            assert isinstance(found, ufunc_types), name
    assert "numpy.testing._private.utils" not in trust.CLASSES
    assert not any(name.startswith("_private") for name in trust.CLASSES)


def test_no_name_is_trusted_by_its_package() -> None:
    schema = {
        "__class__": "runstring",
        "__module__": "numpy.testing._private.utils",
        "__loader__": "ConstructorFromReduceNode",
        "content": fm.value(("1", {})),
    }
    assert refused_types(schema) == ["numpy.testing._private.utils.runstring"]
    # A class named under another module path than its own is refused too.
    schema.update(__module__="numpy", __class__="random.PCG64")
    assert refused_types(schema) == ["numpy.random.PCG64"]


def test_what_skops_trusts_by_default_is_allowed() -> None:
    data = canonical_skops(sio.dumps(fm.model()))
    assert sio.get_untrusted_types(data=data) == []
    assert refused_types(json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"))) == []
