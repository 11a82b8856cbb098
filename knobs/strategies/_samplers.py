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


class _TunedTrials:
    """A study seen without its defaults trials, for samplers that model every complete trial.

    The defaults trial holds only ``model``: GPSampler would intersect it away to an empty search
    space (every later point drawn at random) or fail on its missing parameters.
    """

    def __init__(self, study: optuna.Study) -> None:
        self._study = study

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(
        self, deepcopy: bool = True, states: Any = None, use_cache: bool = False
    ) -> list:
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return [t for t in trials if not BASELINE.get(t)]

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list:
        return self._get_trials(deepcopy=deepcopy, states=states)


class TunedSpaceGPSampler(optuna.samplers.GPSampler):
    """GPSampler that models the tuned trials only (see ``_TunedTrials``)."""

    def infer_relative_search_space(self, study, trial) -> dict[str, Any]:  # noqa: ANN001
        return super().infer_relative_search_space(_TunedTrials(study), trial)

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:  # noqa: ANN001
        return super().sample_relative(_TunedTrials(study), trial, search_space)
