"""The trials table: one row per trial, every state, numbers kept as numbers so columns sort."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from knobs.study import is_scored, model_params
from knobs.study.keys import BASELINE, FAIL_REASON, INTERRUPTED, PRUNED

DEFAULTS_TEXT = "(library defaults)"
TRIAL_TABLE_COLUMNS = (
    "trial", "state", "score", "model", "parameters", "duration_s", "defaults", "note",
)  # fmt: skip


def params_text(params: dict[str, Any]) -> str:
    """``C=0.3162, class_weight=balanced``: a trial's parameters in one cell."""

    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in params.items()) or DEFAULTS_TEXT


def _pruned_note(t: FrozenTrial) -> str:
    """Where a pruned trial stopped and what that saved (a trial cut by the time budget saved
    nothing: its folds were wanted)."""
    info = PRUNED.get(t)
    if t.state != TrialState.PRUNED or not info:
        return ""
    where = f"after fold {info['after_fold']} of {info['folds']}"
    if info.get("reason") == "time budget":
        return f"stopped by the time budget {where}"
    return f"pruned {where}, saving ~{info['saved_s']:.1f} s"


def trials_table(trials: Sequence[FrozenTrial]) -> pd.DataFrame:
    """One row per trial, every state, ready to show: the scores numeric so columns sort."""
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        model, params = model_params(t)
        baseline = bool(BASELINE.get(t))
        interrupted = t.state == TrialState.FAIL and INTERRUPTED.get(t)
        rows.append(
            {
                "trial": t.number,
                "state": "interrupted" if interrupted else t.state.name.lower(),
                "score": float(t.value) if is_scored(t) else None,
                "model": model or "",
                "parameters": DEFAULTS_TEXT if baseline else params_text(params),
                "duration_s": t.duration.total_seconds() if t.duration is not None else None,
                "defaults": baseline,
                "note": FAIL_REASON.get(t) or _pruned_note(t),
            }
        )
    frame = pd.DataFrame(rows, columns=list(TRIAL_TABLE_COLUMNS))
    return frame.astype({"score": "float64", "duration_s": "float64"})
