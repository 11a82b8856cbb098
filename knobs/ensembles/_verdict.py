"""Does the ensemble help? The one judgement, in words with the numbers, the page and CLI show.

An ensemble is more to refit, export and explain than one model, so it must earn its place: a
CV gain counts only above the fold-to-fold noise, and the held-out test split can overrule it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from knobs.formatting import fmt_gain, fmt_score
from knobs.metrics import direction as as_direction

#: The smallest CV gain that counts, whatever the folds say.
MIN_GAIN = 1e-4


def noise_floor(fold_gains: Sequence[float]) -> float:
    """One standard error of the paired per-fold gains (at least :data:`MIN_GAIN`)."""
    k = len(fold_gains)
    se = float(np.std(fold_gains, ddof=1) / math.sqrt(k)) if k > 1 else 0.0
    return max(MIN_GAIN, se)


def verdict(
    direction: str,
    metric: str,
    cv: float,
    best_cv: float,
    test: float | None,
    best_test: float | None,
    fold_gains: Sequence[float] = (),
) -> tuple[bool, str]:
    """Does the ensemble help? In words, with the numbers.

    ``fold_gains`` are the ensemble's per-fold gains over the best single model on the same
    folds (paired, so the folds' own difficulty cancels out). A CV gain counts only when it
    exceeds one standard error of those gains (and 1e-4), so identical members, or a gain the
    folds disagree on, never "help". A CV gain the test split contradicts is called mixed, and
    the single model recommended.
    """
    way = as_direction(direction)
    floor = noise_floor(fold_gains)
    g_cv = way.gain(cv, best_cv)
    g_test = None if test is None or best_test is None else way.gain(test, best_test)
    cv_pair = f"{fmt_score(cv)} vs {fmt_score(best_cv)}"
    test_pair = "" if g_test is None else f"{fmt_score(test)} vs {fmt_score(best_test)}"
    test_txt = "" if g_test is None else f"; on the test split {test_pair} ({fmt_gain(g_test)})"
    if g_cv <= floor:
        return False, (
            f"The ensemble does not help: CV {metric} {cv_pair} for the best single model "
            f"({fmt_gain(g_cv)}, within the fold-to-fold noise of {fmt_score(floor)})"
            f"{test_txt}. Keep the single model; an ensemble gains only from members that are "
            "about as good and err differently (try other model families or `diverse`)."
        )
    if g_test is not None and g_test < 0:
        return False, (
            f"Mixed: the ensemble is better in CV ({cv_pair}, {fmt_gain(g_cv)}) but worse on "
            f"the held-out test split ({test_pair}, {fmt_gain(g_test)}). The CV gain is likely "
            "noise; prefer the simpler single model."
        )
    return True, (
        f"The ensemble helps: CV {metric} {cv_pair} for the best single model "
        f"({fmt_gain(g_cv)}, above the fold-to-fold noise of {fmt_score(floor)}){test_txt}."
    )
