"""Knobs: tune scikit-learn and XGBoost models on a table, from Python, the CLI or the dashboard.

>>> import knobs
>>> result = knobs.tune("churn.csv", target="churn", strategy="bayes", n_trials=50)
>>> result.best_score, result.best_params, result.best_pipeline

Names are imported on first use (PEP 562), so ``import knobs.study`` in a worker or a quick
``knobs models`` does not pay for pandas, scikit-learn and XGBoost up front.
"""

from __future__ import annotations

import importlib
from typing import Any

from knobs.errors import ConfigError, DataError, KnobsError, StudyError

_LAZY = {
    "Search": "knobs.api",
    "SearchStatus": "knobs.api",
    "TuneResult": "knobs.api",
    "studies": "knobs.api",
    "tune": "knobs.api",
    "SearchConfig": "knobs.config",
    "REGISTRY": "knobs.models",
    "ModelSpec": "knobs.models",
    "Param": "knobs.models",
    "get_model": "knobs.models",
    "model_names": "knobs.models",
}

__all__ = ["ConfigError", "DataError", "KnobsError", "StudyError", *_LAZY]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'knobs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
