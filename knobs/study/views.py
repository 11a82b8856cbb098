"""A study seen through a subset of its trials, for Optuna's samplers and pruners.

Optuna's samplers and pruners read a study's trials through ``_get_trials``/``get_trials`` (and a
pruner its ``best_trial``); handing them this view instead of the study changes which trials they
learn from or compare with, and nothing else: every other attribute is the study's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState


class FilteredStudy:
    """``study`` with only the trials ``keep`` accepts."""

    def __init__(self, study: optuna.Study, keep: Callable[[FrozenTrial], bool]) -> None:
        self._study, self._keep = study, keep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(
        self, deepcopy: bool = True, states: Any = None, use_cache: bool = False
    ) -> list[FrozenTrial]:
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return [t for t in trials if self._keep(t)]

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()

    @property
    def best_trial(self) -> FrozenTrial:
        """The best complete trial among those kept (``ValueError`` when none, as Optuna)."""
        done = self.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            raise ValueError("No complete trial among those kept.")
        maximize = self._study.direction == optuna.study.StudyDirection.MAXIMIZE
        return (max if maximize else min)(done, key=lambda t: t.value)
