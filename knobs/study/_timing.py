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

from knobs.metrics import direction as as_direction
from knobs.study._budget import cut_by_time, is_scored
from knobs.study._plan import StudyPlan
from knobs.study.keys import BASELINE, CV

#: Kept back for the very end: writing the report and exiting (measured at 0.1-0.2 s). At 0.5 s
#: the benchmark's whole-process walls were 0.81-1.04 of the budget on 12 runs (2 within 5%);
#: at 0.25 s, 0.85-0.96 (6 within 5%), never over.
MARGIN_S = 0.25
#: The end of a search beyond its refits: reading the trials, the first fit's imports in the
#: launching process, scoring the test rows. Measured with ``bench/end_phase.py`` on the
#: benchmark's tables: 0.1-0.2 s after the ensemble choice (refit, test score and delivery of a
#: single model); churn at 17.4 s: the whole end 0.28 s, refits included. 1 s here and in
#: ``MARGIN_S`` left 2.5 s of a 17 s budget unused on houses; 0.5 s in each, 1.3 s of churn's
#: (7%). 0.25 s here too was too little for the gap between the cut and the end's start
#: (the workers' exit, the trials read): 3 of 9 single models went out without their refit on
#: every row, where 0 of 8 did with 0.5 s.
END_S = 0.5


#: A final ensemble refits a few members (greedy selection picks 2-4 of the best trials of
#: different families), each once on the training split, after seconds of choosing them.
ENSEMBLE_REFITS = 4
#: At most this share of a time budget is kept back for a final ensemble's refits. Time kept back
#: from the search is lost when no ensemble is chosen (a 41 s budget once left 12 s unused with
#: four refits at the best trial's pace and no cap), but one chosen is the search's largest late
#: gain: +0.0065 to +0.0144 R² in CV on houses, where 10% of an 18.7 s budget left 1 s when the
#: last trials ended and the ensemble could not even be chosen.
ENSEMBLE_SHARE = 0.2
#: At most this share of a time budget is kept back for the refit on every labelled row. A search
#: sampled for want of time (``knobs.study._sample``) refits on up to 60 times the rows it
#: searched: 3 s for a linear model on 300,000 rows, which the end made once kept back (it had
#: no time left before); a boosted model's refit there could take half the budget from the
#: search, and the model then goes out fitted on the rows searched.
ALL_ROWS_SHARE = 0.25
#: Seconds greedy selection takes to choose (nested CV over the top trials' stored predictions):
#: measured 0.3-0.5 s on the benchmark's tables (it was 2.5 s before the metric's own checks
#: were taken out of the greedy loop), twice that on a busy machine; up to 1.1 s (churn, fair)
#: when the choice reads a long search's trials.
CHOOSE_S = 1.0
#: Past the benchmark's tables greedy selection's time grows with the out-of-fold values it reads:
#: 11.6 s for the 239,358-row (478,716 values) sample of a 1.2-million-row binary table, judged
#: early in a worker at a 40 s budget, which ended the command 7 s late.
CHOOSE_S_PER_VALUE = 2.4e-5


def choose_seconds(plan: StudyPlan) -> float:
    """Seconds to choose a final ensemble on ``plan``'s kept out-of-fold predictions."""
    return max(CHOOSE_S, plan.oof_values * CHOOSE_S_PER_VALUE)


def ensemble_fits(plan: StudyPlan) -> bool:
    """Whether a final ensemble can be chosen at all: asked for, out-of-fold predictions kept,
    and its choice within ``ENSEMBLE_SHARE`` of the time budget (none without one). The workers
    then keep no time back for it, and the end of the search says why it did not look."""
    if not (plan.config.ensemble and plan.keeps_oof()):
        return False
    budget = plan.config.timeout
    return budget is None or choose_seconds(plan) <= ENSEMBLE_SHARE * budget


def ensemble_skipped_words(plan: StudyPlan) -> str:
    """Why a search with a final ensemble asked for ends with its best single trial unjudged."""
    return (f"The best single trial: choosing an ensemble over {plan.n_train:,} rows' out-of-fold "
            f"predictions takes about {choose_seconds(plan):.0f} s, more than "
            f"{ENSEMBLE_SHARE:.0%} of the time budget ({plan.config.timeout:.0f} s); a longer "
            "one, or `knobs ensemble` after the search, can build one.")


def refit_seconds(trial: FrozenTrial, n_folds: int) -> float:
    """Seconds to refit ``trial`` on every training row, from its own fold fits.

    A fold trains on ``(k-1)/k`` of the rows; the refit trains on all of them, so it takes about
    one fold's fit time times ``k/(k-1)``. Half as much again covers the spread of fit times.
    """
    if n_folds < 2:
        return 0.0
    per_fold = float((CV.get(trial) or {}).get("fit_s") or 0.0) / n_folds
    return 1.5 * per_fold * n_folds / (n_folds - 1)


#: A refit on every row estimated at most this long is made whatever time is left: "refitting on
#: all 3,000 rows (about 0 s) would overrun the time budget (0 s left)" sent out a model fitted on
#: 80% of the rows to save 0.07 s (the time ``knobs export`` then took to refit it).
QUICK_REFIT_S = 0.5


def refit_in_time(needed_s: float, left_s: float | None) -> bool:
    """Whether the refit on every row, estimated at ``needed_s``, is made with ``left_s`` of the
    time budget left (None: no budget)."""
    return left_s is None or needed_s <= max(left_s, QUICK_REFIT_S)


def final_refits(plan: StudyPlan) -> float:
    """The refits the end of a search makes, counted in training-split refits: one on the
    training split to score the test split, then one on every labelled row when the plan
    delivers a model fitted on them (``config.final_fit``)."""
    return 1.0 + (plan.n_final / plan.n_train if plan.fits_all_rows and plan.n_train else 0.0)


def refit_reserve(
    trials: Sequence[FrozenTrial],
    n_folds: int,
    direction: str,
    *,
    ensemble: bool = False,
    refits: float = 1.0,
    budget_s: float | None = None,
    members: Sequence[FrozenTrial] | None = None,
    choose_s: float = CHOOSE_S,
) -> float:
    """Seconds to keep for the end of a search: ``refits`` refits (see :func:`final_refits`) of
    the best trial (the one on every row only while within ``ALL_ROWS_SHARE`` of ``budget_s``)
    and the fixed end (``END_S``, ``MARGIN_S``); with a final ensemble also the
    time to choose it and one training-split refit of its likely members (the best trial of each
    of the ``ENSEMBLE_REFITS`` best families: a linear leader refits in 0.05 s, the trees it is
    blended with in a second; ``members``: the ones an early verdict chose), capped at
    ``ENSEMBLE_SHARE`` of ``budget_s`` (the whole time budget) but never below the single
    model's end and the choice (``choose_s``: :func:`choose_seconds`)."""
    from knobs.study._reader import best_trial, complete

    best = best_trial(trials, direction)
    if best is None:
        return MARGIN_S + END_S
    first = refit_seconds(best, n_folds)
    more = (refits - 1) * first
    if budget_s is not None and more > ALL_ROWS_SHARE * budget_s:
        more = 0.0  # not kept back: the end refits on every row only if time is left
    single = MARGIN_S + END_S + first + more
    if not ensemble:
        return single
    chosen = members is not None
    if members is None:
        leaders: dict[object, FrozenTrial] = {}
        for t in as_direction(direction).ranked(complete(trials), key=lambda t: t.value):
            leaders.setdefault(t.params.get("model"), t)
        members = list(leaders.values())[:ENSEMBLE_REFITS]
    whole = MARGIN_S + END_S + choose_s + sum(refit_seconds(t, n_folds) for t in members)
    if budget_s is not None and whole > ENSEMBLE_SHARE * budget_s:
        # Chosen members that cannot refit within the share will not be refitted at the end
        # either (churn: a 5-member blend, about 5 s against 4.4 s kept, 2.6 s left unused).
        whole = 0.0 if chosen else ENSEMBLE_SHARE * budget_s
    return max(single + choose_s, whole)


def expected_trial_s(
    trials: Sequence[FrozenTrial], recent: int = 10, model: str | None = None
) -> float | None:
    """How long the next trial is likely to take: the median of the last tuned trials that ran
    every fold, of ``model`` (the family it goes to, when known) if it has any, else its
    defaults trial's time, else every family's (None before any trial ran).

    Families differ tenfold in time: a random forest's 300-tree start took 4.6 s on a 1,000-row
    table where an XGBoost trial took 0.7 s, and judged by the forest's pace the search stopped
    with 5 of an 18 s budget unused and the XGBoost starts still queued.
    """
    pool = pace_trials(trials, model)
    done = [t.duration.total_seconds() for t in pool]
    pace = statistics.median(done[-recent:]) if done else None
    if pace is not None and model is not None and pool[0].params.get("model") != model:
        # No trial of the family ended: one the time budget cut ran at least this long. Judged
        # at the others' pace (a logistic model's 0.2 s), a wide table's boosting defaults were
        # started, and cut, again and again.
        cut = [t.duration.total_seconds() for t in trials if t.duration is not None
               and t.params.get("model") == model and cut_by_time(t)]  # fmt: skip
        pace = max([pace, *cut])
    return pace


def pace_trials(trials: Sequence[FrozenTrial], model: str | None = None) -> list[FrozenTrial]:
    """The trials a pace is read from (:func:`expected_trial_s`): ``model``'s tuned trials that
    ran every fold, else its defaults trial, else every family's likewise (empty before any
    trial ran)."""
    pools = [(model, True), (model, False)] if model is not None else []
    for family, tuned in [*pools, (None, True), (None, False)]:
        pool = [
            t
            for t in trials
            if t.duration is not None
            and (family is None or t.params.get("model") == family)
            and (is_scored(t) and not BASELINE.get(t) if tuned else t.state == TrialState.COMPLETE)
        ]
        if pool:
            return pool
    return []
