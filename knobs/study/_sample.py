"""How many training rows a search scores its trials on: all of them, unless the time budget
cannot afford enough trials on them.

A new user's 1.7-million-row table with a 40 s budget ended with no model: no trial of three
folds on a million rows finished. FLAML grows its sample as its search goes; Knobs decides once,
before the first trial, from the duration estimate's quick fits (``knobs.study._estimate``),
so every trial of a study is scored on the same rows and folds and the sampler compares like with
like. The rows left out are not lost: the delivered model is refitted on every labelled row when
the time left allows, and ``knobs export`` always refits on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from knobs.config import MIN_SEARCH_ROWS, SearchConfig
from knobs.data import Dataset
from knobs.formatting import fmt_duration
from knobs.models import ModelSpec
from knobs.portable import sample_indices
from knobs.study._estimate import ROWS_EXPONENT, Estimate, estimate, probe_fit_seconds

#: A last resort, not a speed-up: rows are sampled only when fewer than ``MIN_FULL`` trials of a
#: typical family (the median of the quick fits) would finish on every row, and then sized for
#: ``MIN_TRIALS`` of them. On 300,000 generated rows, HistGradientBoosting's defaults on every
#: row scored a test AUC of 0.837 at 20 s and at 40 s (3 and 6 trials), where samples of 42,000
#: and 20,000 rows, sized for 20 trials, scored 0.834 with 30 tuned trials and an ensemble: on a
#: large table rows beat tuning. But on 1.2 million rows at 40 s only the linear model's defaults
#: finished (AUC 0.824), where a 110,878-row sample let HistGradientBoosting's defaults win
#: (0.836, in 39.9 s). The first quartile for "typical" sampled 239,358 rows there: AUC 0.837,
#: but the end of the search on them overran the 40 s by 7 s.
MIN_FULL = 2
MIN_TRIALS = 4
#: Training rows above which ``search_rows=None`` (auto) times the models to decide: below it a
#: search's trials take seconds and the quick fits would cost more than they could save.
AUTO_ABOVE = 50_000
#: A sample of more than this share of the rows saves too little to be worth the rows it drops.
MAX_SHARE = 0.8


def search_rows(
    train: Dataset,
    config: SearchConfig,
    specs: Sequence[ModelSpec],
    folds: int,
    seconds: float | None,
) -> tuple[int, str | None]:
    """The training rows the search scores trials on, and the plan's notice when that is a
    sample; ``seconds``: the time budget left for the search (None: no time budget)."""

    def fits() -> list[float | None]:
        return [
            probe_fit_seconds(train, s, seed=config.seed, search_pipeline=config.search_pipeline)
            for s in specs
        ]

    return sample_size(
        len(train.y), config.search_rows, seconds, folds=folds, workers=config.n_workers,
        fits=fits,
    )  # fmt: skip


def sample_size(
    n: int,
    asked: int | None,
    seconds: float | None,
    *,
    folds: int,
    workers: int,
    fits: Callable[[], Sequence[float | None]],
) -> tuple[int, str | None]:
    """:func:`search_rows` for ``n`` training rows, ``asked`` (``config.search_rows``), and the
    models' full-table fit times that ``fits`` gives (called only when the rule needs them: the
    quick fits cost a second or two). The Search page calls it with the fits it timed already."""
    if asked == 0 or n <= MIN_SEARCH_ROWS:
        return n, None
    if asked is not None:
        if asked >= n:
            return n, None
        return asked, _notice(
            asked, n, "as set (`search_rows`, or Rows searched on the Search page)", asked=True,
        )  # fmt: skip
    if seconds is None or n <= AUTO_ABOVE:
        return n, None
    known = [f for f in fits() if f is not None]
    if not known:
        return n, None

    def on_every_row(fit_s: float) -> Estimate | None:
        return estimate([fit_s], trials=None, minutes=seconds / 60, folds=folds, test_size=0.0,
                        workers=workers)  # fmt: skip

    typical = float(np.median(known))
    full = on_every_row(typical)
    if full is None or (full.fitting or 0) >= MIN_FULL:
        return n, None
    keep = _rows_for(typical, n, folds, seconds, workers)
    if keep >= MAX_SHARE * n:
        return n, None
    why = (
        f"because {'no trial' if not full.fitting else 'one trial'} of a typical model on every "
        f"row (~{full.per_trial_s:.0f} s) would end in the {fmt_duration(seconds)} left; the "
        "sample leaves time for more trials"
    )
    return keep, _notice(keep, n, why)


def _rows_for(fit_s: float, n: int, folds: int, seconds: float, workers: int) -> int:
    """The rows at which ``MIN_TRIALS`` trials fit in ``seconds``, by the estimate's own terms: a
    trial costs ``folds - 1`` fits of the rows and the end one more, each scaled as the rows to
    ``ROWS_EXPONENT``, and start-up 3 s (``estimate``)."""
    w = max(1, workers)
    scale = ((seconds - 3.0) * w - 0.05 * MIN_TRIALS) / (fit_s * (w + MIN_TRIALS * (folds - 1)))
    if scale <= 0:
        return MIN_SEARCH_ROWS
    return int(min(n, max(MIN_SEARCH_ROWS, n * min(1.0, scale) ** (1 / ROWS_EXPONENT))))


def _notice(keep: int, n: int, why: str, *, asked: bool = False) -> str:
    more = "" if asked else (
        " Give more time to search more rows, or ask for every row (`--search-rows all`; on the "
        "Search page, Rows searched at the training row count or more)."
    )  # fmt: skip
    return (
        f"Trials are scored on a sample of {keep:,} of the {n:,} training rows, {why}. The "
        "model delivered is refitted on every labelled row when the time left allows (`knobs "
        f"export` always does).{more}"
    )


def sample_rows(train: Dataset, keep: int, seed: int) -> np.ndarray:
    """Which of the training split's rows are searched (positions in it, sorted)."""
    codes = train.y.to_numpy()
    return sample_indices(codes, train.task, keep, seed, train.classes)
