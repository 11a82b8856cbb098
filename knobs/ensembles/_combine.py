"""How member predictions become one prediction, on plain arrays (no refits).

These run on stored out-of-fold predictions, so choosing weights costs seconds: a blend is a
weighted mean of arrays, scored with the study's :class:`knobs.metrics.Metric`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import minimize

LossFn = Callable[[np.ndarray], float]


def blend(preds: Sequence[np.ndarray], weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Weighted mean of member predictions (probabilities or values); weights need not sum to 1."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(preds),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(preds)} non-negative numbers, not all 0; got {w}.")
    out = np.zeros(np.shape(preds[0]), dtype=np.float64)
    for wi, p in zip(w, preds, strict=True):
        if wi:
            out += wi * np.asarray(p, dtype=np.float64)
    return out / w.sum()


def votes(preds: Sequence[np.ndarray], weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Hard voting as shares: each member's arg-max class gets its weight (ties: first class)."""
    n, k = np.shape(preds[0])
    onehot = []
    for p in preds:
        o = np.zeros((n, k))
        o[np.arange(n), np.argmax(p, axis=1)] = 1.0
        onehot.append(o)
    return blend(onehot, weights)


#: Greedy rounds without a better bag after which selection stops: the weights are the best
#: prefix's anyway, and each round scores every candidate (most of the final choice's time).
PATIENCE = 10


def caruana(
    preds: Sequence[np.ndarray], loss: LossFn, n_iter: int, patience: int = PATIENCE
) -> np.ndarray:
    """Greedy ensemble selection with replacement (Caruana et al., 2004).

    Start from an empty bag; ``n_iter`` times, add the member (repeats allowed) whose addition
    gives the lowest loss of the bag's mean. The weights are the counts at the best iteration
    seen (as AutoGluon does), so a long run never ends worse than its best prefix; it stops early
    after ``patience`` rounds without a better bag. Ties go to the earlier member, so runs are
    deterministic.
    """
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}.")
    k = len(preds)
    arrays = [np.asarray(p, dtype=np.float64) for p in preds]
    total = np.zeros_like(arrays[0])
    counts = np.zeros(k)
    best_loss, best_counts, best_it = np.inf, None, 0
    for it in range(n_iter):
        losses = [loss((total + a) / (it + 1)) for a in arrays]
        j = int(np.argmin(losses))
        total += arrays[j]
        counts[j] += 1
        if losses[j] < best_loss - 1e-12:
            best_loss, best_counts, best_it = losses[j], counts.copy(), it
        elif it - best_it >= patience:
            break
    assert best_counts is not None
    return best_counts / best_counts.sum()


def optimize_weights(
    preds: Sequence[np.ndarray], loss: LossFn, *, combine: Callable = blend
) -> np.ndarray:
    """Weights on the simplex minimizing ``loss`` of the blend, starting from equal weights.

    Nelder-Mead on softmax logits: derivative-free, so it works for rank and label metrics
    (AUC, accuracy) that have no useful gradient. Equal weights are kept unless beaten; weights
    below 0.1% are cut to 0 (a member that barely counts is not worth refitting).
    """
    k = len(preds)
    equal = np.full(k, 1.0 / k)
    if k == 1:
        return equal

    def weights_of(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max())
        return e / e.sum()

    def objective(z: np.ndarray) -> float:
        return loss(combine(preds, weights_of(z)))

    # Start with unit steps in logit space: scipy's default 5% steps around 0 barely move the
    # weights, and a rank metric (AUC) does not change at all, so the search would stop at once.
    simplex = np.vstack([np.zeros(k), np.eye(k)])
    res = minimize(
        objective, np.zeros(k), method="Nelder-Mead",
        options={"maxiter": 100 * k, "xatol": 1e-2, "fatol": 1e-7, "initial_simplex": simplex},
    )  # fmt: skip
    w = weights_of(res.x)
    w[w < 1e-3] = 0.0
    w /= w.sum()
    return w if loss(combine(preds, w)) < objective(np.zeros(k)) else equal
