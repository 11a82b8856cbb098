"""Charts of a model's explanation (``knobs.explain``): pure data first, then thin figures.

Every function reads the stored explanation (a plain dict, as ``knobs.explain.load`` returns
it), so pages draw without computing anything and tests check the data without a browser.
``output`` picks the class whose margin a multiclass model's SHAP values explain (0 otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from knobs.formatting import fmt_score
from knobs.metrics import metric_label
from knobs.visualization._style import ACCENT, DEFAULTS, MUTED, STANDARD, TALL, layout

Explanation = Mapping[str, Any]

#: Columns a SHAP chart shows at most; the rest are summed into one bar or left out.
TOP_COLUMNS = 15
#: Contributions one row's chart lists before the rest are summed.
ROW_COLUMNS = 12


# --- data ----------------------------------------------------------------------------------------


def importance_rows(result: Explanation, top: int | None = None) -> list[dict[str, Any]]:
    """``[{column, mean, std}]``, most important first (the score lost when shuffled)."""
    rows = [
        {"column": c["column"], "mean": c["mean"], "std": c["std"]}
        for c in result["importance"]["columns"]
    ]
    return rows[:top] if top else rows


def top_importances(result: Explanation, n: int = 5) -> list[dict[str, Any]]:
    """The ``n`` columns the model leans on most, for the model card (positive drops only)."""
    return [r for r in importance_rows(result, n) if r["mean"] > 0]


def _shap(result: Explanation) -> Mapping[str, Any]:
    shap = result.get("shap")
    if not shap:
        raise ValueError("This explanation has no SHAP values (only XGBoost models have them).")
    return shap


def _check_output(shap: Mapping[str, Any], output: int) -> None:
    if not 0 <= output < len(shap["values"]):
        raise ValueError(f"`output` must be 0 to {len(shap['values']) - 1}, but got {output}.")


def shap_bar_rows(
    result: Explanation, output: int = 0, top: int = TOP_COLUMNS
) -> list[dict[str, Any]]:
    """``[{column, mean_abs}]``: the mean |SHAP value| per column, largest first."""
    shap = _shap(result)
    _check_output(shap, output)
    pairs = sorted(zip(shap["columns"], shap["mean_abs"][output], strict=True),
                   key=lambda p: -p[1])  # fmt: skip
    return [{"column": c, "mean_abs": float(v)} for c, v in pairs[:top]]


def beeswarm_points(result: Explanation, output: int = 0, top: int = TOP_COLUMNS) -> dict[str, Any]:
    """One point per (row, column) for the ``top`` columns: x the SHAP value, y the column's
    position (most important at the top) plus a small fixed jitter, colour the value's rank.

    ``{"columns": [...] (bottom to top), "x", "y", "color", "text", "row"}``; ``color`` is None
    for categories and text, which have no order.
    """
    shap = _shap(result)
    _check_output(shap, output)
    order = [r["column"] for r in shap_bar_rows(result, output, top)][::-1]
    index = {c: j for j, c in enumerate(shap["columns"])}
    values = np.asarray(shap["values"][output], dtype=float)
    n = values.shape[0]
    jitter = (np.random.default_rng(0).random(n) - 0.5) * 0.6
    out: dict[str, Any] = {"columns": order, "x": [], "y": [], "color": [], "text": [], "row": []}
    for pos, column in enumerate(order):
        j = index[column]
        out["x"] += values[:, j].tolist()
        out["y"] += (pos + jitter).tolist()
        out["color"] += [row[j] for row in shap["color"]]
        out["text"] += [f"{column} = {row[j] or '(missing)'}" for row in shap["shown"]]
        out["row"] += shap["row_ids"]
    return out


def row_choices(result: Explanation) -> list[tuple[int, str]]:
    """``(position, label)`` for each explained row: its test-split row, actual and predicted."""
    shap = _shap(result)
    return [
        (i, f"test row {rid}: actual {actual}, predicted {pred}")
        for i, (rid, actual, pred) in enumerate(
            zip(shap["row_ids"], shap["actual"], shap["predicted"], strict=True)
        )
    ]


def row_contributions(
    result: Explanation, position: int, output: int = 0, top: int = ROW_COLUMNS
) -> dict[str, Any]:
    """One row's explanation: the base value, each column's push (largest first, the rest
    summed), and the margin they add up to.

    ``{"row", "base", "margin", "actual", "predicted", "items": [{column, value, contribution}]}``.
    """
    shap = _shap(result)
    _check_output(shap, output)
    if not 0 <= position < shap["rows"]:
        raise ValueError(f"`position` must be 0 to {shap['rows'] - 1}, but got {position}.")
    contribs = [float(v) for v in shap["values"][output][position]]
    shown = shap["shown"][position]
    ranked = sorted(range(len(contribs)), key=lambda j: -abs(contribs[j]))
    items = [
        {"column": shap["columns"][j], "value": shown[j], "contribution": contribs[j]}
        for j in ranked[:top]
    ]
    rest = ranked[top:]
    if rest:
        items.append({"column": f"{len(rest)} other columns", "value": "",
                      "contribution": float(sum(contribs[j] for j in rest))})  # fmt: skip
    base = float(shap["base"][output])
    return {
        "row": shap["row_ids"][position],
        "base": base,
        "margin": base + float(sum(contribs)),
        "actual": shap["actual"][position],
        "predicted": shap["predicted"][position],
        "items": items,
    }


def _margin_words(result: Explanation, output: int) -> str:
    shap = _shap(result)
    if result.get("task") == "regression":
        return "prediction"
    words = shap.get("output", "log-odds")  # explanations stored before forests had SHAP
    if shap.get("classes"):
        return f"{words} of class `{shap['classes'][output]}`"
    return words


# --- figures -------------------------------------------------------------------------------------


def importance_figure(result: Explanation, top: int = 20) -> go.Figure:
    """Horizontal bars of the score lost per column, with the repeats' spread as error bars."""
    rows = importance_rows(result, top)[::-1]
    imp = result["importance"]
    fig = go.Figure(go.Bar(
        x=[r["mean"] for r in rows], y=[r["column"] for r in rows], orientation="h",
        error_x={"type": "data", "array": [r["std"] for r in rows], "visible": True},
        marker_color=[ACCENT if r["mean"] > 0 else MUTED for r in rows],
        hovertemplate="%{y}: %{x:.4g} ± %{error_x.array:.2g}<extra></extra>",
    ))  # fmt: skip
    metric = metric_label(result["metric"])
    return layout(
        fig,
        f"Permutation importance ({imp['repeats']} repeats on {imp['rows']:,} test rows)",
        x=f"{metric} lost when the column is shuffled",
        height=max(STANDARD, 28 * len(rows) + 100),
    )


def shap_bar_figure(result: Explanation, output: int = 0, top: int = TOP_COLUMNS) -> go.Figure:
    rows = shap_bar_rows(result, output, top)[::-1]
    fig = go.Figure(go.Bar(
        x=[r["mean_abs"] for r in rows], y=[r["column"] for r in rows], orientation="h",
        marker_color=ACCENT, hovertemplate="%{y}: %{x:.4g}<extra></extra>",
    ))  # fmt: skip
    return layout(
        fig, f"Mean |SHAP value| ({_shap(result)['rows']:,} rows)",
        x=f"mean |effect| on the {_margin_words(result, output)}",
        height=max(STANDARD, 28 * len(rows) + 100),
    )  # fmt: skip


def beeswarm_figure(result: Explanation, output: int = 0, top: int = TOP_COLUMNS) -> go.Figure:
    """Each row is a dot per column: where it pushes the margin, coloured by the value's rank
    (blue low, red high; grey for categories and text)."""
    pts = beeswarm_points(result, output, top)
    ranked = [i for i, c in enumerate(pts["color"]) if c is not None]
    plain = [i for i, c in enumerate(pts["color"]) if c is None]
    fig = go.Figure()
    for idx, coloured in ((plain, False), (ranked, True)):
        if not idx:
            continue
        marker: dict[str, Any] = {"size": 5, "opacity": 0.7}
        if coloured:
            marker.update(color=[pts["color"][i] for i in idx], colorscale="RdBu_r", cmin=0,
                          cmax=1, colorbar={"title": "value rank", "tickvals": [0, 1],
                                            "ticktext": ["low", "high"]})  # fmt: skip
        else:
            marker.update(color=MUTED)
        fig.add_trace(go.Scattergl(
            x=[pts["x"][i] for i in idx], y=[pts["y"][i] for i in idx], mode="markers",
            marker=marker, text=[pts["text"][i] for i in idx],
            customdata=[pts["row"][i] for i in idx], showlegend=False,
            hovertemplate="%{text}<br>SHAP %{x:.4g}<br>test row %{customdata}<extra></extra>",
        ))  # fmt: skip
    fig.add_vline(x=0, line_color=MUTED)
    fig.update_yaxes(tickvals=list(range(len(pts["columns"]))), ticktext=pts["columns"])
    return layout(
        fig, "SHAP values per row (beeswarm)",
        x=f"effect on the {_margin_words(result, output)}",
        height=max(TALL, 30 * len(pts["columns"]) + 100),
    )  # fmt: skip


def row_figure(result: Explanation, position: int, output: int = 0) -> go.Figure:
    """One row as a waterfall: from the base value, each column's push, to the row's margin."""
    data = row_contributions(result, position, output)
    items = data["items"][::-1]
    fig = go.Figure(go.Waterfall(
        orientation="h", base=data["base"],
        y=[f"{i['column']} = {i['value']}" if i["value"] else i["column"] for i in items],
        x=[i["contribution"] for i in items], measure=["relative"] * len(items),
        increasing={"marker": {"color": DEFAULTS}}, decreasing={"marker": {"color": ACCENT}},
        hovertemplate="%{y}: %{x:+.4g}<extra></extra>",
    ))  # fmt: skip
    words = _margin_words(result, output)
    return layout(
        fig,
        f"Test row {data['row']}: {words} {fmt_score(data['margin'], 3)} from a base of "
        f"{fmt_score(data['base'], 3)}",
        x=words,
        height=max(STANDARD, 30 * len(items) + 100),
    )
