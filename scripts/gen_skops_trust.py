"""Write src/labledger/materializers/skops_trust.py: the types a skops model may hold untrusted.

Run ``python scripts/gen_skops_trust.py`` after upgrading scikit-learn, skops, NumPy or SciPy, and
review the diff of the written module before committing it: every added name becomes loadable from
any workspace without ``trusted=True``.

The list is the union of
- skops' own default trusted types (builtins, containers, NumPy arrays, dtypes and ufuncs, random
  generators, SciPy sparse matrices and ufuncs, scikit-learn's public estimators and its internal
  loss, link and binning types);
- scikit-learn's public estimators (``sklearn.utils.all_estimators()``), those defined in
  ``sklearn.*`` modules;
- the support types fitted estimators hold, found by saving a representative set of models and
  reviewed by hand (``_SUPPORT``).

Classes and functions are kept apart: a class may be constructed, a function (only NumPy and SciPy
ufuncs, as skops allows) may only be referenced, as in ``FunctionTransformer(np.log1p)``. The script
fails if any name does not resolve to what its group says, or if a representative model holds a
type the list does not name.
"""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
import warnings
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

TARGET = Path(__file__).resolve().parents[1] / "src/labledger/materializers/skops_trust.py"
VERSION = "1"

# Reviewed by hand: plain-data types fitted estimators hold. Their state is arrays and numbers, and
# constructing one runs no code from the archive. Tree and TreePredictor (which skops leaves out)
# hold node indices that scikit-learn follows without bounds checks: a forged one can crash the
# process at predict time; they are listed because no tree model would load without them.
_SUPPORT = [
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.metrics._scorer._PassthroughScorer",
    "sklearn.metrics._scorer._Scorer",
    "sklearn.metrics._scorer._MultimetricScorer",
]
_SPLITTERS = "sklearn.model_selection._split"
_DISTANCES = "sklearn.metrics._dist_metrics"
_SPARSE = [
    f"scipy.sparse._{fmt}.{fmt}_{kind}"
    for fmt in ("csr", "csc", "coo", "bsr", "dia", "lil", "dok")
    for kind in ("matrix", "array")
]


def _name(obj: Any) -> str:
    from skops.io._utils import get_type_name

    return str(get_type_name(obj))


def _resolve(name: str) -> Any:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _skops_defaults() -> tuple[set[str], set[str]]:
    import numpy as np
    from skops.io import _sklearn
    from skops.io import _trusted_types as tt

    classes = {
        *tt.PRIMITIVE_TYPE_NAMES,
        *tt.CONTAINER_TYPE_NAMES,
        *tt.NUMPY_DTYPE_TYPE_NAMES,
        *tt.NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES,
        *tt.SKLEARN_ESTIMATOR_TYPE_NAMES,
        *tt.SKLEARN_INTERNAL_TYPE_NAMES,
        *(_name(loss) for loss in _sklearn.ALLOWED_LOSSES),
        "builtins.dict",
        "builtins.bytes",
        "builtins.bytearray",
        "builtins.slice",
        "collections.OrderedDict",
        "collections.defaultdict",
        _name(np.ndarray),
        _name(np.ma.MaskedArray),
        _name(np.random.RandomState),
        _name(np.random.Generator),
    }
    functions = {*tt.NUMPY_UFUNC_TYPE_NAMES, *tt.SCIPY_UFUNC_TYPE_NAMES}
    return classes, functions


def _sklearn_classes() -> set[str]:
    from sklearn.metrics import DistanceMetric
    from sklearn.model_selection import BaseCrossValidator, BaseShuffleSplit
    from sklearn.utils import all_estimators

    estimators = {_name(cls) for _, cls in all_estimators()}
    splitters = {
        _name(obj)
        for obj in vars(importlib.import_module(_SPLITTERS)).values()
        if isinstance(obj, type)
        and issubclass(obj, (BaseCrossValidator, BaseShuffleSplit))
        and not obj.__name__.startswith(("Base", "_"))
    }
    distances = {
        _name(obj)
        for obj in vars(importlib.import_module(_DISTANCES)).values()
        if isinstance(obj, type)
        and issubclass(obj, DistanceMetric)
        and obj.__name__.endswith(("64", "32"))
        and not obj.__name__.startswith("DistanceMetric")
    }
    found = estimators | splitters | distances | set(_SUPPORT) | set(_SPARSE)
    return {name for name in found if name.startswith(("sklearn.", "scipy.", "numpy."))}


def _check(classes: set[str], functions: set[str]) -> None:
    import numpy as np
    from skops.utils._fixes import get_scipy_ufunc_wrapper_type

    ufunc_types: tuple[type, ...] = (np.ufunc,)
    wrapper = get_scipy_ufunc_wrapper_type()
    if wrapper is not None:
        ufunc_types += (wrapper,)
    for name in sorted(classes):
        if not isinstance(_resolve(name), type):
            sys.exit(f"{name} is not a class")
    for name in sorted(functions):
        if not isinstance(_resolve(name), ufunc_types):
            sys.exit(f"{name} is not a NumPy or SciPy ufunc")


def _representative() -> list[Any]:
    import numpy as np
    import pandas as pd
    from sklearn.cluster import DBSCAN, AgglomerativeClustering, KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(int)
    frame = pd.DataFrame({"n": x[:, 0], "c": ["a", "b", "c"] * 20})
    encode = ColumnTransformer([("n", StandardScaler(), ["n"]), ("c", OneHotEncoder(), ["c"])])
    return [
        LogisticRegression().fit(x, y),
        Ridge().fit(x, x[:, 1]),
        SGDClassifier(random_state=0).fit(x, y),
        RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
        GradientBoostingClassifier(n_estimators=3).fit(x, y),
        HistGradientBoostingRegressor(max_iter=3).fit(x, x[:, 1]),
        SVC(probability=True, random_state=0).fit(x, y),
        make_pipeline(encode, LogisticRegression()).fit(frame, y),
        KNeighborsClassifier().fit(x, y),
        KNeighborsClassifier(algorithm="ball_tree").fit(x, y),
        KMeans(n_clusters=2, n_init=2, random_state=0).fit(x),
        DBSCAN().fit(x),
        AgglomerativeClustering().fit(x),
        PCA(2).fit(x),
        MLPClassifier(max_iter=5, random_state=0).fit(x, y),
        MLPClassifier(solver="sgd", max_iter=5, random_state=0).fit(x, y),
        GridSearchCV(LogisticRegression(), {"C": [1.0, 2.0]}, cv=2).fit(x, y),
    ]


def _held(node: Any, found: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _held(item, found)
    elif isinstance(node, dict):
        if "__loader__" in node and node["__loader__"] != "JsonNode":
            found.add(f"{node['__module__']}.{node['__class__']}")
        for item in node.values():
            _held(item, found)


def _render(classes: set[str], functions: set[str]) -> str:
    def table(names: set[str]) -> str:
        by_module: dict[str, list[str]] = defaultdict(list)
        for name in sorted(names):
            module, _, attr = name.rpartition(".")
            by_module[module].append(attr)
        lines = []
        for module, attrs in sorted(by_module.items()):
            lines.append(f'    "{module}": (')
            row = ""
            for attr in attrs:
                if row and len(row) + len(attr) > 80:
                    lines.append(f'        "{row} "')
                    row = ""
                row = f"{row} {attr}" if row else attr
            lines.append(f'        "{row}"')
            lines.append("    ),")
        return "\n".join(lines)

    import numpy
    import scipy
    import sklearn
    import skops

    versions = (
        f"scikit-learn {sklearn.__version__}, skops {skops.__version__}, "
        f"NumPy {numpy.__version__}, SciPy {scipy.__version__}"
    )
    return f'''"""The exact types a skops model may hold and still load without ``trusted=True``.

Generated by ``scripts/gen_skops_trust.py`` from
{versions}.
Do not edit by hand, and review every added name: it becomes loadable from any workspace. Names
are grouped by module; within a module, space-separated. ``CLASSES`` may be constructed on load;
``FUNCTIONS`` (NumPy and SciPy ufuncs) may only be referenced, never called while loading.
"""

from __future__ import annotations

__all__ = ["CLASSES", "FUNCTIONS", "VERSION"]

VERSION = "{VERSION}"

CLASSES: dict[str, str] = {{
{table(classes)}
}}

FUNCTIONS: dict[str, str] = {{
{table(functions)}
}}
'''


def main() -> None:
    import skops.io as sio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        classes, functions = _skops_defaults()
        classes |= _sklearn_classes()
        _check(classes, functions)
        for model in _representative():
            with zipfile.ZipFile(io.BytesIO(sio.dumps(model))) as archive:
                held: set[str] = set()
                _held(json.loads(archive.read("schema.json")), held)
            missing = held - classes - functions
            if missing:
                sys.exit(f"{type(model).__name__} holds types the list lacks: {sorted(missing)}")
    TARGET.write_text(_render(classes, functions), encoding="utf-8")
    # Lay the module out as the rest of the package (ruff is a development dependency).
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(TARGET)], check=False)
    print(f"wrote {TARGET}: {len(classes)} classes, {len(functions)} functions")


if __name__ == "__main__":
    main()
