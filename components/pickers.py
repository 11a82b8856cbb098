"""The study picker, one for every page that lets the user choose a study."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from knobs.formatting import fmt_score
from knobs.strategies import strategy_label

from . import state


def study_label(row: dict[str, Any]) -> str:
    """How a study reads in a picker: its name, strategy, best score and size (plus its state and
    creation time when the row has them)."""
    strategy = strategy_label(row.get("strategy"), row.get("sampler")) or "?"
    parts = [row["study"], strategy, f"best {fmt_score(row.get('best_value'))}"]
    parts.append(f"{row.get('n_trials', 0)} trials")
    if row.get("state"):
        parts.append(str(row["state"]))
    if row.get("created"):
        parts.append(row["created"].strftime("%Y-%m-%d %H:%M"))
    return " · ".join(parts)


def study_picker(rows: Sequence[dict[str, Any]], *, key: str) -> dict[str, Any]:
    """A select box over ``rows`` (from ``knobs.studies()``), on the tab's current study when it
    is among them; returns the chosen row."""
    by_name = {r["study"]: r for r in rows}
    names = list(by_name)
    current = state.study()
    picked = st.selectbox(
        "Study",
        names,
        index=names.index(current) if current in names else 0,
        format_func=lambda n: study_label(by_name[n]),
        key=key,
    )
    return by_name[picked]
