"""What a time budget leaves for trials: the whole command fits in it, refit included.

``--timeout S`` bounds everything from start-up to the refitted model's test score. Workers keep
back the time the refit will take (estimated from the best trial's own fold fits) and do not
start a trial the durations seen so far say cannot finish; a trial still running at the cut is
stopped between folds, or interrupted mid-fold (then it is retried if the search resumes).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState

from knobs.study._budget import is_scored
from knobs.study.keys import BASELINE, CV

#: Kept back beyond the refit's own estimate: loading the split, scoring the test rows, writing
#: the report and exiting (measured at about 1 s on a busy 2-core machine).
MARGIN_S = 2.0


#: A final ensemble refits a few members (greedy selection picks 2-4 of the top 5 trials), at a
#: safe pace (``knobs.ensembles._final.ENSEMBLE_SAFETY``), after seconds of choosing them.
ENSEMBLE_REFITS = 4


def refit_seconds(trial: FrozenTrial, n_folds: int) -> float:
    """Seconds to refit ``trial`` on every training row, from its own fold fits.

    A fold trains on ``(k-1)/k`` of the rows; the refit trains on all of them, so it takes about
    one fold's fit time times ``k/(k-1)``. Half as much again covers the spread of fit times.
    """
    if n_folds < 2:
        return 0.0
    per_fold = float((CV.get(trial) or {}).get("fit_s") or 0.0) / n_folds
    return 1.5 * per_fold * n_folds / (n_folds - 1)


def refit_reserve(
    trials: Sequence[FrozenTrial], n_folds: int, direction: str, *, ensemble: bool = False
) -> float:
    """Seconds to keep for refitting the best trial on every training row (or the members of a
    final ensemble: ``ENSEMBLE_REFITS`` of them, at the best trial's pace)."""
    from knobs.study._reader import best_trial

    best = best_trial(trials, direction)
    if best is None:
        return MARGIN_S
    return MARGIN_S + (ENSEMBLE_REFITS if ensemble else 1) * refit_seconds(best, n_folds)


def expected_trial_s(trials: Sequence[FrozenTrial], recent: int = 10) -> float | None:
    """How long the next trial is likely to take: the median of the last tuned trials that ran
    every fold (None before any did)."""
    done = [
        t.duration.total_seconds()
        for t in trials
        if is_scored(t) and t.duration is not None and not BASELINE.get(t)
    ]
    if not done:
        done = [
            t.duration.total_seconds()
            for t in trials
            if t.state == TrialState.COMPLETE and t.duration is not None
        ]
    return statistics.median(done[-recent:]) if done else None
