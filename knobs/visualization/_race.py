"""The race's charts: plain data from a ``knobs.race`` summary, then thin plotly figures.

Every chart carries the default-parameters baseline (a dashed line) and the CV noise band around
it (std of the best trial's fold scores / sqrt(folds)): a curve that stays inside the band has not
beaten the defaults by more than the cross-validation can resolve. ``race_report_html`` puts them
in a standalone HTML file with plotly inlined, so it opens without a network.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import plotly.graph_objects as go

from knobs.formatting import fmt_score
from knobs.race import RaceSummary, results_rows
from knobs.race import stats as S

from ._style import (
    LEGEND_BELOW,
    REFERENCE,
    STANDARD,
    TARGET,
    layout,
    reference_line,
    rgba,
    strategy_colour,
    strategy_short,
)

#: What a missing number reads as in the race's charts and report.
_NONE = "–"


@dataclass(frozen=True)
class CurveSet:
    """Per contestant: a median best-so-far line with its band over seeds, on one x axis."""

    x_label: str  # "trial" or "seconds"
    bands: dict[str, S.Band]


def race_curves_by_trial(s: RaceSummary, kind: str = "minmax") -> CurveSet:
    """Best-so-far against trial number, per contestant, over its seeds."""
    bands = {
        c: S.by_trial([r.best_so_far(s.direction) for r in s.runs_of(c)], kind)
        for c in s.contestants
        if s.runs_of(c)
    }
    return CurveSet("trial", bands)


def race_curves_by_time(s: RaceSummary, kind: str = "minmax", points: int = 120) -> CurveSet:
    """Best-so-far against each run's own elapsed seconds, read on one grid for all runs."""
    longest = max((c.elapsed[-1] for c in s.curves if c.elapsed), default=0.0)
    grid = S.time_grid(longest, points)
    bands = {
        c: S.by_time([(r.best_so_far(s.direction), r.elapsed) for r in s.runs_of(c)], grid, kind)
        for c in s.contestants
        if s.runs_of(c)
    }
    return CurveSet("seconds", bands)


def race_score_distribution(s: RaceSummary) -> dict[str, list[float]]:
    """Every scored trial of every seed, per contestant (the defaults trials left out)."""
    out: dict[str, list[float]] = {}
    for c in s.contestants:
        vals: list[float] = []
        for r in s.runs_of(c):
            vals += [v for v in r.values[r.n_baseline :] if v is not None and math.isfinite(v)]
        out[c] = vals
    return out


def _reference(fig: go.Figure, s: RaceSummary) -> None:
    """The defaults line and the CV noise band around it."""
    if s.baseline is None:
        return
    if s.noise:
        fig.add_hrect(
            y0=s.baseline - s.noise,
            y1=s.baseline + s.noise,
            fillcolor=rgba(REFERENCE, 0.10),
            line_width=0,
            layer="below",
        )
    noise = f" ± {fmt_score(s.noise)} CV noise" if s.noise else ""
    reference_line(fig, s.baseline, f"defaults {fmt_score(s.baseline)}{noise}", REFERENCE)


def _race_layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    return layout(
        fig, title, x=x, y=y, height=STANDARD, legend=LEGEND_BELOW, template="plotly_white"
    )


def _band_traces(c: str, b: S.Band, shape: str) -> list[go.Scatter]:
    """One contestant's band (low edge, filled high edge) and its median line."""
    colour, name = strategy_colour(c), strategy_short(c)
    xs = [x for x, m in zip(b.x, b.median, strict=True) if m is not None]
    lo = [v for v in b.lo if v is not None]
    hi = [v for v in b.hi if v is not None]
    med = [m for m in b.median if m is not None]
    edge = {"mode": "lines", "hoverinfo": "skip", "showlegend": False, "legendgroup": c}
    return [
        go.Scatter(x=xs, y=lo, line={"width": 0, "shape": shape}, name=f"{name} low", **edge),
        go.Scatter(
            x=xs, y=hi, fill="tonexty", fillcolor=rgba(colour, 0.15),
            line={"width": 0, "shape": shape}, name=f"{name} band", **edge,
        ),
        go.Scatter(
            x=xs, y=med, mode="lines", line={"color": colour, "width": 2.5, "shape": shape},
            name=name, legendgroup=c,
        ),
    ]  # fmt: skip


def race_curves_figure(s: RaceSummary, cs: CurveSet, label: str | None = None) -> go.Figure:
    """Median best-so-far per contestant with its band over seeds; defaults and noise band."""
    fig = go.Figure()
    shape = "hv" if cs.x_label == "trial" else "linear"
    for c, b in cs.bands.items():
        if any(m is not None for m in b.median):
            fig.add_traces(_band_traces(c, b, shape))
    _reference(fig, s)
    if s.target is not None:
        text = f"target {fmt_score(s.target)}"
        reference_line(fig, s.target, text, TARGET, dash="dot", width=1, position="top left")
    x_title = "trial" if cs.x_label == "trial" else "elapsed seconds (each run's own)"
    what = "trial" if cs.x_label == "trial" else "wall time"
    return _race_layout(fig, f"Best so far by {what} (median of seeds)", x_title, label or s.metric)


def race_distribution_figure(s: RaceSummary, label: str | None = None) -> go.Figure:
    """Every tuned trial's score per contestant: where each strategy spends its budget."""
    fig = go.Figure()
    for c, vals in race_score_distribution(s).items():
        colour = strategy_colour(c)
        fig.add_trace(
            go.Box(
                y=vals,
                name=strategy_short(c),
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker={"color": colour, "size": 4, "opacity": 0.6},
                line={"color": colour},
            )
        )
    _reference(fig, s)
    fig.update_layout(showlegend=False)
    return _race_layout(fig, "Scores of all tuned trials", "", label or s.metric)


def race_best_figure(s: RaceSummary, label: str | None = None) -> go.Figure:
    """Each seed's best CV score (dots) and the mean ± sd per contestant."""
    fig = go.Figure()
    for a in sorted(s.aggregates, key=lambda a: (a.rank is None, a.rank or 0)):
        colour, name = strategy_colour(a.contestant), strategy_short(a.contestant)
        runs = s.runs_of(a.contestant)
        ys = [r.best(s.direction) for r in runs]
        fig.add_trace(
            go.Scatter(
                x=[name] * len(ys),
                y=ys,
                mode="markers",
                marker={"color": colour, "size": 9, "opacity": 0.7},
                name=name,
                text=[f"seed {r.seed_index + 1}" for r in runs],
                showlegend=False,
            )
        )
        if a.mean_best is not None:
            fig.add_trace(
                go.Scatter(
                    x=[name],
                    y=[a.mean_best],
                    mode="markers",
                    marker={"color": colour, "symbol": "line-ew-open", "size": 30},
                    error_y={"type": "data", "array": [a.std_best or 0], "color": colour},
                    name=f"{name} mean",
                    showlegend=False,
                )
            )
    _reference(fig, s)
    return _race_layout(fig, "Best CV score per seed, mean ± sd", "", label or s.metric)


def race_figures(s: RaceSummary, label: str | None = None) -> dict[str, go.Figure]:
    """All race charts, by key (``by_trial``, ``by_time``, ``distribution``, ``best``)."""
    return {
        "by_trial": race_curves_figure(s, race_curves_by_trial(s), label),
        "by_time": race_curves_figure(s, race_curves_by_time(s), label),
        "distribution": race_distribution_figure(s, label),
        "best": race_best_figure(s, label),
    }


def _cell(v: object) -> str:
    if v is None:
        return _NONE
    if isinstance(v, float):
        return fmt_score(v, missing=_NONE)
    return html.escape(str(v))


def race_report_html(s: RaceSummary, *, title: str, label: str | None = None) -> str:
    """A standalone HTML report: the verdict, the results table and every chart, plotly inlined
    (the file opens without a network connection)."""
    figs = race_figures(s, label)
    rows = results_rows(s)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in (rows[0] if rows else {}))
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r.values()) + "</tr>" for r in rows
    )
    parts = [
        fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False)
        for i, fig in enumerate(figs.values())
    ]
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(s.verdict)}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p>Target: {_cell(s.target)} (within {1 - s.target_fraction:.0%} of the race's best, "
        f"or closer when the defaults already get there). Defaults: {_cell(s.baseline)}; "
        f"CV noise: ±{_cell(s.noise)} (std of the best trial's fold scores / sqrt(folds)).</p>"
        + "".join(parts)
        + "</body></html>"
    )
