"""A study's trial budget, counted one way everywhere.

The budget is the number of trials to evaluate, defaults trials included. A trial counts once a
worker claims it, unless it was interrupted (its worker was killed, or the user pressed stop):
interrupted trials are failed with a reason and queued again, so no budget is lost to a crash.
Workers count under the claim lock; readers (status, reports) count the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from optuna.trial import FrozenTrial, TrialState

from knobs.study.keys import BUDGET, INTERRUPTED

if TYPE_CHECKING:
    from knobs.study._plan import StudyPlan

_FROM_CONFIG: Any = object()


def planned_budget(plan: StudyPlan, n_trials: int | None = _FROM_CONFIG) -> int | None:
    """Trials to evaluate for ``n_trials`` (default: the plan's); a grid is never walked twice.

    ``None`` means "until the timeout".
    """
    n = plan.config.n_trials if n_trials is _FROM_CONFIG else n_trials
    if plan.config.strategy == "grid":
        full = plan.grid_size() + len(plan.models)
        return full if n is None else min(n, full)
    return n


def study_budget(study: Any, plan: StudyPlan) -> int | None:
    """The budget in force: the one stored on the study (a resume may change it), else the plan's."""
    return BUDGET.get(study, planned_budget(plan))


def counts_toward_budget(t: FrozenTrial) -> bool:
    if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
        return True
    return t.state == TrialState.FAIL and not INTERRUPTED.get(t)


def spent(trials: Iterable[FrozenTrial]) -> int:
    """Trials claimed against the budget, running ones included (what a worker must not exceed)."""
    return sum(map(counts_toward_budget, trials))


def finished(trials: Iterable[FrozenTrial]) -> int:
    """Trials that count toward the budget and have ended (what progress shows)."""
    return sum(1 for t in trials if t.state.is_finished() and counts_toward_budget(t))


def is_scored(t: FrozenTrial) -> bool:
    """A complete trial with a finite score: the only kind that can be best or plotted as a score."""
    return t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)
