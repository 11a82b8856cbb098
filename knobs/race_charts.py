"""The race's charts: plain data from ``knobs.race`` summaries, then thin plotly figures.

Every chart carries the default-parameters baseline (a dashed line) and the CV noise band around
it (std of the best trial's fold scores / sqrt(folds)): a curve that stays inside the band has not
beaten the defaults by more than the cross-validation can resolve. ``report_html`` puts them in a
standalone HTML file with plotly inlined, so it opens without a network.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import plotly.graph_objects as go

from knobs.race import LABELS, RaceSummary, results_rows
from knobs.race import stats as S

#: One colour per contestant, stable across charts and pages.
COLOURS = {
    "grid": "#7f7f7f",
    "random": "#e4572e",
    "tpe": "#3366cc",
    "gp": "#17becf",
    "cmaes": "#9467bd",
    "qmc": "#2ca02c",
}
_BASE = "#444444"


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


@dataclass(frozen=True)
class CurveSet:
    """Per contestant: a median best-so-far line with its band over seeds, on one x axis."""

    x_label: str
    bands: dict[str, S.Band]


def curves_by_trial(s: RaceSummary, kind: str = "minmax") -> CurveSet:
    bands = {
        c: S.by_trial([r.best_so_far(s.direction) for r in s.runs_of(c)], kind)
        for c in s.contestants
        if s.runs_of(c)
    }
    return CurveSet("trial", bands)


def curves_by_time(s: RaceSummary, kind: str = "minmax", points: int = 120) -> CurveSet:
    """Best-so-far against each run's own elapsed seconds, read on one grid for all runs."""
    longest = max((c.elapsed[-1] for c in s.curves if c.elapsed), default=0.0)
    grid = S.time_grid(longest, points)
    bands = {
        c: S.by_time([(r.best_so_far(s.direction), r.elapsed) for r in s.runs_of(c)], grid, kind)
        for c in s.contestants
        if s.runs_of(c)
    }
    return CurveSet("seconds", bands)


def score_distribution(s: RaceSummary) -> dict[str, list[float]]:
    """Every scored trial of every seed, per contestant (the defaults trials left out)."""
    out: dict[str, list[float]] = {}
    for c in s.contestants:
        vals: list[float] = []
        for r in s.runs_of(c):
            vals += [v for v in r.values[r.n_baseline :] if v is not None and math.isfinite(v)]
        out[c] = vals
    return out


def _reference(fig: go.Figure, s: RaceSummary, *, horizontal: bool = True) -> None:
    """The defaults line and the CV noise band around it."""
    if s.baseline is None:
        return
    if s.noise:
        fig.add_hrect(
            y0=s.baseline - s.noise,
            y1=s.baseline + s.noise,
            fillcolor=_rgba(_BASE, 0.10),
            line_width=0,
            layer="below",
        )
    fig.add_hline(
        y=s.baseline,
        line={"color": _BASE, "dash": "dash", "width": 1.5},
        annotation_text=f"defaults {s.baseline:.4f}"
        + (f" ± {s.noise:.4f} CV noise" if s.noise else ""),
        annotation_position="bottom right",
    )


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        xaxis_title=x,
        yaxis_title=y,
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.2},
        template="plotly_white",
    )
    return fig


def curves_figure(s: RaceSummary, cs: CurveSet, label: str | None = None) -> go.Figure:
    """Median best-so-far per contestant with its band over seeds; defaults and noise band."""
    fig = go.Figure()
    for c, b in cs.bands.items():
        colour = COLOURS.get(c, "#333333")
        xs = [x for x, m in zip(b.x, b.median, strict=True) if m is not None]
        lo = [v for v in b.lo if v is not None]
        hi = [v for v in b.hi if v is not None]
        med = [m for m in b.median if m is not None]
        if not xs:
            continue
        name = LABELS.get(c, c)
        shape = "hv" if cs.x_label == "trial" else "linear"
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=lo,
                mode="lines",
                line={"width": 0, "shape": shape},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=c,
                name=f"{name} low",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=hi,
                mode="lines",
                fill="tonexty",
                fillcolor=_rgba(colour, 0.15),
                line={"width": 0, "shape": shape},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=c,
                name=f"{name} band",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=med,
                mode="lines",
                line={"color": colour, "width": 2.5, "shape": shape},
                name=name,
                legendgroup=c,
            )
        )
    _reference(fig, s)
    if s.target is not None:
        fig.add_hline(
            y=s.target,
            line={"color": "#2a9d8f", "dash": "dot", "width": 1},
            annotation_text=f"target {s.target:.4f}",
            annotation_position="top left",
        )
    x_title = "trial" if cs.x_label == "trial" else "elapsed seconds (each run's own)"
    what = "trial" if cs.x_label == "trial" else "wall time"
    return _layout(
        fig,
        f"Best so far by {what} (median of seeds)",
        x_title,
        label or s.metric,
    )


def distribution_figure(s: RaceSummary, label: str | None = None) -> go.Figure:
    """Every tuned trial's score per contestant: where each strategy spends its budget."""
    fig = go.Figure()
    for c, vals in score_distribution(s).items():
        fig.add_trace(
            go.Box(
                y=vals,
                name=LABELS.get(c, c),
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker={"color": COLOURS.get(c, "#333333"), "size": 4, "opacity": 0.6},
                line={"color": COLOURS.get(c, "#333333")},
            )
        )
    _reference(fig, s)
    fig.update_layout(showlegend=False)
    return _layout(fig, "Scores of all tuned trials", "", label or s.metric)


def best_figure(s: RaceSummary, label: str | None = None) -> go.Figure:
    """Each seed's best CV score (dots) and the mean ± sd per contestant."""
    fig = go.Figure()
    for a in sorted(s.aggregates, key=lambda a: (a.rank is None, a.rank or 0)):
        colour = COLOURS.get(a.contestant, "#333333")
        runs = s.runs_of(a.contestant)
        ys = [r.best(s.direction) for r in runs]
        fig.add_trace(
            go.Scatter(
                x=[a.label] * len(ys),
                y=ys,
                mode="markers",
                marker={"color": colour, "size": 9, "opacity": 0.7},
                name=a.label,
                text=[f"seed {r.seed_index + 1}" for r in runs],
                showlegend=False,
            )
        )
        if a.mean_best is not None:
            fig.add_trace(
                go.Scatter(
                    x=[a.label],
                    y=[a.mean_best],
                    mode="markers",
                    marker={"color": colour, "symbol": "line-ew-open", "size": 30},
                    error_y={"type": "data", "array": [a.std_best or 0], "color": colour},
                    name=f"{a.label} mean",
                    showlegend=False,
                )
            )
    _reference(fig, s)
    return _layout(fig, "Best CV score per seed, mean ± sd", "", label or s.metric)


def race_figures(s: RaceSummary, label: str | None = None) -> dict[str, go.Figure]:
    """All race charts, by key."""
    return {
        "by_trial": curves_figure(s, curves_by_trial(s), label),
        "by_time": curves_figure(s, curves_by_time(s), label),
        "distribution": distribution_figure(s, label),
        "best": best_figure(s, label),
    }


def _cell(v: object) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1e4 else f"{v:.4g}"
    return html.escape(str(v))


def report_html(s: RaceSummary, *, title: str, label: str | None = None) -> str:
    """A standalone HTML report: the verdict, the results table and every chart, plotly inlined
    (the file opens without a network connection)."""
    figs = race_figures(s, label)
    rows = results_rows(s)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in (rows[0] if rows else {}))
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r.values()) + "</tr>" for r in rows
    )
    parts = []
    for i, fig in enumerate(figs.values()):
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False))
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(s.verdict)}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p>Target: {_cell(s.target)} (within {1 - s.target_fraction:.0%} of the race's best, "
        "or closer when the defaults already get there). Defaults: {_cell(s.baseline)}; CV noise: ±{_cell(s.noise)} "
        "(std of the best trial's fold scores / sqrt(folds)).</p>"
        + "".join(parts)
        + "</body></html>"
    )
