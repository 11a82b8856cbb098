"""Form pieces: the choices the widgets offer, and the search-space editor.

The conversions between an editable table and :class:`knobs.Param` objects are plain functions
(tested without a browser); :func:`space_editor` is the Streamlit wrapper around them. A bad edit
never reaches the core silently: ``Param`` validates itself and its ``ConfigError`` is shown under
the editor, with the registry's space kept in force until the edit is fixed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from knobs import strategies
from knobs.data import Dataset
from knobs.errors import ConfigError
from knobs.models import REGISTRY, ModelSpec, Param, model_names

from . import state


def strategy_help() -> str:
    """The Strategy widget's help: one sentence per offered strategy, from the registry."""
    return " ".join(f"**{s.label}** {s.help}" for s in strategies.offered())


TASK_LABELS = {
    "binary": "binary classification",
    "multiclass": "multiclass classification",
    "regression": "regression",
}

#: Names that say "the column to predict" on any table. Domain words (churn, price, rating) do
#: not belong here: on a reviews table a `price` feature beat the `rating` in its last column.
_TARGET_NAMES = ("target", "label", "labels", "class", "y", "outcome")


def guess_target(columns: Sequence[str]) -> str | None:
    """A first choice for the target: a column with a generic target name (``_TARGET_NAMES``,
    in that order), else the last column, where tables usually keep it (both bundled samples
    do)."""
    lowered = {str(c).strip().lower(): c for c in columns}
    for name in _TARGET_NAMES:
        if name in lowered:
            return lowered[name]
    return columns[-1] if columns else None


#: The Test split box's value for the random, stratified split.
RANDOM_SPLIT = "random"


def time_split(ds: Dataset, *, key: str = state.W_TIME_SPLIT, disabled: bool = False) -> str | None:
    """The Test split box, offered when the table has a date column: random (stratified), or the
    latest rows by a date column (``SearchConfig.time_column``); its date column or None."""
    dated = [c.name for c in ds.columns if c.kind == "datetime" and c.used]
    if not dated:
        return None
    chosen = st.selectbox(
        "Test split",
        [RANDOM_SPLIT, *dated],
        format_func=lambda v: "Random, stratified" if v == RANDOM_SPLIT else f"Latest rows by `{v}`",
        key=key,
        disabled=disabled,
        help="By a date column: the latest rows are the test split and the folds are "
        "consecutive periods, so a model that will predict later dates is scored as it will be "
        "used. Random: rows drawn at random, as for rows with no order in time.",
    )
    return None if disabled or chosen == RANDOM_SPLIT else chosen


def model_label(name: str) -> str:
    spec = REGISTRY[name]
    return f"{spec.label} ({name})"


def default_models(task: str) -> list[str]:
    """A quick, strong pair to start with: a linear model as a sanity check and a forest."""
    linear = "logistic" if task != "regression" else "linear"
    return [m for m in (linear, "random_forest") if m in model_names(task)]


# --- the space editor: Param <-> editable rows ------------------------------------------------

SPACE_COLUMNS = ["parameter", "type", "low", "high", "log scale", "choices", "grid values"]


def _fmt_value(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _fmt_list(values: Sequence[Any]) -> str:
    return ", ".join(_fmt_value(v) for v in values)


def parse_value(text: str) -> Any:
    """``"None"`` -> None, ``"true"`` -> True, ``"3"`` -> 3, ``"0.1"`` -> 0.1, else the text."""
    t = text.strip()
    if t.lower() in ("none", "null"):
        return None
    if t.lower() in ("true", "false"):
        return t.lower() == "true"
    if re.fullmatch(r"[-+]?\d+", t):
        return int(t)
    try:
        value = float(t)
    except ValueError:
        return t.strip("'\"")
    return value if math.isfinite(value) else t


def parse_list(text: Any) -> tuple[Any, ...]:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ()
    return tuple(parse_value(p) for p in str(text).split(",") if p.strip())


def space_rows(params: Sequence[Param]) -> pd.DataFrame:
    """The editable table of a model's space: one row per parameter."""
    rows = [
        {
            "parameter": p.name,
            "type": p.kind,
            "low": None if p.low is None else float(p.low),
            "high": None if p.high is None else float(p.high),
            "log scale": bool(p.log),
            "choices": _fmt_list(p.choices) if p.kind == "categorical" else "",
            "grid values": _fmt_list(p.grid),
        }
        for p in params
    ]
    return pd.DataFrame(rows, columns=SPACE_COLUMNS).astype({"low": "float64", "high": "float64"})


def _number(value: Any) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def params_from_rows(rows: pd.DataFrame, base: Sequence[Param]) -> tuple[Param, ...]:
    """Build ``Param`` objects from edited rows; raises the first ``ConfigError`` met.

    Names and types come from ``base`` (the registry), never from the table, so an edit cannot
    invent a parameter the model does not have.
    """
    out: list[Param] = []
    for p, (_, row) in zip(base, rows.iterrows(), strict=True):
        grid = parse_list(row["grid values"])
        if p.kind == "categorical":
            choices = parse_list(row["choices"])
            out.append(Param(p.name, "categorical", choices=choices, grid=grid))
            continue
        low, high = _number(row["low"]), _number(row["high"])
        if p.kind == "int":
            bad = [v for v in (low, high, *grid) if isinstance(v, float) and not v.is_integer()]
            if bad or any(isinstance(v, str) for v in grid):
                raise ConfigError(
                    f"Parameter `{p.name}` takes whole numbers, but got {bad or list(grid)}."
                )
            low = None if low is None else int(low)
            high = None if high is None else int(high)
            grid = tuple(int(v) for v in grid)
        elif any(isinstance(v, str) or v is None for v in grid):
            raise ConfigError(f"Parameter `{p.name}` takes numbers, but its grid is {list(grid)}.")
        out.append(Param(p.name, p.kind, low=low, high=high, log=bool(row["log scale"]), grid=grid))
    return tuple(out)


def grid_total(specs: Sequence[ModelSpec]) -> int:
    """Trials a full grid search runs: every grid point plus one defaults trial per model."""
    return sum(s.grid_size() for s in specs) + len(specs)


def space_editor(spec: ModelSpec) -> ModelSpec:
    """Show ``spec``'s space as an editable table; returns the spec with valid edits applied."""
    base = REGISTRY[spec.name].params
    key = state.W_SPACE_PREFIX + spec.name
    numeric = st.column_config.NumberColumn
    edited = st.data_editor(
        space_rows(base),
        key=key,
        hide_index=True,
        num_rows="fixed",
        disabled=["parameter", "type"],
        column_config={
            "parameter": st.column_config.TextColumn("parameter", width="medium"),
            "type": st.column_config.TextColumn("type", width="small"),
            "low": numeric(
                "low", help="Smallest value samplers may try (numbers only).", format="%g"
            ),
            "high": numeric("high", help="Largest value samplers may try.", format="%g"),
            "log scale": st.column_config.CheckboxColumn(
                "log scale", help="Sample evenly in orders of magnitude (needs low > 0)."
            ),
            "choices": st.column_config.TextColumn(
                "choices", help="Comma-separated options (categorical parameters only)."
            ),
            "grid values": st.column_config.TextColumn(
                "grid values",
                help="Comma-separated values a grid search tries; empty keeps the library "
                "default under grid search.",
            ),
        },
    )
    try:
        params = params_from_rows(edited, base)
    except ConfigError as exc:
        st.error(f"{exc} The model's default space is used until this is fixed.")
        state.set_space(spec.name, None)
        return REGISTRY[spec.name]
    changed = tuple(params) != tuple(base)
    state.set_space(spec.name, params if changed else None)
    try:
        return REGISTRY[spec.name].with_params(params)
    except ConfigError as exc:  # pragma: no cover - names come from the registry
        st.error(str(exc))
        return REGISTRY[spec.name]
