"""Live view: progress, best vs defaults, charts and trials of the study named in the URL."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st
from optuna.trial import FrozenTrial

from components import charts as live_charts
from components import errors, forms, state, tables
from knobs import study as results
from knobs.api import Search
from knobs.errors import StudyError
from knobs.metrics import metric_label
from knobs.strategies import strategy_label
from knobs.study import model_params
from knobs.study.keys import FINAL, TEST_SCORE


def header(handle: Search) -> None:
    plan = handle.plan
    cfg = plan.config
    strategy = strategy_label(cfg.strategy, cfg.sampler)
    task = forms.TASK_LABELS.get(plan.task, plan.task)
    st.caption(
        f"**{plan.source}** → predict **{plan.target}** ({task})"
        f" · {strategy} over {', '.join(plan.models)} · "
        f"{metric_label(plan.metric)}, {plan.folds}-fold CV on "
        f"{plan.n_train:,} rows ({plan.n_test:,} held out) · study `{handle.name}`"
    )
    if plan.notices:
        with st.expander("What Knobs did with the data"):
            for notice in plan.notices:
                st.markdown(f"- {notice}")


def controls(handle: Search, status_state: str) -> None:
    row = st.container(horizontal=True, vertical_alignment="center", gap="medium")
    with row:
        if status_state == "running":
            stop = st.button(
                "Stop search",
                key=state.W_STOP,
                icon=":material/stop_circle:",
                help="No new trial starts; running ones are interrupted and retried if you resume.",
            )
            resume = False
        else:
            stop = False
            resume = status_state in ("stopped", "interrupted", "queued") and st.button(
                "Resume search",
                key=state.W_RESUME,
                type="primary",
                icon=":material/play_arrow:",
                help="Continue up to the same budget: the trials left, or what is left of the time "
                "budget; interrupted trials run again. A resumed search is not bit-for-bit "
                "reproducible.",
            )
        st.page_link("app_pages/search.py", label="New search", icon=":material/tune:")
        st.page_link("app_pages/studies.py", label="All studies", icon=":material/history:")
    if stop:
        with st.spinner("Stopping the workers…"):
            handle.stop()
        st.toast("Search stopped.")
        st.rerun()
    if resume and errors.ran(handle.start, finish=True):
        st.rerun()


def best_summary(handle: Search, trials: Sequence[FrozenTrial], *, finished: bool) -> None:
    best = results.best_trial(trials, handle.plan.direction)
    if best is None:
        return
    model, params = model_params(best)
    shown = (
        ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        or "library defaults"
    )
    label = "Best trial" if finished else "Best so far"  # "so far" read oddly once finished
    st.markdown(f"**{label}:** trial {best.number}, {model} with {shown}.")


def panel(handle: Search) -> None:
    """The refreshing part of the page: one flat fragment body, reading only the storage.

    The trials are read once per rerun and every chart shares them; the charts themselves come
    from a cache shared by every session, keyed on the study and its finished trials."""
    with errors.boundary("refreshing the live view"):
        status = handle.status()
        previous = state.last_state()
        state.set_last_state(status.state)
        if previous is not None and previous != status.state:
            st.rerun(scope="app")  # buttons and the refresh timer follow the new state
        trials = handle.trials()
        interrupted = live_charts.interrupted_count(trials)
        verdict = results.tuning_verdict(trials, handle.plan.direction)
        live_charts.status_header(status, handle.plan, interrupted=interrupted, verdict=verdict)
        live_charts.no_trial_notice(status, handle.plan, trials)
        live_charts.final_model(
            FINAL.get(handle.study), TEST_SCORE.get(handle.study), handle.plan, trials
        )
        best_summary(handle, trials, finished=status.state == "finished")
        perfect = handle.perfect_words(trials)
        if perfect:
            st.warning(perfect, icon=":material/flag:")
        key = live_charts.study_key(handle.name, handle.storage, trials)
        if not live_charts.ended_empty(status):  # else the header said why no chart comes
            live_charts.progress_charts(trials, handle.plan, key)
        details(handle, trials, key)


#: The live view's tabs below the best-so-far charts. Only the open tab is computed and sent: a
#: browser draws every chart it receives before it shows the first, so a 10,000-trial study's
#: parallel coordinates would hold up the progress charts everyone opens the page for.
TABS = ("Trials", "Every trial's score", "Parameters", "Budget per model")


def details(handle: Search, trials: Sequence[FrozenTrial], key: tuple) -> None:
    """The tabs below the progress charts (``TABS``); only the open one is built."""
    plan = handle.plan
    table, scores, params, budget = st.tabs(TABS, on_change="rerun", key=state.W_LIVE_TAB)
    if table.open:
        with table:
            st.caption("Click a column header to sort. Failed trials say why in the note column.")
            tables.show_trials(trials, plan.direction, key=key)
    if scores.open:
        with scores:
            live_charts.scores_chart(trials, plan, key)
    if params.open:
        with params:
            live_charts.analysis_charts(trials, plan, key)
    if budget.open:
        with budget:
            live_charts.budget_chart(trials, key)


with errors.boundary("opening the live view"):
    name = state.attach_from_url()
    st.title("Live view")
    handle: Search | None = None
    if not name:
        st.info(
            "No search selected yet: start one, or open one from the list of studies.",
            icon=":material/info:",
        )
        st.page_link("app_pages/search.py", label="Set up a search", icon=":material/tune:")
        st.page_link("app_pages/studies.py", label="Open a study", icon=":material/history:")
    else:
        try:
            handle = state.search(name)
        except StudyError as exc:
            st.error(f"{exc} It may have been deleted.", icon=":material/error:")
            state.forget_search(name)
            st.page_link("app_pages/studies.py", label="Open a study", icon=":material/history:")
    if handle is not None:
        header(handle)
        first = handle.status()
        controls(handle, first.state)
        every = live_charts.refresh_every(first.done + first.running, first.state)
        st.fragment(run_every=every)(panel)(handle)
