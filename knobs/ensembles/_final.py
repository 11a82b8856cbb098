"""The final model of a search: the best single trial, or a greedy ensemble when it earns it.

When a search ends, greedy selection (Caruana) runs over the top trials' kept out-of-fold
predictions. Its nested-CV score is compared with the best single trial's on the same folds; the
ensemble is chosen only when its gain beats one standard error of the paired per-fold gains
(the rule of :func:`knobs.ensembles.verdict`), judged on cross-validation alone, so the held-out
test split still scores the chosen model honestly. Everything before the choice works on stored
predictions (seconds); only a chosen ensemble refits its members.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from knobs.errors import ConfigError, StudyError
from knobs.formatting import fmt_gain, fmt_score

from ._nested import learn_weights, nested_cv_scores
from ._options import Options
from ._pool import candidates
from ._verdict import noise_floor

#: Candidate trials greedy selection may pick from.
FINAL_TOP = 5
#: Refits under a loaded machine run slower than the folds they are estimated from.
ENSEMBLE_SAFETY = 1.5


def _refit_seconds(pool: Any, members: Any) -> float:
    """Seconds to refit ``members`` of ``pool`` on the whole training split, from their trials'
    own fold fits (the same estimate the workers keep back for a single refit)."""
    from knobs.study import load_study
    from knobs.study._timing import refit_seconds

    trials = {name: load_study(name, pool.storage).trials for name in pool.studies}
    return sum(
        refit_seconds(trials[c.study][c.trial], pool.plan.folds)
        for c in (pool.candidates[i] for i in members)
    )


@dataclass(frozen=True)
class FinalChoice:
    """Which model a search ends with, and why (stored on the study, shown everywhere)."""

    kind: str  # "ensemble" | "single"
    why: str
    ensemble_id: str | None = None
    cv_score: float | None = None
    best_single_cv_score: float | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def final_choice(
    study: str, *, storage: str | None = None, top: int = FINAL_TOP, budget_s: float | None = None
) -> tuple[FinalChoice, Any]:
    """Choose the search's final model; returns the choice and, for an ensemble, the fitted
    estimator (trained on the whole training split).

    ``budget_s`` is the time left for the refit: an ensemble whose members' refits would not
    fit in it (estimated from their own fold fits) gives way to the best single trial.
    """
    from ._build import build_ensemble

    started = time.perf_counter()
    opts = Options("greedy", top=top, recompute=False, evaluate_test=False)
    try:
        pool = candidates(study, top, recompute=False, storage=storage)
    except (ConfigError, StudyError) as exc:
        return FinalChoice("single", f"No ensemble: {exc}"), None
    if len(pool.candidates) < 2:
        return FinalChoice(
            "single",
            "No ensemble: fewer than two trials kept their out-of-fold predictions "
            "(large tables do not keep them; `knobs ensemble` can recompute them).",
        ), None
    best_cv, best_folds = pool.fold_score(pool.oof[pool.best_index()])
    folds = nested_cv_scores(pool, opts)
    way = pool.metric.direction
    gains = [way.gain(a, b) for a, b in zip(folds, best_folds, strict=True)]
    cv = sum(folds) / len(folds)
    floor = noise_floor(gains)
    gain = way.gain(cv, best_cv)
    numbers = (
        f"greedy ensemble CV {fmt_score(cv)} vs {fmt_score(best_cv)} for the best single "
        f"trial ({fmt_gain(gain)}; fold-to-fold noise {fmt_score(floor)})"
    )
    if gain <= floor:
        return FinalChoice(
            "single", f"The best single trial: the {numbers} does not beat the noise.",
            cv_score=cv, best_single_cv_score=best_cv,
            seconds=time.perf_counter() - started,
        ), None  # fmt: skip
    if budget_s is not None:
        members = np.flatnonzero(learn_weights(pool, opts, np.arange(len(pool.y))))
        # The members' refits (at a safe pace), in what is left after choosing.
        cost = ENSEMBLE_SAFETY * _refit_seconds(pool, members)
        budget_s -= time.perf_counter() - started
        if cost > budget_s:
            return FinalChoice(
                "single",
                f"The best single trial: the {numbers} beats the noise, but refitting its "
                f"{len(members)} members (about {cost:.0f} s) would overrun the time budget "
                f"({max(0.0, budget_s):.0f} s left).",
                cv_score=cv, best_single_cv_score=best_cv,
                seconds=time.perf_counter() - started,
            ), None  # fmt: skip
    report = build_ensemble(study, opts, storage=storage, keep=True, pool=pool)
    return FinalChoice(
        "ensemble", f"A greedy ensemble of {len(report.members)} trials: the {numbers}.",
        ensemble_id=report.id, cv_score=cv, best_single_cv_score=best_cv,
        seconds=time.perf_counter() - started,
    ), report.estimator  # fmt: skip
