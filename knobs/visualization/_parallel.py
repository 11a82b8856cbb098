"""Each tuned trial as a line through its parameter values, coloured by score.

One figure for the live view and the Analytics page; its data step is ``tuned_trials`` and
``params_varied_in_complete`` (a parameter that never moved is an axis that says nothing).
"""

from __future__ import annotations

import re
from typing import Any

import optuna
import plotly.graph_objects as go

from ._selection import Trials, for_model, optuna_plot, params_varied_in_complete
from ._style import layout


def parallel_figure(
    trials: Trials, direction: str, metric: str = "score", *, model: str | None = None
) -> go.Figure:
    """Parallel coordinates of one model's trials (``tuned_trials``), named in the title."""
    params = params_varied_in_complete(trials) or None
    plot = optuna.visualization.plot_parallel_coordinate
    fig = optuna_plot(plot, trials, direction, params=params, target_name=metric)
    fig = merged_lines(fig)
    # Room above and beside the axes: their names and tick labels sit outside the plot area.
    title = for_model("Parameters of each trial", model)
    return layout(fig, title, height=360, margin={"l": 40, "r": 40, "t": 70, "b": 20})


#: Colour step (0-255 per channel) within which trials' lines share one trace.
COLOR_STEP = 12


def merged_lines(fig: go.Figure) -> go.Figure:
    """Optuna's figure with the trials' lines merged into one trace per colour band.

    Optuna draws one scatter trace per trial; plotly.js pays per trace (defaults, axes, hover
    layers), so 500 trials took 3.6 s to draw in Chromium here, holding up the page. Lines of
    nearly the same colour (within ``COLOR_STEP``) become one trace, their trials separated by
    gaps; every point keeps its hover text, and bands are drawn in Optuna's order (best on top).
    """
    bands: dict[tuple[Any, ...], dict[str, Any]] = {}
    others = []
    for rank, trace in enumerate(fig.data):
        color = _rgb(getattr(trace.line, "color", None)) if trace.mode == "lines" else None
        if color is None or trace.customdata is None:
            others.append(trace)
            continue
        key = (tuple(c // COLOR_STEP for c in color), trace.line.dash)
        band = bands.setdefault(key, {"x": [], "y": [], "custom": [], "trace": trace, "rank": 0})
        band["x"] += [*trace.x, None]
        band["y"] += [*trace.y, None]
        band["custom"] += [*map(list, trace.customdata), [None, None]]
        band["rank"] = rank  # the band is drawn where its last trial was
    if not bands:
        return fig
    lines = [
        go.Scatter(x=b["x"], y=b["y"], customdata=b["custom"], mode="lines",
                   line=b["trace"].line, opacity=b["trace"].opacity, showlegend=False,
                   hovertemplate=b["trace"].hovertemplate, connectgaps=False)
        for b in sorted(bands.values(), key=lambda b: b["rank"])
    ]  # fmt: skip
    return go.Figure(data=[*lines, *others], layout=fig.layout)


def _rgb(color: Any) -> tuple[int, ...] | None:
    """``(r, g, b)`` of a plotly ``rgb(...)``/``#rrggbb`` colour, or None."""
    if not isinstance(color, str):
        return None
    if color.startswith("#") and len(color) == 7:
        return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    found = re.findall(r"[\d.]+", color)
    return tuple(int(float(v)) for v in found[:3]) if len(found) >= 3 else None
