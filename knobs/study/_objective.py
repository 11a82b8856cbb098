"""The objective every strategy drives: a trial's cross-validated score.

Grid, random and Bayesian search differ only in the sampler handed to the same study (see
``knobs.strategies``); the objective below never knows which one is driving it.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from knobs.metrics import DECISION, PROBA, VALUE
from knobs.models import ModelSpec
from knobs.study._pipeline import Problem, pipeline_for
from knobs.study.keys import BASELINE, CV, OOF

#: Out-of-fold predictions are kept per trial when they hold at most this many values
#: (rows x outputs; 1M float32 values = 4 MB a trial), unless the search says otherwise.
OOF_MAX_VALUES = 1_000_000


class TrialFailed(Exception):
    """The trial cannot produce a score; its message is shown to the user as the reason."""


def suggest(trial: optuna.Trial, problem: Problem) -> tuple[ModelSpec, dict[str, Any]]:
    """Sample a model and its parameters; a baseline trial keeps every library default."""
    name = trial.suggest_categorical("model", problem.model_names)
    spec = problem.models[name]
    if BASELINE.get(trial):
        return spec, {}
    tuned = [p for p in spec.params if p.grid or not problem.grid_only]
    return spec, {p.name: p.suggest(trial, spec.key(p.name)) for p in tuned}


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
    pipeline = pipeline_for(problem, spec, params, seed=seed, n_jobs=n_jobs)
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
                problem.metric.score_predictions(y_valid.to_numpy(), pred, oof_kind, classes)
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
        OOF.set(trial, {"file": path.name, "kind": oof_kind, "shape": oof.shape})
    CV.set(
        trial,
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
        return VALUE, np.asarray(fitted.predict(X), dtype=np.float64)
    if hasattr(fitted, "predict_proba"):
        return PROBA, np.asarray(fitted.predict_proba(X), dtype=np.float64)
    return DECISION, np.asarray(fitted.decision_function(X), dtype=np.float64)
