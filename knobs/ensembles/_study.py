"""Ensembles over the finished trials of one or more studies: candidates, build, persist, rebuild.

Flow: :func:`candidates` ranks the complete trials of studies made on the same table (same data
fingerprint, test split and folds) and loads their stored out-of-fold predictions;
:func:`build_ensemble` learns how to combine them on those predictions (seconds), scores the
combination with nested cross-validation on the same folds, refits the chosen members on the
whole training split once, scores the held-out test split next to the best single model, and
keeps the definition in the first study; :func:`fitted_ensemble` rebuilds it from its id (what
the export command calls).

Trials without stored out-of-fold predictions (an old study, a search with ``keep_oof=False``,
an SVM scored on decision values) are recomputed with ``cross_val_predict`` on the study's own
folds when ``recompute=True`` (the default; slower, one fit per fold, and said in ``notes``),
or left out with the reason in ``excluded`` when ``recompute=False``.

Where it lives: the definition is a JSON user attribute ``knobs.ensemble.<id>`` of the first
study (one key per ensemble, so two builds never overwrite each other), with an unguessable id.
Fitted models are never stored: the definition is enough to rebuild the same model.
"""

from __future__ import annotations

import datetime as _dt
import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from knobs import study as results
from knobs.data import build_preprocessor
from knobs.ensembles._combine import blend, caruana, optimize_weights, votes
from knobs.ensembles._estimators import (
    GreedyEnsembleClassifier,
    GreedyEnsembleRegressor,
    StackingEnsembleClassifier,
    StackingEnsembleRegressor,
    meta_features,
)
from knobs.errors import ConfigError, StudyError
from knobs.metrics import PROBA, VALUE, Metric
from knobs.models import get_model
from knobs.study import (
    StudyPlan,
    load_study,
    make_folds,
    open_storage,
    pipeline_for,
    read_plan,
    storage_url,
)
from knobs.study.keys import BASELINE, ENSEMBLE_PREFIX, OOF

KINDS = ("voting", "stacking", "greedy")
ATTR_PREFIX = ENSEMBLE_PREFIX


# --- candidates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One finished trial that may join an ensemble."""

    study: str
    trial: int
    model: str
    params: dict[str, Any]
    baseline: bool
    value: float  # the trial's score as the study recorded it
    cv_score: float  # mean fold score of its out-of-fold predictions (same folds)
    oof_source: str  # "stored" | "recomputed"

    def short(self, many_studies: bool) -> str:
        tag = f"{self.model} #{self.trial}"
        return f"{tag} · {self.study[:24]}" if many_studies else tag


@dataclass
class Pool:
    """Candidates of compatible studies with their out-of-fold predictions, ready to combine."""

    studies: tuple[str, ...]
    storage: str
    plans: dict[str, StudyPlan]
    metric: Metric
    task: str
    classes: np.ndarray | None
    y: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    candidates: list[Candidate]
    oof: list[np.ndarray]
    notes: list[str] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)

    @property
    def plan(self) -> StudyPlan:
        return self.plans[self.studies[0]]

    @property
    def kind(self) -> str:
        return VALUE if self.task == "regression" else PROBA

    def frame(self) -> pd.DataFrame:
        """The candidates as a table (the page and the CLI show it)."""
        many = len(self.studies) > 1
        return pd.DataFrame(
            [
                {
                    "member": c.short(many),
                    "study": c.study,
                    "trial": c.trial,
                    "model": c.model,
                    "cv_score": c.cv_score,
                    "oof": c.oof_source,
                    "params": c.params,
                }
                for c in self.candidates
            ]
        )


def _open(name: str, storage: str) -> tuple[optuna.Study, StudyPlan]:

    study = load_study(name, storage)
    return study, read_plan(study)


def check_compatible(plans: dict[str, StudyPlan]) -> None:
    """Refuse studies whose rows differ: members must be scored on the same folds and test split."""
    names = list(plans)
    first = plans[names[0]]
    for name in names[1:]:
        p = plans[name]
        if p.fingerprint != first.fingerprint or p.task != first.task:
            raise StudyError(
                f"Studies `{names[0]}` and `{name}` were made on different tables (data "
                f"fingerprints {first.fingerprint[:12]} vs {p.fingerprint[:12]}, tasks "
                f"{first.task} vs {p.task}); an ensemble combines models scored on the same "
                "rows, so pick studies of one table."
            )
        split_a = (first.config.test_size, first.config.seed, first.folds, first.n_train)
        split_b = (p.config.test_size, p.config.seed, p.folds, p.n_train)
        if split_a != split_b:
            raise StudyError(
                f"Studies `{names[0]}` and `{name}` use the same table but different splits "
                f"(test size, seed, folds, training rows: {split_a} vs {split_b}); their "
                "out-of-fold predictions do not line up. Pick studies made with the same "
                "test size, seed and number of folds."
            )
        if p.metric != first.metric:
            raise StudyError(
                f"Studies `{names[0]}` and `{name}` are scored with different metrics "
                f"({first.metric} vs {p.metric}), so their trials cannot be ranked together; "
                "pick studies with one metric."
            )


def member_pipeline(plan: StudyPlan, trial_params: dict[str, Any], model: str) -> Pipeline:
    """The trial's pipeline, unfitted; classifiers always get probabilities (SVC is calibrated),
    because soft voting, greedy selection and stacking all blend probabilities."""
    return pipeline_for(plan, model, trial_params, seed=plan.config.seed, probabilities=True)


def _trial_params(trial: FrozenTrial) -> tuple[str, dict[str, Any]]:
    model, params = results.model_params(trial)
    if BASELINE.get(trial):
        params = {}
    return str(model), params


def _stored_oof(plan: StudyPlan, trial: FrozenTrial, n: int, kind: str) -> np.ndarray | None:
    info = OOF.get(trial) or {}
    if info.get("kind") != kind:
        return None
    path = plan.oof_dir() / str(info.get("file", ""))
    if not info.get("file") or not path.is_file():
        return None
    arr = np.load(path, allow_pickle=False).astype(np.float64)
    if arr.shape[0] != n or not np.all(np.isfinite(arr)):
        return None
    return arr


def _recompute_oof(
    plan: StudyPlan, trial: FrozenTrial, X: pd.DataFrame, y: pd.Series, folds: list
) -> np.ndarray:
    model, params = _trial_params(trial)
    pipe = member_pipeline(plan, params, model)
    method = "predict" if plan.task == "regression" else "predict_proba"
    return np.asarray(cross_val_predict(pipe, X, y, cv=folds, method=method), dtype=np.float64)


def _diverse_order(
    ranked: list[tuple[Candidate, np.ndarray]], top: int, max_corr: float = 0.98
) -> list[tuple[Candidate, np.ndarray]]:
    """Pick ``top`` by score, preferring families not yet picked and low OOF correlation.

    Each round takes, among the remaining candidates in score order, the first one from the
    least-represented family whose predictions correlate below ``max_corr`` with every pick so
    far; near-copies (correlation >= ``max_corr``) only fill the last places.
    """
    chosen: list[tuple[Candidate, np.ndarray]] = []
    rest = list(ranked)
    while rest and len(chosen) < top:
        families = [c.model for c, _ in chosen]
        keys = []
        for rank, (cand, arr) in enumerate(rest):
            corr = max((_corr(arr, a) for _, a in chosen), default=0.0)
            keys.append((corr >= max_corr, families.count(cand.model), rank))
        pick = rest[min(range(len(rest)), key=keys.__getitem__)]
        chosen.append(pick)
        rest.remove(pick)
    return chosen


def _flat(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 2:
        return arr[:, 1]
    return arr.ravel()


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    fa, fb = _flat(a), _flat(b)
    if fa.std() == 0 or fb.std() == 0:
        return 1.0 if np.allclose(fa, fb) else 0.0
    return float(np.corrcoef(fa, fb)[0, 1])


def candidates(
    studies: str | Sequence[str],
    top: int = 5,
    *,
    diverse: bool = False,
    recompute: bool = True,
    storage: str | None = None,
    only: Sequence[tuple[str, int]] | None = None,
) -> Pool:
    """The top-``top`` complete trials of ``studies`` with their out-of-fold predictions.

    ``diverse`` prefers other model families and weakly correlated predictions over a few more
    points of single-model score (an ensemble gains from members that err differently).
    ``only`` names exact (study, trial) members instead of ranking (used to rebuild).
    """
    names = [studies] if isinstance(studies, str) else list(dict.fromkeys(studies))
    if not names:
        raise ConfigError("Pick at least one study to build an ensemble from.")
    if not isinstance(top, int) or not 2 <= top <= 50:
        raise ConfigError(f"`top` (candidates per ensemble) must be between 2 and 50, got {top}.")
    url = storage_url(storage)
    opened = {name: _open(name, url) for name in names}
    plans = {name: plan for name, (_, plan) in opened.items()}
    check_compatible(plans)
    first = plans[names[0]]
    X, y = first.load_split("train")
    folds = make_folds(y, first.task, first.folds, first.config.seed)
    metric = first.metric_obj()
    classes = None if first.task == "regression" else np.unique(y.to_numpy())
    kind = VALUE if first.task == "regression" else PROBA
    y_arr = y.to_numpy()

    trials: list[tuple[str, FrozenTrial]] = []
    for name, (study, _) in opened.items():
        trials += [(name, t) for t in results.complete(study.get_trials(deepcopy=False))]
    if only is not None:
        wanted = {(s, int(n)) for s, n in only}
        trials = [(s, t) for s, t in trials if (s, t.number) in wanted]
        missing = wanted - {(s, t.number) for s, t in trials}
        if missing:
            raise StudyError(
                f"Trials {sorted(missing)} are no longer complete trials of their studies; "
                "the ensemble cannot be rebuilt."
            )
        trials.sort(key=lambda st: list(only).index((st[0], st[1].number)))
    else:
        trials.sort(key=lambda st: st[1].value, reverse=metric.direction == "maximize")
    if not trials:
        raise StudyError(f"Studies {names} have no complete trials yet; run a search first.")

    pool = Pool(
        studies=tuple(names), storage=url, plans=plans, metric=metric, task=first.task,
        classes=classes, y=y_arr, folds=folds, candidates=[], oof=[],
    )  # fmt: skip
    limit = len(trials) if only is not None else (top * 4 if diverse else top)
    loaded: list[tuple[Candidate, np.ndarray]] = []
    n_recomputed = 0
    started = time.perf_counter()
    for name, trial in trials:
        if len(loaded) >= limit:
            break
        plan = plans[name]
        arr = _stored_oof(plan, trial, len(y_arr), kind)
        source = "stored"
        model, params = _trial_params(trial)
        if arr is None:
            if not recompute:
                pool.excluded.append(
                    (f"{model} #{trial.number} ({name})", "no stored out-of-fold predictions")
                )
                continue
            arr = _recompute_oof(plan, trial, X, y, folds)
            source = "recomputed"
            n_recomputed += 1
        cand = Candidate(
            study=name, trial=trial.number, model=model, params=params,
            baseline=bool(BASELINE.get(trial)), value=float(trial.value),
            cv_score=metric.fold_score(y_arr, arr, kind, folds, classes)[0], oof_source=source,
        )  # fmt: skip
        loaded.append((cand, arr))
    if n_recomputed:
        pool.notes.append(
            f"{n_recomputed} trial(s) had no stored out-of-fold predictions; they were recomputed "
            f"with the study's {len(folds)} folds ({n_recomputed * len(folds)} fits, "
            f"{time.perf_counter() - started:.1f} s). Searches keep them by default on tables up "
            "to 1M values (`keep_oof`)."
        )
    picked = _diverse_order(loaded, top) if diverse and only is None else loaded[:limit]
    pool.candidates = [c for c, _ in picked]
    pool.oof = [a for _, a in picked]
    return pool


def correlation(pool: Pool) -> pd.DataFrame:
    """Pearson correlation of the candidates' out-of-fold predictions (positive-class probability
    for binary tasks, all probabilities for multiclass, values for regression)."""
    labels = [c.short(len(pool.studies) > 1) for c in pool.candidates]
    k = len(pool.oof)
    mat = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            mat[i, j] = mat[j, i] = _corr(pool.oof[i], pool.oof[j])
    return pd.DataFrame(mat, index=labels, columns=labels)


# --- combining on out-of-fold predictions -----------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """How to combine: the kind and its settings (stored with the ensemble)."""

    kind: str
    voting: str = "soft"  # voting: "soft" | "hard" (classifiers); regressors average
    weights: str = "optimized"  # voting: "equal" | "optimized"
    meta: str | None = None  # stacking: registered model name (default logistic / linear)
    passthrough: bool = False  # stacking: the meta-learner also sees the features
    n_iter: int = 50  # greedy: selection rounds

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"`kind` must be one of {list(KINDS)}, but got {self.kind!r}.")
        if self.voting not in ("soft", "hard"):
            raise ConfigError(f"`voting` must be soft or hard, but got {self.voting!r}.")
        if self.weights not in ("equal", "optimized"):
            raise ConfigError(f"`weights` must be equal or optimized, but got {self.weights!r}.")
        if not isinstance(self.n_iter, int) or not 1 <= self.n_iter <= 1000:
            raise ConfigError(f"`n_iter` must be between 1 and 1000, but got {self.n_iter!r}.")


def _loss_fn(pool: Pool, rows: np.ndarray, pred_kind: str):  # noqa: ANN202 - a closure
    y = pool.y[rows]

    def fn(p: np.ndarray) -> float:
        return pool.metric.loss(pool.metric.score_predictions(y, p, pred_kind, pool.classes))

    return fn


def _learn_weights(pool: Pool, opts: Options, rows: np.ndarray) -> np.ndarray:
    preds = [a[rows] for a in pool.oof]
    k = len(preds)
    if opts.kind == "greedy":
        return caruana(preds, _loss_fn(pool, rows, pool.kind), opts.n_iter)
    if opts.weights == "equal":
        return np.full(k, 1.0 / k)
    hard = opts.voting == "hard" and pool.task != "regression"
    return optimize_weights(
        preds, _loss_fn(pool, rows, pool.kind), combine=votes if hard else blend
    )


def _meta_learner(pool: Pool, opts: Options) -> BaseEstimator:
    name = opts.meta or ("linear" if pool.task == "regression" else "logistic")
    spec = get_model(name, pool.task)
    seed = pool.plan.config.seed if pool.plans else 0
    est = spec.estimator(pool.task, {}, seed=seed)
    if pool.task == "regression" and spec.name == "linear":
        from sklearn.linear_model import RidgeCV

        est = RidgeCV(alphas=np.logspace(-3, 3, 13))
    if spec.scale or opts.passthrough:
        est = Pipeline([("scale", StandardScaler()), ("model", est)])
    return est


def _combined_predictions(
    pool: Pool, opts: Options, train: np.ndarray, valid: np.ndarray, X: pd.DataFrame | None
) -> np.ndarray:
    """Learn the combination on rows ``train`` of the OOF predictions; predict rows ``valid``."""
    if opts.kind == "stacking":
        clf = pool.task != "regression"
        meta_tr = meta_features([a[train] for a in pool.oof], clf)
        meta_va = meta_features([a[valid] for a in pool.oof], clf)
        if opts.passthrough and X is not None:
            prep = build_preprocessor(pool.plan.columns, scale=True)
            Xtr = prep.fit_transform(X.iloc[train], pool.y[train])
            meta_tr = np.hstack([meta_tr, Xtr])
            meta_va = np.hstack([meta_va, prep.transform(X.iloc[valid])])
        learner = clone(_meta_learner(pool, opts)).fit(meta_tr, pool.y[train])
        if clf:
            return np.asarray(learner.predict_proba(meta_va))
        return np.asarray(learner.predict(meta_va))
    w = _learn_weights(pool, opts, train)
    preds = [a[valid] for a in pool.oof]
    if opts.kind == "voting" and opts.voting == "hard" and pool.task != "regression":
        return votes(preds, w)
    return blend(preds, w)


def nested_cv_scores(pool: Pool, opts: Options, X: pd.DataFrame | None = None) -> list[float]:
    """The ensemble's fold scores, honest: in each fold the combination (weights, greedy picks,
    meta-learner) is learned on the other folds' OOF predictions only, then scored on this fold.
    Equal-weight voting learns nothing, so it is scored directly."""
    all_rows = np.arange(len(pool.y))
    scores = []
    for _, valid in pool.folds:
        train = np.setdiff1d(all_rows, valid)
        pred = _combined_predictions(pool, opts, train, valid, X)
        scores.append(pool.metric.score_predictions(pool.y[valid], pred, pool.kind, pool.classes))
    return scores


def nested_cv_score(pool: Pool, opts: Options, X: pd.DataFrame | None = None) -> float:
    """Mean of :func:`nested_cv_scores`: comparable with a trial's score (same folds)."""
    return float(np.mean(nested_cv_scores(pool, opts, X)))


# --- the estimator -------------------------------------------------------------------------------


def _members(pool: Pool, indices: Sequence[int]) -> list[tuple[str, Pipeline]]:
    out = []
    for i in indices:
        c = pool.candidates[i]
        out.append(
            (f"m{i}_{c.model}_{c.trial}", member_pipeline(pool.plans[c.study], c.params, c.model))
        )
    return out


def make_estimator(
    pool: Pool, opts: Options, weights: np.ndarray | None
) -> tuple[BaseEstimator, dict[str, Any]]:
    """The unfitted final estimator and the keyword arguments its ``fit`` needs."""
    clf = pool.task != "regression"
    all_idx = list(range(len(pool.candidates)))
    if opts.kind == "voting":
        assert weights is not None
        keep = [i for i in all_idx if weights[i] > 0]
        members = _members(pool, keep)
        w = [float(weights[i]) for i in keep]
        if clf:
            return VotingClassifier(members, voting=opts.voting, weights=w), {}
        return VotingRegressor(members, weights=w), {}
    members = _members(pool, all_idx)
    if opts.kind == "greedy":
        cls = GreedyEnsembleClassifier if clf else GreedyEnsembleRegressor
        est = cls(members, n_iter=opts.n_iter, cv=pool.folds, scoring=pool.metric.name)
        return est, {"oof": pool.oof}
    cls_s = StackingEnsembleClassifier if clf else StackingEnsembleRegressor
    passthrough: Any = (
        build_preprocessor(pool.plan.columns, scale=True) if opts.passthrough else False
    )
    est = cls_s(
        members, final_estimator=_meta_learner(pool, opts), passthrough=passthrough, cv=pool.folds
    )
    return est, {"oof": pool.oof}


def _fitted_member(est: BaseEstimator, pool: Pool, index: int) -> Pipeline | None:
    """Candidate ``index`` as fitted inside the final ensemble (it was refitted on the same
    training split already), or None when the ensemble dropped it."""
    c = pool.candidates[index]
    name = f"m{index}_{c.model}_{c.trial}"
    if isinstance(est, (VotingClassifier, VotingRegressor)):
        return est.named_estimators_.get(name)
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


# --- report, verdict, persistence ------------------------------------------------------------------


@dataclass
class EnsembleReport:
    """What a build produced: the definition (persisted), the scores, the verdict."""

    id: str
    kind: str
    options: dict[str, Any]
    studies: list[str]
    metric: str
    direction: str
    task: str
    members: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    cv_score: float
    best_single_cv_score: float
    best_single: dict[str, Any]
    test_score: float | None
    best_single_test_score: float | None
    verdict: str
    helps: bool
    notes: list[str]
    created: str
    build_s: float
    timings: dict[str, float] = field(default_factory=dict)
    estimator: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("estimator")
        return data


def _gain(direction: str, new: float, old: float) -> float:
    return new - old if direction == "maximize" else old - new


def verdict(
    direction: str,
    metric: str,
    cv: float,
    best_cv: float,
    test: float | None,
    best_test: float | None,
    fold_gains: Sequence[float] = (),
) -> tuple[bool, str]:
    """Does the ensemble help? In words, with the numbers.

    ``fold_gains`` are the ensemble's per-fold gains over the best single model on the same
    folds (paired, so the folds' own difficulty cancels out). A CV gain counts only when it
    exceeds one standard error of those gains (and 1e-4), so identical members, or a gain the
    folds disagree on, never "help". A CV gain the test split contradicts is called mixed, and
    the single model recommended.
    """
    k = len(fold_gains)
    se = float(np.std(fold_gains, ddof=1) / math.sqrt(k)) if k > 1 else 0.0
    floor = max(1e-4, se)
    g_cv = _gain(direction, cv, best_cv)
    g_test = None if test is None or best_test is None else _gain(direction, test, best_test)
    test_txt = (
        ""
        if g_test is None
        else f"; on the test split {test:.4f} vs {best_test:.4f} ({g_test:+.4f})"
    )
    if g_cv <= floor:
        return False, (
            f"The ensemble does not help: CV {metric} {cv:.4f} vs {best_cv:.4f} for the best "
            f"single model ({g_cv:+.4f}, within the fold-to-fold noise of {floor:.4f})"
            f"{test_txt}. Keep the single model; an ensemble gains only from members that are "
            "about as good and err differently (try other model families or `diverse`)."
        )
    if g_test is not None and g_test < 0:
        return False, (
            f"Mixed: the ensemble is better in CV ({cv:.4f} vs {best_cv:.4f}, {g_cv:+.4f}) but "
            f"worse on the held-out test split ({test:.4f} vs {best_test:.4f}, {g_test:+.4f}). "
            "The CV gain is likely noise; prefer the simpler single model."
        )
    return True, (
        f"The ensemble helps: CV {metric} {cv:.4f} vs {best_cv:.4f} for the best single model "
        f"({g_cv:+.4f}, above the fold-to-fold noise of {floor:.4f}){test_txt}."
    )


def build_ensemble(
    studies: str | Sequence[str],
    kind: str,
    top: int = 5,
    *,
    diverse: bool = False,
    voting: str = "soft",
    weights: str = "optimized",
    meta: str | None = None,
    passthrough: bool = False,
    n_iter: int = 50,
    recompute: bool = True,
    evaluate_test: bool = True,
    keep: bool = True,
    storage: str | None = None,
    pool: Pool | None = None,
) -> EnsembleReport:
    """Build, score and (with ``keep``) persist an ensemble of the best trials of ``studies``.

    Combination weights and the meta-learner are learned on stored out-of-fold predictions
    (seconds); only the final model refits its members on the whole training split, to score
    the test split. ``pool`` reuses candidates already loaded (the dashboard shows them first).
    """
    started = time.perf_counter()
    opts = Options(
        kind=kind, voting=voting, weights=weights, meta=meta, passthrough=passthrough,
        n_iter=n_iter,
    )  # fmt: skip
    if pool is None:
        pool = candidates(studies, top, diverse=diverse, recompute=recompute, storage=storage)
    if len(pool.candidates) < 2:
        raise ConfigError(
            f"An ensemble needs at least 2 candidate trials; these studies give "
            f"{len(pool.candidates)} usable one(s). Run more trials or raise `top`."
        )
    if (
        kind == "voting"
        and voting == "hard"
        and pool.task != "regression"
        and pool.metric.needs_scores
    ):
        raise ConfigError(
            f"Hard voting predicts labels only, but the studies' metric `{pool.metric.name}` "
            "scores probabilities or rankings; use soft voting (`voting='soft'`)."
        )
    if opts.meta is not None:
        get_model(opts.meta, pool.task)  # an unknown or unfit meta-learner fails here, clearly
    X, y = pool.plan.load_split("train")
    all_rows = np.arange(len(pool.y))
    cand_scores = [c.cv_score for c in pool.candidates]
    pick = max if pool.metric.direction == "maximize" else min
    best_i = cand_scores.index(pick(cand_scores))
    best = pool.candidates[best_i]
    best_cv, best_folds = pool.metric.fold_score(
        pool.y, pool.oof[best_i], pool.kind, pool.folds, pool.classes
    )
    t0 = time.perf_counter()
    cv_folds = nested_cv_scores(pool, opts, X if opts.passthrough else None)
    cv = float(np.mean(cv_folds))
    gains = [_gain(pool.metric.direction, a, b) for a, b in zip(cv_folds, best_folds, strict=True)]
    w = None if kind == "stacking" else _learn_weights(pool, opts, all_rows)
    t1 = time.perf_counter()
    est, fit_kw = make_estimator(pool, opts, w)
    est.fit(X, y, **fit_kw)
    if kind == "greedy":
        w = np.asarray(est.weights_)
    shares = _stacking_shares(est, pool) if kind == "stacking" else [float(x) for x in w]
    t2 = time.perf_counter()
    test = best_test = None
    if evaluate_test:
        X_test, y_test = pool.plan.load_split("test")
        test = pool.metric.score(est, X_test, y_test)
        single = _fitted_member(est, pool, best_i)
        if single is None:
            single = member_pipeline(pool.plans[best.study], best.params, best.model).fit(X, y)
        best_test = pool.metric.score(single, X_test, y_test)
    timings = {
        "candidates_s": round(t0 - started, 3),
        "combine_on_oof_s": round(t1 - t0, 3),
        "refit_members_s": round(t2 - t1, 3),
        "test_s": round(time.perf_counter() - t2, 3),
    }
    helps, words = verdict(
        pool.metric.direction, pool.metric.name, cv, best_cv, test, best_test, gains
    )
    members = [
        {
            "study": c.study,
            "trial": c.trial,
            "model": c.model,
            "weight": None if s is None else round(float(s), 6),
            "cv_score": c.cv_score,
        }  # fmt: skip
        for c, s in zip(pool.candidates, shares, strict=True)
        if kind == "stacking" or (s is not None and s > 0)
    ]
    notes = list(pool.notes)
    if kind != "voting" or weights == "optimized":
        notes.append(
            "The CV score is nested: in each fold the combination was learned on the other "
            "folds' out-of-fold predictions only."
        )
    report = EnsembleReport(
        id=f"ens-{secrets.token_urlsafe(12)}",
        kind=kind,
        options=asdict(opts),
        studies=list(pool.studies),
        metric=pool.metric.name,
        direction=pool.metric.direction,
        task=pool.task,
        members=members,
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
        estimator=est,
    )
    if keep:
        save(report, storage=pool.storage)
    return report


def save(report: EnsembleReport | dict[str, Any], *, storage: str | None = None) -> str:
    """Keep the ensemble's definition in its first study; returns its id."""
    data = report.to_dict() if isinstance(report, EnsembleReport) else dict(report)
    study = load_study(data["studies"][0], storage_url(storage))
    study.set_user_attr(ATTR_PREFIX + data["id"], data)
    return str(data["id"])


def list_ensembles(studies: str | Sequence[str], storage: str | None = None) -> list[dict]:
    """The kept ensembles of ``studies`` (each is stored in its first study), newest first."""
    names = [studies] if isinstance(studies, str) else list(studies)
    url = storage_url(storage)
    found = []
    for name in names:
        attrs = load_study(name, url).user_attrs
        found += [v for k, v in attrs.items() if k.startswith(ATTR_PREFIX)]
    return sorted(found, key=lambda d: d.get("created", ""), reverse=True)


def load_ensemble(ensemble_id: str, storage: str | None = None) -> dict[str, Any]:
    """The stored definition of ensemble ``ensemble_id``, from whichever study keeps it."""
    key = ATTR_PREFIX + str(ensemble_id)
    for s in optuna.get_all_study_summaries(open_storage(storage_url(storage))):
        if key in s.user_attrs:
            return dict(s.user_attrs[key])
    raise StudyError(
        f"No ensemble with id `{ensemble_id}` in this storage; ids are printed by "
        "`knobs ensemble` and listed on the Ensemble page (was its study deleted?)."
    )


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
    opts = Options(**definition["options"])
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
