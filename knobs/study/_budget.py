"""A study's trial budget and time budget, counted one way everywhere.

The budget is the number of trials to evaluate, defaults trials included. A trial counts once a
worker claims it, unless it was interrupted (its worker was killed, or the user pressed stop):
interrupted trials are failed with a reason and queued again, so no budget is lost to a crash.
Workers count under the claim lock; readers (status, reports) count the same way.

The time budget (``timeout``) is spread over a study's runs the same way: a stopped search that
resumes gets what its earlier runs left (:func:`seconds_used`), not the whole budget again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from optuna.trial import FrozenTrial, TrialState

from knobs.study.keys import BUDGET, CLOCK, INTERRUPTED, PRUNED, STOP

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
    if t.state == TrialState.PRUNED:
        return not never_ran(t)
    if t.state in (TrialState.COMPLETE, TrialState.RUNNING):
        return True
    return t.state == TrialState.FAIL and not INTERRUPTED.get(t)


def spent(trials: Iterable[FrozenTrial]) -> int:
    """Trials claimed against the budget, running ones included (what a worker must not exceed)."""
    return sum(map(counts_toward_budget, trials))


def finished(trials: Iterable[FrozenTrial]) -> int:
    """Trials that count toward the budget and have ended (what progress shows)."""
    return sum(1 for t in trials if t.state.is_finished() and counts_toward_budget(t))


#: Why a trial stopped before its last fold (``PRUNED``'s ``reason``): Optuna stores both as
#: PRUNED, but only the pruner judged the trial; the time budget cut one whose folds were wanted.
BY_PRUNER = "pruner"
BY_TIME = "time budget"


def never_ran(t: FrozenTrial) -> bool:
    """Stopped by the time budget before its first fold: its sampled settings (a 500-tree forest)
    could not end by the cut. It ran nothing, so it takes no place in the trial budget: 20 of a
    50-trial search's trials once went that way in 0.02 s each, and the search ended at 14 s of
    its 18 with "50 of 50 trials done"."""
    record = PRUNED.get(t) or {}
    return (t.state == TrialState.PRUNED and record.get("reason") == BY_TIME
            and not record.get("after_fold"))  # fmt: skip


def time_cut_record(fold_scores: list[float], fit_s: float) -> dict[str, Any]:
    """``PRUNED``'s record of a trial the time budget stopped in the middle of a fold (its
    signal, or its worker killed past the deadline): stored failed and interrupted, so a resume
    runs it again, and counted as cut by time, not as a failure."""
    return {"after_fold": len(fold_scores), "fit_s": fit_s, "saved_s": 0.0,
            "fold_scores": fold_scores, "reason": BY_TIME}  # fmt: skip


def cut_by_time(t: FrozenTrial) -> bool:
    """Stopped because its folds could not end by the time budget's cut, not because it scored
    low: it saved nothing and says nothing of its settings, so it is never called pruned."""
    if t.state == TrialState.PRUNED:
        return (PRUNED.get(t) or {}).get("reason", BY_PRUNER) == BY_TIME
    # Stopped mid-fold (the signal, or its worker killed past the deadline): stored as failed
    # and interrupted, so a resume runs it again (:func:`time_cut_record`).
    return (t.state == TrialState.FAIL and bool(INTERRUPTED.get(t))
            and (PRUNED.get(t) or {}).get("reason") == BY_TIME)  # fmt: skip


def is_scored(t: FrozenTrial) -> bool:
    """A complete trial with a finite score: the only kind that can be best or plotted as a score."""
    return t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)


def seconds_used(study: Any, trials: Iterable[FrozenTrial], now: float, *, running: bool) -> float:
    """Seconds of the time budget the study's runs have used by ``now``.

    A stopped run counts to its stop: the rest, and the wait before a resume, is left. A run
    that its time ended counts to its deadline (its workers end when no trial can finish
    before it, and its end phase takes the rest); one that met its trial budget, or had no
    deadline, to its last trial's end (a 30-trial search done in 20 s of its 30 read "Elapsed
    00:30" once reopened). A study made before runs were clocked has used nothing.
    """
    clock = CLOCK.get(study) or {}
    started = clock.get("started")
    if started is None:
        return 0.0
    deadline = clock.get("deadline")
    stopped = STOP.get(study)
    if running:
        end = now
    elif stopped is not None and stopped >= started:
        end = float(stopped)
    elif deadline is not None and not _met_trial_budget(study, trials):
        end = float(deadline)
    else:
        ends = [
            t.datetime_complete.timestamp()
            for t in trials
            if t.datetime_complete is not None and t.datetime_complete.timestamp() >= started
        ]
        end = max(ends, default=started)
    end = min(end, now, math.inf if deadline is None else float(deadline))
    return float(clock.get("spent", 0.0)) + max(0.0, end - started)


def _met_trial_budget(study: Any, trials: Iterable[FrozenTrial]) -> bool:
    budget = BUDGET.get(study)
    return budget is not None and finished(trials) >= budget


def start_clock(study: Any, started: float, deadline: float | None, used: float) -> None:
    """Record a run's start and deadline, and what the runs before it used."""
    CLOCK.set(study, {"started": started, "deadline": deadline, "spent": used})
