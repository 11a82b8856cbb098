"""Drawing the live view: status metrics and charts from ``knobs.visualization``, in Streamlit.

Figures keep the user's zoom across refreshes (plotly's ``uirevision`` set to the study name).

Charts of a study are computed once per (study, storage, trials key) and shared by every
session (:func:`shared`, a ``st.cache_data`` with a TTL): one server process serves every user,
so ten tabs on one 10,000-trial study must not compute its charts ten times, and a refresh that
found no new finished trial recomputes nothing. The work itself is bounded in
``knobs.visualization`` (thinned points, sampled importance), and done in the script run: no
thread outlives a closed tab.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from optuna.trial import FrozenTrial

from knobs import visualization as V
from knobs.api import SearchStatus
from knobs.errors import KnobsError
from knobs.formatting import fmt_duration, plural
from knobs.formatting import fmt_score as _fmt_score
from knobs.metrics import metric_label
from knobs.study import (
    StudyPlan,
    cut_by_time,
    no_model_words,
    storage_url,
    test_caveat,
)
from knobs.study import list_studies as knobs_studies
from knobs.study.keys import INTERRUPTED

from . import state
from .errors import log

STATE_WORDS = {
    "queued": "Waiting to start",
    "running": "Running",
    "finishing": "Choosing the final model and scoring the test rows",
    "finished": "Finished",
    "stopped": "Stopped",
    "interrupted": "Interrupted (workers gone before the budget was met)",
}


def fmt_score(value: float | None) -> str:
    """A score as the dashboard shows it (``knobs.formatting``), a dash when there is none."""
    return _fmt_score(value, missing="–")


#: Seconds a shared chart is kept after its last use (a new finished trial replaces it anyway).
CACHE_TTL_S = 15 * 60
#: Shared results kept at most (figures of a few studies, several filters each).
CACHE_ENTRIES = 256
#: How long the studies list is reused (listing replays every study's trials: ~2 s at 12,000).
STUDIES_TTL_S = 30.0
CANNOT_DRAW = "This chart cannot be drawn for these trials."


@st.cache_resource(ttl=CACHE_TTL_S, max_entries=CACHE_ENTRIES, show_spinner=False)
def _shared(kind: str, key: tuple[Any, ...], _make: Callable[[], Any]) -> tuple[Any, str | None]:
    """``(value, None)`` or ``(None, why)``: one computation per (kind, key) for every session.

    ``_make`` is not hashed (the leading underscore): ``key`` must name everything it reads.
    Streamlit runs one computation per key at a time. A failure is kept too, so a chart that
    cannot be drawn is not retried on every refresh.

    ``cache_resource``, not ``cache_data``: a copy per caller means unpickling every figure on
    every refresh, which re-validates it (~0.05-0.15 s a chart); the shared object is read-only
    instead (no caller changes it; ``shared`` sets what differs per view before it is shared).
    """
    try:
        return _make(), None
    except KnobsError as exc:
        return None, str(exc)
    except Exception:  # noqa: BLE001 - e.g. fANOVA on degenerate trials: one chart, not the page
        log.warning("chart %s %s failed", kind, key, exc_info=True)
        return None, CANNOT_DRAW


def shared(
    kind: str, key: tuple[Any, ...], make: Callable[[], Any], *, revision: str | None = None
) -> tuple[Any, str | None]:
    """The result of ``make`` for ``key`` (study, storage, ``study_key``, options), computed
    once for every session; see the module doc. Read-only: never change what it returns.

    ``revision`` is plotly's ``uirevision`` (a user's zoom survives refreshes while it stays the
    same), set on every figure of the result before it is shared.
    """
    if revision is None:
        return _shared(kind, key, make)

    def make_with_revision() -> Any:
        value = make()
        for fig in value if isinstance(value, tuple) else (value,):
            if isinstance(fig, go.Figure):
                fig.update_layout(uirevision=revision)
        return value

    return _shared(kind, (*key, revision), make_with_revision)


def study_key(name: str, storage: str, trials: Sequence[FrozenTrial]) -> tuple[Any, ...]:
    """What a study's shared charts are keyed on: its name, its storage, and ``trials_key``
    (changes when a trial is added or finishes)."""
    return (name, storage, V.trials_key(trials))


@st.cache_data(ttl=STUDIES_TTL_S, max_entries=16, show_spinner=False)
def _studies(storage: str) -> list[dict[str, Any]]:
    return knobs_studies(storage)


def studies(storage: str | None = None, *, must_have: str | None = None) -> list[dict[str, Any]]:
    """``knobs.studies()`` reused for a few seconds across sessions: it replays every study's
    trials (~2 s at 12,000), and pickers call it on every rerun. When the study this tab
    follows (``must_have``, e.g. one just created) is missing from the reused list, it is read
    again at once."""
    url = storage_url(storage)
    rows = _studies(url)
    if must_have and all(r["study"] != must_have for r in rows):
        _studies.clear(url)
        rows = _studies(url)
    return rows


#: Seconds between looks at a stopped (or queued) search: another tab or the CLI may resume
#: it, and a tab that stopped looking kept showing "Stopped" and a Resume button while it ran.
WATCH_PAUSED_S = 5.0


def refresh_every(n_trials: int, state: str = "running") -> float | None:
    """Seconds between refreshes of a live view: ~1 s while a search runs, so charts follow a
    finished trial within two seconds, slowing down for big studies whose redraw costs more than
    it shows; a slow look at a paused one; none once it finished."""
    if state == "finishing":
        return 1.0
    if state == "running":
        return 1.0 if n_trials < 500 else 2.0 if n_trials < 2000 else 5.0
    return WATCH_PAUSED_S if state in ("stopped", "interrupted", "queued") else None


def _draw(fig: go.Figure, key: str) -> None:
    st.plotly_chart(fig, key=key, config={"displaylogo": False})


def show_shared(result: tuple[go.Figure | None, str | None], key: str) -> None:
    """Draw a figure from :func:`shared`, or say in a caption why it cannot be drawn."""
    fig, why = result
    if fig is None:
        st.caption(why or CANNOT_DRAW)
        return
    _draw(fig, key)


def status_header(
    status: SearchStatus, plan: StudyPlan, *, interrupted: int = 0, verdict: dict | None = None
) -> None:
    """Progress bar, elapsed and ETA, best vs defaults: the five numbers a user looks for.

    Trials cut short by Stop are not failures (they run again on resume), so they are counted
    apart from the failed ones. A search that ended with no completed trial says so ("1 trial
    done" read as a result; :func:`no_trial_notice` says why).
    """
    budget = status.budget
    word = STATE_WORDS.get(status.state, status.state)
    # a trial cut by the time budget counts as done (it spent its share), but completed nothing
    empty = status.state == "finished" and not status.complete
    if budget:
        done = f"{status.done} of {plural(budget, 'trial')} done"
        st.progress(
            status.progress or 0.0,
            text=f"{word}: {'no trial completed' if empty else done}"
            + (f", {status.running} running" if status.running else ""),
        )
    else:
        limit = plan.config.timeout
        share = min(1.0, status.elapsed_s / limit) if limit else 0.0
        if status.state == "finished":  # it ends a little before its limit, by design
            share = 1.0
        # "(time budget)" after "Stopped" read as the reason it stopped, not as its budget
        limit_text = f" · time budget {fmt_duration(limit)}" if limit else ""
        done = "no trial completed" if empty else f"{plural(status.done, 'trial')} done"
        st.progress(share, text=f"{word}: {done}{limit_text}")
    lower = plan.direction == "minimize"
    metric = metric_label(plan.metric)
    delta = None
    # A gain within the folds' noise is not shown as one (green +0.0001 against a ±0.0043 noise).
    tie = (verdict or {}).get("call") == "tie"
    if status.best_value is not None and status.baseline_value is not None:
        # shorter on a tie: "+0.0014 vs defaults (within the noise)" was cut off at 1400 px
        gain = status.best_value - status.baseline_value
        delta = f"{gain:+.4f}, within the noise" if tie else f"{gain:+.4f} vs defaults"
    cols = st.columns(5)
    cols[0].metric(
        f"Best {metric}",
        fmt_score(status.best_value),
        delta=delta,
        delta_color="off" if tie else "inverse" if lower else "normal",
        delta_arrow="off" if tie else "auto",
        help=(verdict or {}).get("words"),
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
    cut = status.time_cut + (interrupted if status.state == "finished" else 0)
    if cut:
        # killed mid-fold at the cut, or stopped before folds that could not end by it: the
        # time ran out, the pruner judged nothing, and there is nothing to resume
        were = "s were" if cut > 1 else " was"
        st.caption(
            f"{cut} trial{were} cut short by the time budget: not pruned (their folds could "
            "not end in time) and not counted as failures."
        )
    if interrupted and status.state != "finished":
        were = "s were" if interrupted > 1 else " was"
        st.caption(f"{interrupted} trial{were} interrupted and will run again if you resume.")
    if status.saved_s > 0:
        st.caption(
            f"Pruning saved about **{fmt_duration(status.saved_s)}** of compute "
            f"({status.saved_share:.0%} of what the search would have cost without it): "
            "hopeless trials stopped after a fold or two."
        )


def interrupted_count(trials: Sequence[FrozenTrial]) -> int:
    """Interrupted trials that the time budget did not cut, as :func:`status_header` takes them:
    a trial killed at the deadline may be stored as both, and was then counted twice."""
    return sum(1 for t in trials if INTERRUPTED.get(t) and not cut_by_time(t))


#: Search states in which trials are still to come.
ACTIVE_STATES = ("queued", "running", "finishing")


def ended_empty(status: SearchStatus) -> bool:
    """Whether the search is over (for now) without a single completed trial: no chart can
    come, so the live view says why instead of "charts appear as soon as one finishes"."""
    return not status.complete and status.state not in ACTIVE_STATES


def no_trial_words(
    status: SearchStatus, plan: StudyPlan, trials: Sequence[FrozenTrial]
) -> str | None:
    """Why a search that ended has no completed trial, and what to do (the CLI's words,
    ``knobs.study.no_model_words``); None when one completed. A search on a huge table whose
    every trial the time budget cut read "Finished: 1 trial done", "Failed / pruned 0 / 0" and
    empty charts."""
    if not ended_empty(status):
        return None
    if status.state != "finished":
        return ("No trial finished before the search stopped. Resume it to run its trials; "
                "the trials table says how far each got.")  # fmt: skip
    return no_model_words(trials, plan.config.timeout)


def no_trial_notice(status: SearchStatus, plan: StudyPlan, trials: Sequence[FrozenTrial]) -> None:
    """The warning of :func:`no_trial_words`, when it has something to say."""
    words = no_trial_words(status, plan, trials)
    if words:
        st.warning(words, icon=":material/warning:")


def final_model_words(
    final: dict | None, test: dict | None, plan: StudyPlan, trials: Sequence[FrozenTrial]
) -> str | None:
    """Which model the search ended with (the best trial or a greedy ensemble), why, and its
    score on the held-out test rows (``keys.FINAL``, ``keys.TEST_SCORE``), with what that score
    is worth in the words `knobs tune` prints as its note (``knobs.study.test_caveat``): a test
    score of -2.28 under a CV R² of 0.99 sat in this box without a word on the gap. None before
    the search chose a model."""
    if not final and not test:
        return None
    why = (final or {}).get("why") or f"The best trial, trial {(test or {}).get('trial')}."
    score = (test or {}).get("value")
    rows = (
        f"the test table `{plan.test_source}`"
        if plan.test_source
        else f"{plan.n_test:,} held-out rows"
    )
    tail = (f" **Test score:** {fmt_score(score)} {metric_label(plan.metric)} on {rows}, which "
            "no trial saw." if score is not None else "")  # fmt: skip
    chosen = (test or {}).get("chosen")
    if chosen and chosen.get("why"):  # a linear model delivered instead of the best trial
        tail += f" **Delivered:** {chosen['why']}."
    caveat = test_caveat(plan, trials, score)
    if caveat:
        tail += f" {caveat}"
    return f"**Final model.** {why}{tail}"


def final_model(
    final: dict | None, test: dict | None, plan: StudyPlan, trials: Sequence[FrozenTrial]
) -> None:
    """The box of :func:`final_model_words`, once the search chose a model."""
    words = final_model_words(final, test, plan, trials)
    if words:
        icon = (
            ":material/join:"
            if (final or {}).get("kind") == "ensemble"
            else ":material/emoji_events:"
        )
        st.success(words, icon=icon)


def budget_chart(trials: Sequence[FrozenTrial], key: tuple[Any, ...]) -> None:
    """Trials per model family by how they ended, when the search tried several families."""

    def make() -> go.Figure | None:
        spread = V.budget_spread(trials)
        if spread.empty or spread["model"].nunique() < 2:
            return None
        return V.budget_spread_figure(spread)

    fig, _ = shared("live.budget", key, make, revision=key[0])
    if fig is None:
        st.caption("How the trials spread over model families shows once a search has tried two.")
        return
    _draw(fig, "live.budget_spread")


def _progress_figures(
    trials: Sequence[FrozenTrial], plan: StudyPlan, key: tuple[Any, ...]
) -> tuple[tuple[go.Figure, go.Figure, go.Figure, str] | None, str | None]:
    """Best so far by trial and by time, every trial's score and the thinning note, shared."""
    metric = metric_label(plan.metric)

    def make() -> tuple[go.Figure, go.Figure, go.Figure, str] | None:
        full = V.history(trials, plan.direction)
        if not full.points:
            return None
        h = V.thin_history(full)
        return (
            V.best_so_far_figure(h, metric, x="number"),
            V.best_so_far_figure(h, metric, x="elapsed"),
            V.scores_figure(h, metric),
            " ".join(w for w in (V.history_note(full, h), V.noise_band_words(h)) if w),
        )

    return shared("live.progress", (*key, metric), make, revision=key[0])


def progress_charts(trials: Sequence[FrozenTrial], plan: StudyPlan, key: tuple[Any, ...]) -> None:
    """Best so far by trial and by time (thinned past ``V.MAX_POINTS``: the best-so-far steps
    and the best trials exact)."""
    figs, why = _progress_figures(trials, plan, key)
    if figs is None:
        if why:
            st.caption(why)
        st.info(
            "The first trials are running; charts appear as soon as one finishes.",
            icon=":material/hourglass_top:",
        )
        return
    by_trial, by_time, _, note = figs
    left, right = st.columns(2)
    with left:
        _draw(by_trial, "live.best_by_trial")
    with right:
        _draw(by_time, "live.best_by_time")
    if note:
        st.caption(note)


def scores_chart(trials: Sequence[FrozenTrial], plan: StudyPlan, key: tuple[Any, ...]) -> None:
    """Every trial's score (thinned past ``V.MAX_POINTS`` as the progress charts)."""
    figs, why = _progress_figures(trials, plan, key)
    if figs is None:
        st.caption(why or "No trial has finished yet.")
        return
    _draw(figs[2], "live.scores")


def analysis_charts(trials: Sequence[FrozenTrial], plan: StudyPlan, key: tuple[Any, ...]) -> None:
    """Importance and parallel coordinates for one model, once it has enough tuned trials.

    Importance is ``auto``: fANOVA up to ``V.FANOVA_MAX_TRIALS`` trials, PED-ANOVA above, on a
    bounded sample; the title says which and on how many.
    """
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
            format_func=lambda m: f"{m} ({plural(ready[m], 'trial')})",
        )
    metric = metric_label(plan.metric)
    name = key[0]
    tuned: list[FrozenTrial] = []

    def tuned_trials() -> list[FrozenTrial]:
        if not tuned:
            tuned.extend(V.tuned_trials(trials, model))
        return tuned

    def importance() -> go.Figure:
        return V.importance_figure(tuned_trials(), plan.direction, method="auto", model=model)

    def parallel() -> go.Figure:
        drawn = V.thin(tuned_trials(), plan.direction, cap=V.PARALLEL_TRIALS).trials
        return V.parallel_figure(drawn, plan.direction, metric, model=model)

    # Sampled results of a big running study are redone every few % more trials, not every trial.
    coarse = (key[0], key[1], model, V.coarse_count(ready[model]))
    left, right = st.columns([2, 3])
    with left:
        fig, _ = shared("live.importance", coarse, importance, revision=name)
        if fig is not None:
            _draw(fig, "live.importance")
        else:
            st.caption("Importance needs parameters that took several values.")
    with right:
        show_shared(shared("live.parallel", (*coarse, metric), parallel, revision=name),
                    "live.parallel")  # fmt: skip
