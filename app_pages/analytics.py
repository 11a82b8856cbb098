"""Study analytics: Optuna's plots for any study, with filters; layout only (``knobs.visualization``).

Every chart comes from ``components.charts.shared``: computed once per (study, storage, finished
trials, filters) for every session, from a bounded subset of a big study's trials (the page says
so). While the study runs, the charts refresh on a timer (one flat fragment, as the live view).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from optuna.trial import FrozenTrial, TrialState

from components import charts, errors, pickers, state
from components.explain import section as explain_section
from knobs import visualization as V
from knobs.api import Search
from knobs.errors import StudyError
from knobs.formatting import plural
from knobs.metrics import metric_label
from knobs.study import StudyPlan, is_scored

#: The page's tabs. Only the open one is computed and sent: a browser draws every chart it
#: receives before it shows the first, and a 10,000-trial study's parameter charts cost seconds.
TABS = ("History", "Per fold", "Parameters", "Time")


def _show(kind: str, key: tuple[Any, ...], make: Callable[[], go.Figure], revision: str) -> None:
    """Draw one shared chart; one that cannot be drawn says why and the page goes on."""
    charts.show_shared(charts.shared(kind, key, make, revision=revision), f"an.{kind}")


def refresh_note(every: float | None) -> str:
    """What the page says about refreshing while its study runs (empty when it does not run)."""
    if every is None:
        return ""
    return f"The search is running: these charts refresh every {every:g} s."


def panel(name: str) -> None:
    """The refreshing part: filters and charts of one study, read from the storage."""
    with errors.boundary("showing the analytics"):
        handle = Search.open(name)
        running = handle.is_running()
        if running != state.analytics_running():
            state.set_analytics_running(running)
            st.rerun(scope="app")  # the refresh timer follows the new state
        plan = handle.plan
        metric = metric_label(plan.metric)
        trials = handle.trials()
        study = charts.study_key(name, handle.storage, trials)
        cols = st.columns(4)
        failed = cols[0].toggle("Failed trials", value=False, key=state.W_AN_FAILED)
        pruned = cols[1].toggle("Pruned trials", value=True, key=state.W_AN_PRUNED)
        baseline = cols[2].toggle("Defaults trials", value=True, key=state.W_AN_BASELINE)
        models = V.tuned_counts(trials)
        model = None
        if models:
            model = cols[3].selectbox(
                "Model (parameter charts)",
                list(models),
                key=state.W_AN_MODEL,
                format_func=lambda m: f"{m} ({plural(models[m], 'trial')})",
            )
        chosen = V.select(trials, V.Selection(failed=failed, pruned=pruned, baseline=baseline))
        thinned: dict[int, V.Thinned] = {}

        def drawn(cap: int = V.PLOT_TRIALS) -> V.Thinned:
            """The selected trials a chart draws, thinned once per run and only on a cache miss."""
            if cap not in thinned:
                thinned[cap] = V.thin(chosen, plan.direction, cap=cap)
            return thinned[cap]

        ran = sum(t.state != TrialState.WAITING for t in trials)  # queued ones never ran
        # "6 of 8 trials shown" above 4 points: failed and time-cut trials have no score to plot
        plotted = sum(is_scored(t) for t in chosen)
        scored = f" ({plotted} with a score)" if plotted < len(chosen) else ""
        st.caption(
            f"{len(chosen)} of {ran} trials shown{scored} · {metric} ({plan.direction}) · "
            f"{plan.source} → {plan.target}"
        )
        rev = f"{name}:{failed}:{pruned}:{baseline}:{model}"
        key = (*study, failed, pruned, baseline, metric)
        note, _ = charts.shared("note", key, lambda: drawn().note)
        if note:
            st.caption(note)
        # Only the open tab is computed and sent (see ``TABS``).
        tab_hist, tab_folds, tab_params, tab_time = st.tabs(
            TABS, on_change="rerun", key=state.W_AN_TAB
        )
        if tab_hist.open:
            with tab_hist:
                left, right = st.columns(2)
                with left:
                    _show("history", key,
                          lambda: V.optimization_history_figure(drawn().trials, plan.direction, metric),
                          rev)  # fmt: skip
                with right:
                    _show("edf", key,
                          lambda: V.edf_figure(drawn().trials, plan.direction, metric), rev)  # fmt: skip
        if tab_folds.open:
            with tab_folds:
                per_fold(chosen, drawn, key, rev, plan.direction)
        if tab_params.open:
            with tab_params:
                if model is None:
                    st.caption("Parameter charts need completed tuned trials.")
                else:
                    # Sampled charts of a big running study: redone every few % more trials.
                    coarse = (name, handle.storage, V.coarse_count(models[model]), failed, pruned)
                    parameters(trials, model, coarse, rev, failed=failed, pruned=pruned, plan=plan)
        if tab_time.open:
            with tab_time:
                _show("workers", key,
                      lambda: V.worker_timeline_figure(V.worker_timeline(drawn().trials, now=time.time())),
                      rev)  # fmt: skip
                _show("timeline", key,
                      lambda: V.timeline_figure(drawn().trials, plan.direction), rev)  # fmt: skip


def per_fold(
    chosen: list[FrozenTrial], drawn: Callable[..., V.Thinned], key: tuple[Any, ...], rev: str,
    direction: str,
) -> None:  # fmt: skip
    """The Per fold tab: the values each trial reported fold by fold (one line a trial)."""
    if not V.has_intermediate(chosen):
        st.caption("No trial reported per-fold values (they come with pruning).")
        return
    _show("intermediate", key,
          lambda: V.intermediate_figure(drawn(V.LINE_TRIALS).trials, direction), rev)  # fmt: skip
    lines, _ = charts.shared("lines", key, lambda: drawn(V.LINE_TRIALS).note)
    if lines:
        st.caption(lines)


def parameters(
    trials: list[FrozenTrial], model: str, key: tuple[Any, ...], rev: str, *, failed: bool,
    pruned: bool, plan: StudyPlan,
) -> None:  # fmt: skip
    """The Parameters tab: importance, parallel coordinates, slices and a contour of one model."""
    direction, metric = plan.direction, metric_label(plan.metric)
    tuned: list[FrozenTrial] = []

    def model_trials() -> list[FrozenTrial]:
        """This model's tuned trials, unprefixed; built once per run, and only on a cache miss."""
        if not tuned:
            in_model = V.select(trials, V.Selection(failed, pruned, False, model))
            tuned.extend(V.tuned_trials(in_model, model, scored_only=False))
        return tuned

    def drawn(cap: int = V.PLOT_TRIALS) -> list[FrozenTrial]:
        return V.thin(model_trials(), direction, cap=cap).trials

    key = (*key, model)
    method = st.radio(
        "Importance",
        ["auto", *V.IMPORTANCE_METHODS],
        help=f"Automatic: fANOVA up to {V.FANOVA_MAX_TRIALS:,} trials, the faster PED-ANOVA "
        "above. Big studies are sampled; the chart's title says on how many trials.",
        horizontal=True,
        format_func=V.importance_label,
        key=state.W_AN_IMPORTANCE,
    )
    left, right = st.columns([2, 3])
    with left:
        _show("importance", (*key, method),
              lambda: V.importance_figure(model_trials(), direction, method=method), rev)  # fmt: skip
    with right:
        _show("parallel", (*key, metric),
              lambda: V.parallel_figure(drawn(V.PARALLEL_TRIALS), direction, metric), rev)  # fmt: skip
    _show("slice", (*key, metric), lambda: V.slice_figure(drawn(), direction, metric), rev)
    params, _ = charts.shared("params", key, lambda: V.params_varied_in_complete(model_trials()))
    if params and len(params) >= 2:
        c1, c2 = st.columns(2)
        x = c1.selectbox("Contour x", params, index=0, key=state.W_AN_X)
        y = c2.selectbox("Contour y", params, index=1, key=state.W_AN_Y)
        _show("contour", (*key, metric, x, y),
              lambda: V.contour_figure(drawn(), direction, x, y, metric), rev)  # fmt: skip
    else:
        st.caption("A contour needs two parameters that took several values.")


with errors.boundary("showing the analytics"):
    st.title("Study analytics")
    state.attach_from_url()
    rows = [r for r in charts.studies(must_have=state.study()) if r["knobs"]]
    if not rows:
        st.info("No studies yet: run a search or a race first.", icon=":material/info:")
        st.page_link("app_pages/search.py", label="Set up a search", icon=":material/tune:")
        st.stop()
    name = pickers.study_picker(rows, key=state.W_AN_STUDY)["study"]
    if name != state.study():
        state.set_study(name)  # the URL names it: a reload or a shared link finds it again
    try:
        handle = Search.open(name)
    except StudyError as exc:
        st.error(f"{exc} It may have been deleted.", icon=":material/error:")
        st.stop()
    running = handle.is_running()
    state.set_analytics_running(running)
    every = None
    if running:
        status = handle.status()
        every = charts.refresh_every(status.done + status.running)
        st.caption(refresh_note(every))
    st.fragment(run_every=every)(panel)(name)
    explain_section(name, pick=True)  # its own poll, outside the charts' fragment
