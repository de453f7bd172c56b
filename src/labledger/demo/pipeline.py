"""The demo's research pipeline: ingest biopsies, filter, build features, train two models, evaluate.

Every function is an ordinary ``@step``; ``biopsy_study`` wires them into a graph. Run it with
``labledger run labledger.demo.pipeline:biopsy_study -p n_estimators=300`` (the bundled data), or
on a CSV file: ``python -c "from labledger.demo.pipeline import write_biopsies as w;
w('biopsies.csv')"`` then ``-p biopsies=biopsies.csv``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from labledger.pipelines import File, pipeline, step

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "biopsy_study",
    "bundled",
    "bundled_biopsies",
    "evaluate",
    "features",
    "ingest",
    "quality_filter",
    "roc_plot",
    "train_forest",
    "train_logistic",
    "write_biopsies",
]

LABEL = "malignant"


def bundled_biopsies() -> pd.DataFrame:
    """The Wisconsin diagnostic biopsies bundled with scikit-learn (569 samples, 30 measurements)."""
    from sklearn.datasets import load_breast_cancer

    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    # scikit-learn codes benign as 1; the study's positive class is malignant.
    frame[LABEL] = (1 - frame.pop("target")).astype("int64")
    frame.insert(0, "sample_id", [f"WDBC-{i + 1:04d}" for i in range(len(frame))])
    return frame


def write_biopsies(path: str | Path) -> Path:
    """Write the bundled biopsies as a CSV file, as a lab's export would hand them over."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    bundled_biopsies().to_csv(target, index=False, float_format="%.6g")
    return target


@step
def ingest(path: Path) -> pd.DataFrame:
    """Read the biopsies exported as CSV; the file's bytes are part of this step's cache key."""
    import pandas as pd

    frame = pd.read_csv(path)
    missing = {"sample_id", LABEL} - set(frame.columns)
    if missing:
        raise ValueError(f"{path} lacks the columns {sorted(missing)}")
    return frame


@step
def bundled() -> pd.DataFrame:
    """The biopsies bundled with scikit-learn, when no file is given."""
    return bundled_biopsies()


@step
def quality_filter(biopsies: pd.DataFrame, max_z: float = 6.0) -> pd.DataFrame:
    """Drop samples with any measurement more than ``max_z`` standard deviations from the mean."""
    measurements = biopsies.drop(columns=["sample_id", LABEL])
    z = (measurements - measurements.mean()) / measurements.std(ddof=0)
    kept = biopsies[(z.abs() <= max_z).all(axis=1)].reset_index(drop=True)
    print(f"quality filter kept {len(kept)} of {len(biopsies)} samples (|z| <= {max_z})")
    return kept


@step(outputs=("train", "test"))
def features(
    biopsies: pd.DataFrame, test_fraction: float = 0.3, seed: int = 7
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Standardised mean measurements, split into stratified train and test sets."""
    from sklearn.model_selection import train_test_split

    columns = [c for c in biopsies.columns if c.startswith("mean ")]
    table = biopsies[["sample_id", *columns, LABEL]].copy()
    table[columns] = (table[columns] - table[columns].mean()) / table[columns].std(ddof=0)
    train, test = train_test_split(
        table, test_size=test_fraction, stratify=table[LABEL], random_state=seed
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _xy(table: pd.DataFrame) -> tuple[Any, Any]:
    return table.drop(columns=["sample_id", LABEL]).to_numpy(), table[LABEL].to_numpy()


@step
def train_logistic(train: pd.DataFrame, c: float = 1.0) -> Any:
    """L2-regularised logistic regression."""
    from sklearn.linear_model import LogisticRegression

    x, y = _xy(train)
    return LogisticRegression(C=c, max_iter=1000).fit(x, y)


@step
def train_forest(train: pd.DataFrame, n_estimators: int = 200, max_depth: int = 6) -> Any:
    """A random forest; its own seed comes from the task's seed."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    x, y = _xy(train)
    seed = int(np.random.randint(0, 2**31 - 1))
    model = RandomForestClassifier(
        n_estimators=n_estimators, max_depth=max_depth, random_state=seed, n_jobs=1
    )
    return model.fit(x, y)


@step
def evaluate(models: dict[str, Any], test: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Test-set AUC, log loss and accuracy of each model."""
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    x, y = _xy(test)
    scores: dict[str, dict[str, float]] = {}
    for name, model in models.items():
        proba = model.predict_proba(x)[:, 1]
        scores[name] = {
            "auc": round(float(roc_auc_score(y, proba)), 6),
            "log_loss": round(float(log_loss(y, proba, labels=[0, 1])), 6),
            "accuracy": round(float(accuracy_score(y, proba >= 0.5)), 6),
        }
    return scores


@step
def roc_plot(models: dict[str, Any], test: pd.DataFrame) -> Any:
    """ROC curves of every model on one figure (PNG), or a JSON table when matplotlib is absent."""
    from sklearn.metrics import roc_curve

    x, y = _xy(test)
    curves = {
        name: roc_curve(y, model.predict_proba(x)[:, 1])[:2] for name, model in models.items()
    }
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return {
            name: [fpr.round(4).tolist(), tpr.round(4).tolist()]
            for name, (fpr, tpr) in curves.items()
        }
    figure = Figure(figsize=(4.5, 4.5), layout="constrained")
    axes = figure.subplots()
    for name, (fpr, tpr) in curves.items():
        axes.plot(fpr, tpr, linewidth=2, label=name)
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate (malignant)")
    axes.legend(loc="lower right")
    return figure


@pipeline
def biopsy_study(
    biopsies: str | None = None,
    max_z: float = 6.0,
    test_fraction: float = 0.3,
    c: float = 1.0,
    n_estimators: int = 200,
) -> None:
    """Ingest -> quality filter -> features -> logistic and forest models -> evaluation and ROC plot.

    ``biopsies`` is a CSV file (``write_biopsies`` makes one); without it the bundled data is used.
    """
    raw = ingest(File(biopsies)) if biopsies else bundled()
    kept = quality_filter(raw, max_z=max_z)
    train, test = features(kept, test_fraction=test_fraction)
    models = {
        "logistic": train_logistic(train, c=c),
        "forest": train_forest(train, n_estimators=n_estimators),
    }
    evaluate(models, test)
    roc_plot(models, test)
