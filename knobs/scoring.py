"""Metrics on predictions: the study's metric without a fitted estimator.

A trial that keeps its out-of-fold predictions scores each fold from them (one prediction pass
instead of two), and greedy selection and weight search score thousands of candidate blends;
calling scikit-learn scorers (which want an estimator) for each would cost refits or wrappers. These functions take the
predictions themselves and reproduce what ``Metric.score`` gives on a fitted model (tests check
that on real fits): ROC AUC on the positive class's probability, label metrics on the arg-max,
log loss on the probabilities, regression metrics on the values. Results are in natural units
(RMSE positive), the way studies report them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn import metrics as skm

from knobs.errors import ConfigError
from knobs.metrics import Metric

#: Prediction kinds: class probabilities (n, k), decision values, regression values (n,).
PROBA, DECISION, VALUE = "proba", "decision", "value"


def labels_from(pred: np.ndarray, kind: str, classes: np.ndarray) -> np.ndarray:
    """Predicted labels from probabilities (arg-max) or decision values (sign / arg-max)."""
    pred = np.asarray(pred)
    if kind == DECISION and pred.ndim == 1:
        return classes[(pred > 0).astype(int)]
    return classes[np.argmax(pred, axis=1)]


def _positive_score(pred: np.ndarray, kind: str) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim == 1:
        return pred
    return pred[:, 1] if kind == PROBA else pred[:, -1]


def _proba(pred: np.ndarray) -> np.ndarray:
    """Probabilities as scikit-learn's scorers get them: no clipping of our own (``log_loss``
    clips at the dtype's epsilon itself; clipping at 1e-15 here changed k-NN's log loss by 0.01)."""
    return np.asarray(pred, dtype=np.float64)


_LABEL: dict[str, Callable[..., float]] = {
    "accuracy": skm.accuracy_score,
    "balanced_accuracy": skm.balanced_accuracy_score,
    "f1_macro": lambda y, p: skm.f1_score(y, p, average="macro"),
    "f1_weighted": lambda y, p: skm.f1_score(y, p, average="weighted"),
}
_BINARY_LABEL: dict[str, Callable[..., float]] = {
    "f1": skm.f1_score,
    "precision": skm.precision_score,
    "recall": skm.recall_score,
}
_VALUE: dict[str, Callable[..., float]] = {
    "r2": skm.r2_score,
    "rmse": skm.root_mean_squared_error,
    "mse": skm.mean_squared_error,
    "mae": skm.mean_absolute_error,
    "mape": skm.mean_absolute_percentage_error,
    "median_ae": skm.median_absolute_error,
}


def score_predictions(
    metric: Metric, y: np.ndarray, pred: np.ndarray, kind: str, classes: Sequence | None = None
) -> float:
    """``metric`` of predictions ``pred`` (of ``kind``) against the true ``y``.

    ``classes`` are the sorted labels, the column order of probabilities (scikit-learn's
    ``classes_``); the positive class of a binary task is the last one, as in its scorers.
    """
    y = np.asarray(y)
    name = metric.name
    if name in _VALUE:
        return float(_VALUE[name](y, np.asarray(pred, dtype=np.float64)))
    cls = np.asarray(classes if classes is not None else np.unique(y))
    if name == "roc_auc":
        return float(skm.roc_auc_score(y == cls[-1], _positive_score(pred, kind)))
    if name == "average_precision":
        return float(skm.average_precision_score(y == cls[-1], _positive_score(pred, kind)))
    if name == "roc_auc_ovr":
        _need_proba(name, kind)
        if len(cls) == 2:
            return float(skm.roc_auc_score(y == cls[-1], _positive_score(pred, kind)))
        return float(skm.roc_auc_score(y, _proba(pred), multi_class="ovr", labels=cls))
    if name == "log_loss":
        _need_proba(name, kind)
        return float(skm.log_loss(y, _proba(pred), labels=cls))
    labels = labels_from(pred, kind, cls)
    if name in _LABEL:
        return float(_LABEL[name](y, labels))
    if name in _BINARY_LABEL:
        return float(_BINARY_LABEL[name](y, labels, pos_label=cls[-1], zero_division=0))
    raise ConfigError(f"Metric `{name}` cannot score stored predictions; this is a Knobs bug.")


def _need_proba(name: str, kind: str) -> None:
    if kind != PROBA:
        raise ConfigError(
            f"Metric `{name}` needs class probabilities, but these predictions are {kind} values."
        )


def fold_score(
    metric: Metric,
    y: np.ndarray,
    pred: np.ndarray,
    kind: str,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    classes: Sequence | None = None,
) -> tuple[float, list[float]]:
    """Mean of the per-fold scores, the way a study scores a trial (not one pooled score)."""
    scores = [score_predictions(metric, y[valid], pred[valid], kind, classes) for _, valid in folds]
    return float(np.mean(scores)), scores


def loss(metric: Metric, score: float) -> float:
    """A number to minimize, whatever the metric's direction."""
    return -score if metric.direction == "maximize" else score
