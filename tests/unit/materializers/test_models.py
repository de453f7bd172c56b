"""scikit-learn models through skops: stable bytes, and unknown types only when trusted."""

from __future__ import annotations

import io
import zipfile
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from labledger._foundation.errors import IntegrityError, ValidationError
from labledger.materializers import load, ref_for, save
from labledger.materializers.models import canonical_skops

if TYPE_CHECKING:
    from labledger.workspace.blobstore import BlobStore

X = np.random.default_rng(1).normal(size=(60, 4))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)


class Doubler(TransformerMixin, BaseEstimator):
    """A project's own transformer: skops does not know it is safe."""

    def fit(self, features: Any, target: Any = None) -> Doubler:
        self.factor_ = 2
        return self

    def transform(self, features: Any) -> Any:
        return np.asarray(features) * self.factor_


def halve(features: Any) -> Any:
    return features / 2


def _forest() -> Any:
    return make_pipeline(
        StandardScaler(), RandomForestClassifier(n_estimators=4, random_state=0)
    ).fit(X, Y)


def test_equal_models_give_equal_bytes_though_skops_alone_does_not(store: BlobStore) -> None:
    first, second = _forest(), _forest()
    assert sio.dumps(first) != sio.dumps(second)  # object ids and timestamps inside
    assert save(first, store).digest == save(second, store).digest
    loaded = load(save(first, store), store)
    np.testing.assert_array_equal(loaded.predict_proba(X), first.predict_proba(X))


def test_the_archive_is_rewritten_with_sequential_names() -> None:
    data = canonical_skops(sio.dumps(_forest()))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert names[0] == "schema.json"
        assert names[1:] == [f"{i}.npy" for i in range(len(names) - 1)]
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_the_schema_names_the_type_and_plain_parameters(store: BlobStore) -> None:
    stored = save(RandomForestClassifier(n_estimators=7, max_depth=3).fit(X, Y), store)
    assert stored.schema["type"] == "sklearn.ensemble._forest.RandomForestClassifier"
    assert stored.schema["params"]["n_estimators"] == 7
    assert stored.schema["params"]["max_depth"] == 3
    assert stored.stats == {"bytes": stored.size}


@pytest.mark.parametrize(
    ("model", "refused"),
    [
        (make_pipeline(StandardScaler(), Doubler()).fit(X), f"{__name__}.Doubler"),
        (FunctionTransformer(halve).fit(X), f"{__name__}.halve"),
    ],
    ids=["custom-class", "custom-function"],
)
def test_unknown_types_load_only_when_trusted(model: Any, refused: str, store: BlobStore) -> None:
    stored = save(model, store)
    with pytest.raises(ValidationError, match="not known to be safe to load") as caught:
        load(stored, store)
    assert refused in str(caught.value)
    assert "trusted=True" in str(caught.value)
    loaded = load(stored, store, trusted=True)
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))


def test_numpy_functions_need_no_trust(store: BlobStore) -> None:
    loaded = load(save(FunctionTransformer(np.log1p).fit(X), store), store)
    assert loaded.func is np.log1p


def test_a_corrupt_archive_is_a_labledger_error(store: BlobStore) -> None:
    for data in (b"not a zip", canonical_skops(sio.dumps(_forest()))[:200]):
        ref = ref_for(digest=store.put(data), kind="model", format="skops")
        with pytest.raises(IntegrityError, match="not a readable skops archive"):
            load(ref, store)
