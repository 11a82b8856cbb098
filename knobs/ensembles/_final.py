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

from knobs.errors import ConfigError, StudyError
from knobs.formatting import fmt_gain, fmt_score

from ._nested import nested_cv_scores
from ._options import Options
from ._pool import candidates
from ._verdict import noise_floor

#: Candidate trials greedy selection may pick from.
FINAL_TOP = 5


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
    study: str, *, storage: str | None = None, top: int = FINAL_TOP
) -> tuple[FinalChoice, Any]:
    """Choose the search's final model; returns the choice and, for an ensemble, the fitted
    estimator (trained on the whole training split)."""
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
    report = build_ensemble(study, opts, storage=storage, keep=True, pool=pool)
    return FinalChoice(
        "ensemble", f"A greedy ensemble of {len(report.members)} trials: the {numbers}.",
        ensemble_id=report.id, cv_score=cv, best_single_cv_score=best_cv,
        seconds=time.perf_counter() - started,
    ), report.estimator  # fmt: skip
