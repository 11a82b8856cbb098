"""Ensembles over finished trials: voting, stacking and greedy selection (Caruana et al. 2004).

Built as a separate, re-runnable step over the trials of one or more studies made on the same
table. Weights, greedy picks and the stacking meta-learner are learned on the out-of-fold
predictions every trial keeps, so they cost seconds; only the final model refits its members.

>>> from knobs import ensembles
>>> report = ensembles.build_ensemble(["churn-bayes-..."], "greedy", top=5)
>>> report.cv_score, report.best_single_cv_score, report.verdict, report.id
>>> estimator, meta = ensembles.fitted_ensemble(report.id)   # what export calls
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    **dict.fromkeys(("comparison_data", "comparison_figure", "correlation_figure"), "_charts"),
    **dict.fromkeys(
        (
            "GreedyEnsembleClassifier",
            "GreedyEnsembleRegressor",
            "StackingEnsembleClassifier",
            "StackingEnsembleRegressor",
        ),
        "_estimators",
    ),
    **dict.fromkeys(
        (
            "KINDS",
            "Candidate",
            "EnsembleReport",
            "Options",
            "Pool",
            "build_ensemble",
            "candidates",
            "check_compatible",
            "correlation",
            "fitted_ensemble",
            "list_ensembles",
            "load_ensemble",
            "nested_cv_score",
            "nested_cv_scores",
            "save",
            "verdict",
        ),
        "_study",
    ),  # fmt: skip
}

__all__ = [
    "KINDS",
    "Candidate",
    "EnsembleReport",
    "GreedyEnsembleClassifier",
    "GreedyEnsembleRegressor",
    "Options",
    "Pool",
    "StackingEnsembleClassifier",
    "StackingEnsembleRegressor",
    "build_ensemble",
    "candidates",
    "check_compatible",
    "comparison_data",
    "comparison_figure",
    "correlation",
    "correlation_figure",
    "fitted_ensemble",
    "list_ensembles",
    "load_ensemble",
    "nested_cv_score",
    "nested_cv_scores",
    "save",
    "verdict",
]


def __getattr__(name: str) -> Any:
    """Import on first use: ``knobs --help`` must not pay for scikit-learn and plotly."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'knobs.ensembles' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"knobs.ensembles.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
