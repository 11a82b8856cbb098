"""One search code path: a strategy is an Optuna sampler, the objective is cross-validation.

Grid, random and Bayesian search differ only in the sampler handed to the same study; the
objective below never knows which one is driving it (Optuna's own design, copied on purpose).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline

from knobs.data import build_preprocessor
from knobs.errors import ConfigError
from knobs.metrics import Metric
from knobs.models import ModelSpec
from knobs.scoring import score_predictions

BASELINE_ATTR = "knobs.baseline"
FAIL_REASON_ATTR = "knobs.fail_reason"
OOF_ATTR = "knobs.oof"
#: Out-of-fold predictions are kept per trial when they hold at most this many values
#: (rows x outputs; 1M float32 values = 4 MB a trial), unless the search says otherwise.
OOF_MAX_VALUES = 1_000_000


class TrialFailed(Exception):
    """The trial cannot produce a score; its message is shown to the user as the reason."""


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
        if not t.user_attrs.get(BASELINE_ATTR)
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
        return [t for t in trials if not t.user_attrs.get(BASELINE_ATTR)]

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list:
        return self._get_trials(deepcopy=deepcopy, states=states)


class TunedSpaceGPSampler(optuna.samplers.GPSampler):
    """GPSampler that models the tuned trials only (see ``_TunedTrials``)."""

    def infer_relative_search_space(self, study, trial) -> dict[str, Any]:  # noqa: ANN001
        return super().infer_relative_search_space(_TunedTrials(study), trial)

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:  # noqa: ANN001
        return super().sample_relative(_TunedTrials(study), trial, search_space)


def make_sampler(
    strategy: str,
    sampler: str = "tpe",
    *,
    seed: int | None = None,
    parallel: bool = False,
    grid: Mapping[str, list[Any]] | None = None,
) -> optuna.samplers.BaseSampler:
    """The Optuna sampler behind a strategy name.

    ``parallel`` switches TPE's constant liar on: with several workers, running trials count as
    "probably bad" so two workers do not pile onto the same region.
    """
    if strategy == "grid":
        if grid is None:
            raise ConfigError("A grid search needs the grid to walk.")
        # GridSampler shuffles its points with the seed: every worker must share one seed, or
        # the same grid id means a different point in each worker.
        return AskTellGridSampler(dict(grid), seed=seed)
    if strategy == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if strategy == "bayes":
        if sampler == "gp":
            try:
                import torch  # noqa: F401 - GPSampler needs it
            except ImportError as exc:  # pragma: no cover - torch is in requirements.txt
                raise ConfigError(
                    "The GP sampler needs PyTorch: `pip install torch` (CPU build), or use "
                    "`--sampler tpe`."
                ) from exc
            return TunedSpaceGPSampler(seed=seed)
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, constant_liar=parallel
        )
    if strategy == "cmaes":
        # CMA-ES models continuous parameters only; the model choice and categorical parameters
        # are sampled independently, by a seeded random sampler so a run stays reproducible.
        return TunedSpaceCmaEsSampler(
            seed=seed,
            independent_sampler=optuna.samplers.RandomSampler(seed=seed),
            warn_independent_sampling=False,
        )
    if strategy == "qmc":
        # Quasi-random (scrambled Sobol): covers the space more evenly than random search.
        return TunedSpaceQMCSampler(seed=seed, scramble=True)
    raise ConfigError(f"Unknown strategy {strategy!r}; use grid, random, bayes, cmaes or qmc.")


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
    report_folds: bool = False
    oof_dir: Path | None = None
    #: Grid search: parameters without grid values keep the library default (GridSampler
    #: refuses to sample a parameter outside its grid).
    grid_only: bool = False

    @property
    def model_names(self) -> list[str]:
        return list(self.models)


def suggest(trial: optuna.Trial, problem: Problem) -> tuple[ModelSpec, dict[str, Any]]:
    """Sample a model and its parameters; a baseline trial keeps every library default."""
    name = trial.suggest_categorical("model", problem.model_names)
    spec = problem.models[name]
    if trial.user_attrs.get(BASELINE_ATTR):
        return spec, {}
    tuned = [p for p in spec.params if p.grid or not problem.grid_only]
    return spec, {p.name: p.suggest(trial, spec.key(p.name)) for p in tuned}


def build_pipeline(
    problem: Problem, spec: ModelSpec, params: Mapping[str, Any], *, seed: int, n_jobs: int = 1
) -> Pipeline:
    estimator = spec.estimator(problem.task, params, seed=seed, n_jobs=n_jobs)
    if problem.metric.needs_proba and not hasattr(estimator, "predict_proba"):
        # SVC: calibrated probabilities cost extra fits, so only when the metric scores them.
        estimator = CalibratedClassifierCV(estimator, ensemble=False)
    return Pipeline(
        [("prep", build_preprocessor(problem.columns, scale=spec.scale)), ("model", estimator)]
    )


def evaluate(trial: optuna.Trial, problem: Problem, *, seed: int, n_jobs: int = 1) -> float:
    """Cross-validated score of the trial's pipeline, the preprocessing refitted in every fold.

    Raises ``TrialFailed`` (a reason for the user) and ``optuna.TrialPruned``; anything else the
    model raises propagates and the caller records it as the failure reason.
    """
    spec, params = suggest(trial, problem)
    n_rows = len(problem.X)
    if spec.max_rows is not None and n_rows > spec.max_rows:
        raise TrialFailed(
            f"{spec.label} is limited to {spec.max_rows:,} training rows and this table has "
            f"{n_rows:,}; pick another model or sample the table."
        )
    pipeline = build_pipeline(problem, spec, params, seed=seed, n_jobs=n_jobs)
    scores: list[float] = []
    oof: np.ndarray | None = None
    oof_kind = ""
    started = time.perf_counter()
    for k, (train_idx, valid_idx) in enumerate(problem.folds):
        X_valid, y_valid = problem.X.iloc[valid_idx], problem.y.iloc[valid_idx]
        fitted = clone(pipeline).fit(problem.X.iloc[train_idx], problem.y.iloc[train_idx])
        if problem.oof_dir is None:
            scores.append(problem.metric.score(fitted, X_valid, y_valid))
        else:
            # One prediction pass serves both the score and the ensembles' out-of-fold matrix.
            oof_kind, pred = oof_predictions(fitted, X_valid, problem.task)
            classes = getattr(fitted, "classes_", None)
            scores.append(
                score_predictions(problem.metric, y_valid.to_numpy(), pred, oof_kind, classes)
            )
            if oof is None:
                oof = np.full((n_rows, *pred.shape[1:]), np.nan, dtype=np.float32)
            oof[valid_idx] = pred
        if problem.report_folds:
            trial.report(float(np.mean(scores)), k)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {k + 1} of {len(problem.folds)}")
    value = float(np.mean(scores))
    if not math.isfinite(value):
        raise TrialFailed(f"The score is not a number ({value}); fold scores: {scores}.")
    if oof is not None and problem.oof_dir is not None:
        problem.oof_dir.mkdir(parents=True, exist_ok=True)
        path = problem.oof_dir / f"trial-{trial.number}.npy"
        np.save(path, oof, allow_pickle=False)
        trial.set_user_attr(OOF_ATTR, {"file": path.name, "kind": oof_kind, "shape": oof.shape})
    trial.set_user_attr(
        "knobs.cv",
        {
            "fold_scores": scores,
            "std": float(np.std(scores)),
            "fit_s": time.perf_counter() - started,
        },
    )
    return value


def oof_predictions(fitted: Pipeline, X: pd.DataFrame, task: str) -> tuple[str, np.ndarray]:
    """What ensembles need from a fold: class probabilities, else decision values, else values."""
    if task == "regression":
        return "value", np.asarray(fitted.predict(X), dtype=np.float64)
    if hasattr(fitted, "predict_proba"):
        return "proba", np.asarray(fitted.predict_proba(X), dtype=np.float64)
    return "decision", np.asarray(fitted.decision_function(X), dtype=np.float64)
