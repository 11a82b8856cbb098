"""Which of one model's parameters moved the score most: fANOVA or PED-ANOVA importances.

One figure serves the live view (the model in the title, refreshed as trials complete) and the
Analytics page (the method chosen by the user). Its data step is ``tuned_trials`` and
``params_varied_in_complete``; the importances themselves are Optuna's.
"""

from __future__ import annotations

import optuna
import plotly.graph_objects as go

from knobs.errors import ConfigError

from ._selection import Trials, for_model, optuna_plot, params_varied_in_complete
from ._style import COMPACT, layout

#: The importance evaluators offered, by the name a page or a flag uses.
IMPORTANCE_METHODS = ("fanova", "ped_anova")
_METHOD_LABELS = {"fanova": "fANOVA", "ped_anova": "PED-ANOVA"}


def importance_label(method: str) -> str:
    """How a method reads on screen (``fANOVA``)."""
    return _METHOD_LABELS.get(method, method)


def _evaluator(method: str) -> optuna.importance.BaseImportanceEvaluator:
    if method not in IMPORTANCE_METHODS:
        raise ConfigError(
            f"Importance method must be one of {list(IMPORTANCE_METHODS)}, but got {method!r}."
        )
    if method == "ped_anova":
        return optuna.importance.PedAnovaImportanceEvaluator()
    # Seeded: the live view redraws on every completed trial, and bars must not jump for nothing.
    return optuna.importance.FanovaImportanceEvaluator(seed=0)


def importance_figure(
    trials: Trials, direction: str, *, method: str = "fanova", model: str | None = None
) -> go.Figure:
    """Parameter importances of one model's trials (``tuned_trials``), named in the title."""
    evaluator = _evaluator(method)
    params = params_varied_in_complete(trials)
    if not params:
        raise ConfigError("Importance needs parameters that took several values; run more trials.")
    plot = optuna.visualization.plot_param_importances
    fig = optuna_plot(plot, trials, direction, evaluator=evaluator, params=params)
    fig.update_traces(cliponaxis=False)  # keep the value labels at the bars' ends readable
    title = for_model(f"Parameter importance ({importance_label(method)})", model)
    return layout(fig, title, height=COMPACT, margin={"r": 40})
