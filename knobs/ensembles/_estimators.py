"""The ensemble estimators Knobs fits, and the greedy selection they use inside Knobs.

The classes live in :mod:`knobs.portable` (saved models and train.py name them there); this
module re-exports them for ``knobs.ensembles`` (whose lazy ``GreedyEnsemble*`` and
``StackingEnsemble*`` names also keep models saved by Knobs 0.1.0 loading: their skops files
record ``knobs.ensembles.StackingEnsembleClassifier``) and plugs in how a greedy ensemble picks
its weights: Caruana's selection (``_combine.caruana``) scored with the Knobs metric its
``scoring`` names, which the portable module cannot import.
"""

from __future__ import annotations

import numpy as np

from knobs.ensembles._combine import caruana
from knobs.metrics import PROBA, VALUE, get_metric
from knobs.portable import (
    GreedyEnsembleClassifier,
    GreedyEnsembleRegressor,
    StackingEnsembleClassifier,
    StackingEnsembleRegressor,
    meta_features,
    set_greedy_selection,
)

__all__ = [
    "GreedyEnsembleClassifier",
    "GreedyEnsembleRegressor",
    "StackingEnsembleClassifier",
    "StackingEnsembleRegressor",
    "meta_features",
]


def caruana_on_metric(
    preds: list[np.ndarray],
    y: np.ndarray,
    scoring: str | None,
    classes: np.ndarray | None,
    n_iter: int,
) -> np.ndarray:
    """Greedy weights minimizing the loss of the Knobs metric ``scoring`` on OOF predictions
    (log loss for classifiers and RMSE for regressors when ``scoring`` is None)."""
    if classes is not None:
        task = "binary" if len(classes) <= 2 else "multiclass"
        default, kind = "log_loss", PROBA
    else:
        task, default, kind = "regression", "rmse", VALUE
    metric = get_metric(scoring or default, task)

    def objective(p: np.ndarray) -> float:
        return metric.loss(metric.score_predictions(y, p, kind, classes))

    return caruana(preds, objective, n_iter)


set_greedy_selection(caruana_on_metric)
