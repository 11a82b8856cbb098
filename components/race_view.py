"""Drawing a race inside Streamlit: progress, the charts from ``knobs.visualization``, the table.

Figures keep the user's zoom across refreshes (plotly ``uirevision`` = the race id). Nothing here
computes: the numbers come from ``knobs.race.summary_of``.
"""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from knobs import metrics
from knobs import race as R
from knobs import visualization as V
from knobs.formatting import plural
from knobs.strategies import startup_trials

from . import state

STATE_WORDS = {
    "created": "Starting",
    "running": "Running",
    "refitting": "Scoring each run's best on the test split",
    "finished": "Finished",
    "stopped": "Stopped",
    "failed": "Failed",
}


def metric_label(race: R.Race) -> str:
    return metrics.metric_label(race.metric)


def progress(race: R.Race) -> None:
    spec = race.spec
    word = STATE_WORDS.get(race.state, race.state)
    if race.state in ("created", "running", "refitting") and not race.active:
        word = "Interrupted (the race process is gone)"
    running = sum(r.state == "running" for r in race.runs)
    st.progress(
        race.done / max(1, len(race.runs)),
        text=f"{word}: {race.done} of {len(race.runs)} runs done"
        + (f", {running} running" if running else ""),
    )
    cfg = spec.config
    budget = f"{cfg.n_trials} trials" if cfg.n_trials else ""
    if cfg.timeout:
        budget += f"{' or ' if budget else ''}{cfg.timeout:g} s"
    st.caption(
        f"**{spec.source}** → **{cfg.target}** · {', '.join(cfg.models)} · "
        f"{', '.join(R.contestant_label(c) for c in spec.contestants)} × {spec.seeds} seeds · "
        f"{budget} per run · {spec.slots} run(s) at once, {spec.n_threads} thread(s) each · "
        f"{metric_label(race)}, {race.direction} · race `{race.id}`"
    )
    if race.error:
        st.error(f"The race stopped with an error: {race.error}", icon=":material/error:")


def target_fraction() -> float:
    """The target the results are read against (``knobs race --target-fraction``); changing it
    only re-reads the race, so it stays changeable after the race."""
    value = st.number_input(
        "Target fraction",
        0.5,
        1.0,
        state.race_fraction(),
        0.01,
        format="%.2f",
        key=state.W_RACE_VIEW_FRACTION,
        help="A run reaches the target within 1 − this of the race's best score (or this share "
        "of the gap from the defaults to the best, when the defaults are already that close).",
        width=220,
    )
    state.set_race_fraction(value)
    return float(value)


def _show(fig: go.Figure, key: str, revision: str) -> None:
    fig.update_layout(uirevision=revision)
    st.plotly_chart(fig, key=key, config={"displaylogo": False})


def charts(race: R.Race, summary: R.RaceSummary) -> None:
    if not any(c.values for c in summary.curves):
        st.info(
            "The first trials are running; the curves appear as soon as one finishes.",
            icon=":material/hourglass_top:",
        )
        return
    figs = V.race_figures(summary, metric_label(race))
    left, right = st.columns(2)
    with left:
        _show(figs["by_trial"], "race.by_trial", race.id)
    with right:
        _show(figs["by_time"], "race.by_time", race.id)
    left, right = st.columns(2)
    with left:
        _show(figs["distribution"], "race.distribution", race.id)
    with right:
        _show(figs["best"], "race.best", race.id)
    st.caption(
        "Lines: the median over seeds; shaded: from the worst to the best seed. "
        "Dashed line: the default-parameters score; grey band: ± the CV noise (std of the best "
        "trial's fold scores / √folds). Dotted line: the target, "
        f"within {1 - summary.target_fraction:.0%} of the race's best score (closer when the "
        "defaults already get that far). "
        "Elapsed time is each run's own, from its first trial." + startup_note(race.spec)
    )


def startup_note(spec: R.RaceSpec) -> str:
    """Why a TPE run starts out like random search, with the start-up its sampler gets for this
    race's budget (``knobs.strategies.startup_trials``): the caption said 10 trials whatever
    the budget, while a 20-trial run models the study after 4."""
    # a warm run (``tpe+warm``) models its prior from the first trial: nothing random to say
    cold = [c for c in spec.contestants
            if R.split_contestant(c)[0] == "tpe" and "warm" not in c.split("+")]  # fmt: skip
    if not cold:
        return ""
    n_trials = spec.config.n_trials
    budget = f"this {n_trials}-trial budget" if n_trials else "a time budget"
    n = startup_trials(n_trials)
    return (
        f" On {budget}, TPE models the study once {plural(n, 'trial')} have finished (the "
        "defaults and known-good starts count among them); until then it draws at random with "
        "the run's seed, as random search does."
    )


def table(summary: R.RaceSummary) -> None:
    frame = pd.DataFrame(R.results_rows(summary))
    if frame.empty:
        return
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "rank": st.column_config.NumberColumn("Rank", format="%d"),
            "contestant": "Strategy",
            "runs": "Seeds",
            "mean_best_cv": st.column_config.NumberColumn("Best CV (mean)", format="%.4f"),
            "sd_best_cv": st.column_config.NumberColumn("± sd", format="%.4f"),
            "mean_test": st.column_config.NumberColumn("Test (mean)", format="%.4f"),
            "sd_test": st.column_config.NumberColumn("± sd ", format="%.4f"),
            "trials_to_target": st.column_config.NumberColumn("Trials to target", format="%.1f"),
            "seconds_to_target": st.column_config.NumberColumn("Seconds to target", format="%.1f"),
            "reached_target": "Reached",
            "p_vs_winner_cv": st.column_config.NumberColumn("p vs winner (CV)", format="%.3f"),
            "p_vs_winner_test": st.column_config.NumberColumn("p vs winner (test)", format="%.3f"),
            "failed_trials": "Failed",
        },
    )


def verdict(summary: R.RaceSummary) -> None:
    st.markdown(f"**Verdict.** {summary.verdict}")


def downloads(race: R.Race, summary: R.RaceSummary) -> None:
    row = st.container(horizontal=True)
    with row:
        st.download_button(
            "Results table (CSV)",
            R.results_csv(summary),
            file_name=f"race-{race.id}.csv",
            mime="text/csv",
            icon=":material/download:",
            key="race.csv",
        )
        st.download_button(
            "Charts report (HTML)",
            lambda: V.race_report_html(
                summary,
                title=f"Strategy race on {race.spec.source} ({metric_label(race)})",
                label=metric_label(race),
            ),
            file_name=f"race-{race.id}.html",
            mime="text/html",
            icon=":material/download:",
            key="race.html",
            on_click="ignore",
        )
        st.download_button(
            "Report (JSON)",
            lambda: json.dumps(R.report(race, summary), indent=2, default=str),
            file_name=f"race-{race.id}.json",
            mime="application/json",
            icon=":material/download:",
            key="race.json",
            on_click="ignore",
        )
