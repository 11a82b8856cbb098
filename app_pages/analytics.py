"""Study analytics: Optuna's plots for any study, with filters; layout only (``knobs.visualization``)."""

from __future__ import annotations

import time
from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

import knobs
from components import errors, pickers, state
from components.errors import log
from knobs import visualization as V
from knobs.api import Search
from knobs.metrics import metric_label


def _show(make: Callable[[], go.Figure], key: str, revision: str) -> None:
    """Draw one chart; an optional chart that cannot be drawn says why and the page goes on."""
    try:
        fig = make()
    except knobs.KnobsError as exc:
        st.caption(str(exc))
        return
    except Exception:  # noqa: BLE001 - e.g. fANOVA on degenerate trials: one chart, not the page
        log.warning("analytics chart %s failed", key, exc_info=True)
        st.caption("This chart cannot be drawn for these trials.")
        return
    fig.update_layout(uirevision=revision)
    st.plotly_chart(fig, key=key, config={"displaylogo": False})


with errors.boundary("showing the analytics"):
    st.title("Study analytics")
    rows = [r for r in knobs.studies() if r["knobs"]]
    if not rows:
        st.info("No studies yet: run a search or a race first.", icon=":material/info:")
        st.page_link("app_pages/search.py", label="Set up a search", icon=":material/tune:")
        st.stop()
    name = pickers.study_picker(rows, key=state.W_AN_STUDY)["study"]
    handle = Search.open(name)
    plan = handle.plan
    metric = metric_label(plan.metric)
    trials = handle.trials()
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
            format_func=lambda m: f"{m} ({models[m]} trials)",
        )
    sel = V.Selection(failed=failed, pruned=pruned, baseline=baseline)
    chosen = V.select(trials, sel)
    st.caption(
        f"{len(chosen)} of {len(trials)} trials shown · {metric} ({plan.direction}) · "
        f"{plan.source} → {plan.target}"
    )
    rev = f"{name}:{failed}:{pruned}:{baseline}:{model}"
    tab_hist, tab_params, tab_time = st.tabs(["History", "Parameters", "Time"])
    with tab_hist:
        left, right = st.columns(2)
        with left:
            _show(
                lambda: V.optimization_history_figure(chosen, plan.direction, metric),
                "an.history",
                rev,
            )
        with right:
            _show(lambda: V.edf_figure(chosen, plan.direction, metric), "an.edf", rev)
        if V.has_intermediate(chosen):
            _show(lambda: V.intermediate_figure(chosen, plan.direction), "an.intermediate", rev)
        else:
            st.caption("No trial reported intermediate values (they come with pruning).")
    with tab_params:
        if model is None:
            st.caption("Parameter charts need completed tuned trials.")
        else:
            in_model = V.select(trials, V.Selection(failed, pruned, False, model))
            tuned = V.tuned_trials(in_model, model, scored_only=False)
            method = st.radio(
                "Importance",
                list(V.IMPORTANCE_METHODS),
                horizontal=True,
                format_func=V.importance_label,
                key=state.W_AN_IMPORTANCE,
            )
            left, right = st.columns([2, 3])
            with left:
                _show(
                    lambda: V.importance_figure(tuned, plan.direction, method=method),
                    "an.imp",
                    rev,
                )
            with right:
                _show(lambda: V.parallel_figure(tuned, plan.direction, metric), "an.par", rev)
            _show(lambda: V.slice_figure(tuned, plan.direction, metric), "an.slice", rev)
            params = V.params_varied_in_complete(tuned)
            if len(params) >= 2:
                c1, c2 = st.columns(2)
                x = c1.selectbox("Contour x", params, index=0, key=state.W_AN_X)
                y = c2.selectbox("Contour y", params, index=1, key=state.W_AN_Y)
                _show(lambda: V.contour_figure(tuned, plan.direction, x, y, metric), "an.ct", rev)
            else:
                st.caption("A contour needs two parameters that took several values.")
    with tab_time:
        _show(lambda: V.worker_timeline_figure(V.worker_timeline(chosen, now=time.time())),
              "an.workers", rev)  # fmt: skip
        _show(lambda: V.timeline_figure(chosen, plan.direction), "an.timeline", rev)
