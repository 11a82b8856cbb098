"""Metrics by the names users know, mapped onto scikit-learn scorers.

Scores are reported in their natural units (RMSE is positive and minimized), not as the negated
values scikit-learn's scorers return, so a study's objective reads the way the user asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sklearn.metrics import get_scorer

from knobs.errors import ConfigError

Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class Metric:
    name: str
    scorer: str  # scikit-learn scorer name
    direction: Direction
    tasks: frozenset[str]
    needs_proba: bool = False

    @property
    def sign(self) -> float:
        """Factor from the scorer's value to the reported value (scorers negate losses)."""
        return -1.0 if self.scorer.startswith("neg_") else 1.0

    def score(self, estimator, X, y) -> float:  # noqa: ANN001 - any fitted estimator
        return self.sign * float(get_scorer(self.scorer)(estimator, X, y))

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


_C = frozenset({"binary", "multiclass"})
_B = frozenset({"binary"})
_R = frozenset({"regression"})

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", "roc_auc", "maximize", _B),
        Metric("roc_auc_ovr", "roc_auc_ovr", "maximize", _C, needs_proba=True),
        Metric("accuracy", "accuracy", "maximize", _C),
        Metric("balanced_accuracy", "balanced_accuracy", "maximize", _C),
        Metric("f1", "f1", "maximize", _B),
        Metric("f1_macro", "f1_macro", "maximize", _C),
        Metric("f1_weighted", "f1_weighted", "maximize", _C),
        Metric("precision", "precision", "maximize", _B),
        Metric("recall", "recall", "maximize", _B),
        Metric("average_precision", "average_precision", "maximize", _B),
        Metric("log_loss", "neg_log_loss", "minimize", _C, needs_proba=True),
        Metric("r2", "r2", "maximize", _R),
        Metric("rmse", "neg_root_mean_squared_error", "minimize", _R),
        Metric("mse", "neg_mean_squared_error", "minimize", _R),
        Metric("mae", "neg_mean_absolute_error", "minimize", _R),
        Metric("mape", "neg_mean_absolute_percentage_error", "minimize", _R),
        Metric("median_ae", "neg_median_absolute_error", "minimize", _R),
    )
}

_ALIASES = {
    "auc": "roc_auc",
    "neg_log_loss": "log_loss",
    "logloss": "log_loss",
    "acc": "accuracy",
    "neg_root_mean_squared_error": "rmse",
    "neg_mean_squared_error": "mse",
    "neg_mean_absolute_error": "mae",
    "neg_mean_absolute_percentage_error": "mape",
}

DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}


def get_metric(name: str | None, task: str) -> Metric:
    """The metric called ``name`` for ``task``; the task's default when ``name`` is None."""
    key = DEFAULT_METRIC[task] if name is None else name.strip().lower()
    key = _ALIASES.get(key, key)
    if key == "roc_auc" and task == "multiclass":
        key = "roc_auc_ovr"
    metric = METRICS.get(key)
    allowed = sorted(n for n, m in METRICS.items() if task in m.tasks)
    if metric is None:
        raise ConfigError(f"Unknown metric `{name}`. For a {task} task use one of: {allowed}.")
    if task not in metric.tasks:
        raise ConfigError(f"Metric `{name}` does not fit a {task} task; use one of: {allowed}.")
    return metric
