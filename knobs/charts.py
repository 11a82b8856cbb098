"""The live view's charts: plain data pulled out of a study's trials, then thin plotly figures.

Every chart is two steps (Optuna's own ``visualization`` design): a pure function that turns trials
into plain data, which tests check on real studies, and a figure builder that only draws that data.
The dashboard calls both; nothing here imports Streamlit, so the CLI or a notebook can use it too.

Failed and pruned trials are part of the story (a model that keeps crashing matters) but have no
score: they are drawn as small grey marks along the bottom edge of the scores chart, and counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from knobs.study import model_params
from knobs.study.keys import BASELINE, FAIL_REASON, INTERRUPTED

#: Parameter importance and parallel coordinates mean little on fewer tuned trials than this.
MIN_TRIALS_FOR_ANALYSIS = 5

_ACCENT = "#3366cc"
_BASELINE = "#e4572e"
_MUTED = "#b0b0b0"


@dataclass(frozen=True)
class TrialPoint:
    """One finished trial as the charts see it."""

    number: int
    state: str  # "COMPLETE" | "FAIL" | "PRUNED" | "INTERRUPTED" (stopped; retried on resume)
    value: float | None  # None unless COMPLETE with a finite score
    model: str | None
    baseline: bool
    elapsed_s: float  # from the study's first trial start to this trial's end
    duration_s: float | None
    reason: str | None  # why it failed or was pruned


@dataclass(frozen=True)
class History:
    """What the progress charts draw: finished trials, best-so-far lines and the baseline."""

    direction: str
    points: tuple[TrialPoint, ...]  # finished trials, by trial number
    best_by_number: tuple[tuple[int, float], ...]  # (trial number, best score so far)
    best_by_time: tuple[tuple[float, float], ...]  # (elapsed seconds, best score so far)
    baseline: float | None  # the best default-parameters score: what tuning has to beat
    n_failed: int
    n_pruned: int
    n_interrupted: int = 0

    @property
    def scored(self) -> tuple[TrialPoint, ...]:
        return tuple(p for p in self.points if p.value is not None)

    @property
    def unscored(self) -> tuple[TrialPoint, ...]:
        return tuple(p for p in self.points if p.value is None)

    @property
    def best(self) -> float | None:
        return self.best_by_number[-1][1] if self.best_by_number else None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _better(direction: str, a: float, b: float) -> bool:
    return a > b if direction == "maximize" else a < b


def _running_best(
    values: Sequence[tuple[Any, float]], direction: str
) -> tuple[tuple[Any, float], ...]:
    out: list[tuple[Any, float]] = []
    best: float | None = None
    for x, v in values:
        if best is None or _better(direction, v, best):
            best = v
        out.append((x, best))
    return tuple(out)


def history(trials: Sequence[FrozenTrial], direction: str) -> History:
    """Finished trials and the best score as it improved, by trial number and by elapsed time.

    Elapsed time is wall time from the first trial's start, so a resumed search shows its pause
    as a flat stretch rather than hiding it. Running and waiting trials are left out: they have no
    result yet.
    """
    finished = [t for t in trials if t.state.is_finished() and t.datetime_complete is not None]
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    origin = min(starts) if starts else None
    points: list[TrialPoint] = []
    for t in sorted(finished, key=lambda t: t.number):
        model, _ = model_params(t)
        ok = t.state == TrialState.COMPLETE and _finite(t.value)
        elapsed = (t.datetime_complete - origin).total_seconds() if origin is not None else 0.0
        reason = FAIL_REASON.get(t)
        if t.state == TrialState.PRUNED and not reason:
            reason = "pruned: its early folds scored too low"
        state = t.state.name if ok or t.state != TrialState.COMPLETE else "FAIL"
        if state == "FAIL" and INTERRUPTED.get(t):
            state = "INTERRUPTED"
        points.append(
            TrialPoint(
                number=t.number,
                state=state,
                value=float(t.value) if ok else None,
                model=model,
                baseline=bool(BASELINE.get(t)),
                elapsed_s=max(0.0, elapsed),
                duration_s=t.duration.total_seconds() if t.duration is not None else None,
                reason=None if ok else (reason or "the score was not a number"),
            )
        )
    scored = [p for p in points if p.value is not None]
    by_number = _running_best([(p.number, p.value) for p in scored], direction)
    by_time = _running_best(
        [(p.elapsed_s, p.value) for p in sorted(scored, key=lambda p: (p.elapsed_s, p.number))],
        direction,
    )
    baselines = [p.value for p in scored if p.baseline]
    baseline = None
    if baselines:
        baseline = max(baselines) if direction == "maximize" else min(baselines)
    return History(
        direction=direction,
        points=tuple(points),
        best_by_number=by_number,
        best_by_time=by_time,
        baseline=baseline,
        n_failed=sum(1 for p in points if p.state == "FAIL"),
        n_pruned=sum(1 for p in points if p.state == "PRUNED"),
        n_interrupted=sum(1 for p in points if p.state == "INTERRUPTED"),
    )


# --- per-model analysis (importance, parallel coordinates) -------------------------------


def tuned_trials(trials: Sequence[FrozenTrial], model: str) -> list[FrozenTrial]:
    """Complete, tuned (non-baseline) trials of one model, with its prefix taken off the names.

    A study may search several model families whose parameters exist only for their own trials;
    Optuna's importance and parallel-coordinate plots need trials that share one space, so the
    analysis runs per model on these rebuilt trials (``xgboost.max_depth`` becomes ``max_depth``).
    A baseline trial holds only the library defaults, which are not points of the space.
    """
    prefix = f"{model}."
    out: list[FrozenTrial] = []
    for t in trials:
        if t.state != TrialState.COMPLETE or not _finite(t.value):
            continue
        if t.params.get("model") != model or BASELINE.get(t):
            continue
        _, params = model_params(t)
        if not params:
            continue
        dists = {k[len(prefix) :]: d for k, d in t.distributions.items() if k.startswith(prefix)}
        out.append(
            optuna.trial.create_trial(
                params=params, distributions=dists, value=float(t.value), state=TrialState.COMPLETE
            )
        )
    return out


def analysis_model(trials: Sequence[FrozenTrial], models: Sequence[str]) -> dict[str, int]:
    """Models with enough tuned trials for importance and parallel coordinates, with counts.

    Ordered by count, most first, so the front end can preselect the best-explored model.
    """
    counts = {m: len(tuned_trials(trials, m)) for m in models}
    ready = {m: n for m, n in counts.items() if n >= MIN_TRIALS_FOR_ANALYSIS}
    return dict(sorted(ready.items(), key=lambda kv: -kv[1]))


def _analysis_study(trials: Sequence[FrozenTrial], direction: str) -> optuna.Study:
    # Built by hand rather than with ``create_study``, which logs a line per call: the live view
    # rebuilds these whenever a trial completes.
    storage = optuna.storages.InMemoryStorage()
    directions = [optuna.study.StudyDirection[direction.upper()]]
    name = storage.get_study_name_from_id(storage.create_new_study(directions, "knobs-analysis"))
    study = optuna.Study(study_name=name, storage=storage)
    study.add_trials(trials)
    return study


def varied_params(trials: Sequence[FrozenTrial]) -> list[str]:
    """Parameters that took more than one value: importance is undefined for the others."""
    names = sorted({k for t in trials for k in t.params})
    return [n for n in names if len({repr(t.params.get(n)) for t in trials}) > 1]


# --- tables --------------------------------------------------------------------------------


def _fmt_params(params: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in params.items()) or "(library defaults)"


def trials_table(trials: Sequence[FrozenTrial]) -> pd.DataFrame:
    """One row per trial, every state, ready to show: the scores numeric so columns sort."""
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        model, params = model_params(t)
        ok = t.state == TrialState.COMPLETE and _finite(t.value)
        baseline = bool(BASELINE.get(t))
        interrupted = t.state == TrialState.FAIL and INTERRUPTED.get(t)
        rows.append(
            {
                "trial": t.number,
                "state": "interrupted" if interrupted else t.state.name.lower(),
                "score": float(t.value) if ok else None,
                "model": model or "",
                "parameters": "(library defaults)" if baseline else _fmt_params(params),
                "duration_s": t.duration.total_seconds() if t.duration is not None else None,
                "defaults": baseline,
                "note": FAIL_REASON.get(t) or "",
            }
        )
    columns = ["trial", "state", "score", "model", "parameters", "duration_s", "defaults", "note"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"score": "float64", "duration_s": "float64"})


def fmt_duration(seconds: float | None) -> str:
    """``1:02:03``, ``02:03`` or ``--:--``: how progress and ETA read on screen."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


# --- figures ---------------------------------------------------------------------------------


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        xaxis_title=x,
        yaxis_title=y,
        height=330,
        margin={"l": 10, "r": 10, "t": 45, "b": 10},
        legend={"orientation": "h", "y": -0.22, "x": 0},
        hovermode="closest",
    )
    return fig


def _baseline_line(fig: go.Figure, h: History) -> None:
    if h.baseline is not None:
        fig.add_hline(
            y=h.baseline,
            line={"color": _BASELINE, "dash": "dash", "width": 1.5},
            annotation_text=f"defaults {h.baseline:.4g}",
            annotation_position="bottom right",
            annotation_font_color=_BASELINE,
        )


def best_so_far_figure(h: History, metric: str, *, x: str = "number") -> go.Figure:
    """Best score so far (a step line) over trial number or elapsed seconds, defaults dashed."""
    steps = h.best_by_number if x == "number" else h.best_by_time
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[s[0] for s in steps],
            y=[s[1] for s in steps],
            mode="lines+markers",
            line={"shape": "hv", "color": _ACCENT, "width": 2.5},
            marker={"size": 5},
            name="best so far",
            hovertemplate=("trial %{x}" if x == "number" else "%{x:.0f} s")
            + "<br>best %{y:.4g}<extra></extra>",
        )
    )
    _baseline_line(fig, h)
    xlabel = "trial" if x == "number" else "elapsed seconds"
    title = "Best score by trial" if x == "number" else "Best score over time"
    return _layout(fig, title, xlabel, metric)


def scores_figure(h: History, metric: str) -> go.Figure:
    """Every trial's score; failed and pruned ones as small grey marks on the bottom edge."""
    fig = go.Figure()
    tuned = [p for p in h.scored if not p.baseline]
    defaults = [p for p in h.scored if p.baseline]
    for group, name, marker in (
        (tuned, "tuned trial", {"color": _ACCENT, "size": 7, "opacity": 0.75}),
        (defaults, "defaults", {"color": _BASELINE, "size": 10, "symbol": "diamond"}),
    ):
        if group:
            fig.add_trace(
                go.Scatter(
                    x=[p.number for p in group],
                    y=[p.value for p in group],
                    mode="markers",
                    marker=marker,
                    name=name,
                    customdata=[[p.model or ""] for p in group],
                    hovertemplate="trial %{x} (%{customdata[0]})<br>score %{y:.4g}<extra></extra>",
                )
            )
    if h.unscored:
        values = [p.value for p in h.scored]
        if values:
            lo, hi = min(values), max(values)
            bottom = lo - ((hi - lo) * 0.08 or abs(lo) * 0.02 or 0.01)
        else:
            bottom = 0.0
        fig.add_trace(
            go.Scatter(
                x=[p.number for p in h.unscored],
                y=[bottom] * len(h.unscored),
                mode="markers",
                marker={"color": _MUTED, "size": 6, "symbol": "x-thin-open", "line": {"width": 1}},
                name=_unscored_label(h),
                customdata=[[p.state.lower(), (p.reason or "")[:120]] for p in h.unscored],
                hovertemplate="trial %{x} %{customdata[0]}<br>%{customdata[1]}<extra></extra>",
            )
        )
    _baseline_line(fig, h)
    return _layout(fig, "Every trial's score", "trial", metric)


def _unscored_label(h: History) -> str:
    parts = [
        f"{word} ({n})"
        for word, n in (("failed", h.n_failed), ("pruned", h.n_pruned),
                        ("interrupted", h.n_interrupted))
        if n
    ]  # fmt: skip
    return ", ".join(parts) or "not scored"


def importance_figure(trials: Sequence[FrozenTrial], direction: str, model: str) -> go.Figure:
    """Which of one model's parameters moved the score most (Optuna's fANOVA importances)."""
    study = _analysis_study(trials, direction)
    fig = optuna.visualization.plot_param_importances(study, params=varied_params(trials))
    fig.update_traces(cliponaxis=False)  # keep the value labels at the bars' ends readable
    fig.update_layout(
        title={"text": f"Importance · {model}", "x": 0, "xanchor": "left"},
        height=330,
        margin={"l": 10, "r": 40, "t": 45, "b": 10},
    )
    return fig


def parallel_figure(
    trials: Sequence[FrozenTrial], direction: str, model: str, metric: str
) -> go.Figure:
    """Each tuned trial as a line through its parameter values, coloured by score."""
    study = _analysis_study(trials, direction)
    fig = optuna.visualization.plot_parallel_coordinate(study, target_name=metric)
    fig.update_layout(
        title={"text": f"Parameters of each trial · {model}", "x": 0, "xanchor": "left"},
        height=360,
        margin={"l": 40, "r": 40, "t": 70, "b": 20},
    )
    return fig
