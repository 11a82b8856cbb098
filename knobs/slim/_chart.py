"""The curves as plain data for a chart (the page draws it; tests check this)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def curve_data(report: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """One curve of a slim report, smallest size first: sizes, scores, the fold-noise band
    (score ± its fold noise), which points are within noise of the best, the best and the
    suggested size. ``kind`` is ``"columns"`` or ``"trees"``; None when the report has none."""
    curve = report.get("feature_curve" if kind == "columns" else "tree_curve")
    if not curve:
        return None
    points = sorted(curve["points"], key=lambda p: p["size"])
    noise = [p["noise"] or 0.0 for p in points]
    return {
        "kind": kind,
        "sizes": [p["size"] for p in points],
        "scores": [p["score"] for p in points],
        "low": [p["score"] - n for p, n in zip(points, noise, strict=True)],
        "high": [p["score"] + n for p, n in zip(points, noise, strict=True)],
        "within_noise": [bool(p["within_noise"]) for p in points],
        "best": curve["best"],
        "suggested": curve["suggested"],
        "metric": report.get("metric"),
        "x_label": "columns kept" if kind == "columns" else "trees kept",
    }
