"""The Analytics page's other plots: Optuna's history, slice, contour, EDF, timeline and
intermediate values, fed the selected trials, plus the one Optuna lacks, a timeline per worker
process (Optuna's timeline has one row per trial, not per worker)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial

from knobs.errors import ConfigError
from knobs.study.keys import BASELINE, INTERRUPTED, WORKER

from ._selection import optuna_plot, params_varied_in_complete, renumber
from ._style import STANDARD, STATE_COLOURS, TALL, layout

# --- what Optuna lacks: the timeline per worker --------------------------------------------------


@dataclass(frozen=True)
class WorkerBar:
    """One trial on the row of the worker process that ran it."""

    worker: str  # host:pid
    number: int
    state: str
    start_s: float  # seconds from the study's first trial start
    end_s: float
    baseline: bool


def worker_timeline(trials: Sequence[FrozenTrial], *, now: float | None = None) -> list[WorkerBar]:
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
        bars.append(WorkerBar(worker, t.number, state, start, end, bool(BASELINE.get(t))))
    return sorted(bars, key=lambda b: (b.worker, b.start_s))


def worker_timeline_figure(bars: Sequence[WorkerBar]) -> go.Figure:
    """A horizontal bar per trial, one row per worker process, coloured by state."""
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
                marker={"color": STATE_COLOURS.get(state, STATE_COLOURS["INTERRUPTED"])},
                text=[f"#{b.number}" for b in sub],
                hovertemplate="trial %{text}<br>%{base:.1f}–%{x:.1f} s<extra></extra>",
            )
        )
    return layout(
        fig,
        "Trials per worker process",
        x="seconds since the first trial",
        height=max(220, 60 + 40 * len({b.worker for b in bars})),
        barmode="overlay",
        template="plotly_white",
    )


# --- Optuna's plots ---------------------------------------------------------------------------

_OV = optuna.visualization


def optimization_history_figure(
    trials: Sequence[FrozenTrial], direction: str, metric: str = "score"
) -> go.Figure:
    """Optuna's history: every trial's score and the best so far."""
    fig = optuna_plot(_OV.plot_optimization_history, trials, direction, target_name=metric)
    return layout(renumber(fig, trials, "x"), "Optimization history")


def slice_figure(trials: Sequence[FrozenTrial], direction: str, metric: str = "score") -> go.Figure:
    """Score against each parameter that varied, one panel each."""
    params = params_varied_in_complete(trials) or None
    fig = optuna_plot(_OV.plot_slice, trials, direction, params=params, target_name=metric)
    return layout(fig, "Slice: score against each parameter", height=360)


def contour_figure(
    trials: Sequence[FrozenTrial], direction: str, x: str, y: str, metric: str = "score"
) -> go.Figure:
    """The score over two parameters that both varied."""
    if x == y:
        raise ConfigError(f"A contour needs two different parameters, but got `{x}` twice.")
    names = params_varied_in_complete(trials)
    for p in (x, y):
        if p not in names:
            raise ConfigError(
                f"Parameter `{p}` did not vary in these trials; pick from {names or 'none'}."
            )
    fig = optuna_plot(_OV.plot_contour, trials, direction, params=[x, y], target_name=metric)
    return layout(fig, f"Contour: {x} × {y}", height=TALL)


def edf_figure(trials: Sequence[FrozenTrial], direction: str, metric: str = "score") -> go.Figure:
    """The share of trials at or below each score."""
    fig = optuna_plot(_OV.plot_edf, trials, direction, target_name=metric)
    return layout(fig, "Empirical distribution of scores (EDF)")


def timeline_figure(trials: Sequence[FrozenTrial], direction: str) -> go.Figure:
    """Optuna's timeline: one row per trial."""
    fig = optuna_plot(_OV.plot_timeline, trials, direction)
    return layout(
        renumber(fig, trials, "y"),
        "Timeline of trials",
        height=max(300, min(900, 20 * len(trials))),
    )


def intermediate_figure(trials: Sequence[FrozenTrial], direction: str) -> go.Figure:
    """Per-fold values each trial reported (they come with pruning)."""
    fig = optuna_plot(_OV.plot_intermediate_values, trials, direction)
    return layout(fig, "Intermediate values (per fold)", height=STANDARD)
