"""Sampler classes behind the strategies, each adjusted to the way Knobs runs a study.

Every study opens with a defaults trial per model that holds only ``model``; Optuna's samplers
that model the whole study would read that as an empty search space. These subclasses look at the
tuned trials only. Our workers run an ask-and-tell loop, not ``study.optimize``, which the grid
sampler's end-of-grid hook assumes.
"""

from __future__ import annotations

from typing import Any

import optuna

from knobs.study.keys import BASELINE
from knobs.study.views import FilteredStudy


class AskTellGridSampler(optuna.samplers.GridSampler):
    """GridSampler for the ask-and-tell loop our workers run.

    Its ``after_trial`` calls ``study.stop()`` once the grid is exhausted, which Optuna only
    allows inside ``study.optimize``; our workers stop on the budget instead, which a grid search
    caps at the grid size.
    """

    def after_trial(self, study, trial, state, values) -> None:  # noqa: ANN001 - Optuna's hook
        return None


def _tuned_space(study: optuna.Study, *, numeric_only: bool) -> dict[str, Any]:
    """The parameters shared by every completed *tuned* trial (defaults trials left out).

    The defaults trials that open every study hold only ``model``; Optuna's intersection-based
    samplers (CMA-ES) and QMC, which takes its space from the first trial, would otherwise see a
    space with nothing to tune and sample every parameter at random for the whole search.
    """
    from optuna.distributions import FloatDistribution, IntDistribution
    from optuna.search_space import intersection_search_space

    tuned = [
        t
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not BASELINE.get(t)
    ]
    if not tuned:
        return {}
    space = intersection_search_space(tuned)
    return {
        name: d
        for name, d in space.items()
        if not d.single()
        and (not numeric_only or isinstance(d, (FloatDistribution, IntDistribution)))
    }


class TunedSpaceCmaEsSampler(optuna.samplers.CmaEsSampler):
    """CMA-ES over the numeric parameters of the tuned trials (see ``_tuned_space``)."""

    def infer_relative_search_space(self, study, trial) -> dict[str, Any]:  # noqa: ANN001
        return _tuned_space(study, numeric_only=True)


class TunedSpaceQMCSampler(optuna.samplers.QMCSampler):
    """Quasi-random points over the space of the tuned trials (see ``_tuned_space``)."""

    def infer_relative_search_space(self, study, trial) -> dict[str, Any]:  # noqa: ANN001
        return _tuned_space(study, numeric_only=False)


def _tuned_trials(study: optuna.Study) -> FilteredStudy:
    """A study seen without its defaults trials, for samplers that model every complete trial.

    The defaults trial holds only ``model``: GPSampler would intersect it away to an empty search
    space (every later point drawn at random) or fail on its missing parameters.
    """
    return FilteredStudy(study, lambda t: not BASELINE.get(t))


class TunedSpaceGPSampler(optuna.samplers.GPSampler):
    """GPSampler that models the tuned trials only (see ``_tuned_trials``)."""

    def infer_relative_search_space(self, study, trial) -> dict[str, Any]:  # noqa: ANN001
        return super().infer_relative_search_space(_tuned_trials(study), trial)

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:  # noqa: ANN001
        return super().sample_relative(_tuned_trials(study), trial, search_space)


#: The earlier studies' trials weigh, all together, as much as ``PRIOR_WORTH`` of the new
#: study's own trials while it has scored none, half that once it has scored ``PRIOR_HALF_LIFE``
#: (a third at twice that, ...): the earlier table guides the start and the new table takes
#: over, whether the earlier studies hold 20 trials or 2,000. One prior trial never weighs more
#: than ``PRIOR_MAX_EACH`` of an own trial.
PRIOR_WORTH = 10.0
PRIOR_HALF_LIFE = 10
PRIOR_MAX_EACH = 0.5


def prior_weight(n_own: int, n_prior: int) -> float:
    """The weight of one of ``n_prior`` prior trials when the new study has ``n_own`` scored
    trials (each of its own weighs 1, TPE's default)."""
    total = PRIOR_WORTH * PRIOR_HALF_LIFE / (PRIOR_HALF_LIFE + n_own)
    return min(PRIOR_MAX_EACH, total / max(1, n_prior))


class _WithPrior:
    """A study seen with the earlier studies' prior trials ahead of its own.

    A prior trial's value is its rank quantile in its own study (``knobs.transfer._prior``); it
    is placed on this study's scale by the same quantile of this study's scored values, so TPE's
    good/bad split ranks old and new trials together without comparing two tables' scores.
    """

    def __init__(self, study: optuna.Study, prior: list[Any]) -> None:
        self._study = study
        self._prior = prior

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(
        self, deepcopy: bool = False, states: Any = None, use_cache: bool = False
    ) -> list:
        own = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        if states is not None and optuna.trial.TrialState.COMPLETE not in states:
            return own
        return self._placed() + own

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list:
        return self._get_trials(deepcopy=deepcopy, states=states)

    def _placed(self) -> list:
        import copy

        import numpy as np

        from knobs.transfer._prior import QUANTILE_ATTR

        done = self._study._get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,), use_cache=True
        )
        values = sorted(
            (t.value for t in done if t.value is not None),
            reverse=self._study.direction == optuna.study.StudyDirection.MAXIMIZE,
        )
        placed = []
        for t in self._prior:
            q = t.user_attrs[QUANTILE_ATTR]
            if not values:  # no score of its own yet: the ranks alone, in this study's direction
                value = q if self._study.direction == optuna.study.StudyDirection.MINIMIZE else -q
            else:
                value = float(np.interp(q, np.linspace(0.0, 1.0, len(values)), values))
            c = copy.copy(t)
            c.value = value
            placed.append(c)
        return placed


class PriorTPESampler(optuna.samplers.TPESampler):
    """TPE that also learns from earlier studies' trials (a warm start's prior), down-weighted.

    Without a prior (``set_prior`` never called, or with nothing) it is Optuna's TPESampler
    unchanged. With one, the prior trials count toward the start-up trials (TPE models the space
    from the first sampled trial), share the good/bad split with the study's own trials by rank
    (``_WithPrior``), and weigh ``prior_weight(n_own, n_prior)`` each in both Parzen estimators,
    where the study's own trials keep TPE's default weights.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prior: list[Any] = []

    def set_prior(self, trials: list[Any]) -> None:
        """Use ``trials`` (from ``knobs.transfer.prior_trials``) as the prior."""
        self._prior = list(trials)

    def _seen(self, study: Any) -> Any:
        return _WithPrior(study, self._prior) if self._prior else study

    def infer_relative_search_space(self, study, trial) -> dict[str, Any]:  # noqa: ANN001
        return super().infer_relative_search_space(self._seen(study), trial)

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:  # noqa: ANN001
        return super().sample_relative(self._seen(study), trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution) -> Any:  # noqa: ANN001
        return super().sample_independent(self._seen(study), trial, param_name, param_distribution)

    def _build_parzen_estimator(self, study, search_space, trials, handle_below):  # noqa: ANN001, ANN202
        if not self._prior or study._is_multi_objective():
            return super()._build_parzen_estimator(study, search_space, trials, handle_below)
        import numpy as np

        used = [t for t in trials if search_space.keys() <= self._get_params(t, study).keys()]
        n_own = sum(1 for t in used if t.number >= 0)
        own = iter(np.asarray(self._parzen_estimator_parameters.weights(n_own), dtype=float))
        base = getattr(study, "_study", study)
        scored = sum(
            1
            for t in base._get_trials(
                deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,), use_cache=True
            )
        )
        w = prior_weight(scored, len(self._prior))
        weights = np.array([w if t.number < 0 else next(own) for t in used], dtype=float)
        observations = self._get_internal_repr(trials, search_space, study)
        return self._parzen_estimator_cls(
            observations, search_space, self._parzen_estimator_parameters, weights
        )
