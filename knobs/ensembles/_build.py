"""Build an ensemble end to end, and rebuild a kept one from its id.

:func:`build_ensemble` learns how to combine the candidates on their out-of-fold predictions
(seconds), scores the combination with nested cross-validation on the same folds, refits the
chosen members on the whole training split once, scores the held-out test split next to the best
single model, and (with ``keep``) stores the definition in the first study.
:func:`fitted_ensemble` rebuilds it from its id: what the export command calls.
"""

from __future__ import annotations

import datetime as _dt
import secrets
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.pipeline import Pipeline

from knobs.data import build_preprocessor
from knobs.ensembles._estimators import (
    GreedyEnsembleClassifier,
    GreedyEnsembleRegressor,
    StackingEnsembleClassifier,
    StackingEnsembleRegressor,
)
from knobs.ensembles._nested import learn_weights, meta_learner, nested_cv_scores
from knobs.ensembles._options import Options
from knobs.ensembles._pool import Pool, candidates, correlation
from knobs.ensembles._store import EnsembleReport, load_ensemble, save
from knobs.ensembles._verdict import verdict
from knobs.errors import ConfigError
from knobs.models import get_model

# --- the estimator -------------------------------------------------------------------------------


def _member_name(pool: Pool, index: int) -> str:
    c = pool.candidates[index]
    return f"m{index}_{c.model}_{c.trial}"


def _members(pool: Pool, indices: Sequence[int]) -> list[tuple[str, Pipeline]]:
    return [(_member_name(pool, i), pool.member_pipeline(i)) for i in indices]


def make_estimator(
    pool: Pool, opts: Options, weights: np.ndarray | None
) -> tuple[BaseEstimator, dict[str, Any]]:
    """The unfitted final estimator and the keyword arguments its ``fit`` needs.

    Voting keeps only the members with a positive weight (``weights`` is required); greedy and
    stacking get every candidate and the pool's out-of-fold predictions, so ``fit`` refits the
    members once and learns the combination without refitting them fold by fold.
    """
    all_idx = list(range(len(pool.candidates)))
    if opts.kind == "voting":
        if weights is None:
            raise ValueError("Voting needs one weight per candidate; got None.")
        keep = [i for i in all_idx if weights[i] > 0]
        members, w = _members(pool, keep), [float(weights[i]) for i in keep]
        if pool.classifies:
            return VotingClassifier(members, voting=opts.voting, weights=w), {}
        return VotingRegressor(members, weights=w), {}
    members = _members(pool, all_idx)
    if opts.kind == "greedy":
        cls = GreedyEnsembleClassifier if pool.classifies else GreedyEnsembleRegressor
        est = cls(members, n_iter=opts.n_iter, cv=pool.folds, scoring=pool.metric.name)
        return est, {"oof": pool.oof}
    cls_s = StackingEnsembleClassifier if pool.classifies else StackingEnsembleRegressor
    passthrough: Any = (
        build_preprocessor(pool.plan.columns, scale=True) if opts.passthrough else False
    )
    est = cls_s(
        members, final_estimator=meta_learner(pool, opts), passthrough=passthrough, cv=pool.folds
    )
    return est, {"oof": pool.oof}


def _fitted_member(est: BaseEstimator, pool: Pool, index: int) -> Pipeline | None:
    """Candidate ``index`` as fitted inside the final ensemble (it was refitted on the same
    training split already), or None when the ensemble dropped it."""
    if isinstance(est, (VotingClassifier, VotingRegressor)):
        return est.named_estimators_.get(_member_name(pool, index))
    members = list(getattr(est, "members_", range(len(pool.candidates))))
    return est.estimators_[members.index(index)] if index in members else None


def _stacking_shares(est: BaseEstimator, pool: Pool) -> list[float | None]:
    """Each member's share of the meta-learner's absolute linear coefficients (None if not
    linear): a rough reading of how much the stack leans on it."""
    final = est.final_estimator_
    if isinstance(final, Pipeline):
        final = final.steps[-1][1]
    coef = getattr(final, "coef_", None)
    if coef is None:
        return [None] * len(pool.candidates)
    coef = np.abs(np.atleast_2d(coef))
    width = [
        1 if (a.ndim == 1 or (pool.task == "binary" and a.shape[1] == 2)) else a.shape[1]
        for a in pool.oof
    ]
    shares, start = [], 0
    for w in width:
        shares.append(float(coef[:, start : start + w].sum()))
        start += w
    total = sum(shares) or 1.0
    return [s / total for s in shares]


# --- building ------------------------------------------------------------------------------------


def _check_buildable(pool: Pool, opts: Options) -> None:
    """What only the pool can tell: enough candidates, hard votes that the metric can read, a
    meta-learner that fits the task."""
    if len(pool.candidates) < 2:
        raise ConfigError(
            f"An ensemble needs at least 2 candidate trials; these studies give "
            f"{len(pool.candidates)} usable one(s). Run more trials or raise `top`."
        )
    if opts.hard_votes(pool.task) and pool.metric.needs_scores:
        raise ConfigError(
            f"Hard voting predicts labels only, but the studies' metric `{pool.metric.name}` "
            "scores probabilities or rankings; use soft voting (`voting='soft'`)."
        )
    if opts.meta is not None:
        get_model(opts.meta, pool.task)  # an unknown or unfit meta-learner fails here, clearly


def _test_scores(
    est: BaseEstimator, pool: Pool, best_i: int, X: pd.DataFrame, y: pd.Series
) -> tuple[float, float]:
    """The ensemble's and the best single model's scores on the held-out test split; the single
    model is the one already refitted inside the ensemble when it kept it."""
    X_test, y_test = pool.plan.load_split("test")
    single = _fitted_member(est, pool, best_i)
    if single is None:
        single = pool.member_pipeline(best_i).fit(X, y)
    return pool.metric.score(est, X_test, y_test), pool.metric.score(single, X_test, y_test)


def _member_rows(pool: Pool, opts: Options, shares: Sequence[float | None]) -> list[dict]:
    """The report's members: stacking lists every candidate, the others those with weight."""
    return [
        {
            "study": c.study,
            "trial": c.trial,
            "model": c.model,
            "weight": None if s is None else round(float(s), 6),
            "cv_score": c.cv_score,
        }  # fmt: skip
        for c, s in zip(pool.candidates, shares, strict=True)
        if opts.kind == "stacking" or (s is not None and s > 0)
    ]


def build_ensemble(
    studies: str | Sequence[str],
    options: Options | str,
    *,
    storage: str | None = None,
    keep: bool = True,
    pool: Pool | None = None,
    learned: tuple[list[float], np.ndarray | None] | None = None,
    **settings: Any,
) -> EnsembleReport:
    """Build, score and (with ``keep``) persist an ensemble of the best trials of ``studies``.

    ``options`` says what to build (:class:`Options`); a kind's name with the settings as
    keywords, ``build_ensemble(names, "greedy", top=3)``, is the short form. Combination
    weights and the meta-learner are learned on stored out-of-fold predictions (seconds); only
    the final model refits its members on the whole training split, to score the test split.
    ``pool`` reuses candidates already loaded (the dashboard shows them first; its ``top``,
    ``diverse`` and ``recompute`` then win over the options'). ``learned``: the nested fold scores
    and the weights already learned on that pool with these options (the final choice judged
    them; learning them again took 0.3-0.5 s of a search's end).
    """
    started = time.perf_counter()
    opts = Options.of(options, **settings)
    if pool is None:
        pool = candidates(
            studies, opts.top, diverse=opts.diverse, recompute=opts.recompute, storage=storage
        )
    _check_buildable(pool, opts)
    X, y = pool.plan.load_split("train")
    best_i = pool.best_index()
    best = pool.candidates[best_i]
    best_cv, best_folds = pool.fold_score(pool.oof[best_i])
    t0 = time.perf_counter()
    if learned is not None:
        cv_folds, weights = learned
    else:
        cv_folds = nested_cv_scores(pool, opts, X if opts.passthrough else None)
        weights = None
        if opts.kind != "stacking":
            weights = learn_weights(pool, opts, np.arange(len(pool.y)))
    way = pool.metric.direction
    gains = [way.gain(a, b) for a, b in zip(cv_folds, best_folds, strict=True)]
    t1 = time.perf_counter()
    est, fit_kw = make_estimator(pool, opts, weights)
    est.fit(X, y, **fit_kw)
    if opts.kind == "stacking":
        shares = _stacking_shares(est, pool)
    else:  # greedy refits its picks on every row: its weights are the fitted ones
        shares = [float(x) for x in (est.weights_ if opts.kind == "greedy" else weights)]
    t2 = time.perf_counter()
    test = best_test = None
    if opts.evaluate_test:
        test, best_test = _test_scores(est, pool, best_i, X, y)
    timings = {
        "candidates_s": round(t0 - started, 3),
        "combine_on_oof_s": round(t1 - t0, 3),
        "refit_members_s": round(t2 - t1, 3),
        "test_s": round(time.perf_counter() - t2, 3),
    }
    cv = float(np.mean(cv_folds))
    helps, words = verdict(way, pool.metric.name, cv, best_cv, test, best_test, gains)
    notes = list(pool.notes)
    if opts.learns_combination:
        notes.append(
            "The CV score is nested: in each fold the combination was learned on the other "
            "folds' out-of-fold predictions only."
        )
    report = EnsembleReport(
        id=f"ens-{secrets.token_urlsafe(12)}",
        kind=opts.kind,
        options=opts.stored(),
        studies=list(pool.studies),
        metric=pool.metric.name,
        direction=way,
        task=pool.task,
        members=_member_rows(pool, opts, shares),
        candidates=[
            {"study": c.study, "trial": c.trial, "model": c.model} for c in pool.candidates
        ],
        cv_score=cv,
        best_single_cv_score=best_cv,
        best_single={"study": best.study, "trial": best.trial, "model": best.model},
        test_score=test,
        best_single_test_score=best_test,
        verdict=words,
        helps=helps,
        notes=notes,
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        build_s=round(time.perf_counter() - started, 3),
        timings=timings,
        correlation=_correlation_record(pool),
        estimator=est,
    )
    if keep:
        save(report, storage=pool.storage)
    return report


def _correlation_record(pool: Pool) -> dict[str, Any]:
    corr = correlation(pool)
    return {"labels": list(corr.index), "matrix": np.round(corr.to_numpy(), 4).tolist()}


def fitted_ensemble(
    ensemble_id: str, storage: str | None = None
) -> tuple[BaseEstimator, dict[str, Any]]:
    """The kept ensemble ``ensemble_id`` as a fitted scikit-learn estimator, and its metadata.

    The estimator takes the study's training frame (``plan.load_split("train")[0]`` columns:
    features by their safe names) and refits every member on the whole training split, exactly
    as when the ensemble was built. The metadata is the stored definition (kind, options,
    members with study/trial/model/weight, scores, verdict) plus ``target``, ``classes``,
    ``features`` (safe name -> user's column name), ``fingerprint`` of the data, ``study`` (the
    first study: ``Search.open(meta["study"]).plan`` is the plan to export with), and ``label``,
    ``family``, ``fit_s`` for a model card. The ensemble classes live under ``knobs.ensembles``
    (trust that module prefix when loading with skops); voting uses scikit-learn's classes.
    """
    started = time.perf_counter()
    definition = load_ensemble(ensemble_id, storage)
    opts = Options.from_stored(definition["options"])
    only = [(c["study"], int(c["trial"])) for c in definition["candidates"]]
    pool = candidates(definition["studies"], max(2, len(only)), storage=storage, only=only)
    X, y = pool.plan.load_split("train")
    weights = None
    if opts.kind == "voting":
        by_key = {(m["study"], m["trial"]): m["weight"] for m in definition["members"]}
        weights = np.array([by_key.get((c.study, c.trial), 0.0) or 0.0 for c in pool.candidates])
    est, fit_kw = make_estimator(pool, opts, weights)
    est.fit(X, y, **fit_kw)
    plan = pool.plan
    meta = dict(definition)
    meta.update(
        study=pool.studies[0],
        target=plan.target,
        classes=list(plan.classes),
        features={c.safe_name: c.name for c in plan.columns if c.used},
        fingerprint=plan.fingerprint,
        label=f"{opts.kind} ensemble of {len(definition['members'])} trials",
        family=f"ensemble:{opts.kind}",
        fit_s=round(time.perf_counter() - started, 3),
    )
    return est, meta
