"""The race's numbers: best-so-far curves, bands over seeds, time to a target, paired tests.

Pure functions over plain lists, so every one is tested on synthetic curves with known answers.
Conventions used throughout:

- A *run* is one study: one contestant (strategy) with one sampler seed.
- ``values[k]`` is the score of the k-th finished trial of a run (``None`` if it failed);
  ``elapsed[k]`` is that run's own elapsed seconds when it finished (completion time minus the
  run's first trial start), so runs that waited in the queue are not penalised.
- Scores are "better" by ``direction``; a *gain* is a difference oriented so that > 0 means
  better whatever the direction.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from knobs.metrics import Direction, fold_noise

#: Below this many seeds the Wilcoxon signed-rank test is not used (its smallest possible
#: two-sided p with 5 pairs is 0.0625): an exact sign-flip permutation test is used instead, and
#: the verdict says that the power is low.
MIN_SEEDS_WILCOXON = 6
ALPHA = 0.05


def better(direction: str, a: float, b: float) -> bool:
    return Direction(direction).better(a, b)


def gain(direction: str, a: float, b: float) -> float:
    """How much better ``a`` is than ``b`` (> 0: better), whatever the direction."""
    return Direction(direction).gain(a, b)


def best_so_far(values: Sequence[float | None], direction: str) -> list[float | None]:
    """The running best after each finished trial; ``None`` until the first scored one."""
    out: list[float | None] = []
    best: float | None = None
    for v in values:
        if v is not None and math.isfinite(v) and (best is None or better(direction, v, best)):
            best = float(v)
        out.append(best)
    return out


@dataclass(frozen=True)
class Band:
    """A median line with a band (min/max or quartiles over seeds) on a common x axis."""

    x: tuple[float, ...]
    median: tuple[float | None, ...]
    lo: tuple[float | None, ...]
    hi: tuple[float | None, ...]
    n: tuple[int, ...]  # runs that have a value at this x


def band(
    curves: Sequence[Sequence[float | None]], x: Sequence[float], kind: str = "minmax"
) -> Band:
    """Median and band over curves sampled on the same ``x`` (``None`` = no value there).

    ``kind`` is ``"minmax"`` (honest with 3 seeds) or ``"iqr"`` (quartiles, for many seeds).
    """
    if kind not in ("minmax", "iqr"):
        raise ValueError(f"`kind` must be 'minmax' or 'iqr', but got {kind!r}.")
    med: list[float | None] = []
    lo: list[float | None] = []
    hi: list[float | None] = []
    ns: list[int] = []
    for i in range(len(x)):
        col = [c[i] for c in curves if i < len(c) and c[i] is not None]
        ns.append(len(col))
        if not col:
            med.append(None)
            lo.append(None)
            hi.append(None)
            continue
        arr = np.asarray(col, dtype=float)
        med.append(float(np.median(arr)))
        if kind == "minmax":
            lo.append(float(arr.min()))
            hi.append(float(arr.max()))
        else:
            lo.append(float(np.percentile(arr, 25)))
            hi.append(float(np.percentile(arr, 75)))
    return Band(tuple(float(v) for v in x), tuple(med), tuple(lo), tuple(hi), tuple(ns))


def by_trial(curves: Sequence[Sequence[float | None]], kind: str = "minmax") -> Band:
    """Band over seeds against the trial number (1-based): a run contributes while it lasts."""
    n = max((len(c) for c in curves), default=0)
    return band(curves, list(range(1, n + 1)), kind)


def at_times(
    best: Sequence[float | None], elapsed: Sequence[float], grid: Sequence[float]
) -> list[float | None]:
    """A best-so-far step curve read on a time grid: the best known at each time.

    After a run's last trial its best stays (the run is over, its result stands).
    """
    out: list[float | None] = []
    k = -1
    for t in grid:
        while k + 1 < len(elapsed) and elapsed[k + 1] <= t:
            k += 1
        out.append(best[k] if k >= 0 else None)
    return out


def time_grid(max_s: float, points: int = 120) -> list[float]:
    if max_s <= 0:
        return [0.0]
    return [max_s * i / (points - 1) for i in range(points)]


def by_time(
    runs: Sequence[tuple[Sequence[float | None], Sequence[float]]],
    grid: Sequence[float],
    kind: str = "minmax",
) -> Band:
    """Band over seeds against each run's own elapsed seconds, on a common grid."""
    return band([at_times(b, e, grid) for b, e in runs], grid, kind)


def target_score(
    best: float, baseline: float | None, direction: str, fraction: float = 0.99
) -> float:
    """The score counted as "reached": within ``1 - fraction`` of the race's best.

    "99% of the best" read literally breaks for minimised metrics and for negative scores (99% of
    an RMSE of 3.2 is *better* than 3.2; 99% of -0.41 is too). So it is taken on the worse side
    of the best, by magnitude: ``best - 1% |best|`` when maximising, ``best + 1% |best|`` when
    minimising. When the defaults already reach that (tuning gained less than 1%), the target
    becomes ``fraction`` of the way from the defaults score to the best instead, so reaching it
    still means "found what tuning had to find".
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"`fraction` must be in (0, 1], but got {fraction}.")
    slack = (1 - fraction) * abs(best)
    target = Direction(direction).shifted(best, slack)
    if (
        baseline is not None
        and math.isfinite(baseline)
        and gain(direction, best, baseline) > 0
        and not better(direction, target, baseline)
    ):
        target = baseline + fraction * (best - baseline)
    return target


def first_reach(
    best: Sequence[float | None], elapsed: Sequence[float], target: float, direction: str
) -> tuple[int | None, float | None]:
    """(trials, seconds) a run needed to reach ``target``; (None, None) if it never did."""
    for k, b in enumerate(best):
        if b is not None and not better(direction, target, b):
            return k + 1, float(elapsed[k])
    return None, None


def median_reach(values: Sequence[float | None]) -> float | None:
    """Median over seeds, counting a run that never reached the target as infinitely slow.

    So the median is a number only when at least half of the runs reached the target.
    """
    if not values:
        return None
    arr = np.asarray([math.inf if v is None else v for v in values], dtype=float)
    med = float(np.median(arr))
    return med if math.isfinite(med) else None


def mean_sd(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    return float(np.mean(vals)), sd


#: The CV noise of a best score (``knobs.metrics.fold_noise``), by the name the race uses.
cv_noise = fold_noise


@dataclass(frozen=True)
class PairedTest:
    """Winner vs another contestant over seeds (paired by seed)."""

    method: str  # "wilcoxon" | "permutation" | "none"
    n: int
    mean_gain: float | None  # winner minus other, > 0 = winner better
    p_value: float | None
    ci_low: float | None  # 95% paired-bootstrap interval of the mean gain
    ci_high: float | None
    significant: bool
    low_power: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "n": self.n,
            "mean_gain": self.mean_gain,
            "p_value": self.p_value,
            "ci95": [self.ci_low, self.ci_high],
            "significant": self.significant,
            "low_power": self.low_power,
        }


def sign_flip_p(gains: Sequence[float]) -> float:
    """Exact two-sided sign-flip permutation p-value of the mean of paired differences.

    Under "no difference" each difference is as likely to have either sign; p is the share of
    the 2^n sign patterns whose |mean| is at least the observed one. With 3 pairs the smallest
    possible p is 2/8 = 0.25: three seeds can never show a significant lead.
    """
    d = np.asarray(gains, dtype=float)
    if len(d) == 0 or np.allclose(d, 0):
        return 1.0
    observed = abs(d.mean())
    hits = 0
    total = 0
    for signs in itertools.product((1.0, -1.0), repeat=len(d)):
        total += 1
        if abs((d * np.asarray(signs)).mean()) >= observed - 1e-12:
            hits += 1
    return hits / total


def bootstrap_ci(
    gains: Sequence[float], *, resamples: int = 5000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile interval of the mean paired difference, resampling seeds."""
    d = np.asarray(gains, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(resamples, len(d)))
    means = d[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired_test(
    winner: Sequence[float | None], other: Sequence[float | None], direction: str
) -> PairedTest:
    """Is the winner's lead over ``other`` real? Paired by seed; pairs with a gap are dropped.

    Wilcoxon signed-rank (scipy) from ``MIN_SEEDS_WILCOXON`` seeds on, else the exact sign-flip
    permutation test; a bootstrap interval of the mean gain either way.
    """
    pairs = [
        (a, b)
        for a, b in zip(winner, other, strict=False)
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)
    ]
    n = len(pairs)
    if n < 2:
        return PairedTest("none", n, None, None, None, None, False, True)
    gains = [gain(direction, a, b) for a, b in pairs]
    mean = float(np.mean(gains))
    lo, hi = bootstrap_ci(gains)
    if n >= MIN_SEEDS_WILCOXON:
        from scipy.stats import wilcoxon

        if np.allclose(gains, 0):
            p = 1.0
        else:
            p = float(wilcoxon(gains, zero_method="zsplit", alternative="two-sided").pvalue)
        method = "wilcoxon"
    else:
        p = sign_flip_p(gains)
        method = "permutation"
    return PairedTest(method, n, mean, p, lo, hi, p < ALPHA, n < MIN_SEEDS_WILCOXON)


def ranks(means: Sequence[float | None], direction: str) -> list[int | None]:
    """1 = best mean; contestants without a score get no rank; ties share the better rank."""
    scored = Direction(direction).ranked((m for m in means if m is not None), key=float)
    return [None if m is None else scored.index(m) + 1 for m in means]
