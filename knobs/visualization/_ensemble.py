"""The Ensemble page's charts: plain data from a pool or a report, then thin plotly figures.

The correlation heatmap's data step is ``knobs.ensembles.correlation`` (a pool's out-of-fold
predictions); the comparison's is ``ensemble_comparison_data`` here, over a report's plain dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from knobs.formatting import fmt_score

from ._style import ACCENT, DEFAULTS, MEMBER, STANDARD, layout

#: Bar colours by role: the ensemble in the accent, the best single model as the one to beat.
ROLE_COLOURS = {"member": MEMBER, "best single": DEFAULTS, "ensemble": ACCENT}


def correlation_figure(corr: pd.DataFrame) -> go.Figure:
    """Heatmap of the candidates' out-of-fold correlation: dark = they err alike."""
    fig = go.Figure(
        go.Heatmap(
            z=corr.to_numpy(), x=list(corr.columns), y=list(corr.index), zmin=-1, zmax=1,
            colorscale="RdBu_r", text=corr.round(2).to_numpy(), texttemplate="%{text}",
            hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>",
        )
    )  # fmt: skip
    return layout(
        fig,
        "Correlation of out-of-fold predictions",
        height=120 + 40 * len(corr),
        margin={"t": 40},
        yaxis={"autorange": "reversed"},
    )


def _bar(name: str, role: str, cv: float | None, test: float | None) -> dict[str, Any]:
    return {"name": name, "role": role, "cv": cv, "test": test}


def ensemble_comparison_data(report: Mapping[str, Any]) -> pd.DataFrame:
    """One row per bar: every member's CV score, the best single model and the ensemble, with
    test scores for the two that have one (members are not refitted one by one)."""
    best = report["best_single"]
    best_test = report.get("best_single_test_score")
    rows = []
    for m in report["members"]:
        is_best = (m["study"], m["trial"]) == (best["study"], best["trial"])
        rows.append(
            _bar(
                f"{m['model']} #{m['trial']}",
                "best single" if is_best else "member",
                m.get("cv_score"),
                best_test if is_best else None,
            )
        )
    if not any(r["role"] == "best single" for r in rows):
        name = f"{best['model']} #{best['trial']}"
        rows.append(_bar(name, "best single", report["best_single_cv_score"], best_test))
    rows.append(
        _bar(f"{report['kind']} ensemble", "ensemble", report["cv_score"], report.get("test_score"))
    )
    return pd.DataFrame(rows, columns=["name", "role", "cv", "test"])


def ensemble_comparison_figure(data: pd.DataFrame, metric: str) -> go.Figure:
    """Grouped bars (CV and test) of members, best single model and ensemble."""
    fig = go.Figure()
    fig.add_bar(
        name="CV", x=data["name"], y=data["cv"],
        marker_color=[ROLE_COLOURS[r] for r in data["role"]],
        text=[fmt_score(v) for v in data["cv"]],
    )  # fmt: skip
    test = data.dropna(subset=["test"])
    fig.add_bar(
        name="test", x=test["name"], y=test["test"],
        marker_color=[ROLE_COLOURS[r] for r in test["role"]], marker_pattern_shape="/",
        text=[fmt_score(v) for v in test["test"]],
    )  # fmt: skip
    values = pd.concat([data["cv"], test["test"]]).dropna()
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    pad = max(1e-3, (high - low) * 0.5)
    return layout(
        fig,
        f"Ensemble vs members ({metric}; hatched = test split)",
        y=metric,
        height=STANDARD,
        margin={"t": 40},
        barmode="group",
        yaxis_range=[low - pad, high + pad],
    )
