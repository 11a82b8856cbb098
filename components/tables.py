"""Tables the pages show: the column summary, the trials and the studies list.

Each is a plain DataFrame builder (numbers stay numbers, so clicking a header sorts them) and a
``st.dataframe`` call with column formats, so every page shows the same columns the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st
from optuna.trial import FrozenTrial

from knobs import visualization as V
from knobs.data import ColumnProfile
from knobs.metrics import metric_label
from knobs.strategies import strategy_label

from . import charts, state

FLAG_WORDS = {
    "target": "target",
    "constant": "constant",
    "all_missing": "all missing",
    "id_like": "ID-like",
    "high_cardinality": "many categories",
    "possible_leak": "possible leak",
    "mixed_types": "mixed types",
    "has_inf": "infinite values",
    "few_rows_per_category": "few rows per category",
}


def profile_frame(profiles: Sequence[ColumnProfile]) -> pd.DataFrame:
    rows = [
        {
            "column": p.name,
            "kind": p.kind,
            "missing %": round(p.missing_pct, 1),
            "unique": p.n_unique,
            "flags": ", ".join(FLAG_WORDS.get(f, f) for f in p.flags),
            "used": p.used,
            "why not used": p.reason,
        }
        for p in profiles
    ]
    return pd.DataFrame(
        rows, columns=["column", "kind", "missing %", "unique", "flags", "used", "why not used"]
    )


def show_profile(profiles: Sequence[ColumnProfile]) -> None:
    st.dataframe(
        profile_frame(profiles),
        hide_index=True,
        column_config={
            "missing %": st.column_config.ProgressColumn(
                "missing %", min_value=0, max_value=100, format="%.1f%%"
            ),
            "used": st.column_config.CheckboxColumn("used as feature"),
            # the reason is a sentence: cut to the default width it read "which cannot ge"
            "why not used": st.column_config.TextColumn("why not used", width="large"),
        },
    )


TRIAL_ORDER_WORDS = {"best": "best score first", "newest": "newest first", "number": "trial number"}


def show_trials(
    trials: Sequence[FrozenTrial], direction: str = "maximize", *, key: tuple[Any, ...] = ()
) -> None:
    """The trials table; past ``V.TRIALS_PAGE_ROWS`` rows, one page at a time (a 10,000-row
    table costs the browser seconds), with an order and a page number. With ``key``
    (``charts.study_key``), a page is built once for every session showing it."""
    size = V.TRIALS_PAGE_ROWS
    if len(trials) <= size:
        frame = V.trials_table(trials)
    else:
        left, right, info = st.columns([2, 1, 3], vertical_alignment="bottom")
        order = left.selectbox(
            "Order",
            list(V.TRIAL_ORDERS),
            format_func=TRIAL_ORDER_WORDS.get,
            key=state.W_TRIALS_ORDER,
        )
        pages = -(-len(trials) // size)
        page = right.number_input(
            f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=state.W_TRIALS_PAGE
        )

        def build() -> V.TrialsPage:
            return V.trials_page(trials, page=int(page), size=size, order=order,
                                 direction=direction)  # fmt: skip

        if key:
            part, _ = charts.shared("trials_page", (*key, direction, order, int(page)), build)
            part = part or build()  # a failure is raised here, where the page reports it
        else:
            part = build()
        info.caption(f"Rows {part.first:,}–{part.last:,} of {part.total:,}.")
        frame = part.frame
    st.dataframe(
        frame,
        hide_index=True,
        key=state.W_TRIALS_TABLE,
        column_config={
            "trial": st.column_config.NumberColumn("trial", width="small"),
            "score": st.column_config.NumberColumn("score", format="%.4f"),
            "duration_s": st.column_config.NumberColumn("seconds", format="%.1f"),
            "defaults": st.column_config.CheckboxColumn("defaults", width="small"),
            "parameters": st.column_config.TextColumn("parameters", width="large"),
            "note": st.column_config.TextColumn("note", width="large"),  # a sentence
        },
    )


def studies_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    out = [
        {
            "data": r.get("source") or "(not a Knobs study)",
            "target": r.get("target") or "",
            "strategy": strategy_label(r.get("strategy"), r.get("sampler")),
            "models": ", ".join(r.get("models") or []),
            "metric": metric_label(r.get("metric")),
            "best": r.get("best_value"),
            "trials": r.get("n_trials", 0),
            "state": r.get("state", ""),
            "created": r.get("created"),
            "study": r["study"],
        }
        for r in rows
    ]
    columns = [
        "data",
        "target",
        "strategy",
        "models",
        "metric",
        "best",
        "trials",
        "state",
        "created",
        "study",
    ]
    return pd.DataFrame(out, columns=columns).astype({"best": "float64"})
