"""SHAP values of a tree model, per column of the user's table.

XGBoost computes exact TreeSHAP itself (``Booster.predict(..., pred_contribs=True)``); the
scikit-learn tree models (random forest, extra trees, HistGradientBoosting, decision trees) are
explained by the ``shap`` library's TreeExplainer, also exact TreeSHAP. Contributions are per
*preprocessed* feature (``color_red``, ``x2``'s missing indicator, a date's year); each is added
back to the input column that produced it, found from the preprocessor's own output names, so
the values are per column as the user named it and still sum, with the base value, to the
model's output for each row: the margin (log-odds) for boosted classifiers, the probability for
a forest's (a forest averages its trees' probabilities), the prediction for regressors.

Other models get no SHAP values here (permutation importance covers every model): the reason is
returned in words, and the page shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline

from knobs.data import ColumnProfile
from knobs.pipelines import pipeline_of, target_of

#: Rows explained at most; a bigger test split is subsampled (and the result says so).
MAX_SHAP_ROWS = 2_000
#: Seconds SHAP values may take. XGBoost's own TreeSHAP explains 2,000 rows in under a second;
#: the shap library's, on a deep forest, takes ~40 ms a row (150 trees of ~400 leaves), so its
#: rows are cut to what fits this budget, measured on a first few rows (and said).
SHAP_BUDGET_S = 20.0
#: Rows timed to estimate the cost of one, and the fewest rows a cut leaves.
PROBE_ROWS, MIN_SHAP_ROWS = 20, 100
#: A column's shown value is cut to this many characters (text columns can be long).
MAX_SHOWN_CHARS = 40
#: Output features matched to no input column (a transformer that renames everything).
UNMATCHED = "(other features)"


#: scikit-learn tree models the ``shap`` library's TreeExplainer explains exactly.
SKLEARN_TREES = (
    "RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
    "ExtraTreesRegressor", "HistGradientBoostingClassifier", "HistGradientBoostingRegressor",
    "DecisionTreeClassifier", "DecisionTreeRegressor",
)  # fmt: skip


def tree_model(estimator: Any) -> tuple[Pipeline, Any] | None:
    """``(preprocessing, tree model)`` for a pipeline ending in a model TreeSHAP explains
    (XGBoost, or a scikit-learn tree model), else None; a model that learns the target's log is
    explained in that log (``output_words`` says so)."""
    estimator = pipeline_of(estimator)
    if not isinstance(estimator, Pipeline) or len(estimator.steps) < 2:
        return None
    model = estimator.steps[-1][1]
    if hasattr(model, "get_booster"):
        return estimator[:-1], model
    if type(model).__name__ in SKLEARN_TREES and _has_shap():
        return estimator[:-1], model
    return None


def _has_shap() -> bool:
    import importlib.util

    return importlib.util.find_spec("shap") is not None


def why_no_shap(estimator: Any, family: str) -> str:
    """The sentence the page shows in place of SHAP values for a model that has none here."""
    inner = pipeline_of(estimator)
    model = inner.steps[-1][1] if isinstance(inner, Pipeline) else inner
    if type(model).__name__ in SKLEARN_TREES and not _has_shap():
        return (
            f"SHAP values of a {family} model need the `shap` library (`pip install -r "
            "requirements.txt` installs it); its explanation is the permutation importance above."
        )
    return (
        "SHAP values are computed for tree models (XGBoost, forests, HistGradientBoosting: "
        f"exact TreeSHAP); this model is {family}, so its explanation is the permutation "
        "importance above."
    )


def output_words(model: Any, target: str = "none") -> str:
    """What a tree model's SHAP values add up to, in words (the charts' axis); ``target``: what
    a regressor learned (``knobs.pipelines.target_of``)."""
    if not hasattr(model, "classes_"):  # a regressor
        return "log of the prediction" if target == "log" else "prediction"
    if hasattr(model, "get_booster") or type(model).__name__.startswith("HistGradient"):
        return "log-odds"
    return "probability"


def contributions(model: Any, features: Any) -> np.ndarray:
    """``(rows, outputs, features + 1)``: each feature's SHAP value per output, the base value
    last. One output for regression and binary classification (the positive class), one per
    class for multiclass, as XGBoost's ``pred_contribs`` gives them."""
    dense = np.asarray(features.toarray() if hasattr(features, "toarray") else features,
                       dtype=np.float64)  # fmt: skip
    if hasattr(model, "get_booster"):
        import xgboost as xgb  # heavy import, only when a tree model is explained

        contribs = model.get_booster().predict(xgb.DMatrix(dense), pred_contribs=True)
        return contribs[:, None, :] if contribs.ndim == 2 else contribs
    import shap  # heavy import (numba), only when a scikit-learn tree model is explained

    explainer = shap.TreeExplainer(model)
    values = np.asarray(explainer.shap_values(dense, check_additivity=False))
    if values.ndim == 2:  # one output: (rows, features)
        values = values[:, :, None]
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=np.float64))
    if values.shape[2] == 2:  # binary classification: the positive class, as XGBoost's margin
        values, base = values[:, :, 1:], base[1:]
    bias = np.broadcast_to(base, (len(dense), values.shape[2]))[:, :, None]
    return np.concatenate([values.transpose(0, 2, 1), bias], axis=2)


def affordable_rows(
    estimator: Any, X: pd.DataFrame, rows: np.ndarray, seed: int = 0,
    budget_s: float = SHAP_BUDGET_S,
) -> np.ndarray:  # fmt: skip
    """``rows``, or as many of them (drawn at random, in table order) as SHAP values can be
    computed for within ``budget_s``, timed on ``PROBE_ROWS`` of them; XGBoost keeps them all."""
    found = tree_model(estimator)
    if found is None or hasattr(found[1], "get_booster") or len(rows) <= MIN_SHAP_ROWS:
        return rows
    import time

    prep, model = found
    probe = rows[:PROBE_ROWS]
    features = prep.transform(X.iloc[probe])
    started = time.perf_counter()
    contributions(model, features)
    per_row = (time.perf_counter() - started) / len(probe)
    keep = max(MIN_SHAP_ROWS, int(budget_s / max(per_row, 1e-9)))
    if keep >= len(rows):
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, size=keep, replace=False))


def source_columns(
    prep: Pipeline, safe_to_user: dict[str, str], X: pd.DataFrame | None = None
) -> list[str]:
    """For each preprocessed feature, the user's name of the input column it comes from.

    A transformer of the ColumnTransformer with one input column owns all its outputs. For one
    with several (one-hot over ``color`` and ``city``), each input column is shuffled in turn on
    ``X`` and the outputs that move are its own: names can collide (``a`` = ``b_x`` and ``a_b`` =
    ``x`` are both one-hot ``a_b_x``), what moves cannot. Outputs that never move on ``X`` fall
    back to their names (``transformer__feature``: the input whose safe name the feature starts
    with, longest first, after a missing-value indicator's prefix).
    """
    steps = _leaf_steps(prep)
    ct = next((s for s in steps if isinstance(s, ColumnTransformer)), None)
    if ct is None:
        return [UNMATCHED] * _width(prep)
    first = steps[0] is ct
    width = max((w.stop for w in ct.output_indices_.values()), default=0)
    try:
        ct_names = [str(n) for n in ct.get_feature_names_out()]
    except (AttributeError, ValueError):  # a transformer without output names: shuffles only
        ct_names = [""] * width
    owners = [""] * width
    for name, trans, cols in ct.transformers_:
        if name == "remainder" or isinstance(trans, str):
            continue
        cols = [cols] if isinstance(cols, str) else list(cols)
        where = ct.output_indices_[name]
        moved = _moved(trans, X[cols], cols) if X is not None and first and len(cols) > 1 else {}
        for i in range(where.start, where.stop):
            feature = ct_names[i].partition("__")[2] or ct_names[i]
            owners[i] = moved.get(i - where.start) or _match(feature, cols)
    sources = [safe_to_user.get(o, UNMATCHED) for o in owners]
    if len(steps) == 1:
        return sources
    # steps after the ColumnTransformer (feature selection) keep some of its outputs, by name
    final = [str(n) for n in prep.get_feature_names_out()]
    by_name = {n: sources[i] for i, n in reversed(list(enumerate(ct_names)))}
    return [by_name.get(n, UNMATCHED) for n in final]


def _leaf_steps(prep: Any) -> list[Any]:
    """The preprocessing's steps in order, nested pipelines opened (a pipeline search makes the
    preprocessor itself a Pipeline of the ColumnTransformer and a feature selection)."""
    if not isinstance(prep, Pipeline):
        return [prep]
    return [leaf for _, step in prep.steps for leaf in _leaf_steps(step)]


def _width(prep: Pipeline) -> int:
    return len(prep.get_feature_names_out())


def _match(feature: str, cols: Sequence[str]) -> str:
    if len(cols) == 1:
        return cols[0]
    feature = feature.removeprefix("missingindicator_")
    for col in sorted(cols, key=len, reverse=True):
        if feature == col or feature.startswith(f"{col}_"):
            return col
    return ""


def _moved(trans: Any, X: pd.DataFrame, cols: list[str]) -> dict[int, str]:
    """Output position -> the one input column whose shuffle changes it (on ``X``'s rows)."""
    base = np.asarray(trans.transform(X), dtype=float)
    hits: dict[int, list[str]] = {}
    rng = np.random.default_rng(0)
    for col in cols:
        shuffled = X.copy()
        shuffled[col] = X[col].to_numpy()[rng.permutation(len(X))]
        out = np.asarray(trans.transform(shuffled), dtype=float)
        changed = ~((out == base) | (np.isnan(out) & np.isnan(base)))
        for i in np.flatnonzero(changed.any(axis=0)):
            hits.setdefault(int(i), []).append(col)
    return {i: found[0] for i, found in hits.items() if len(found) == 1}


def tree_shap(
    estimator: Any,
    X: pd.DataFrame,
    y: pd.Series,
    columns: Sequence[ColumnProfile],
    rows: np.ndarray,
    labels: Sequence[str] = (),
) -> dict[str, Any] | None:
    """SHAP values of the rows ``rows`` of ``X``, per user column, or None for a model that is
    not a tree model (``tree_model``).

    ``{"rows", "rows_total", "row_ids", "classes", "columns", "base", "values", "mean_abs",
    "shown", "color", "actual", "predicted", "output"}``: ``values[k][i][j]`` is column ``j``'s
    contribution to row ``i``'s output ``k`` (``output`` says in words what it is: log-odds,
    probability or prediction) (one output, or one per class for
    multiclass); ``base[k]`` the expected margin; ``mean_abs[k][j]`` the summary bar;
    ``shown[i][j]`` the row's value as text and ``color[i][j]`` its rank in ``[0, 1]`` among the
    rows (numbers and dates; None for categories and text), which colours the beeswarm.
    ``labels`` are the study's class names (``plan.classes``): the target reaches the model
    encoded as 0..k-1, and rows and classes are shown by their names.
    """
    found = tree_model(estimator)
    if found is None:
        return None
    prep, model = found
    Xs = X.iloc[rows]
    features = prep.transform(Xs)
    safe_to_user = {c.safe_name: c.name for c in columns}
    sources = source_columns(prep, safe_to_user, Xs)
    used = [c.name for c in columns if c.used and "target" not in c.flags and c.safe_name in X]
    names = used + ([UNMATCHED] if UNMATCHED in sources else [])
    index = {n: j for j, n in enumerate(names)}
    fold = np.zeros((len(sources), len(names)))
    for f, src in enumerate(sources):
        fold[f, index[src]] = 1.0
    contribs = contributions(model, features)
    # (rows, outputs, features + bias) -> per output: (rows, columns) and the bias
    per_column = np.einsum("rkf,fc->krc", contribs[:, :, :-1], fold)
    base = contribs[:, :, -1].mean(axis=0)
    classes = (
        [_label(c, labels) for c in getattr(model, "classes_", [])] if contribs.shape[1] > 1 else []
    )
    by_safe = {c.name: c.safe_name for c in columns}
    shown, color = _shown_values(Xs, [by_safe.get(n) for n in names], columns)
    predicted = estimator.predict(Xs)
    return {
        "rows": len(rows),
        "rows_total": len(X),
        "row_ids": [int(r) for r in rows],
        "classes": classes,
        "columns": names,
        "base": [float(b) for b in base],
        "values": np.round(per_column, 6).tolist(),
        "mean_abs": np.abs(per_column).mean(axis=1).tolist(),
        "shown": shown,
        "color": color,
        "actual": [_label(v, labels) for v in y.iloc[rows]],
        "predicted": [_label(v, labels) for v in predicted],
        "output": output_words(model, target_of(estimator)),
    }


def _shown_values(
    Xs: pd.DataFrame, safe: Sequence[str | None], columns: Sequence[ColumnProfile]
) -> tuple[list[list[str]], list[list[float | None]]]:
    """Each row's value per column as text, and its rank among the rows for ordered kinds."""
    kinds = {c.safe_name: c.kind for c in columns}
    text_cols: list[list[str]] = []
    rank_cols: list[list[float | None]] = []
    for name in safe:
        if name is None or name not in Xs:
            text_cols.append([""] * len(Xs))
            rank_cols.append([None] * len(Xs))
            continue
        values = Xs[name]
        text_cols.append([_text(v) for v in values.tolist()])
        if kinds.get(name) in ("numeric", "boolean", "datetime"):
            ordered = _orderable(values, kinds[name])
            ranks = ordered.rank(pct=True)
            rank_cols.append([None if pd.isna(r) else round(float(r), 4) for r in ranks])
        else:
            rank_cols.append([None] * len(Xs))
    rows = len(Xs)
    return (
        [[col[i] for col in text_cols] for i in range(rows)],
        [[col[i] for col in rank_cols] for i in range(rows)],
    )


def _orderable(values: pd.Series, kind: str) -> pd.Series:
    from knobs.portable import to_datetime, to_float

    if kind == "datetime":
        dates = to_datetime(values)
        stamps = dates.to_numpy().astype("int64").astype("float64")
        return pd.Series(np.where(dates.notna(), stamps, np.nan), index=values.index)
    return pd.Series(to_float(values, kind), index=values.index)


def _text(value: Any) -> str:
    """A value as a row's chart shows it: numbers to 4 significant digits, text cut short."""
    if _missing(value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return str(value.date())
    return str(value)[:MAX_SHOWN_CHARS]


def _label(value: Any, labels: Sequence[str]) -> str:
    """A class code as the user's class name (the target is encoded 0..k-1 for the models)."""
    try:
        return labels[int(value)] if labels else str(value)
    except (ValueError, TypeError, IndexError):
        return str(value)


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
