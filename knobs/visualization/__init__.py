"""Every Knobs chart, in one place: plain data pulled out of trials or summaries, then a figure.

Each chart is two steps (Optuna's own ``visualization`` design): a pure function that turns
trials, a race summary or an ensemble report into plain data, which tests check with known
answers, and a thin plotly figure builder that only draws that data. Nothing here imports
Streamlit, so the dashboard, the CLI's HTML report and a notebook draw the same figures.

- live progress: ``history`` -> ``best_so_far_figure``, ``scores_figure``;
- one model's parameters: ``tuned_counts``, ``tuned_trials``, ``params_varied_in_complete`` ->
  ``importance_figure``, ``parallel_figure`` (the live view and the Analytics page share them);
- Analytics: ``select`` -> Optuna's history, slice, contour, EDF, timeline, intermediate values,
  and ``worker_timeline`` -> ``worker_timeline_figure``;
- the trials table: ``trials_table``, paged with ``trials_page``;
- big studies: ``thin`` / ``thin_history`` (at most a few thousand points drawn, the best-so-far
  steps and the best trials exact), importance bounded by ``importance_sample`` (fANOVA or
  PED-ANOVA on a capped, seeded sample), ``trials_key`` for shared caches of a study's charts;
- the race: ``race_curves_by_trial``/``_by_time``, ``race_score_distribution`` -> ``race_figures``,
  ``race_report_html``;
- ensembles: ``ensemble_comparison_data`` -> ``ensemble_comparison_figure``,
  ``correlation_figure``.

Colours, layout and rgba live in ``_style``, once.
"""

from __future__ import annotations

from ._analytics import (
    WorkerBar,
    contour_figure,
    edf_figure,
    intermediate_figure,
    optimization_history_figure,
    slice_figure,
    timeline_figure,
    worker_timeline,
    worker_timeline_figure,
)
from ._ensemble import correlation_figure, ensemble_comparison_data, ensemble_comparison_figure
from ._history import (
    History,
    TrialPoint,
    best_so_far_figure,
    history,
    noise_band_words,
    scores_figure,
)
from ._importance import (
    FANOVA_MAX_TRIALS,
    IMPORTANCE_METHODS,
    PED_ANOVA_MAX_TRIALS,
    importance_figure,
    importance_label,
    importance_method,
    importance_sample,
)
from ._parallel import parallel_figure
from ._race import (
    CurveSet,
    race_best_figure,
    race_curves_by_time,
    race_curves_by_trial,
    race_curves_figure,
    race_distribution_figure,
    race_figures,
    race_report_html,
    race_score_distribution,
)
from ._scale import (
    EXACT_COUNT,
    LINE_TRIALS,
    MAX_POINTS,
    PARALLEL_TRIALS,
    PLOT_TRIALS,
    TOP_KEPT,
    Thinned,
    coarse_count,
    history_note,
    thin,
    thin_history,
    trials_key,
)
from ._selection import (
    MIN_TRIALS_FOR_ANALYSIS,
    Selection,
    has_intermediate,
    params_varied_in_complete,
    select,
    tuned_counts,
    tuned_trials,
)
from ._spread import OUTCOMES, budget_spread, budget_spread_figure, outcome
from ._trials import TRIAL_ORDERS, TRIALS_PAGE_ROWS, TrialsPage, trials_page, trials_table

__all__ = [
    "EXACT_COUNT",
    "FANOVA_MAX_TRIALS",
    "PARALLEL_TRIALS",
    "coarse_count",
    "LINE_TRIALS",
    "MAX_POINTS",
    "PED_ANOVA_MAX_TRIALS",
    "PLOT_TRIALS",
    "TOP_KEPT",
    "TRIAL_ORDERS",
    "TRIALS_PAGE_ROWS",
    "Thinned",
    "TrialsPage",
    "history_note",
    "noise_band_words",
    "importance_method",
    "importance_sample",
    "thin",
    "thin_history",
    "trials_key",
    "trials_page",
    "OUTCOMES",
    "budget_spread",
    "budget_spread_figure",
    "outcome",
    "IMPORTANCE_METHODS",
    "MIN_TRIALS_FOR_ANALYSIS",
    "CurveSet",
    "History",
    "Selection",
    "TrialPoint",
    "WorkerBar",
    "best_so_far_figure",
    "contour_figure",
    "correlation_figure",
    "edf_figure",
    "ensemble_comparison_data",
    "ensemble_comparison_figure",
    "has_intermediate",
    "history",
    "importance_figure",
    "importance_label",
    "intermediate_figure",
    "optimization_history_figure",
    "parallel_figure",
    "params_varied_in_complete",
    "race_best_figure",
    "race_curves_by_time",
    "race_curves_by_trial",
    "race_curves_figure",
    "race_distribution_figure",
    "race_figures",
    "race_report_html",
    "race_score_distribution",
    "scores_figure",
    "select",
    "slice_figure",
    "timeline_figure",
    "trials_table",
    "tuned_counts",
    "tuned_trials",
    "worker_timeline",
    "worker_timeline_figure",
]
