"""Does the ensemble help? Its verdict, by the one rule every verdict follows
(:data:`knobs.metrics.RULE`, re-exported here).

An ensemble is more to refit, export and explain than one model, so it must earn its place: a
CV gain counts only beyond the margin of the paired per-fold gains, and the held-out test split
can overrule it. The same rule (:func:`noise_floor`, :func:`margin`, :func:`call`) decides the
search's final model (``_final``) and the race's verdicts (``knobs.race``), so no verdict calls
"helps" what another calls noise.
"""

from __future__ import annotations

from collections.abc import Sequence

from knobs.formatting import fmt_gain, fmt_score
from knobs.metrics import RULE, call, margin, margin_words, noise_floor
from knobs.metrics import direction as as_direction

__all__ = ["RULE", "call", "margin", "margin_words", "noise_floor", "verdict"]

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
    folds (paired, so the folds' own difficulty cancels out), judged by :data:`RULE`: a CV gain
    counts only beyond the margin, so identical members, or a gain the folds disagree on, never
    "help"; a loss beyond it is called a loss. A CV gain the test split contradicts is called
    mixed, and the single model recommended.
    """
    way = as_direction(direction)
    floor = noise_floor(fold_gains)
    noise = margin_words(floor, len(fold_gains))
    g_cv = way.gain(cv, best_cv)
    g_test = None if test is None or best_test is None else way.gain(test, best_test)
    cv_pair = f"{fmt_score(cv)} vs {fmt_score(best_cv)}"
    test_pair = "" if g_test is None else f"{fmt_score(test)} vs {fmt_score(best_test)}"
    test_txt = "" if g_test is None else f"; on the test split {test_pair} ({fmt_gain(g_test)})"
    verdict_cv = call(g_cv, floor)
    if verdict_cv == "loss":
        return False, (
            f"The ensemble does not help, it is worse: CV {metric} {cv_pair} for the best single "
            f"model ({fmt_gain(g_cv)}, a loss beyond the fold-to-fold {noise}){test_txt}. Keep "
            "the single model."
        )
    if verdict_cv == "tie":
        return False, (
            f"The ensemble does not help: CV {metric} {cv_pair} for the best single model "
            f"({fmt_gain(g_cv)}, within the fold-to-fold {noise}){test_txt}. Keep the single "
            "model; an ensemble gains only from members that are about as good and err "
            "differently (try other model families or `diverse`)."
        )
    if g_test is not None and g_test < 0:
        return False, (
            f"Mixed: the ensemble is better in CV ({cv_pair}, {fmt_gain(g_cv)}, beyond the "
            f"{noise}) but worse on the held-out test split ({test_pair}, {fmt_gain(g_test)}). "
            "Prefer the simpler single model."
        )
    return True, (
        f"The ensemble helps: CV {metric} {cv_pair} for the best single model "
        f"({fmt_gain(g_cv)}, beyond the fold-to-fold {noise}){test_txt}."
    )
