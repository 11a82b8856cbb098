"""The Ensemble page's charts: plain data from a pool or a report, then thin plotly figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

_ACCENT = "#3366cc"
_BEST = "#e4572e"
_MEMBER = "#9aa5b1"


def correlation_figure(corr: pd.DataFrame) -> go.Figure:
    """Heatmap of the candidates' out-of-fold correlation: dark = they err alike."""
    fig = go.Figure(
        go.Heatmap(
            z=corr.to_numpy(), x=list(corr.columns), y=list(corr.index), zmin=-1, zmax=1,
            colorscale="RdBu_r", text=corr.round(2).to_numpy(), texttemplate="%{text}",
            hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        title="Correlation of out-of-fold predictions", height=120 + 40 * len(corr),
        margin={"l": 10, "r": 10, "t": 40, "b": 10}, yaxis={"autorange": "reversed"},
    )  # fmt: skip
    return fig


def comparison_data(report: Mapping[str, Any]) -> pd.DataFrame:
    """One row per bar: every member's CV score, the best single model and the ensemble, with
    test scores for the two that have one (members are not refitted one by one)."""
    rows = []
    best = report["best_single"]
    for m in report["members"]:
        is_best = (m["study"], m["trial"]) == (best["study"], best["trial"])
        rows.append(
            {
                "name": f"{m['model']} #{m['trial']}",
                "role": "best single" if is_best else "member",
                "cv": m.get("cv_score"),
                "test": report.get("best_single_test_score") if is_best else None,
            }
        )
    if not any(r["role"] == "best single" for r in rows):
        rows.append(
            {
                "name": f"{best['model']} #{best['trial']}",
                "role": "best single",
                "cv": report["best_single_cv_score"],
                "test": report.get("best_single_test_score"),
            }
        )
    rows.append(
        {
            "name": f"{report['kind']} ensemble",
            "role": "ensemble",
            "cv": report["cv_score"],
            "test": report.get("test_score"),
        }
    )
    return pd.DataFrame(rows, columns=["name", "role", "cv", "test"])


def comparison_figure(data: pd.DataFrame, metric: str) -> go.Figure:
    """Grouped bars (CV and test) of members, best single model and ensemble."""
    colors = {"member": _MEMBER, "best single": _BEST, "ensemble": _ACCENT}
    fig = go.Figure()
    fig.add_bar(
        name="CV", x=data["name"], y=data["cv"],
        marker_color=[colors[r] for r in data["role"]], text=data["cv"].round(4),
    )  # fmt: skip
    test = data.dropna(subset=["test"])
    fig.add_bar(
        name="test", x=test["name"], y=test["test"], marker_color=[colors[r] for r in test["role"]],
        marker_pattern_shape="/", text=test["test"].round(4),
    )  # fmt: skip
    values = pd.concat([data["cv"], test["test"]]).dropna()
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    pad = max(1e-3, (high - low) * 0.5)
    fig.update_layout(
        title=f"Ensemble vs members ({metric}; hatched = test split)", barmode="group",
        yaxis={"range": [low - pad, high + pad], "title": metric}, height=380,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )  # fmt: skip
    return fig
