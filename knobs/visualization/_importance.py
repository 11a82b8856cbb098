"""Which of one model's parameters moved the score most: fANOVA or PED-ANOVA importances.

One figure serves the live view (the model in the title, refreshed as trials complete) and the
Analytics page (the method chosen by the user). Its data step is ``tuned_trials`` and
``params_varied_in_complete``; the importances themselves are Optuna's.

The work is bounded, since one server process serves every user: fANOVA fits a random forest
of 64 full-depth trees and walks every leaf (measured on this project's 2-core machine, four
random-forest parameters: 3 s on 200 trials, 8 s on 400, 26 s on 1,000, minutes on 10,000), so
it runs on at most :data:`FANOVA_MAX_TRIALS` complete trials; PED-ANOVA fits nothing (~1 s on
1,000 trials) and runs on at most :data:`PED_ANOVA_MAX_TRIALS`.
Beyond, a seeded uniform sample is used (importance wants a fair sample, not the best trials),
and ``auto`` picks fANOVA up to its cap, PED-ANOVA above. The subtitle says which and on how many.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from knobs.errors import ConfigError

from ._scale import Thinned
from ._selection import Trials, for_model, optuna_plot, params_varied_in_complete
from ._style import COMPACT, layout

#: The importance evaluators offered, by the name a page or a flag uses.
IMPORTANCE_METHODS = ("fanova", "ped_anova")
_METHOD_LABELS = {"fanova": "fANOVA", "ped_anova": "PED-ANOVA", "auto": "automatic"}
#: Complete trials fANOVA runs on at most (a seeded sample beyond; see the module doc).
FANOVA_MAX_TRIALS = 300
#: Complete trials PED-ANOVA runs on at most.
PED_ANOVA_MAX_TRIALS = 1_000
#: The seed of the importance sample: bars must not jump between refreshes for nothing.
SAMPLE_SEED = 0


def importance_label(method: str) -> str:
    """How a method reads on screen (``fANOVA``)."""
    return _METHOD_LABELS.get(method, method)


def importance_method(method: str, n_complete: int) -> str:
    """The evaluator to run for ``method`` on ``n_complete`` trials: ``auto`` is fANOVA up to
    :data:`FANOVA_MAX_TRIALS` and PED-ANOVA above (seconds rather than minutes)."""
    if method == "auto":
        return "fanova" if n_complete <= FANOVA_MAX_TRIALS else "ped_anova"
    if method not in IMPORTANCE_METHODS:
        raise ConfigError(
            f"Importance method must be one of {['auto', *IMPORTANCE_METHODS]}, but got {method!r}."
        )
    return method


def importance_cap(method: str) -> int:
    """Complete trials ``method`` (``fanova`` or ``ped_anova``) is run on at most."""
    return FANOVA_MAX_TRIALS if method == "fanova" else PED_ANOVA_MAX_TRIALS


def importance_sample(
    trials: Sequence[FrozenTrial], method: str, *, cap: int | None = None
) -> tuple[str, Thinned]:
    """The evaluator to run and the complete trials to run it on: all of them up to the
    method's cap (or ``cap``), else a seeded uniform sample, the same on every refresh."""
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    chosen = importance_method(method, len(done))
    limit = importance_cap(chosen) if cap is None else cap
    if limit < 1:
        raise ConfigError(f"The importance trial cap must be >= 1, but got cap={limit}.")
    if len(done) <= limit:
        return chosen, Thinned(done, len(done))
    rng = np.random.default_rng(SAMPLE_SEED)
    picks = sorted(rng.choice(len(done), size=limit, replace=False).tolist())
    how = f"a seeded uniform sample; {importance_label(chosen)} runs on at most {limit:,}"
    return chosen, Thinned([done[i] for i in picks], len(done), how)


def _evaluator(method: str) -> optuna.importance.BaseImportanceEvaluator:
    if method == "ped_anova":
        return optuna.importance.PedAnovaImportanceEvaluator()
    # Seeded: the live view redraws on every completed trial, and bars must not jump for nothing.
    return optuna.importance.FanovaImportanceEvaluator(seed=0)


def importance_basis(method: str, used: Thinned) -> str:
    """``PED-ANOVA on 1,000 of 10,000 trials (a seeded sample)``: which evaluator, on how many."""
    if used.thinned:
        return (
            f"{importance_label(method)} on {len(used.trials):,} of {used.total:,} trials "
            "(a seeded sample)"
        )
    return f"{importance_label(method)} on {used.total:,} trials"


def importance_figure(
    trials: Trials, direction: str, *, method: str = "fanova", model: str | None = None,
    cap: int | None = None,
) -> go.Figure:  # fmt: skip
    """Parameter importances of one model's trials (``tuned_trials``), named in the title.

    ``method`` is ``fanova``, ``ped_anova`` or ``auto``; the work is bounded (module doc) and
    the subtitle says which evaluator ran on how many trials.
    """
    chosen, used = importance_sample(trials, method, cap=cap)
    params = params_varied_in_complete(used.trials)
    if not params:
        raise ConfigError("Importance needs parameters that took several values; run more trials.")
    plot = optuna.visualization.plot_param_importances
    fig = optuna_plot(plot, used.trials, direction, evaluator=_evaluator(chosen), params=params)
    fig.update_traces(cliponaxis=False)  # keep the value labels at the bars' ends readable
    fig = layout(fig, for_model("Parameter importance", model), height=COMPACT,
                 margin={"r": 40, "t": 70})  # fmt: skip
    fig.update_layout(title_subtitle_text=importance_basis(chosen, used))  # under the title
    return fig
