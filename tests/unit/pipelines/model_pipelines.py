"""Pipelines whose steps pass a scikit-learn model along (module-level, to be fingerprinted)."""

from __future__ import annotations

from typing import Any

import numpy as np

from labledger.pipelines import pipeline, step

X = np.random.default_rng(3).normal(size=(40, 3))
Y = (X[:, 0] > 0).astype(int)


@step
def train(c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c).fit(X, Y)


@step
def score(model: Any, offset: float = 0.0) -> float:
    return float(model.score(X, Y)) + offset


@step(trusted=True)
def trusted_score(model: Any, offset: float = 0.0) -> float:
    return float(model.score(X, Y)) + offset


@pipeline
def scoring(c: float = 1.0, offset: float = 0.0) -> None:
    score(train(c), offset=offset)


@pipeline
def trusted_scoring(c: float = 1.0, offset: float = 0.0) -> None:
    trusted_score(train(c), offset=offset)
