"""Permutation importance per column of the user's table, on the held-out test split.

The columns permuted are the pipeline's *inputs* (the table with safe column names), not the
features the preprocessor makes of them: shuffling ``color`` moves all of its one-hot columns
together, so nothing needs folding back, and the importance is reported under the user's own
column name (``plan.columns``: ``safe_name`` -> ``name``). Any estimator that takes that table
works the same way, a single trial's pipeline or an ensemble.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance

from knobs.data import ColumnProfile
from knobs.errors import DataError
from knobs.metrics import Direction, Metric

#: Repeats of each column's shuffle: the spread of the drop across them is the error bar.
DEFAULT_REPEATS = 5
#: Rows of the test split scored per shuffle; a bigger split is subsampled (and the result says so).
MAX_IMPORTANCE_ROWS = 5_000
#: Shuffles (columns times repeats) one explanation scores at most: a wide table gets fewer
#: repeats, down to one (no error bar), and the result says how many. A 1,500-column table's
#: 7,500 shuffles took 207 s for one HistGradientBoosting trial.
MAX_SHUFFLES = 1_500


def feature_columns(columns: Sequence[ColumnProfile], X: pd.DataFrame) -> list[ColumnProfile]:
    """The columns the model reads (used, not the target), in the table's order."""
    return [c for c in columns if c.used and "target" not in c.flags and c.safe_name in X.columns]


def subsample(n: int, max_rows: int, seed: int) -> np.ndarray:
    """Row positions to use: all ``n`` rows, or ``max_rows`` of them drawn without replacement
    (seeded, in table order) so a big table costs a bounded time."""
    if max_rows < 1:
        raise DataError(f"The row cap must be at least 1, but got max_rows={max_rows}.")
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def column_importance(
    estimator: Any,
    X: pd.DataFrame,
    y: pd.Series,
    columns: Sequence[ColumnProfile],
    metric: Metric,
    direction: str,
    *,
    repeats: int = DEFAULT_REPEATS,
    max_rows: int = MAX_IMPORTANCE_ROWS,
    seed: int = 0,
) -> dict[str, Any]:
    """How much the metric worsens when each column is shuffled, ``repeats`` times each.

    ``{"rows", "rows_total", "repeats", "score", "columns": [{"column", "safe_name", "kind",
    "mean", "std", "values"}]}`` with columns sorted from most to least important. A positive
    ``mean`` is the score lost without the column, in the metric's units whatever its direction
    (for RMSE, how much it grows); near zero or negative, the model does not need it.
    """
    if repeats < 1:
        raise DataError(f"Permutation importance needs at least 1 repeat, but got {repeats}.")
    used = feature_columns(columns, X)
    if not used:
        raise DataError(
            "The model reads no column of this table, so no importance can be measured."
        )
    rows = subsample(len(X), max_rows, seed)
    Xs = X.iloc[rows].reset_index(drop=True)
    ys = y.iloc[rows].reset_index(drop=True)
    way = 1.0 if Direction(direction).maximize else -1.0

    def scorer(est: Any, X_: pd.DataFrame, y_: pd.Series) -> float:
        return way * metric.score(est, X_, y_)

    # Only the columns the model reads are handed over (the preprocessor drops the others), so
    # each shuffle is one the model can feel and none is paid for in vain.
    X_used = Xs[[c.safe_name for c in used]]
    repeats = max(1, min(repeats, MAX_SHUFFLES // len(used)))
    result = permutation_importance(
        estimator, X_used, ys, scoring=scorer, n_repeats=repeats, random_state=seed, n_jobs=1
    )
    drops = result.importances
    base = scorer(estimator, X_used, ys)
    out = [
        {
            "column": c.name,
            "safe_name": c.safe_name,
            "kind": c.kind,
            "mean": float(drops[i].mean()),
            "std": float(drops[i].std()),
            "values": [float(v) for v in drops[i]],
        }
        for i, c in enumerate(used)
    ]
    out.sort(key=lambda r: r["mean"], reverse=True)
    return {
        "rows": len(rows),
        "rows_total": len(X),
        "repeats": repeats,
        "score": way * base,
        "columns": out,
    }
