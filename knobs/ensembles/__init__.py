"""Ensembles over finished trials: voting, stacking and greedy selection (Caruana et al. 2004).

Built as a separate, re-runnable step over the trials of one or more studies made on the same
table. Weights, greedy picks and the stacking meta-learner are learned on the out-of-fold
predictions every trial keeps, so they cost seconds; only the final model refits its members.

>>> from knobs import ensembles
>>> report = ensembles.build_ensemble(["churn-bayes-..."], ensembles.Options("greedy", top=5))
>>> report.cv_score, report.best_single_cv_score, report.verdict, report.id
>>> estimator, meta = ensembles.fitted_ensemble(report.id)   # what export calls

Modules, one concern each: ``_options`` (what to build), ``_pool`` (candidates and their
out-of-fold predictions), ``_combine`` (blends on plain arrays), ``_nested`` (learning the
combination, nested CV), ``_estimators`` (the scikit-learn classes), ``_build`` (build and
rebuild), ``_verdict`` (does it help), ``_store`` (the report and where it is kept),
``cli`` (``knobs ensemble``). The page's figures are in ``knobs.visualization``.
"""

from __future__ import annotations

from knobs._lazy import lazy_exports

_LAZY = {
    # what to build
    "Options": "_options", "KINDS": "_options", "VOTINGS": "_options", "WEIGHTINGS": "_options",
    # the candidate pool
    "Candidate": "_pool", "Pool": "_pool", "candidates": "_pool", "check_compatible": "_pool",
    "correlation": "_pool",
    # combining with nested cross-validation
    "nested_cv_score": "_nested", "nested_cv_scores": "_nested",
    # building and rebuilding
    "build_ensemble": "_build", "fitted_ensemble": "_build",
    # the search's final model
    "FinalChoice": "_final", "final_choice": "_final", "early_choice": "_final",
    "early_verdict": "_final",
    # the verdict and the kept definitions
    "verdict": "_verdict",
    "EnsembleReport": "_store", "save": "_store", "list_ensembles": "_store",
    "load_ensemble": "_store",
    # scikit-learn estimators (models saved by Knobs 0.1.0 name them by this package)
    "GreedyEnsembleClassifier": "_estimators", "GreedyEnsembleRegressor": "_estimators",
    "StackingEnsembleClassifier": "_estimators", "StackingEnsembleRegressor": "_estimators",
}  # fmt: skip

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
