"""How a search spent its budget: trials and seconds per model family, by how they ended.

With ``--models auto`` this is where the user sees the budget follow the leading families; with
pruning, how much of it went to trials stopped early.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from knobs.study import cut_by_time
from knobs.study.keys import INTERRUPTED

from ._style import ACCENT, MUTED, STANDARD, STATE_COLOURS, layout
from ._trials import TIME_CUT_WORD

#: How a trial ended, in the order the bars stack.
OUTCOMES = ("complete", "pruned", TIME_CUT_WORD, "failed", "running")
_COLOURS = {
    "complete": ACCENT,
    "pruned": STATE_COLOURS["PRUNED"],
    TIME_CUT_WORD: STATE_COLOURS["INTERRUPTED"],
    "failed": STATE_COLOURS["FAIL"],
    "running": MUTED,
}


def outcome(t: FrozenTrial) -> str | None:
    """``complete``, ``pruned``, ``cut by time``, ``failed`` or ``running``; None for a trial
    that does not count (waiting, or interrupted and queued again)."""
    if t.state == TrialState.COMPLETE:
        return "complete"
    if t.state == TrialState.PRUNED:
        return TIME_CUT_WORD if cut_by_time(t) else "pruned"
    if t.state == TrialState.RUNNING:
        return "running"
    if t.state == TrialState.FAIL and not INTERRUPTED.get(t):
        return "failed"
    return None


def budget_spread(trials: Sequence[FrozenTrial]) -> pd.DataFrame:
    """One row per (model, outcome): trial count and seconds spent, families in first-tried
    order."""
    rows = []
    for t in trials:
        kind = outcome(t)
        model = t.params.get("model")
        if kind is None or model is None:
            continue
        seconds = t.duration.total_seconds() if t.duration is not None else 0.0
        rows.append({"model": model, "outcome": kind, "trials": 1, "seconds": seconds})
    frame = pd.DataFrame(rows, columns=["model", "outcome", "trials", "seconds"])
    if frame.empty:
        return frame
    order = list(dict.fromkeys(frame["model"]))
    grouped = frame.groupby(["model", "outcome"], sort=False, as_index=False).sum()
    grouped["model"] = pd.Categorical(grouped["model"], categories=order, ordered=True)
    grouped["outcome"] = pd.Categorical(grouped["outcome"], categories=OUTCOMES, ordered=True)
    return grouped.sort_values(["model", "outcome"]).reset_index(drop=True)


def budget_spread_figure(spread: pd.DataFrame) -> go.Figure:
    """Stacked bars: trials per model family, coloured by how they ended."""
    fig = go.Figure()
    for kind in OUTCOMES:
        part = spread[spread["outcome"] == kind]
        if part.empty:
            continue
        fig.add_bar(
            x=part["model"].astype(str),
            y=part["trials"],
            name=kind,
            marker_color=_COLOURS[kind],
            customdata=part["seconds"],
            hovertemplate="%{x}: %{y} trials, %{customdata:.0f} s<extra>" + kind + "</extra>",
        )
    return layout(
        fig, "How the budget was spread", x="model family", y="trials", height=STANDARD,
        barmode="stack",
    )  # fmt: skip
