"""Knobs: tune scikit-learn and XGBoost models on a table, from Python, the CLI or the dashboard.

>>> import knobs
>>> result = knobs.tune("churn.csv", target="churn", strategy="bayes", n_trials=50)
>>> result.best_score, result.best_params, result.best_pipeline

Names are imported on first use (PEP 562), so ``import knobs.study`` in a worker or a quick
``knobs models`` does not pay for pandas, scikit-learn and XGBoost up front.
"""

from __future__ import annotations

from knobs._lazy import lazy_exports
from knobs.errors import ConfigError, DataError, KnobsError, StudyError

_LAZY = {
    "Search": "knobs.api",
    "SearchStatus": "knobs.api",
    "TuneResult": "knobs.api",
    "studies": "knobs.api",
    "tune": "knobs.api",
    "preview": "knobs.api",
    "Preview": "knobs.api",
    "SearchConfig": "knobs.config",
    "REGISTRY": "knobs.models",
    "ModelSpec": "knobs.models",
    "Param": "knobs.models",
    "get_model": "knobs.models",
    "model_names": "knobs.models",
}

__all__ = ["ConfigError", "DataError", "KnobsError", "StudyError", *_LAZY]
__version__ = "0.1.0"


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
