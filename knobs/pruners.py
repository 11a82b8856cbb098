"""Trial pruners, declared once: Optuna's pruners fed with a trial's cross-validation folds.

A trial reports after each fold; a pruner compares it with the trials before it and may stop it
early, so a hopeless configuration costs one or two folds instead of all of them. A
:class:`Pruner` row holds the pruner's name (the ``--pruner`` choice), its label, which value it
wants at each step (the running mean of the folds so far, or the fold's own score for
Wilcoxon's paired test) and the factory. The CLI, the Search page, the race and the charts read
``PRUNERS``; adding one is one row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import optuna
from optuna.trial import FrozenTrial

from knobs.errors import ConfigError

#: What a trial reports at step k (0-based fold index): the mean of folds 0..k, or fold k's score.
Reports = Literal["running_mean", "fold"]


@dataclass(frozen=True)
class Pruner:
    """One pruner. ``build(n_folds)`` makes it for a study whose trials report ``n_folds`` steps."""

    name: str
    label: str
    reports: Reports
    help: str
    build: Callable[[int], optuna.pruners.BasePruner]


# Every pruner waits for a few finished trials before it judges anyone: the defaults trials and
# the first tuned ones set the bar.
_STARTUP = 5

PRUNERS: dict[str, Pruner] = {
    p.name: p
    for p in (
        Pruner(
            "none", "No pruning", "running_mean", "every trial runs all its folds.",
            lambda k: optuna.pruners.NopPruner(),
        ),
        Pruner(
            "median", "Median", "running_mean",
            "stops a trial whose mean over the folds so far is worse than the median of earlier "
            "trials at the same fold.",
            lambda k: optuna.pruners.MedianPruner(n_startup_trials=_STARTUP, n_warmup_steps=0),
        ),
        Pruner(
            "percentile", "Percentile (25%)", "running_mean",
            "like the median, but stops only trials in the worst quarter.",
            lambda k: optuna.pruners.PercentilePruner(
                75.0, n_startup_trials=_STARTUP, n_warmup_steps=0
            ),
        ),
        Pruner(
            "sh", "Successive halving", "running_mean",
            "keeps the best third of trials at each rung of folds (1, 3, 9...).",
            lambda k: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        ),
        Pruner(
            "hyperband", "Hyperband", "running_mean",
            "runs several successive-halving brackets, from aggressive to patient.",
            lambda k: optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=max(2, k), reduction_factor=3
            ),
        ),
        Pruner(
            "wilcoxon", "Wilcoxon (paired folds)", "fold",
            "a paired signed-rank test of the trial's fold scores against the best trial's on "
            "the same folds: stops a trial once it is significantly worse (made for CV folds).",
            lambda k: optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=2),
        ),
    )
}  # fmt: skip

DEFAULT_PRUNER = "median"


def get_pruner(name: str) -> Pruner:
    key = (name or "none").strip().lower()
    if key not in PRUNERS:
        raise ConfigError(f"Unknown pruner `{name}`: pick one of {', '.join(PRUNERS)}.")
    return PRUNERS[key]


class WithinFamily(optuna.pruners.BasePruner):
    """``inner``, judging the trials of a family the allocator brought back (``--models auto``)
    against that family's own trials only.

    A search over several families holds trials of very different levels: a ridge regression's
    folds at 0.83 R² from its first trial, XGBoost's configurations climbing from 0.77. When the
    allocator (``knobs.study._families``) revives XGBoost for the trials its space needs, every
    one of them, judged against everyone, is "worse than the median" at its first fold and stops
    there (measured on the house-price table: 10 of 10 revived trials pruned after one fold), so
    the revival learns nothing. Judged within the family, a configuration runs on when it is good
    *for XGBoost*. Every other trial is judged against everyone, as before: judging every family
    only against itself let hopeless forests run all their folds and cut the house-price search
    from 50 trials to 13 in the same time.

    Hyperband is left as it is: it builds its own bracket studies from the storage.
    """

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self.inner = inner

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        from knobs.study.keys import FAMILIES  # the allocator's stored decisions
        from knobs.study.views import FilteredStudy

        model = trial.params.get("model")
        revived = (FAMILIES.get(study) or {}).get("until", {})
        if model is None or model not in revived:
            return self.inner.prune(study, trial)
        own = FilteredStudy(study, lambda t: t.params.get("model") == model)
        return self.inner.prune(own, trial)  # type: ignore[arg-type]


def build_pruner(name: str, n_folds: int, n_models: int) -> optuna.pruners.BasePruner:
    """The study's pruner: ``name`` for ``n_folds`` steps; when the search tries several
    families, a revived family's trials are judged within it (``WithinFamily``)."""
    inner = get_pruner(name).build(n_folds)
    if n_models < 2 or isinstance(inner, optuna.pruners.HyperbandPruner):
        return inner
    return WithinFamily(inner)
