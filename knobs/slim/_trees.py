"""Tree ensembles cut to their first k trees: which models can be cut, and their predictions.

XGBoost keeps its rounds in order, and ``iteration_range=(0, k)`` predicts with the first k
rounds exactly as a booster sliced with ``booster[:k]`` would; scikit-learn's histogram boosting
has ``staged_predict``. A random forest's (or extra
trees') prediction is the mean of its trees' predictions, so the first k trees are a forest of k
trees. Both are read from one fitted model, so a whole curve costs one fit per fold.

Exports are refitted with ``n_estimators=k`` and the study's seed (the one way a bundle and its
train.py can agree): a forest draws its per-tree seeds in order, and XGBoost its row and column
samples round by round, so the refit grows the very same first k trees (histogram boosting
without its own early stopping is deterministic). ``tests/test_slim.py``
checks that the refit predicts what the sliced model predicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from knobs.metrics import PROBA, VALUE

#: Families whose trees can be counted and cut, and the parameter that sets how many.
TREE_FAMILIES: dict[str, str] = {
    "xgboost": "n_estimators",
    "random_forest": "n_estimators",
    "extra_trees": "n_estimators",
    "hist_gb": "max_iter",
}


def can_cut(family: str) -> bool:
    """Whether the family gets a tree curve."""
    return family in TREE_FAMILIES


def cut_refused(model: Any) -> str | None:
    """Why this fitted model cannot be cut to its first k trees, or None when it can.

    scikit-learn's histogram boosting with its own early stopping on (``early_stopping="auto"``
    above 10,000 rows) learns from a share of its rows and stops by itself: a refit with fewer
    iterations would not grow the same trees, so no curve is drawn for it.
    """
    if getattr(model, "do_early_stopping_", False):
        return ("its own early stopping is on (scikit-learn's default above 10,000 rows), so a "
                "refit with fewer iterations would not grow the same trees")  # fmt: skip
    return None


def _is_xgb(model: Any) -> bool:
    return type(model).__name__ in ("XGBClassifier", "XGBRegressor")


def tree_count(model: Any) -> int:
    """How many trees (XGBoost: boosting rounds) the fitted model has."""
    if _is_xgb(model):
        return int(model.get_booster().num_boosted_rounds())
    if hasattr(model, "n_iter_"):  # histogram gradient boosting: iterations
        return int(model.n_iter_)
    return len(model.estimators_)


def staged_predictions(
    model: Any, Xt: np.ndarray, counts: list[int], task: str
) -> dict[int, tuple[str, np.ndarray]]:
    """Predictions of the model's first ``k`` trees for each ``k`` in ``counts``, on the
    already-preprocessed rows ``Xt``: probabilities for classifiers, values for regressors."""
    out: dict[int, tuple[str, np.ndarray]] = {}
    if _is_xgb(model):
        for k in counts:
            if task == "regression":
                out[k] = (VALUE, np.asarray(model.predict(Xt, iteration_range=(0, k)), float))
            else:
                out[k] = (PROBA, np.asarray(model.predict_proba(Xt, iteration_range=(0, k)), float))
        return out
    if hasattr(model, "n_iter_"):  # histogram gradient boosting: its own staged predictions
        staged = (
            model.staged_predict(Xt) if task == "regression" else model.staged_predict_proba(Xt)
        )
        kind = VALUE if task == "regression" else PROBA
        for i, pred in enumerate(staged, start=1):
            if i in counts:
                out[i] = (kind, np.asarray(pred, dtype=np.float64))
        return out
    trees = model.estimators_
    Xt = np.asarray(Xt, dtype=np.float32)
    running: np.ndarray | None = None
    wanted = set(counts)
    for i, tree in enumerate(trees[: max(counts)], start=1):
        pred = tree.predict(Xt) if task == "regression" else tree.predict_proba(Xt)
        pred = np.asarray(pred, dtype=np.float64)
        running = pred if running is None else running + pred
        if i in wanted:
            out[i] = (VALUE if task == "regression" else PROBA, running / i)
    return out


def tree_counts(total: int, points: int = 14, extra: tuple[int, ...] = ()) -> list[int]:
    """The tree counts a curve visits: geometric from 1 to ``total`` (both included)."""
    grid = np.unique(np.round(np.geomspace(1, max(1, total), num=points)).astype(int))
    chosen = {int(k) for k in grid} | {int(k) for k in extra if 1 <= k <= total} | {total}
    return sorted(chosen)
