"""An ROC curve figure for each model, when matplotlib is installed (it is optional)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["roc_figure"]


def roc_figure(y_true: NDArray[np.int64], proba: NDArray[np.float64], *, title: str) -> Any | None:
    """A matplotlib ``Figure`` of the ROC curve, or ``None`` when matplotlib is not installed."""
    try:
        # Imported by name: matplotlib is not a dependency, and a bare Figure needs no pyplot state.
        figure_module = importlib.import_module("matplotlib.figure")
    except ImportError:
        return None
    from sklearn.metrics import roc_auc_score, roc_curve

    false_positive, true_positive, _ = roc_curve(y_true, proba)
    figure = figure_module.Figure(figsize=(4, 4), layout="constrained")
    axes = figure.subplots()
    axes.plot(false_positive, true_positive, color="tab:blue", linewidth=2)
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    axes.set_xlabel("false positive rate")
    axes.set_ylabel("true positive rate (malignant)")
    axes.set_title(f"{title}  AUC {float(roc_auc_score(y_true, proba)):.3f}")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    return figure
