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
from knobs.pipelines import (
    TARGET_KEY,
    learned_target,
    pipeline_of,
    predicted_target,
    suggest_prep,
    target_of,
)
from knobs.study._budget import BY_PRUNER, BY_TIME
from knobs.study._pipeline import Problem, pipeline_for
from knobs.study.keys import BASELINE, CV, OOF, PRUNED

#: Out-of-fold predictions are kept per trial when they hold at most this many values
#: (rows x outputs; 1M float32 values = 4 MB a trial), unless the search says otherwise.
OOF_MAX_VALUES = 1_000_000


class TrialFailed(Exception):
    """The trial cannot produce a score; its message is shown to the user as the reason."""


def suggest(trial: optuna.Trial, problem: Problem) -> tuple[ModelSpec, dict[str, Any]]:
    """Sample a model and its parameters; a baseline trial keeps every library default.

    A pipeline search (``problem.search_pipeline``) also samples the preprocessing choices that
    apply to the model, returned under their ``prep.`` names (``pipeline_for`` reads them); the
    defaults trial keeps the fixed preprocessing too: it is the bar, defaults everywhere. Where
    the plan lets trials choose what a regression model learns (the target or its log),
    ``prep.target`` is sampled too; the defaults trial learns the target as is.
    """
    name = trial.suggest_categorical("model", problem.model_names)
    spec = problem.models[name]
    if BASELINE.get(trial):
        return spec, {}
    tuned = [p for p in spec.params if p.grid or not problem.grid_only]
    params = {p.name: p.suggest(trial, spec.key(p.name)) for p in tuned}
    if problem.search_pipeline:
        params.update(suggest_prep(trial, spec, grid_only=problem.grid_only))
    if len(problem.target_transforms) > 1:
        params[TARGET_KEY] = trial.suggest_categorical(TARGET_KEY, problem.target_transforms)
    return spec, params


#: Share of a fold's training rows held out to stop a boosted model early.
INNER_FRACTION = 0.1


def evaluate(trial: optuna.Trial, problem: Problem, *, seed: int, n_jobs: int = 1) -> float:
    """Cross-validated score of the trial's pipeline, the preprocessing refitted in every fold.

    After each fold the trial reports to the study's pruner (the running mean of its folds, or
    the fold's own score for paired tests) and stops if the pruner says so; a defaults trial is
    never pruned, it is the bar. Boosted models stop early on an inner slice of the fold's
    training rows, and the round count each fold used is kept for the refit.

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
    wrapped = pipeline_for(problem, spec, params, seed=seed, n_jobs=n_jobs)
    # A model that learns log(target) is fitted on it here and its predictions mapped back
    # before scoring: the folds score what the exported wrapper predicts.
    transform, pipeline = target_of(wrapped), pipeline_of(wrapped)
    baseline = bool(BASELINE.get(trial))
    early = problem.early_stopping and spec.boosting is not None and not baseline
    n_folds = len(problem.folds)
    if problem.deadline is not None and problem.pace is not None and not baseline:
        # Its family's pace, scaled by its size, says whether it can end by the cut: a sampled
        # 500-tree forest near the end held a worker 13 s and was killed in its first fold.
        expected = problem.pace(spec.name, trial.params)
        if expected is not None and time.time() + expected > problem.deadline:
            _record_pruned(trial, [], n_folds, time.perf_counter(), reason=BY_TIME)
            raise optuna.TrialPruned("stopped by the time budget before its first fold")
    scores: list[float] = []
    rounds: list[int] = []
    oof: np.ndarray | None = None
    oof_kind = ""
    started = time.perf_counter()
    for k, (train_idx, valid_idx) in enumerate(problem.folds):
        if k and problem.deadline is not None:
            # Stop as soon as the folds left cannot all end by the cut: one more fold that fits
            # is still wasted when the trial cannot finish (the cut kills it in a later fold).
            per_fold = (time.perf_counter() - started) / k
            if time.time() + per_fold * (n_folds - k) > problem.deadline:
                _record_pruned(trial, scores, n_folds, started, reason=BY_TIME)
                raise optuna.TrialPruned(f"stopped by the time budget after fold {k}")
        X_valid, y_valid = problem.X.iloc[valid_idx], problem.y.iloc[valid_idx]
        X_train = problem.X.iloc[train_idx]
        y_train = learned_target(transform, problem.y.iloc[train_idx])
        try:
            if early:
                fitted, used = fit_early_stopped(pipeline, spec, X_train, y_train, problem, seed)
                rounds.append(used)
            else:
                fitted = clone(pipeline).fit(X_train, y_train)
        except ValueError as exc:
            if "least populated class" not in str(exc):
                raise
            # scikit-learn's own stratified slice (HistGradientBoosting's early stopping above
            # 10,000 rows, the MLP's) needs 2 rows of each class in the fold's training rows
            raise TrialFailed(
                f"{spec.label} holds out a slice of each fold's training rows for its own early "
                "stopping, and a class has a single row there: too rare to split. Merge or "
                "remove the rare class (the Data page names it), or leave this model out."
            ) from exc
        if problem.oof_dir is None and transform == "none":
            scores.append(problem.metric.score(fitted, X_valid, y_valid))
        else:
            # One prediction pass serves both the score and the ensembles' out-of-fold matrix.
            oof_kind, pred = oof_predictions(fitted, X_valid, problem.task)
            pred = predicted_target(transform, pred)
            classes = getattr(fitted, "classes_", None)
            scores.append(
                problem.metric.score_predictions(y_valid.to_numpy(), pred, oof_kind, classes)
            )
            if oof is None and problem.oof_dir is not None:
                oof = np.full((n_rows, *pred.shape[1:]), np.nan, dtype=np.float32)
            if oof is not None:
                oof[valid_idx] = pred
        if problem.reports is not None and math.isfinite(scores[-1]):
            trial.report(scores[-1] if problem.reports == "fold" else float(np.mean(scores)), k)
            if not baseline and k + 1 < n_folds and trial.should_prune():
                _record_pruned(trial, scores, n_folds, started, reason=BY_PRUNER)
                raise optuna.TrialPruned(f"pruned after fold {k + 1} of {n_folds}")
    value = float(np.mean(scores))
    if not math.isfinite(value):
        raise TrialFailed(f"The score is not a number ({value}); fold scores: {scores}.")
    if oof is not None and problem.oof_dir is not None:
        problem.oof_dir.mkdir(parents=True, exist_ok=True)
        path = problem.oof_dir / f"trial-{trial.number}.npy"
        np.save(path, oof, allow_pickle=False)
        OOF.set(trial, {"file": path.name, "kind": oof_kind, "shape": oof.shape})
    fit_s = time.perf_counter() - started
    record = {"fold_scores": scores, "std": float(np.std(scores)), "fit_s": fit_s}
    if rounds:
        record["rounds"] = rounds
    CV.set(trial, record)
    return value


def _record_pruned(
    trial: optuna.Trial, scores: list[float], n_folds: int, started: float, *, reason: str
) -> None:
    """Where and why a trial stopped, and the compute that saved: the folds it did not run, at
    the pace of the ones it ran."""
    done = len(scores)
    spent = time.perf_counter() - started
    PRUNED.set(
        trial,
        {
            "after_fold": done,
            "folds": n_folds,
            "fit_s": spent,
            "saved_s": spent * (n_folds - done) / max(1, done),
            "fold_scores": scores,
            "reason": reason,
        },
    )


def fit_early_stopped(
    pipeline: Pipeline,
    spec: ModelSpec,
    X: pd.DataFrame,
    y: pd.Series,
    problem: Problem,
    seed: int,
) -> tuple[Pipeline, int]:
    """Fit ``pipeline`` on a fold's training rows, the model stopping early on an inner slice.

    The slice (``INNER_FRACTION`` of the rows, stratified for classes) comes out of the rows
    given, so the fold's scored rows never steer the round count. The preprocessing is fitted on
    the rest, as the model is: the slice is new data to both. Returns the fitted pipeline and the
    round count that scored best on the slice.
    """
    from sklearn.model_selection import train_test_split

    boosting = spec.boosting
    assert boosting is not None
    fitted = clone(pipeline)
    prep, model = fitted.named_steps["prep"], fitted.named_steps["model"]
    if boosting.own_slice:  # it holds out its slice of the rows it is given (the MLP)
        return fitted, boosting.fit(model, prep.fit_transform(X, y), y, None, None)
    stratify = y if problem.task != "regression" and y.value_counts().min() >= 2 else None
    X_fit, X_stop, y_fit, y_stop = train_test_split(
        X, y, test_size=INNER_FRACTION, random_state=seed, stratify=stratify
    )
    used = boosting.fit(
        model, prep.fit_transform(X_fit, y_fit), y_fit, prep.transform(X_stop), y_stop
    )
    return fitted, used


def oof_predictions(fitted: Pipeline, X: pd.DataFrame, task: str) -> tuple[str, np.ndarray]:
    """What ensembles need from a fold: class probabilities, else decision values, else values."""
    if task == "regression":
        return VALUE, np.asarray(fitted.predict(X), dtype=np.float64)
    if hasattr(fitted, "predict_proba"):
        return PROBA, np.asarray(fitted.predict_proba(X), dtype=np.float64)
    return DECISION, np.asarray(fitted.decision_function(X), dtype=np.float64)
