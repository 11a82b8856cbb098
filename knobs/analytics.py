"""Study analytics for any study: Optuna's own plots, fed the right trials, plus what it lacks.

Optuna's ``optuna.visualization`` draws history, importances (fANOVA, or PED-ANOVA via
``optuna.importance.PedAnovaImportanceEvaluator``), parallel coordinates, slices, contours, the
EDF, a timeline and intermediate values; we use those as they are. What we add:

- the trial *selection* (which states, baseline trials or not, one model's parameters): a Knobs
  study may search several model families whose parameters are prefixed (``xgboost.max_depth``)
  and exist only in their own trials, and opens with default-parameter trials that are not points
  of the space; the parameter plots need trials that share one space;
- a timeline *per worker process* (Optuna's timeline has one row per trial, not per worker).

Pure selection functions first (tested), then thin figure builders. No Streamlit here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from knobs.errors import ConfigError
from knobs.study import model_params
from knobs.study.keys import BASELINE, INTERRUPTED, WORKER

IMPORTANCE_METHODS = ("fanova", "ped_anova")
_STATE_COLOURS = {"COMPLETE": "#3366cc", "FAIL": "#e4572e", "PRUNED": "#f4a261", "RUNNING": "#999"}


@dataclass(frozen=True)
class Selection:
    """Which trials the charts use."""

    failed: bool = False  # include FAIL trials (where a plot can show them: timeline)
    pruned: bool = True  # include PRUNED trials
    baseline: bool = True  # include the default-parameter trials (history, EDF, timeline)
    model: str | None = None  # restrict to one model family (its parameters unprefixed)


def select(trials: Sequence[FrozenTrial], sel: Selection) -> list[FrozenTrial]:
    """The trials a chart should see, by state, baseline flag and model."""
    keep = {TrialState.COMPLETE, TrialState.RUNNING}
    if sel.failed:
        keep.add(TrialState.FAIL)
    if sel.pruned:
        keep.add(TrialState.PRUNED)
    out = []
    for t in trials:
        if t.state not in keep:
            continue
        if not sel.baseline and BASELINE.get(t):
            continue
        if sel.model is not None and t.params.get("model") != sel.model:
            continue
        out.append(t)
    return out


def unprefixed(trials: Sequence[FrozenTrial], model: str) -> list[FrozenTrial]:
    """One model's tuned trials with ``model.`` taken off the parameter names, for the
    parameter plots; every state is kept (the plots skip what they cannot draw)."""
    prefix = f"{model}."
    out = []
    for t in trials:
        if t.params.get("model") != model or BASELINE.get(t):
            continue
        _, params = model_params(t)
        if not params:
            continue
        dists = {k[len(prefix) :]: d for k, d in t.distributions.items() if k.startswith(prefix)}
        ok = t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)
        out.append(
            optuna.trial.create_trial(
                params=params,
                distributions=dists,
                value=float(t.value) if ok else None,
                state=t.state if t.state != TrialState.RUNNING else TrialState.FAIL,
                intermediate_values=dict(t.intermediate_values),
                user_attrs=dict(t.user_attrs),
            )
        )
    return out


def models_in(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    """Model families with completed tuned trials, most first."""
    counts: dict[str, int] = {}
    for t in trials:
        m = t.params.get("model")
        if m and t.state == TrialState.COMPLETE and not BASELINE.get(t):
            counts[m] = counts.get(m, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def varied_params(trials: Sequence[FrozenTrial]) -> list[str]:
    """Parameters with more than one value among completed trials (others explain nothing)."""
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    names = sorted({k for t in done for k in t.params})
    return [n for n in names if len({repr(t.params.get(n)) for t in done}) > 1]


def has_intermediate(trials: Sequence[FrozenTrial]) -> bool:
    return any(t.intermediate_values for t in trials)


def as_study(trials: Sequence[FrozenTrial], direction: str) -> optuna.Study:
    """An in-memory study holding copies of ``trials`` (Optuna's plots take a study)."""
    storage = optuna.storages.InMemoryStorage()
    directions = [optuna.study.StudyDirection[direction.upper()]]
    name = storage.get_study_name_from_id(storage.create_new_study(directions, "knobs-analytics"))
    study = optuna.Study(study_name=name, storage=storage)
    for t in trials:
        if t.state == TrialState.RUNNING:
            continue  # add_trial refuses unfinished trials; a live chart shows them next refresh
        study.add_trial(t)
    return study


# --- what Optuna lacks: the timeline per worker --------------------------------------------------


@dataclass(frozen=True)
class Bar:
    worker: str
    number: int
    state: str
    start_s: float  # seconds from the study's first trial start
    end_s: float
    baseline: bool


def worker_timeline(trials: Sequence[FrozenTrial], *, now: float | None = None) -> list[Bar]:
    """One bar per trial on the row of the worker process that ran it.

    Interrupted trials (stopped, retried on resume) show as their own state; running trials end
    at ``now`` (default: their start, i.e. zero length).
    """
    starts = [t.datetime_start.timestamp() for t in trials if t.datetime_start is not None]
    if not starts:
        return []
    t0 = min(starts)
    bars = []
    for t in trials:
        if t.datetime_start is None:
            continue
        w = WORKER.get(t) or {}
        worker = f"{w.get('host', '?')}:{w.get('pid', '?')}" if w else "unknown"
        start = t.datetime_start.timestamp() - t0
        if t.datetime_complete is not None:
            end = t.datetime_complete.timestamp() - t0
        else:
            end = max(start, (now - t0) if now is not None else start)
        state = "INTERRUPTED" if INTERRUPTED.get(t) else t.state.name
        bars.append(Bar(worker, t.number, state, start, end, bool(BASELINE.get(t))))
    return sorted(bars, key=lambda b: (b.worker, b.start_s))


def worker_timeline_figure(bars: Sequence[Bar]) -> go.Figure:
    fig = go.Figure()
    for state in sorted({b.state for b in bars}):
        sub = [b for b in bars if b.state == state]
        fig.add_trace(
            go.Bar(
                y=[b.worker for b in sub],
                x=[max(b.end_s - b.start_s, 0.01) for b in sub],
                base=[b.start_s for b in sub],
                orientation="h",
                name=state.lower(),
                marker={"color": _STATE_COLOURS.get(state, "#9467bd")},
                text=[f"#{b.number}" for b in sub],
                hovertemplate="trial %{text}<br>%{base:.1f}–%{x:.1f} s<extra></extra>",
            )
        )
    fig.update_layout(
        title={"text": "Trials per worker process", "x": 0, "xanchor": "left"},
        barmode="overlay",
        xaxis_title="seconds since the first trial",
        height=max(220, 60 + 40 * len({b.worker for b in bars})),
        margin={"l": 10, "r": 10, "t": 45, "b": 10},
        template="plotly_white",
    )
    return fig


# --- Optuna's plots ---------------------------------------------------------------------------


def _titled(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    return fig


def history_figure(
    trials: Sequence[FrozenTrial], direction: str, metric: str = "score"
) -> go.Figure:
    study = as_study(trials, direction)
    fig = optuna.visualization.plot_optimization_history(study, target_name=metric)
    return _titled(fig, "Optimization history")


def importance_figure(
    trials: Sequence[FrozenTrial], direction: str, method: str = "fanova"
) -> go.Figure:
    """Parameter importances of one model's trials (``unprefixed``): fANOVA or PED-ANOVA."""
    if method not in IMPORTANCE_METHODS:
        raise ConfigError(
            f"Importance method must be one of {list(IMPORTANCE_METHODS)}, but got {method!r}."
        )
    params = varied_params(trials)
    if not params:
        raise ConfigError("Importance needs parameters that took several values; run more trials.")
    evaluator = (
        optuna.importance.PedAnovaImportanceEvaluator()
        if method == "ped_anova"
        else optuna.importance.FanovaImportanceEvaluator(seed=0)
    )
    study = as_study(trials, direction)
    fig = optuna.visualization.plot_param_importances(study, evaluator=evaluator, params=params)
    fig.update_traces(cliponaxis=False)
    label = "PED-ANOVA" if method == "ped_anova" else "fANOVA"
    return _titled(fig, f"Parameter importance ({label})", 330)


def parallel_figure(
    trials: Sequence[FrozenTrial], direction: str, metric: str = "score"
) -> go.Figure:
    study = as_study(trials, direction)
    fig = optuna.visualization.plot_parallel_coordinate(
        study, params=varied_params(trials) or None, target_name=metric
    )
    return _titled(fig, "Parallel coordinates")


def slice_figure(trials: Sequence[FrozenTrial], direction: str, metric: str = "score") -> go.Figure:
    study = as_study(trials, direction)
    fig = optuna.visualization.plot_slice(
        study, params=varied_params(trials) or None, target_name=metric
    )
    return _titled(fig, "Slice: score against each parameter", 360)


def contour_figure(
    trials: Sequence[FrozenTrial], direction: str, x: str, y: str, metric: str = "score"
) -> go.Figure:
    if x == y:
        raise ConfigError(f"A contour needs two different parameters, but got `{x}` twice.")
    names = varied_params(trials)
    for p in (x, y):
        if p not in names:
            raise ConfigError(
                f"Parameter `{p}` did not vary in these trials; pick from {names or 'none'}."
            )
    study = as_study(trials, direction)
    fig = optuna.visualization.plot_contour(study, params=[x, y], target_name=metric)
    return _titled(fig, f"Contour: {x} × {y}", 450)


def edf_figure(trials: Sequence[FrozenTrial], direction: str, metric: str = "score") -> go.Figure:
    study = as_study(trials, direction)
    fig = optuna.visualization.plot_edf(study, target_name=metric)
    return _titled(fig, "Empirical distribution of scores (EDF)")


def timeline_figure(trials: Sequence[FrozenTrial], direction: str) -> go.Figure:
    study = as_study(trials, direction)
    fig = optuna.visualization.plot_timeline(study)
    return _titled(fig, "Timeline of trials", max(300, min(900, 20 * len(trials))))


def intermediate_figure(trials: Sequence[FrozenTrial], direction: str) -> go.Figure:
    study = as_study(trials, direction)
    fig = optuna.visualization.plot_intermediate_values(study)
    return _titled(fig, "Intermediate values (per fold)")
