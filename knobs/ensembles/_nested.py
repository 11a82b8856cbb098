"""Combining on out-of-fold predictions, and the honest (nested) CV score of a combination.

Weights, greedy picks and the stacking meta-learner are all learned on the candidates' stored
out-of-fold predictions, so they cost seconds and no refit. Learning them on every row and then
scoring on the same rows would flatter the ensemble, so :func:`nested_cv_scores` learns them on
the other folds' rows only and scores each fold on rows the combination never saw: a score
comparable with a trial's own (same folds).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from knobs.data import build_preprocessor
from knobs.ensembles._combine import blend, caruana, optimize_weights, votes
from knobs.ensembles._estimators import meta_features
from knobs.ensembles._options import Options
from knobs.ensembles._pool import Pool
from knobs.models import get_model


def _loss(pool: Pool, rows: np.ndarray) -> Callable[[np.ndarray], float]:
    """The studies' metric on training rows ``rows``, as a number to minimize."""
    y, metric = pool.y[rows], pool.metric

    def loss(pred: np.ndarray) -> float:
        return metric.loss(metric.score_predictions(y, pred, pool.kind, pool.classes))

    return loss


def learn_weights(pool: Pool, opts: Options, rows: np.ndarray) -> np.ndarray:
    """Voting or greedy weights learned on the out-of-fold predictions of rows ``rows``."""
    preds = [a[rows] for a in pool.oof]
    if opts.kind == "greedy":
        return caruana(preds, _loss(pool, rows), opts.n_iter)
    if opts.weights == "equal":
        return np.full(len(preds), 1.0 / len(preds))
    combine = votes if opts.hard_votes(pool.task) else blend
    return optimize_weights(preds, _loss(pool, rows), combine=combine)


def meta_learner(pool: Pool, opts: Options) -> BaseEstimator:
    """The stacking meta-learner, unfitted: ``opts.meta`` or a (ridge-)linear model, scaled
    when the model wants scaled inputs or also sees the features."""
    name = opts.meta or ("logistic" if pool.classifies else "linear")
    spec = get_model(name, pool.task)
    seed = pool.plan.config.seed if pool.plans else 0
    est = spec.estimator(pool.task, {}, seed=seed)
    if not pool.classifies and spec.name == "linear":
        from sklearn.linear_model import RidgeCV

        est = RidgeCV(alphas=np.logspace(-3, 3, 13))
    if spec.scale or opts.passthrough:
        est = Pipeline([("scale", StandardScaler()), ("model", est)])
    return est


def combined_predictions(
    pool: Pool, opts: Options, train: np.ndarray, valid: np.ndarray, X: pd.DataFrame | None
) -> np.ndarray:
    """Learn the combination on rows ``train`` of the OOF predictions; predict rows ``valid``."""
    if opts.kind == "stacking":
        meta_tr = meta_features([a[train] for a in pool.oof], pool.classifies)
        meta_va = meta_features([a[valid] for a in pool.oof], pool.classifies)
        if opts.passthrough and X is not None:
            prep = build_preprocessor(pool.plan.columns, scale=True)
            meta_tr = np.hstack([meta_tr, prep.fit_transform(X.iloc[train], pool.y[train])])
            meta_va = np.hstack([meta_va, prep.transform(X.iloc[valid])])
        learner = clone(meta_learner(pool, opts)).fit(meta_tr, pool.y[train])
        if pool.classifies:
            return np.asarray(learner.predict_proba(meta_va))
        return np.asarray(learner.predict(meta_va))
    w = learn_weights(pool, opts, train)
    preds = [a[valid] for a in pool.oof]
    return votes(preds, w) if opts.hard_votes(pool.task) else blend(preds, w)


def nested_cv_scores(pool: Pool, opts: Options, X: pd.DataFrame | None = None) -> list[float]:
    """The ensemble's fold scores, honest: in each fold the combination (weights, greedy picks,
    meta-learner) is learned on the other folds' OOF predictions only, then scored on this fold.
    Equal-weight voting learns nothing, so it is scored directly. ``X`` (the training frame)
    is needed only by stacking with ``passthrough``."""
    all_rows = np.arange(len(pool.y))
    scores = []
    for _, valid in pool.folds:
        train = np.setdiff1d(all_rows, valid)
        scores.append(pool.score(valid, combined_predictions(pool, opts, train, valid, X)))
    return scores


def nested_cv_score(pool: Pool, opts: Options, X: pd.DataFrame | None = None) -> float:
    """Mean of :func:`nested_cv_scores`: comparable with a trial's score (same folds)."""
    return float(np.mean(nested_cv_scores(pool, opts, X)))
