"""The search configuration: one typed object that the CLI, the Python API and the dashboard build.

It is stored, as JSON, inside the study itself, so a study can be reopened, resumed or rebuilt by
any front end without the process that created it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from knobs.errors import ConfigError
from knobs.models import Param
from knobs.pruners import DEFAULT_PRUNER, get_pruner
from knobs.strategies import CONFIG_STRATEGIES, SAMPLERS

TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")


def default_workers() -> int:
    """All cores this process may use (cgroup/affinity aware where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class SearchConfig:
    """What to search and how; validated on construction so a bad option fails before any work.

    ``space`` overrides parameters of the registry's spaces: ``{"xgboost": (Param(...), ...)}``.
    ``n_trials`` is the budget of evaluated trials (the baseline trials included); ``None`` means
    "until ``timeout``", and a grid search is capped at its grid size.
    ``seed`` fixes the test split, the folds and the samplers; ``sampler_seed`` (default: ``seed``)
    varies only the samplers, so several searches can share one split and one set of folds (the
    strategy race runs each strategy with several sampler seeds).
    ``keep_oof`` keeps every trial's out-of-fold predictions beside the study, for ensembles;
    ``None`` means "when they are small" (see ``knobs.study.OOF_MAX_VALUES``).
    ``cv`` is the number of folds; ``None`` sizes it to the table (see ``knobs.study.auto_folds``).
    ``pruner`` stops hopeless trials after a fold (``knobs.pruners.PRUNERS``); ``early_stopping``
    lets boosted models stop adding rounds on an inner validation slice of each fold.
    ``ensemble`` ends the search with a greedy ensemble of its best trials when that beats the
    best single trial by more than the fold noise (``knobs.ensembles.final_choice``).
    """

    target: str
    task: str | None = None
    models: tuple[str, ...] = ("auto",)
    strategy: str = "bayes"
    sampler: str = "tpe"
    n_trials: int | None = 50
    timeout: float | None = None
    cv: int | None = None
    metric: str | None = None
    test_size: float = 0.2
    seed: int = 0
    sampler_seed: int | None = None
    workers: int | None = None
    keep_oof: bool | None = None
    pruner: str = DEFAULT_PRUNER
    early_stopping: bool = True
    ensemble: bool = True
    exclude: tuple[str, ...] = ()
    space: Mapping[str, tuple[Param, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.models, str):
            object.__setattr__(self, "models", tuple(m.strip() for m in self.models.split(",")))
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        if not str(self.target).strip():
            raise ConfigError("No target column given: pass the name of the column to predict.")
        if self.task is not None and self.task not in TASKS:
            raise ConfigError(f"`task` must be one of {list(TASKS)}, but got {self.task!r}.")
        if self.strategy not in CONFIG_STRATEGIES:
            raise ConfigError(
                f"`strategy` must be one of {list(CONFIG_STRATEGIES)}, but got {self.strategy!r}."
            )
        if self.sampler not in SAMPLERS:
            raise ConfigError(
                f"`sampler` must be one of {list(SAMPLERS)}, but got {self.sampler!r}."
            )
        if self.n_trials is None and self.timeout is None:
            raise ConfigError("Give a budget: a number of trials, a timeout in seconds, or both.")
        if self.n_trials is not None and self.n_trials < 1:
            raise ConfigError(f"`n_trials` must be >= 1, but got {self.n_trials}.")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError(f"`timeout` must be > 0 seconds, but got {self.timeout}.")
        if self.cv is not None and not 2 <= self.cv <= 20:
            raise ConfigError(f"`cv` (folds) must be between 2 and 20, but got {self.cv}.")
        if not 0.05 <= self.test_size <= 0.5:
            raise ConfigError(
                f"`test_size` must be between 0.05 and 0.5 (a share of the rows), "
                f"but got {self.test_size}."
            )
        get_pruner(self.pruner)
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"`workers` must be >= 1, but got {self.workers}.")

    @property
    def n_workers(self) -> int:
        return self.workers or default_workers()

    def with_updates(self, **changes: Any) -> SearchConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["models"] = list(self.models)
        data["exclude"] = list(self.exclude)
        data["space"] = {m: [p.to_dict() for p in ps] for m, ps in self.space.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchConfig:
        data = dict(data)
        space = {
            m: tuple(Param.from_dict(p) for p in ps) for m, ps in data.pop("space", {}).items()
        }
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known}, space=space)


def parse_models(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ("auto",)
    if isinstance(value, str):
        value = value.split(",")
    names = tuple(v.strip() for v in value if v and v.strip())
    if not names:
        raise ConfigError("No model chosen: pass at least one model name, `auto` or `all`.")
    return names
