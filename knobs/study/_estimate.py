"""A rough duration estimate before a search starts, from one quick fit per model.

The estimate fits each chosen model once, with its defaults, on a capped random sample of the
prepared table, and scales that time to the search: rows, folds, trials and workers. It is shown
as "about" and labelled as such; once the search runs, the live view's ETA comes from the real
trial durations instead. The probe is capped (rows and models) so it stays well under a second
or two in the caller's thread (the dashboard's Search page); the search itself never runs here.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from knobs.data import Dataset
from knobs.formatting import fmt_duration
from knobs.models import ModelSpec
from knobs.study._pipeline import pipeline_for

PROBE_ROWS = 1500
#: A fit's time grows as rows ** ROWS_EXPONENT past the probe's sample. Linear scaling (1.0)
#: made a 60,000-row search read "~17.6 s per trial" where its trials took 3.3 s: forests,
#: binned boosting and solvers grow slower than the rows (timed on 31,699 and 27,733 rows
#: against 1,500: random forests 3.8 s and 2.2 s, extra trees 3.2 s and 1.0 s, where 0.8
#: gives 3.1, 2.2, 2.6 and 1.6 s and linear 5.6, 3.9, 4.8 and 2.9 s).
ROWS_EXPONENT = 0.8


@dataclass(frozen=True)
class Estimate:
    seconds: float
    per_trial_s: float
    trials: int
    workers: int
    #: Trials that fit in the time limit when it, not the trial budget, ends the search.
    fitting: int | None = None
    #: Model families searched: each first runs its defaults and a start or two.
    families: int = 1

    def words(self) -> str:
        """The estimate in one line, the same on the Search page and in ``knobs tune --dry-run``:
        "about 00:30 (30 trials of ~12.0 s each)" read as if 30 trials fit when 5 did."""
        each = f"~{self.per_trial_s:.1f} s each on {self.workers} worker(s)"
        if self.fitting is None:
            return f"about {fmt_duration(self.seconds)} ({self.trials} trials of {each})"
        asked = f" of the {self.trials} asked" if self.trials else ""
        few = (
            "; too few for every model family's first trials, so some families may get none"
            if self.fitting < 2 * self.families else ""
        )  # fmt: skip
        return (f"about {fmt_duration(self.seconds)}, the time limit: about {self.fitting} "
                f"trials{asked} fit, at {each}{few}")


    def too_short(self) -> str | None:
        """What to do when no trial fits in the time limit: a 147 MB table was offered Start at
        "about 0 trials fit, at ~305.0 s each", and its search ended with no model."""
        if self.fitting is None or self.fitting >= 1:
            return None
        return (f"No trial may fit in this time limit: one takes about {self.per_trial_s:.0f} s "
                "by a quick timing of each model (a busy machine makes it longer), and a search "
                "with no finished trial ends with no model. Give it at least "
                f"{fmt_duration(2 * self.per_trial_s)}, fewer folds, or a sample of the rows.")


def _probe_rows(ds: Dataset, seed: int) -> np.ndarray:
    n = len(ds.y)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=min(n, PROBE_ROWS), replace=False))


def probe_fit_seconds(
    ds: Dataset, spec: ModelSpec, *, seed: int = 0, search_pipeline: bool = False
) -> float | None:
    """Seconds to fit ``spec`` with defaults on the whole table, extrapolated from a sample.

    A pipeline search adds what its preprocessing choices cost on average over the fixed
    preprocessing (:func:`probe_prep_extra_seconds`). None when the sample cannot be fitted (the
    search will say why, trial by trial).
    """
    n = len(ds.y)
    if n == 0:
        return None
    rows = _probe_rows(ds, seed)
    X, y = ds.X.iloc[rows], ds.y.iloc[rows]
    from threadpoolctl import threadpool_limits

    pipeline = pipeline_for(ds, spec, {})
    started = time.perf_counter()
    try:
        # One thread, as each worker fits (``worker.run``): HistGradientBoosting's OpenMP
        # threads on a busy 2-core machine took 19.6 s for what one thread fits in 0.8 s, and
        # the dry run then said no trial would fit in a budget that ran 28.
        with threadpool_limits(limits=1):
            pipeline.fit(X, y)
    except Exception:  # noqa: BLE001 - any model error only means "no estimate"
        return None
    elapsed = time.perf_counter() - started
    extra = probe_prep_extra_seconds(ds, spec, seed=seed) if search_pipeline else 0.0
    return scaled_fits([elapsed], n / len(rows))[0] + extra


def scaled_fits(fits: Sequence[float | None], share: float) -> list[float | None]:
    """Fit times for ``share`` times the rows they were timed on (rows ** ``ROWS_EXPONENT``):
    a full-table probe for the training split, or for the sample a search scores trials on."""
    return [f * share**ROWS_EXPONENT if f is not None else None for f in fits]


#: (dataset fingerprint, scaled?, seed) -> extra seconds; the probe of a table is the same for
#: every model that shares its scaling, and the Search page asks again on each rerun.
_PREP_EXTRA: dict[tuple[str, bool, int], float] = {}


def probe_prep_extra_seconds(ds: Dataset, spec: ModelSpec, *, seed: int = 0) -> float:
    """Seconds a pipeline search's preprocessing adds to one fit of ``spec`` on the whole table,
    on average over its choices (each drawn uniformly, as a random search would), compared with
    the fixed preprocessing. Measured by fitting the preprocessing alone under each value of each
    choice that applies to ``spec`` on the probe sample: a dozen small fits, no model."""
    from knobs.data import build_preprocessor
    from knobs.pipelines import choices_for

    key = (ds.fingerprint, spec.scale, seed)
    if key in _PREP_EXTRA:
        return _PREP_EXTRA[key]
    rows = _probe_rows(ds, seed)
    X, y = ds.X.iloc[rows], ds.y.iloc[rows]

    def seconds(**choice: object) -> float:
        prep = build_preprocessor(ds, scale=spec.scale, task=ds.task, **choice)
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():  # constant features, few quantiles: said by trials
                warnings.simplefilter("ignore")
                prep.fit_transform(X, y)
        except Exception:  # noqa: BLE001 - a choice that fails here fails its trials, not this
            return 0.0
        return time.perf_counter() - started

    base = seconds()
    extra = 0.0
    for choice in choices_for(spec):
        times = [base if v == choice.default else seconds(**{choice.name: v})
                 for v in choice.param.choices]  # fmt: skip
        extra += float(np.mean(times)) - base
    if len(_PREP_EXTRA) >= 256:  # a long-lived dashboard sees many tables: stay small
        _PREP_EXTRA.clear()
    _PREP_EXTRA[key] = max(0.0, extra) * len(ds.y) / len(rows)
    return _PREP_EXTRA[key]


def estimate(
    fit_seconds: Sequence[float | None],
    *,
    trials: int | None,
    minutes: float | None,
    folds: int,
    test_size: float,
    workers: int,
) -> Estimate | None:
    """Wall time of a search, given per-model full-table fit times from the probe."""
    known = [s for s in fit_seconds if s is not None]
    if not known:
        return None
    per_fit = float(np.mean(known)) * (1 - test_size) * (folds - 1) / folds
    # Tuned settings fit slower than the defaults probed (more trees, deeper), but boosted ones
    # stop early and the pruner stops about half the trials after a fold or two: on the tables
    # measured (3,000 to 60,000 rows) the two about cancel, so a trial costs its folds.
    per_trial = per_fit * folds + 0.05  # + bookkeeping per trial
    # + worker start-up, and the end: the chosen model refitted on every row
    overhead = 3.0 + float(np.mean(known))
    limit = (minutes or 0) * 60

    def fitting() -> int:
        return max(0, int((limit - overhead) * max(1, workers) / per_trial))

    families = len(fit_seconds)
    if trials is None:
        return Estimate(seconds=limit, per_trial_s=per_trial, trials=0, workers=workers,
                        fitting=fitting(), families=families)  # fmt: skip
    seconds = trials * per_trial / max(1, workers) + overhead
    if minutes and limit < seconds:
        return Estimate(seconds=limit, per_trial_s=per_trial, trials=trials, workers=workers,
                        fitting=min(trials, fitting()), families=families)  # fmt: skip
    return Estimate(seconds=seconds, per_trial_s=per_trial, trials=trials, workers=workers,
                    families=families)  # fmt: skip
