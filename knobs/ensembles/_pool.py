"""The candidate pool: the best finished trials of compatible studies, with their predictions.

:func:`candidates` ranks the complete trials of studies made on the same table (same data
fingerprint, test split, folds and metric) and loads the out-of-fold predictions each trial
stored. Trials without them (an old study, a search with ``keep_oof=False``, an SVM scored on
decision values) are recomputed with ``cross_val_predict`` on the study's own folds when
``recompute=True`` (slower, one fit per fold, and said in ``notes``), or left out with the
reason in ``excluded``. ``diverse`` prefers other model families and weakly correlated
predictions, because an ensemble gains from members that err differently.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from optuna.trial import FrozenTrial
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline

from knobs.ensembles._options import check_top
from knobs.errors import ConfigError, StudyError
from knobs.metrics import PROBA, VALUE, Metric
from knobs.study import (
    StudyPlan,
    complete,
    load_study,
    pipeline_for,
    read_plan,
    refit_params,
    storage_url,
)
from knobs.study.keys import BASELINE, OOF

if TYPE_CHECKING:
    import optuna

#: Candidates whose predictions correlate at least this much count as near-copies.
MAX_CORRELATION = 0.98


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
        """The kind of prediction members give: values (regression) or class probabilities."""
        return VALUE if self.task == "regression" else PROBA

    @property
    def classifies(self) -> bool:
        return self.task != "regression"

    def fold_score(self, pred: np.ndarray) -> tuple[float, list[float]]:
        """``pred`` (out-of-fold, every training row) scored the way a study scores a trial."""
        return self.metric.fold_score(self.y, pred, self.kind, self.folds, self.classes)

    def score(self, rows: np.ndarray, pred: np.ndarray) -> float:
        """Predictions ``pred`` of training rows ``rows`` scored with the studies' metric."""
        return self.metric.score_predictions(self.y[rows], pred, self.kind, self.classes)

    def best_index(self) -> int:
        """The candidate with the best CV score (the first of equals)."""
        scores = [c.cv_score for c in self.candidates]
        return self.metric.direction.pick(range(len(scores)), key=scores.__getitem__)

    def member_pipeline(self, index: int) -> Pipeline:
        """Candidate ``index``'s pipeline, unfitted (see :func:`member_pipeline`)."""
        c = self.candidates[index]
        return member_pipeline(self.plans[c.study], c.model, c.params)

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


def member_pipeline(plan: StudyPlan, model: str, params: dict[str, Any]) -> Pipeline:
    """The trial's pipeline, unfitted; classifiers always get probabilities (SVC is calibrated),
    because soft voting, greedy selection and stacking all blend probabilities."""
    return pipeline_for(plan, model, params, seed=plan.config.seed, probabilities=True)


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


def _stored_oof(plan: StudyPlan, trial: FrozenTrial, n: int, kind: str) -> np.ndarray | None:
    """The trial's kept out-of-fold predictions, or None when absent, of another kind, or off."""
    info = OOF.get(trial) or {}
    if info.get("kind") != kind or not info.get("file"):
        return None
    path = plan.oof_dir() / str(info["file"])
    if not path.is_file():
        return None
    arr = np.load(path, allow_pickle=False).astype(np.float64)
    if arr.shape[0] != n or not np.all(np.isfinite(arr)):
        return None
    return arr


def _recomputed_oof(
    plan: StudyPlan, trial: FrozenTrial, X: pd.DataFrame, y: pd.Series, folds: list
) -> np.ndarray:
    """The trial's out-of-fold predictions fitted again on the study's own folds."""
    model, params = refit_params(plan, trial)
    method = "predict" if plan.task == "regression" else "predict_proba"
    pipe = member_pipeline(plan, model, params)
    return np.asarray(cross_val_predict(pipe, X, y, cv=folds, method=method), dtype=np.float64)


def _flat(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 2:
        return arr[:, 1]
    return arr.ravel()


def prediction_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two members' predictions (the positive class for binary tasks);
    constant predictions correlate 1 with a copy of themselves and 0 with anything else."""
    fa, fb = _flat(a), _flat(b)
    if fa.std() == 0 or fb.std() == 0:
        return 1.0 if np.allclose(fa, fb) else 0.0
    return float(np.corrcoef(fa, fb)[0, 1])


def diverse_order(
    ranked: list[tuple[Candidate, np.ndarray]], top: int, max_corr: float = MAX_CORRELATION
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
            corr = max((prediction_correlation(arr, a) for _, a in chosen), default=0.0)
            keys.append((corr >= max_corr, families.count(cand.model), rank))
        pick = rest[min(range(len(rest)), key=keys.__getitem__)]
        chosen.append(pick)
        rest.remove(pick)
    return chosen


def _ranked_trials(
    studies: dict[str, optuna.Study], metric: Metric, only: Sequence[tuple[str, int]] | None
) -> list[tuple[str, FrozenTrial]]:
    """Complete trials of ``studies``, best first, or exactly the ``only`` ones in that order."""
    trials: list[tuple[str, FrozenTrial]] = []
    for name, study in studies.items():
        trials += [(name, t) for t in complete(study.get_trials(deepcopy=False))]
    if only is None:
        return metric.direction.ranked(trials, key=lambda st: st[1].value)
    order = [(s, int(n)) for s, n in only]
    trials = [(s, t) for s, t in trials if (s, t.number) in set(order)]
    missing = set(order) - {(s, t.number) for s, t in trials}
    if missing:
        raise StudyError(
            f"Trials {sorted(missing)} are no longer complete trials of their studies; "
            "the ensemble cannot be rebuilt."
        )
    return sorted(trials, key=lambda st: order.index((st[0], st[1].number)))


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
    check_top(top)
    url = storage_url(storage)
    opened = {name: load_study(name, url) for name in names}
    plans = {name: read_plan(study) for name, study in opened.items()}
    check_compatible(plans)
    first = plans[names[0]]
    X, y = first.load_split("train")
    metric = first.metric_obj()
    pool = Pool(
        studies=tuple(names), storage=url, plans=plans, metric=metric, task=first.task,
        classes=None if first.task == "regression" else np.unique(y.to_numpy()),
        y=y.to_numpy(), folds=first.study_folds(X, y),
        candidates=[], oof=[],
    )  # fmt: skip
    trials = _ranked_trials(opened, metric, only)
    if not trials:
        raise StudyError(f"Studies {names} have no complete trials yet; run a search first.")

    limit = len(trials) if only is not None else (top * 4 if diverse else top)
    loaded: list[tuple[Candidate, np.ndarray]] = []
    n_recomputed = 0
    started = time.perf_counter()
    for name, trial in trials:
        if len(loaded) >= limit:
            break
        plan = plans[name]
        # Members are refitted as their export is (knobs.study.refit_params): a boosted trial
        # that stopped early in its folds gets their round count, not its cap (with the cap,
        # an XGBoost trial that stopped at ~120 of 1,000 rounds was another model than the one
        # its out-of-fold predictions came from).
        model, params = refit_params(plan, trial)
        arr = _stored_oof(plan, trial, len(pool.y), pool.kind)
        source = "stored"
        if arr is None:
            if not recompute:
                pool.excluded.append(
                    (f"{model} #{trial.number} ({name})", "no stored out-of-fold predictions")
                )
                continue
            arr = _recomputed_oof(plan, trial, X, y, pool.folds)
            source = "recomputed"
            n_recomputed += 1
        cand = Candidate(
            study=name, trial=trial.number, model=model, params=params,
            baseline=bool(BASELINE.get(trial)), value=float(trial.value),
            cv_score=pool.fold_score(arr)[0], oof_source=source,
        )  # fmt: skip
        loaded.append((cand, arr))
    if n_recomputed:
        pool.notes.append(
            f"{n_recomputed} trial(s) had no stored out-of-fold predictions; they were recomputed "
            f"with the study's {len(pool.folds)} folds ({n_recomputed * len(pool.folds)} fits, "
            f"{time.perf_counter() - started:.1f} s). Searches keep them by default on tables up "
            "to 1M values (`keep_oof`)."
        )
    picked = diverse_order(loaded, top) if diverse and only is None else loaded[:limit]
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
            mat[i, j] = mat[j, i] = prediction_correlation(pool.oof[i], pool.oof[j])
    return pd.DataFrame(mat, index=labels, columns=labels)
