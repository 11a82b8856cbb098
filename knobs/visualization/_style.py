"""How every Knobs chart looks: one layout helper, one palette, one rgba.

Colours that mean something keep their meaning on every page: the accent is "tuned", the
defaults colour is "library defaults", muted grey is "no score". A race's strategies take their
colour and short label from their row in ``knobs.strategies.STRATEGIES``, so a strategy reads
the same in the Search form, the race charts and the report.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from knobs.strategies import STRATEGIES

ACCENT = "#3366cc"  # tuned trials, the best-so-far line, the ensemble
DEFAULTS = "#e4572e"  # the library-defaults trials and their line; the best single model
MUTED = "#b0b0b0"  # failed, pruned and interrupted trials (they have no score)
MEMBER = "#9aa5b1"  # ensemble members
REFERENCE = "#444444"  # a race's defaults line and CV noise band
TARGET = "#2a9d8f"  # a race's target line
UNKNOWN = "#333333"  # a strategy the registry does not know
#: Trial states on the worker timeline (Optuna's names).
STATE_COLOURS = {
    "COMPLETE": ACCENT,
    "FAIL": DEFAULTS,
    "PRUNED": "#f4a261",
    "RUNNING": "#999",
    "INTERRUPTED": "#9467bd",
}

#: Plot heights by kind, so pages line charts up side by side.
COMPACT, STANDARD, TALL = 330, 380, 450


def rgba(hex_colour: str, alpha: float) -> str:
    """``#3366cc`` at ``alpha`` opacity, for bands and fills."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def strategy_colour(name: str) -> str:
    """A strategy's chart colour, from its registry row."""
    row = STRATEGIES.get(name)
    return row.colour if row else UNKNOWN


def strategy_short(name: str) -> str:
    """A strategy's short label (``TPE``, ``Quasi-random``), from its registry row."""
    row = STRATEGIES.get(name)
    return row.short if row else name


def reference_line(
    fig: go.Figure,
    y: float,
    text: str,
    colour: str,
    *,
    dash: str = "dash",
    width: float = 1.5,
    position: str = "bottom right",
    coloured_label: bool = False,
) -> None:
    """A labelled horizontal line across the plot: the defaults' score, a race's target."""
    fig.add_hline(
        y=y,
        line={"color": colour, "dash": dash, "width": width},
        annotation_text=text,
        annotation_position=position,
        **({"annotation_font_color": colour} if coloured_label else {}),
    )


def layout(
    fig: go.Figure,
    title: str,
    *,
    x: str | None = None,
    y: str | None = None,
    height: int = STANDARD,
    margin: dict[str, int] | None = None,
    **more: Any,
) -> go.Figure:
    """Title on the left, tight margins, one height per kind: every chart goes through here.

    ``x`` and ``y`` title the axes; ``more`` passes any other layout setting (legend, template,
    barmode) for the charts that need one.
    """
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10, **(margin or {})},
        **more,
    )
    if x is not None:
        fig.update_layout(xaxis_title=x)
    if y is not None:
        fig.update_layout(yaxis_title=y)
    return fig


#: The legend under a chart, left-aligned.
LEGEND_BELOW = {"orientation": "h", "y": -0.2, "x": 0}
