"""Why a model predicts what it does: permutation importance and SHAP values per column.

>>> from knobs import explain
>>> result = explain.explain("churn-bayes-...", trial=12)      # computes and stores it
>>> explain.load("churn-bayes-...", trial=12)                   # what pages and the card read
>>> explain.start_job("churn-bayes-...", trial=12)              # the dashboard: its own process

Modules, one job each: ``_importance`` (permutation importance per column of the user's table,
on the held-out test split), ``_shap`` (exact TreeSHAP of XGBoost and of scikit-learn's tree
models, folded back onto those columns), ``_build`` (find the model, explain it, judge whether
it is worth explaining), ``_store`` (the JSON kept beside the study, and the background job), ``knobs.visualization._explain`` (pure
chart data, then thin plotly figures), ``cli`` (``knobs explain``).
"""

from __future__ import annotations

from knobs._lazy import lazy_exports

_CHARTS = "knobs.visualization._explain"
_LAZY = {
    # computing
    "explain": "_build", "explain_model": "_build", "weak_warning": "_build",
    "column_importance": "_importance", "feature_columns": "_importance", "subsample": "_importance",
    "DEFAULT_REPEATS": "_importance", "MAX_IMPORTANCE_ROWS": "_importance",
    "tree_shap": "_shap", "source_columns": "_shap", "MAX_SHAP_ROWS": "_shap", "UNMATCHED": "_shap",
    # storing and the background job
    "load": "_store", "save": "_store", "result_key": "_store", "result_path": "_store",
    "Job": "_store", "job_status": "_store", "start_job": "_store", "EXPLAIN_VERSION": "_store",
    "card_summary": "_store",
    # charts: data, then figures (in knobs.visualization, beside the other charts' style)
    **{name: _CHARTS for name in (
        "importance_rows", "shap_bar_rows", "beeswarm_points", "row_contributions", "row_choices",
        "top_importances", "importance_figure", "shap_bar_figure", "beeswarm_figure", "row_figure",
    )},
}  # fmt: skip

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
