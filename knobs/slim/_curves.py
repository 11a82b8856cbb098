"""The two pruning curves, measured by cross-validation on the training split with the study's
own folds (``StudyPlan.study_folds``: the same rows a trial's score came from).

- **Feature curve**: columns are ranked once by permutation importance (scikit-learn's
  ``permutation_importance``) of the trial's pipeline, each fold's model permuted on that fold's
  held-out rows, averaged over the folds; then the least important columns are dropped in turn
  and the pipeline is cross-validated on the columns kept. The full-column point reuses the
  ranking's fits. The ranking saw the held-out rows it is then scored on, so the curve is a
  little optimistic for small sets; the noise margin below is the guard that matters.
- **Tree curve** (XGBoost, random forest, extra trees, histogram boosting without its own early
  stopping): one fit per fold, then the first k
  trees' predictions (``knobs.slim._trees``) scored on the fold's held-out rows for each k.

A point is *within noise* of the best point when their paired per-fold difference does not
exceed the one verdict rule's margin (``knobs.metrics.noise_floor`` / ``call``) and its loss is
at most the best point's fold noise (``fold_noise``, one standard error): the smallest
size reached from the best one down without passing a point beyond noise is suggested. Each point also carries its own fold noise (``fold_noise``) for the band.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.inspection import permutation_importance

from knobs.errors import ConfigError
from knobs.metrics import call, fold_noise, noise_floor
from knobs.pipelines import learned_target, pipeline_of, predicted_target, target_of
from knobs.slim._trees import can_cut, cut_refused, staged_predictions, tree_count, tree_counts
from knobs.study import StudyPlan, pipeline_for

#: Held-out rows per fold that permutation importance shuffles (more add time, not much sense).
PERMUTATION_ROWS = 1000
#: Shuffles per column and fold.
PERMUTATION_REPEATS = 3
#: Above this many columns the feature curve visits a geometric grid of counts, not every one.
EVERY_COUNT_UP_TO = 16


@dataclass(frozen=True)
class Point:
    """One point of a curve: its size (columns or trees), CV score, fold scores and noise."""

    size: int
    score: float
    fold_scores: list[float]
    noise: float | None
    #: How much worse than the curve's best point (> 0 worse), per the metric's direction.
    loss: float = 0.0
    #: The rule's margin on the paired fold differences with the best point.
    margin: float | None = 0.0
    within_noise: bool = True
    columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Curve:
    """A pruning curve, largest first, with its best and suggested sizes."""

    kind: str  # "columns" or "trees"
    points: list[Point]
    best: int
    suggested: int
    scored_on: str

    def point(self, size: int) -> Point:
        for p in self.points:
            if p.size == size:
                return p
        raise ConfigError(
            f"The {self.kind} curve has no point at {size} (it has "
            f"{', '.join(str(p.size) for p in self.points)}); pick one of those."
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Curve:
        data = dict(data)
        data["points"] = [Point(**p) for p in data["points"]]
        return cls(**data)


def kept_plan(plan: StudyPlan, keep: Sequence[str]) -> StudyPlan:
    """The plan with every used column outside ``keep`` (user names) marked unused: pipelines
    built from it read only the kept columns, and an export's schema lists only them."""
    keep_set = set(keep)
    columns = tuple(
        c
        if not c.used or c.name in keep_set or "target" in c.flags
        else replace(c, used=False, reason="dropped by knobs slim (least important column)")
        for c in plan.columns
    )
    return replace(plan, columns=columns)


def feature_columns(plan: StudyPlan) -> list[tuple[str, str]]:
    """(user name, safe name) of the columns the study's models use, in the table's order."""
    return [(c.name, c.safe_name) for c in plan.columns if c.used and "target" not in c.flags]


def _judge(points: list[Point], direction: Any) -> tuple[list[Point], int, int]:
    """Mark each point's loss against the best and whether it is within noise; the best size
    and the smallest size within noise of it."""
    best = direction.pick(points, key=lambda p: p.score)
    judged = []
    for p in points:
        diffs = [direction.gain(b, s) for b, s in zip(best.fold_scores, p.fold_scores, strict=True)]
        floor = noise_floor(diffs) if p is not best else 0.0
        loss = float(np.mean(diffs))
        # Within noise by both measures: the verdict rule on the paired fold differences cannot
        # call the best better ("gain"), and the loss is within one fold noise (standard error)
        # of the best's own fold scores. The rule alone, with 3 folds (t = 4.3), let a 442-row
        # regression lose 0.10 R2 "within noise"; the one-standard-error bound (CART's and
        # glmnet's rule for the smallest model) keeps the suggestion honest.
        one_se = best.noise if best.noise is not None else 0.0
        ok = p is best or (call(loss, floor) != "gain" and loss <= one_se)
        judged.append(replace(p, loss=loss, margin=floor if math.isfinite(floor) else None,
                              within_noise=ok))  # fmt: skip
    # Walk down from the best size and stop at the first point beyond noise: a lucky small
    # point past a loss (likely with 3 folds, whose margin is wide) is not suggested.
    smallest = best.size
    for p in sorted((q for q in judged if q.size <= best.size), key=lambda q: -q.size):
        if not p.within_noise:
            break
        smallest = p.size
    return judged, best.size, smallest


def _fit_score(
    pipeline: Any, plan: StudyPlan, X: pd.DataFrame, y: pd.Series, folds: list
) -> tuple[list[float], list[Any]]:
    metric = plan.metric_obj()
    scores, fitted = [], []
    for train_idx, valid_idx in folds:
        model = clone(pipeline).fit(X.iloc[train_idx], y.iloc[train_idx])
        scores.append(metric.score(model, X.iloc[valid_idx], y.iloc[valid_idx]))
        fitted.append(model)
    return scores, fitted


def _point(size: int, scores: list[float], columns: list[str] | None = None) -> Point:
    return Point(size=size, score=float(np.mean(scores)), fold_scores=[float(s) for s in scores],
                 noise=fold_noise(scores), columns=list(columns or []))  # fmt: skip


def rank_columns(
    plan: StudyPlan, fitted: list[Any], X: pd.DataFrame, y: pd.Series, folds: list
) -> list[dict[str, Any]]:
    """Columns by permutation importance, most important first: each fold's fitted pipeline,
    its held-out rows (at most ``PERMUTATION_ROWS``) shuffled column by column."""
    metric = plan.metric_obj()
    cols = feature_columns(plan)
    per_fold = []
    for model, (_, valid_idx) in zip(fitted, folds, strict=True):
        Xv, yv = X.iloc[valid_idx], y.iloc[valid_idx]
        result = permutation_importance(
            model, Xv, yv, scoring=metric.scorer, n_repeats=PERMUTATION_REPEATS,
            random_state=plan.config.seed, max_samples=min(len(Xv), PERMUTATION_ROWS),
        )  # fmt: skip
        by_name = dict(zip(X.columns, result.importances_mean, strict=True))
        per_fold.append([float(by_name[safe]) for _, safe in cols])
    values = np.asarray(per_fold)
    ranked = [
        {"name": name, "safe_name": safe, "importance": float(values[:, i].mean()),
         "spread": float(values[:, i].std())}
        for i, (name, safe) in enumerate(cols)
    ]  # fmt: skip
    # Stable: equal importances keep the table's order (the later column is dropped first).
    return sorted(ranked, key=lambda r: -r["importance"])


def column_counts(total: int, extra: Sequence[int] = ()) -> list[int]:
    """The column counts the feature curve visits, largest first."""
    if total <= EVERY_COUNT_UP_TO:
        counts = set(range(1, total + 1))
    else:
        counts = {int(k) for k in np.round(np.geomspace(1, total, num=EVERY_COUNT_UP_TO))}
    counts |= {int(k) for k in extra if 1 <= k <= total} | {total}
    return sorted(counts, reverse=True)


def feature_curve(
    plan: StudyPlan,
    model: str,
    params: Mapping[str, Any],
    *,
    extra_counts: Sequence[int] = (),
    data: tuple[pd.DataFrame, pd.Series] | None = None,
) -> tuple[Curve, list[dict[str, Any]]]:
    """The feature curve of ``model`` with ``params`` and the column ranking it follows."""
    X, y = data if data is not None else plan.load_split("train")
    folds = plan.study_folds(X, y)
    seed = plan.config.seed
    full = pipeline_for(plan, model, params, seed=seed)
    scores, fitted = _fit_score(full, plan, X, y, folds)
    ranking = rank_columns(plan, fitted, X, y, folds)
    total = len(ranking)
    points = [_point(total, scores, [r["name"] for r in ranking])]
    for n in column_counts(total, extra_counts)[1:]:
        keep = [r["name"] for r in ranking[:n]]
        sub = kept_plan(plan, keep)
        pipeline = pipeline_for(sub, model, params, seed=seed)
        safe = [c.safe_name for c in sub.columns if c.used and "target" not in c.flags]
        s, _ = _fit_score(pipeline, sub, X[safe], y, folds)
        points.append(_point(n, s, keep))
    judged, best, suggested = _judge(points, plan.goal)
    scored_on = (f"cross-validation on the training split ({plan.n_train} rows, the study's "
                 f"{len(folds)} folds)")  # fmt: skip
    return Curve("columns", judged, best, suggested, scored_on), ranking


def tree_curve(
    plan: StudyPlan,
    model: str,
    params: Mapping[str, Any],
    *,
    extra_counts: Sequence[int] = (),
    data: tuple[pd.DataFrame, pd.Series] | None = None,
) -> Curve | None:
    """Score vs the first k trees of ``model`` (None when it is not a tree ensemble, or cannot
    be cut: ``knobs.slim._trees.cut_refused``)."""
    if not can_cut(model):
        return None
    X, y = data if data is not None else plan.load_split("train")
    folds = plan.study_folds(X, y)
    metric = plan.metric_obj()
    wrapped = pipeline_for(plan, model, params, seed=plan.config.seed)
    # A model that learns the target's log is cut in that log, its predictions mapped back.
    transform, pipeline = target_of(wrapped), pipeline_of(wrapped)
    per_fold: list[dict[int, float]] = []
    counts: list[int] = []
    for train_idx, valid_idx in folds:
        fitted = clone(pipeline).fit(
            X.iloc[train_idx], learned_target(transform, y.iloc[train_idx])
        )
        est = fitted.named_steps["model"]
        if cut_refused(est):
            return None
        if not counts:
            counts = tree_counts(tree_count(est), extra=tuple(extra_counts))
        Xt = fitted.named_steps["prep"].transform(X.iloc[valid_idx])
        yv = y.iloc[valid_idx].to_numpy()
        staged = staged_predictions(est, Xt, counts, plan.task)
        classes = getattr(est, "classes_", None)
        per_fold.append({k: metric.score_predictions(yv, predicted_target(transform, pred),
                                                     kind, classes)
                         for k, (kind, pred) in staged.items()})  # fmt: skip
    points = [_point(k, [f[k] for f in per_fold]) for k in sorted(counts, reverse=True)]
    judged, best, suggested = _judge(points, plan.goal)
    scored_on = (f"cross-validation on the training split ({plan.n_train} rows, the study's "
                 f"{len(folds)} folds), one fit per fold cut to its first k trees")  # fmt: skip
    return Curve("trees", judged, best, suggested, scored_on)
