"""The search configuration: one typed object that the CLI, the Python API and the dashboard build.

It is stored, as JSON, inside the study itself, so a study can be reopened, resumed or rebuilt by
any front end without the process that created it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from knobs.devices import DEFAULT_DEVICE, check_device
from knobs.errors import ConfigError
from knobs.models import Param
from knobs.pipelines import TARGET_TRANSFORMS
from knobs.pruners import DEFAULT_PRUNER, get_pruner
from knobs.strategies import CONFIG_STRATEGIES, SAMPLERS

TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")

#: Which rows the delivered model is fitted on once the test split has scored it (``final_fit``).
FINAL_FITS: Mapping[str, str] = {
    "all": "every labelled row (the training and test splits)",
    "train": "the training split only",
}
#: The smallest sample of training rows a search is scored on (``search_rows``): below it the
#: fold scores of a binary target with a rare class are too few to rank settings by.
MIN_SEARCH_ROWS = 5_000


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
    ``final_fit`` says which rows the delivered model is fitted on after the test split scored
    it (a model fitted on the training split only): ``"all"`` (default) gives it the test rows
    too, as scikit-learn users refit on everything and as PyCaret's ``finalize_model`` does, since
    a fifth more rows is worth more than a model identical to the one that was scored.
    ``reproducible`` runs one worker process (its models use every core): with several workers
    the order in which trials finish, and so what the sampler and pruner see, depends on timing,
    and the same ``seed`` gives other trials. A time budget still cuts at a time, not a trial.
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
    final_fit: str = "all"
    reproducible: bool = False
    #: Where XGBoost trains (``knobs.devices``): ``auto`` (a CUDA GPU where one is seen), ``cpu``
    #: or ``cuda`` (an error where none is).
    device: str = DEFAULT_DEVICE
    exclude: tuple[str, ...] = ()
    space: Mapping[str, tuple[Param, ...]] = field(default_factory=dict)
    #: Earlier studies to warm start from (``knobs.transfer``): their best configuration per
    #: family is queued first, re-scored on this table; their old scores never count here.
    warm_start: tuple[str, ...] = ()
    #: Search the preprocessing too (``knobs.pipelines``): encoding, imputation, scaling and
    #: feature selection become ``prep.*`` parameters of each trial. Off: the fixed preprocessing.
    search_pipeline: bool = False
    #: What a regression model learns (``knobs.pipelines.TARGET_TRANSFORMS``): ``auto`` tries
    #: the target's log beside the target itself where every value is above 0.
    target_transform: str = "auto"
    #: A date column to split by time: the latest rows are the test split, and the folds are
    #: consecutive periods of the training rows (a target that drifts in time). None: random.
    time_column: str | None = None
    #: How many training rows trials are scored on (``knobs.study._sample``): None sizes
    #: it to the time budget (every row unless too few trials would fit), 0 means every row, N
    #: at most N. The rows left out still go into the model delivered when time allows.
    search_rows: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.models, str):
            object.__setattr__(self, "models", tuple(m.strip() for m in self.models.split(",")))
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        warm = self.warm_start.split(",") if isinstance(self.warm_start, str) else self.warm_start
        object.__setattr__(
            self, "warm_start", tuple(str(w).strip() for w in warm if str(w).strip())
        )
        if len(set(self.warm_start)) != len(self.warm_start):
            raise ConfigError(
                f"`warm_start` names a study twice ({list(self.warm_start)}); name each once."
            )
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
        if self.target_transform not in TARGET_TRANSFORMS:
            raise ConfigError(
                f"`target_transform` must be one of {list(TARGET_TRANSFORMS)}, "
                f"but got {self.target_transform!r}."
            )
        check_device(self.device)
        if self.final_fit not in FINAL_FITS:
            raise ConfigError(
                f"`final_fit` must be one of {list(FINAL_FITS)}, but got {self.final_fit!r}."
            )
        if self.search_rows is not None and (
            isinstance(self.search_rows, bool) or not isinstance(self.search_rows, int)
            or self.search_rows < 0 or 0 < self.search_rows < MIN_SEARCH_ROWS
        ):
            raise ConfigError(
                f"`search_rows` must be 0 (every training row) or at least {MIN_SEARCH_ROWS:,}, "
                f"but got {self.search_rows!r}."
            )
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"`workers` must be >= 1, but got {self.workers}.")
        if self.reproducible and (self.workers or 1) > 1:
            raise ConfigError(
                f"A reproducible search runs one worker, but `workers` is {self.workers}: drop "
                "one of the two (the single worker's models use every core)."
            )

    @property
    def n_workers(self) -> int:
        return 1 if self.reproducible else self.workers or default_workers()

    def with_updates(self, **changes: Any) -> SearchConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["models"] = list(self.models)
        data["exclude"] = list(self.exclude)
        data["warm_start"] = list(self.warm_start)
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
