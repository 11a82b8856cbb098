"""The live view's progress: finished trials, the best score as it improved, and the defaults.

Failed and pruned trials are part of the story (a model that keeps crashing matters) but have no
score: they are drawn as small grey marks along the bottom edge of the scores chart, and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from knobs.formatting import fmt_score
from knobs.metrics import direction as as_direction
from knobs.metrics import fold_noise
from knobs.study import best_trial, cut_by_time, is_scored, model_params
from knobs.study.keys import BASELINE, CV, FAIL_REASON, INTERRUPTED

from ._style import ACCENT, COMPACT, DEFAULTS, LEGEND_BELOW, MUTED, layout, reference_line
from ._trials import TIME_CUT_WORD, pruned_note


@dataclass(frozen=True)
class TrialPoint:
    """One finished trial as the charts see it."""

    number: int
    #: "COMPLETE" | "FAIL" | "PRUNED" (by the pruner) | "TIME_CUT" (by the time budget) |
    #: "INTERRUPTED" (stopped; retried on resume)
    state: str
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
    n_time_cut: int = 0
    #: The best trial's fold-to-fold noise (standard error over its folds): scores closer than
    #: this to the best cannot be told from it by cross-validation (``knobs.metrics.fold_noise``).
    noise: float | None = None

    @property
    def scored(self) -> tuple[TrialPoint, ...]:
        return tuple(p for p in self.points if p.value is not None)

    @property
    def unscored(self) -> tuple[TrialPoint, ...]:
        return tuple(p for p in self.points if p.value is None)

    @property
    def best(self) -> float | None:
        return self.best_by_number[-1][1] if self.best_by_number else None


def _running_best(
    values: Sequence[tuple[Any, float]], direction: str
) -> tuple[tuple[Any, float], ...]:
    d = as_direction(direction)
    out: list[tuple[Any, float]] = []
    best: float | None = None
    for x, v in values:
        if best is None or d.better(v, best):
            best = v
        out.append((x, best))
    return tuple(out)


def _point(t: FrozenTrial, origin: Any) -> TrialPoint:
    model, _ = model_params(t)
    ok = is_scored(t)
    elapsed = (t.datetime_complete - origin).total_seconds() if origin is not None else 0.0
    reason = FAIL_REASON.get(t)
    if t.state == TrialState.PRUNED and not reason:
        # a trial the time budget stopped is no verdict on its settings
        reason = pruned_note(t) if cut_by_time(t) else "pruned: its early folds scored too low"
    state = t.state.name if ok or t.state != TrialState.COMPLETE else "FAIL"
    if state == "FAIL" and INTERRUPTED.get(t):
        state = "INTERRUPTED"
    if cut_by_time(t):
        state = "TIME_CUT"
    return TrialPoint(
        number=t.number,
        state=state,
        value=float(t.value) if ok else None,
        model=model,
        baseline=bool(BASELINE.get(t)),
        elapsed_s=max(0.0, elapsed),
        duration_s=t.duration.total_seconds() if t.duration is not None else None,
        reason=None if ok else (reason or "the score was not a number"),
    )


def history(trials: Sequence[FrozenTrial], direction: str) -> History:
    """Finished trials and the best score as it improved, by trial number and by elapsed time.

    Elapsed time is wall time from the first trial's start, so a resumed search shows its pause
    as a flat stretch rather than hiding it. Running and waiting trials are left out: they have no
    result yet.
    """
    finished = [t for t in trials if t.state.is_finished() and t.datetime_complete is not None]
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    origin = min(starts) if starts else None
    points = [_point(t, origin) for t in sorted(finished, key=lambda t: t.number)]
    scored = [p for p in points if p.value is not None]
    by_time = sorted(scored, key=lambda p: (p.elapsed_s, p.number))
    baselines = [p.value for p in scored if p.baseline]
    best = best_trial(trials, direction)
    return History(
        direction=direction,
        points=tuple(points),
        best_by_number=_running_best([(p.number, p.value) for p in scored], direction),
        best_by_time=_running_best([(p.elapsed_s, p.value) for p in by_time], direction),
        baseline=as_direction(direction).best(baselines) if baselines else None,
        n_failed=sum(1 for p in points if p.state == "FAIL"),
        n_pruned=sum(1 for p in points if p.state == "PRUNED"),
        n_interrupted=sum(1 for p in points if p.state == "INTERRUPTED"),
        n_time_cut=sum(1 for p in points if p.state == "TIME_CUT"),
        noise=fold_noise((CV.get(best) or {}).get("fold_scores") or []) if best else None,
    )


def unscored_label(h: History) -> str:
    """``failed (4), pruned (1)``: the legend entry of the grey marks."""
    counts = (
        ("failed", h.n_failed), ("pruned", h.n_pruned), (TIME_CUT_WORD, h.n_time_cut),
        ("interrupted", h.n_interrupted),
    )  # fmt: skip
    return ", ".join(f"{word} ({n})" for word, n in counts if n) or "not scored"


def unscored_height(h: History) -> float:
    """Where the grey marks sit: just under the lowest score, so they never hide a point."""
    values = [p.value for p in h.scored]
    if not values:
        return 0.0
    lo, hi = min(values), max(values)
    return lo - ((hi - lo) * 0.08 or abs(lo) * 0.02 or 0.01)


# --- figures ---------------------------------------------------------------------------------


def _progress_layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    return layout(fig, title, x=x, y=y, height=COMPACT, legend=LEGEND_BELOW, hovermode="closest")


def _baseline_line(fig: go.Figure, h: History) -> None:
    if h.baseline is not None:
        text = f"defaults {fmt_score(h.baseline)}"
        reference_line(fig, h.baseline, text, DEFAULTS, coloured_label=True)


def _noise_band(fig: go.Figure, h: History) -> None:
    """The best score's CV noise as a band around it: is tuning worth it, at a glance. A rough
    gauge only: the verdict pairs the folds (:func:`noise_band_words`)."""
    if h.best is None or not h.noise:
        return
    fig.add_hrect(
        y0=h.best - h.noise, y1=h.best + h.noise, fillcolor=ACCENT, opacity=0.12, line_width=0,
        annotation_text=f"best score's fold noise ±{fmt_score(h.noise)}",
        annotation_position="top left", annotation_font_color=MUTED,
    )  # fmt: skip


def noise_band_words(h: History) -> str:
    """What the band means beside the verdict, whose margin is another measure: a ±0.0072 band
    sat beside "Tuning helps" for +0.0047 with nothing to say why both hold ("" with no band)."""
    if h.best is None or not h.noise:
        return ""
    return (
        f"Shaded band: the best score ± {fmt_score(h.noise)}, the standard error of its own fold "
        "scores. The verdict on the best score compares it with the defaults fold by fold, on "
        "the same folds, which can tell apart a gain smaller than the band."
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
            line={"shape": "hv", "color": ACCENT, "width": 2.5},
            marker={"size": 5},
            name="best so far",
            hovertemplate=("trial %{x}" if x == "number" else "%{x:.0f} s")
            + "<br>best %{y:.4g}<extra></extra>",
        )
    )
    _noise_band(fig, h)
    _baseline_line(fig, h)
    xlabel = "trial" if x == "number" else "elapsed seconds"
    title = "Best score by trial" if x == "number" else "Best score over time"
    return _progress_layout(fig, title, xlabel, metric)


def scores_figure(h: History, metric: str) -> go.Figure:
    """Every trial's score; failed and pruned ones as small grey marks on the bottom edge."""
    fig = go.Figure()
    tuned = [p for p in h.scored if not p.baseline]
    defaults = [p for p in h.scored if p.baseline]
    for group, name, marker in (
        (tuned, "tuned trial", {"color": ACCENT, "size": 7, "opacity": 0.75}),
        (defaults, "defaults", {"color": DEFAULTS, "size": 10, "symbol": "diamond"}),
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
        fig.add_trace(
            go.Scatter(
                x=[p.number for p in h.unscored],
                y=[unscored_height(h)] * len(h.unscored),
                mode="markers",
                marker={"color": MUTED, "size": 6, "symbol": "x-thin-open", "line": {"width": 1}},
                name=unscored_label(h),
                customdata=[[p.state.lower(), (p.reason or "")[:120]] for p in h.unscored],
                hovertemplate="trial %{x} %{customdata[0]}<br>%{customdata[1]}<extra></extra>",
            )
        )
    _baseline_line(fig, h)
    return _progress_layout(fig, "Every trial's score", "trial", metric)
