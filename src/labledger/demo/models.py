"""The demo study's data and models: the biopsy cohort, its split, and how each model is trained.

Everything here is computation only (no tracking), seeded with ``random_state=0`` so the numbers are
the same on every machine. The positive class is *malignant*, as a pathologist would read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "MODEL_SPECS",
    "SEED",
    "Cohort",
    "ModelSpec",
    "TrainedModel",
    "final_metrics",
    "load_cohort",
    "predictions_table",
    "train",
]

SEED = 0
TEST_FRACTION = 0.25
DATASET_SOURCE = "sklearn.datasets.load_breast_cancer"
Family = Literal["linear", "tree"]
Curve = list[tuple[int, float]]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model to train: its run name, family, estimator and hyperparameters.

    Attributes:
        name: The run name, e.g. ``rf-depth3``.
        family: ``linear`` or ``tree``; logged as the ``family`` tag.
        estimator: ``logistic_regression``, ``random_forest`` or ``gradient_boosting``.
        hyperparams: Passed to the scikit-learn estimator and logged as params.
        curve_axis: What the learning curve's steps count.
    """

    name: str
    family: Family
    estimator: str
    hyperparams: dict[str, Any] = field(default_factory=dict)
    curve_axis: str = "stage"


MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "logreg-C0.1",
        "linear",
        "logistic_regression",
        {"C": 0.1, "max_iter": 5000},
        "training samples",
    ),
    ModelSpec(
        "logreg-C1",
        "linear",
        "logistic_regression",
        {"C": 1.0, "max_iter": 5000},
        "training samples",
    ),
    ModelSpec(
        "logreg-C10",
        "linear",
        "logistic_regression",
        {"C": 10.0, "max_iter": 5000},
        "training samples",
    ),
    ModelSpec("rf-depth3", "tree", "random_forest", {"n_estimators": 200, "max_depth": 3}, "trees"),
    ModelSpec("rf-depth8", "tree", "random_forest", {"n_estimators": 200, "max_depth": 8}, "trees"),
    ModelSpec(
        "gbm-lr0.1",
        "tree",
        "gradient_boosting",
        {"n_estimators": 150, "learning_rate": 0.1, "max_depth": 2},
        "boosting stages",
    ),
)


@dataclass(frozen=True, slots=True)
class Cohort:
    """The biopsy table and its stratified train/test split.

    Attributes:
        table: One row per biopsy: ``sample_id``, ``diagnosis``, ``malignant``, ``split`` and the
            30 nucleus features.
        features: The feature column names.
    """

    table: pd.DataFrame
    features: tuple[str, ...]

    def _part(self, split: str) -> pd.DataFrame:
        return self.table[self.table["split"] == split]

    def x(self, split: str) -> NDArray[np.float64]:
        """The feature matrix of ``train`` or ``test``."""
        return self._part(split)[list(self.features)].to_numpy(dtype=np.float64)

    def y(self, split: str) -> NDArray[np.int64]:
        """The labels (1 = malignant) of ``train`` or ``test``."""
        return self._part(split)["malignant"].to_numpy(dtype=np.int64)

    def sample_ids(self, split: str) -> list[str]:
        """The sample ids of ``train`` or ``test``, in row order."""
        return [str(v) for v in self._part(split)["sample_id"]]


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """What training produced: test-set probabilities, learning curves and feature importances.

    Attributes:
        proba: P(malignant) for each test biopsy.
        curves: Metric key to ``(step, value)`` points.
        importances: One row per feature, most important first.
        summary: Extra single-value metrics, e.g. the mean cross-validated AUC.
    """

    proba: NDArray[np.float64]
    curves: dict[str, Curve]
    importances: pd.DataFrame
    summary: dict[str, float] = field(default_factory=dict)


def load_cohort() -> Cohort:
    """The Wisconsin diagnostic breast cancer biopsies bundled with scikit-learn (no download)."""
    bunch = load_breast_cancer(as_frame=True)
    features = bunch.frame.drop(columns="target")
    # scikit-learn codes benign as 1; the study's positive class is malignant.
    malignant = (1 - bunch.frame["target"]).astype("int64")
    index = np.arange(len(features))
    train_index, _ = train_test_split(
        index, test_size=TEST_FRACTION, stratify=malignant, random_state=SEED
    )
    split = np.where(np.isin(index, train_index), "train", "test")
    table = pd.DataFrame(
        {
            "sample_id": [f"WDBC-{i + 1:04d}" for i in index],
            "diagnosis": np.where(malignant == 1, "malignant", "benign"),
            "malignant": malignant,
            "split": split,
        }
    )
    table = pd.concat([table, features.reset_index(drop=True)], axis=1)
    return Cohort(table, tuple(str(c) for c in features.columns))


def _scores(y: NDArray[np.int64], proba: NDArray[np.float64]) -> tuple[float, float]:
    return float(roc_auc_score(y, proba)), float(log_loss(y, proba, labels=[0, 1]))


def _logistic(spec: ModelSpec, cohort: Cohort) -> TrainedModel:
    x_train, y_train = cohort.x("train"), cohort.y("train")
    x_test, y_test = cohort.x("test"), cohort.y("test")

    def model() -> Any:
        # Scaled features let lbfgs converge well within max_iter.
        return make_pipeline(StandardScaler(), LogisticRegression(**spec.hyperparams))

    curves: dict[str, Curve] = {"cv_auc": [], "val_auc": [], "val_log_loss": []}
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    for fold, (fit_rows, check_rows) in enumerate(folds.split(x_train, y_train)):
        fitted = model().fit(x_train[fit_rows], y_train[fit_rows])
        proba = fitted.predict_proba(x_train[check_rows])[:, 1]
        curves["cv_auc"].append((fold, _scores(y_train[check_rows], proba)[0]))
    # A learning curve over training-set size: the first n rows of one fixed shuffle.
    order = np.random.default_rng(SEED).permutation(len(y_train))
    for fraction in np.linspace(0.1, 1.0, 10):
        rows = order[: round(fraction * len(y_train))]
        fitted = model().fit(x_train[rows], y_train[rows])
        auc, loss = _scores(y_test, fitted.predict_proba(x_test)[:, 1])
        curves["val_auc"].append((len(rows), auc))
        curves["val_log_loss"].append((len(rows), loss))
    coefficients = np.asarray(fitted[-1].coef_[0], dtype=np.float64)
    importances = pd.DataFrame(
        {
            "feature": list(cohort.features),
            "coefficient": coefficients,
            "importance": np.abs(coefficients),
        }
    )
    proba = np.asarray(fitted.predict_proba(x_test)[:, 1], dtype=np.float64)
    fold_aucs = [auc for _, auc in curves["cv_auc"]]
    summary = {"cv_auc_mean": float(np.mean(fold_aucs)), "cv_auc_std": float(np.std(fold_aucs))}
    return TrainedModel(proba, curves, _ranked(importances), summary)


def _random_forest(spec: ModelSpec, cohort: Cohort) -> TrainedModel:
    forest = RandomForestClassifier(**spec.hyperparams, random_state=SEED, n_jobs=1)
    forest.fit(cohort.x("train"), cohort.y("train"))
    x_test, y_test = cohort.x("test"), cohort.y("test")
    # The forest's probability is the mean over its trees, so the curve over the number of trees
    # is a running mean of each tree's probabilities.
    per_tree = np.stack([tree.predict_proba(x_test)[:, 1] for tree in forest.estimators_])
    running = np.cumsum(per_tree, axis=0) / np.arange(1, len(per_tree) + 1)[:, None]
    curves: dict[str, Curve] = {"val_auc": [], "val_log_loss": []}
    for trees in range(5, len(per_tree) + 1, 5):
        auc, loss = _scores(y_test, running[trees - 1])
        curves["val_auc"].append((trees, auc))
        curves["val_log_loss"].append((trees, loss))
    importances = pd.DataFrame(
        {"feature": list(cohort.features), "importance": forest.feature_importances_}
    )
    proba = np.asarray(forest.predict_proba(x_test)[:, 1], dtype=np.float64)
    return TrainedModel(proba, curves, _ranked(importances))


def _gradient_boosting(spec: ModelSpec, cohort: Cohort) -> TrainedModel:
    booster = GradientBoostingClassifier(**spec.hyperparams, random_state=SEED)
    booster.fit(cohort.x("train"), cohort.y("train"))
    x_test, y_test = cohort.x("test"), cohort.y("test")
    curves: dict[str, Curve] = {"val_auc": [], "val_log_loss": []}
    for stage, staged in enumerate(booster.staged_predict_proba(x_test), 1):
        auc, loss = _scores(y_test, staged[:, 1])
        curves["val_auc"].append((stage, auc))
        curves["val_log_loss"].append((stage, loss))
    importances = pd.DataFrame(
        {"feature": list(cohort.features), "importance": booster.feature_importances_}
    )
    proba = np.asarray(booster.predict_proba(x_test)[:, 1], dtype=np.float64)
    return TrainedModel(proba, curves, _ranked(importances))


def _ranked(importances: pd.DataFrame) -> pd.DataFrame:
    ranked = importances.sort_values("importance", ascending=False, kind="stable")
    ranked = ranked.reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


_TRAINERS = {
    "logistic_regression": _logistic,
    "random_forest": _random_forest,
    "gradient_boosting": _gradient_boosting,
}


def train(spec: ModelSpec, cohort: Cohort) -> TrainedModel:
    """Fit ``spec`` on the training split and score it on the test split."""
    return _TRAINERS[spec.estimator](spec, cohort)


def final_metrics(y_true: NDArray[np.int64], proba: NDArray[np.float64]) -> dict[str, float]:
    """AUC, accuracy, F1 and log loss of test-set probabilities (threshold 0.5)."""
    predicted = (proba >= 0.5).astype(np.int64)
    auc, loss = _scores(y_true, proba)
    return {
        "auc": auc,
        "accuracy": float(accuracy_score(y_true, predicted)),
        "f1": float(f1_score(y_true, predicted)),
        "log_loss": loss,
    }


def predictions_table(cohort: Cohort, proba: NDArray[np.float64]) -> pd.DataFrame:
    """One row per test biopsy: truth, predicted probability and call."""
    y_true = cohort.y("test")
    predicted = (proba >= 0.5).astype(np.int64)
    return pd.DataFrame(
        {
            "sample_id": cohort.sample_ids("test"),
            "malignant": y_true,
            "p_malignant": proba,
            "predicted": predicted,
            "correct": predicted == y_true,
        }
    )


def confusion(cohort: Cohort, proba: NDArray[np.float64]) -> NDArray[np.int64]:
    """The 2x2 confusion matrix (rows: truth benign/malignant; columns: call)."""
    predicted = (proba >= 0.5).astype(np.int64)
    return np.asarray(confusion_matrix(cohort.y("test"), predicted, labels=[0, 1]), dtype=np.int64)
