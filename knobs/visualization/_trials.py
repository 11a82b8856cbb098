"""The trials table: one row per trial, every state, numbers kept as numbers so columns sort."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from knobs.errors import ConfigError
from knobs.metrics import direction as as_direction
from knobs.study import cut_by_time, is_scored, model_params
from knobs.study.keys import BASELINE, FAIL_REASON, INTERRUPTED, PRUNED, RETRY_OF

DEFAULTS_TEXT = "(library defaults)"
#: How a state reads in the table where Optuna's name says little ("waiting": queued, not run).
_STATE_WORDS = {TrialState.WAITING: "queued"}
#: A trial the time budget stopped, wherever trials are named by outcome.
TIME_CUT_WORD = "cut by time"
TRIAL_TABLE_COLUMNS = (
    "trial", "state", "score", "model", "parameters", "duration_s", "defaults", "note",
)  # fmt: skip


def params_text(params: dict[str, Any]) -> str:
    """``C=0.3162, class_weight=balanced``: a trial's parameters in one cell."""

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in params.items()) or DEFAULTS_TEXT


def pruned_note(t: FrozenTrial) -> str:
    """Where a pruned trial stopped and what that saved (a trial cut by the time budget saved
    nothing: its folds were wanted)."""
    info = PRUNED.get(t)
    if t.state != TrialState.PRUNED or not info:
        return ""
    where = (
        f"after fold {info['after_fold']} of {info['folds']}"
        if info["after_fold"]
        else "before its first fold"
    )
    if cut_by_time(t):
        return f"stopped by the time budget {where}: its folds could not end in time"
    return f"pruned {where}, saving ~{info['saved_s']:.1f} s"


def state_word(t: FrozenTrial) -> str:
    """How a trial's state reads: Optuna's, but a trial the time budget cut is not "pruned",
    a killed one is "interrupted", not "fail", and a queued one is not "waiting"."""
    if cut_by_time(t):
        return TIME_CUT_WORD
    if t.state == TrialState.FAIL and INTERRUPTED.get(t):
        return "interrupted"
    return _STATE_WORDS.get(t.state, t.state.name.lower())


def queued_note(t: FrozenTrial) -> str:
    """Why a queued trial is there, and when it runs: a finished study listed two "queued"
    trials beside "6 trials done", retries re-queued for a resume after the time cut
    interrupted them."""
    if t.state != TrialState.WAITING:
        return ""
    if RETRY_OF.get(t) is None:  # "Finished: 50 of 50 trials done" beside a bare "queued" row
        return ("queued (a starting point, or settings asked for), not run: it runs when a "
                "worker is free, or when the search is resumed")
    return (f"retry of trial {RETRY_OF.get(t)}, which was interrupted: it runs when a worker is "
            "free, or when the search is resumed")


def trials_table(trials: Sequence[FrozenTrial]) -> pd.DataFrame:
    """One row per trial, every state, ready to show: the scores numeric so columns sort."""
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        model, params = model_params(t)
        baseline = bool(BASELINE.get(t))
        rows.append(
            {
                "trial": t.number,
                "state": state_word(t),
                "score": float(t.value) if is_scored(t) else None,
                "model": model or "",
                "parameters": DEFAULTS_TEXT if baseline else params_text(params),
                "duration_s": t.duration.total_seconds() if t.duration is not None else None,
                "defaults": baseline,
                "note": FAIL_REASON.get(t) or pruned_note(t) or queued_note(t),
            }
        )
    frame = pd.DataFrame(rows, columns=list(TRIAL_TABLE_COLUMNS))
    return frame.astype({"score": "float64", "duration_s": "float64"})


#: Rows the trials table shows at once: a 10,000-row table costs the browser seconds to draw.
TRIALS_PAGE_ROWS = 500
#: How a paged table can be ordered, by the word a page or a flag uses.
TRIAL_ORDERS = ("best", "newest", "number")


@dataclass(frozen=True)
class TrialsPage:
    """One page of the trials table, and where it sits in the whole."""

    frame: pd.DataFrame
    page: int  # 1-based, clamped to the pages there are
    pages: int
    first: int  # 1-based number of the page's first row (0 when the table is empty)
    last: int
    total: int


def _ordered(trials: Sequence[FrozenTrial], order: str, direction: str) -> list[FrozenTrial]:
    by_number = sorted(trials, key=lambda t: t.number)
    if order == "number":
        return by_number
    if order == "newest":
        return by_number[::-1]
    if order == "best":
        d = as_direction(direction)
        scored = sorted((t for t in by_number if is_scored(t)), key=lambda t: d.loss(t.value))
        return scored + [t for t in by_number if not is_scored(t)]
    raise ConfigError(f"Table order must be one of {list(TRIAL_ORDERS)}, but got {order!r}.")


def trials_page(
    trials: Sequence[FrozenTrial],
    *,
    page: int = 1,
    size: int = TRIALS_PAGE_ROWS,
    order: str = "number",
    direction: str = "maximize",
) -> TrialsPage:
    """Page ``page`` (1-based, clamped) of ``size`` rows of the trials table, in ``order``:
    ``best`` (scored trials best first, then the others by number), ``newest`` or ``number``.
    Only the page's rows are built."""
    if size < 1:
        raise ConfigError(f"A table page holds at least 1 row, but got size={size}.")
    rows = _ordered(trials, order, direction)
    pages = max(1, -(-len(rows) // size))
    page = min(max(1, int(page)), pages)
    start = (page - 1) * size
    part = rows[start : start + size]
    frame = trials_table(part)
    if order != "number":  # trials_table sorts by number: put the page back in its order
        position = {t.number: i for i, t in enumerate(part)}
        frame = frame.sort_values("trial", key=lambda s: s.map(position)).reset_index(drop=True)
    first = start + 1 if part else 0
    return TrialsPage(frame, page, pages, first, start + len(part), len(rows))
