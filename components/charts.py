"""Drawing the live view: status metrics and charts from ``knobs.visualization``, in Streamlit.

Figures keep the user's zoom across refreshes (plotly's ``uirevision`` set to the study name),
and the costly analysis figures are rebuilt only when a new tuned trial has completed.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import streamlit as st
from optuna.trial import FrozenTrial

from knobs import visualization as V
from knobs.api import SearchStatus
from knobs.formatting import fmt_duration
from knobs.formatting import fmt_score as _fmt_score
from knobs.metrics import metric_label
from knobs.study import StudyPlan

from . import state
from .errors import log

STATE_WORDS = {
    "queued": "Waiting to start",
    "running": "Running",
    "finished": "Finished",
    "stopped": "Stopped",
    "interrupted": "Interrupted (workers gone before the budget was met)",
}


def fmt_score(value: float | None) -> str:
    """A score as the dashboard shows it (``knobs.formatting``), a dash when there is none."""
    return _fmt_score(value, missing="–")


def _show(fig: go.Figure, key: str, revision: str) -> None:
    fig.update_layout(uirevision=revision)
    st.plotly_chart(fig, key=key, config={"displaylogo": False})


def status_header(status: SearchStatus, plan: StudyPlan, *, interrupted: int = 0) -> None:
    """Progress bar, elapsed and ETA, best vs defaults: the five numbers a user looks for.

    Trials cut short by Stop are not failures (they run again on resume), so they are counted
    apart from the failed ones.
    """
    budget = status.budget
    word = STATE_WORDS.get(status.state, status.state)
    if budget:
        st.progress(
            status.progress or 0.0,
            text=f"{word}: {status.done} of {budget} trials done"
            + (f", {status.running} running" if status.running else ""),
        )
    else:
        limit = plan.config.timeout
        share = min(1.0, status.elapsed_s / limit) if limit else 0.0
        st.progress(share, text=f"{word}: {status.done} trials done (time budget)")
    lower = plan.direction == "minimize"
    metric = metric_label(plan.metric)
    delta = None
    if status.best_value is not None and status.baseline_value is not None:
        delta = f"{status.best_value - status.baseline_value:+.4f} vs defaults"
    cols = st.columns(5)
    cols[0].metric(
        f"Best {metric}",
        fmt_score(status.best_value),
        delta=delta,
        delta_color="inverse" if lower else "normal",
    )
    cols[1].metric(
        "Defaults score",
        fmt_score(status.baseline_value),
        help="Best cross-validated score of the chosen models with library defaults: "
        "what tuning has to beat.",
    )
    cols[2].metric("Elapsed", fmt_duration(status.elapsed_s))
    eta = fmt_duration(status.eta_s) if status.state == "running" else "–"
    cols[3].metric("Time left (est.)", eta, help="From the average duration of finished trials.")
    cols[4].metric(
        "Failed / pruned",
        f"{max(0, status.failed - interrupted)} / {status.pruned}",
        help="Trials that raised an error, or were cut short for scoring poorly; the table "
        "says why.",
    )
    if interrupted:
        st.caption(
            f"{interrupted} trial{'s were' if interrupted > 1 else ' was'} interrupted by Stop "
            "and will run again if you resume."
        )
    if status.saved_s > 0:
        st.caption(
            f"Pruning saved about **{fmt_duration(status.saved_s)}** of compute "
            f"({status.saved_share:.0%} of what the search would have cost without it): "
            "hopeless trials stopped after a fold or two."
        )


def final_model(final: dict | None) -> None:
    """Which model the search ended with (the best trial or a greedy ensemble), and why."""
    if not final:
        return
    icon = ":material/join:" if final.get("kind") == "ensemble" else ":material/emoji_events:"
    st.success(f"**Final model.** {final.get('why', '')}", icon=icon)


def budget_chart(trials: Sequence[FrozenTrial], name: str) -> None:
    """Trials per model family by how they ended, when the search tried several families."""
    spread = V.budget_spread(trials)
    if spread.empty or spread["model"].nunique() < 2:
        return
    _show(V.budget_spread_figure(spread), "live.budget_spread", name)


def progress_charts(trials: Sequence[FrozenTrial], plan: StudyPlan, name: str) -> V.History:
    metric = metric_label(plan.metric)
    h = V.history(trials, plan.direction)
    if not h.points:
        st.info(
            "The first trials are running; charts appear as soon as one finishes.",
            icon=":material/hourglass_top:",
        )
        return h
    left, right = st.columns(2)
    with left:
        _show(V.best_so_far_figure(h, metric, x="number"), "live.best_by_trial", name)
    with right:
        _show(V.best_so_far_figure(h, metric, x="elapsed"), "live.best_by_time", name)
    _show(V.scores_figure(h, metric), "live.scores", name)
    return h


def analysis_charts(trials: Sequence[FrozenTrial], plan: StudyPlan, name: str) -> None:
    """Importance and parallel coordinates for one model, once it has enough tuned trials."""
    ready = V.tuned_counts(trials, minimum=V.MIN_TRIALS_FOR_ANALYSIS)
    if not ready:
        st.caption(
            f"Parameter importance and parallel coordinates appear once a model has "
            f"{V.MIN_TRIALS_FOR_ANALYSIS} completed tuned trials."
        )
        return
    models = list(ready)
    model = models[0]
    if len(models) > 1:
        model = st.selectbox(
            "Model to analyse",
            models,
            key=state.W_ANALYSIS_MODEL,
            format_func=lambda m: f"{m} ({ready[m]} trials)",
        )
    tuned = V.tuned_trials(trials, model)
    cache = state.analysis_cache()
    key = (name, model, len(tuned))
    if key not in cache:
        metric = metric_label(plan.metric)
        importance = None
        if V.params_varied_in_complete(tuned):
            try:
                importance = V.importance_figure(tuned, plan.direction, model=model)
            except Exception:  # noqa: BLE001 - an optional chart must not take the panel down
                log.warning("parameter importance failed for %s", name, exc_info=True)
        cache.clear()  # keep one entry: the figures are large
        cache[key] = (importance, V.parallel_figure(tuned, plan.direction, metric, model=model))
    importance, parallel = cache[key]
    left, right = st.columns([2, 3])
    with left:
        if importance is not None:
            _show(importance, "live.importance", name)
        else:
            st.caption("Importance needs parameters that took several values.")
    with right:
        _show(parallel, "live.parallel", name)
