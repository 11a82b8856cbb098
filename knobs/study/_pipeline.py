"""The one place a trial's pipeline is built: preprocessing fitted per fold, then the model.

Trials, the refit of the best trial, the duration estimate and ensemble members all call
:func:`pipeline_for`, so a model is scored, refitted and exported as exactly the same pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import TransformedTargetRegressor
from sklearn.pipeline import Pipeline

from knobs.data import ColumnProfile, Dataset, build_preprocessor
from knobs.metrics import Metric
from knobs.models import ModelSpec, get_model
from knobs.pipelines import TARGET_KEY, default_target, prep_for, split_params, with_target

if TYPE_CHECKING:
    from knobs.study._plan import StudyPlan


@dataclass
class Problem:
    """Everything a worker needs to score a trial, loaded once per process."""

    X: pd.DataFrame
    y: pd.Series
    task: str
    metric: Metric
    models: Mapping[str, ModelSpec]
    columns: tuple[Any, ...]
    folds: list[tuple[np.ndarray, np.ndarray]]
    #: What a trial reports to the pruner after each fold (``knobs.pruners.Reports``); None: no
    #: reports, nothing is pruned.
    reports: str | None = None
    #: Boosted models stop early on an inner validation slice of each fold's training rows.
    early_stopping: bool = False
    #: Wall-clock time (``time.time()``) by which a trial must have ended; None: no time budget.
    deadline: float | None = None
    oof_dir: Path | None = None
    #: Grid search: parameters without grid values keep the library default (GridSampler
    #: refuses to sample a parameter outside its grid).
    grid_only: bool = False
    #: Trials also choose the preprocessing (``prep.*`` parameters, ``knobs.pipelines``).
    search_pipeline: bool = False
    #: Where XGBoost trains in this worker: ``"cpu"`` or ``"cuda"`` (``knobs.devices``).
    device: str = "cpu"
    #: What a regression trial may learn (``StudyPlan.target_transforms``).
    target_transforms: tuple[str, ...] = ("none",)
    #: Seconds a trial of (family, its parameters as Optuna names them) is likely to take, from
    #: the trials so far (``knobs.study.worker``); with a ``deadline``, a sampled configuration
    #: that cannot end by it at that pace stops before its first fold. None: not judged.
    pace: Callable[[str, Mapping[str, Any]], float | None] | None = None

    @property
    def model_names(self) -> list[str]:
        return list(self.models)


def pipeline_for(
    source: StudyPlan | Problem | Dataset,
    model: str | ModelSpec,
    params: Mapping[str, Any],
    *,
    seed: int = 0,
    n_jobs: int = 1,
    probabilities: bool | None = None,
    device: str | None = None,
) -> Pipeline | TransformedTargetRegressor:
    """An unfitted pipeline for ``model`` with ``params``, over the columns of ``source``.

    ``source`` is a study's plan (refits, ensemble members), the problem a worker loaded (trials)
    or a dataset before any study exists (the duration estimate). A classifier without
    ``predict_proba`` (SVC) is calibrated when ``probabilities`` asks for it (ensemble members
    blend probabilities) or, by default, when the study's metric scores probabilities:
    calibration costs extra fits.

    ``params`` may hold the trial's preprocessing choices (``prep.encoding`` and so on, from a
    pipeline search); without them the preprocessing is the fixed one every search uses.
    ``device`` (default: a problem's, else the CPU) moves a model that can train on a GPU
    (XGBoost) there; refits and exports stay on the CPU, so an exported model runs anywhere.

    A regression trial that learns the target's log (``prep.target``, or a plan that fixes it)
    is the pipeline wrapped in scikit-learn's ``TransformedTargetRegressor``
    (``knobs.pipelines.with_target``): it predicts on the target's own scale.
    """
    columns: tuple[ColumnProfile, ...]
    metric: Metric | None
    if isinstance(source, Problem):
        columns, metric, specs = tuple(source.columns), source.metric, source.models
    elif isinstance(source, Dataset):
        columns, metric, specs = source.columns, None, {}
    else:
        columns, metric, specs = source.columns, source.metric_obj(), source.specs()
    choices = getattr(source, "target_transforms", ("none",))
    transform = params.get(TARGET_KEY) or default_target(choices)
    if source.task != "regression":  # a log of class labels means nothing
        transform = "none"
    spec = model if isinstance(model, ModelSpec) else specs.get(model) or get_model(model)
    model_params, prep = split_params(params)
    estimator = spec.estimator(source.task, model_params, seed=seed, n_jobs=n_jobs)
    if device is None and isinstance(source, Problem):
        device = source.device
    if device == "cuda" and "device" in estimator.get_params():
        estimator.set_params(device="cuda")
    if probabilities is None:
        probabilities = metric is not None and metric.needs_proba
    if probabilities and source.task != "regression" and not hasattr(estimator, "predict_proba"):
        estimator = CalibratedClassifierCV(estimator, ensemble=False)
    prep_step = build_preprocessor(
        columns, scale=spec.scale, task=source.task, **prep_for(spec, prep)
    )
    return with_target(Pipeline([("prep", prep_step), ("model", estimator)]), transform)
