"""Reading a study back: trials as a table, the best trial, the baseline, and the refit.

Pure functions over a study (or its trials), so the CLI report, the dashboard charts and tests all
read the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from sklearn.pipeline import Pipeline

from knobs.metrics import direction as as_direction
from knobs.study._budget import is_scored
from knobs.study._pipeline import pipeline_for
from knobs.study._plan import StudyPlan
from knobs.study.keys import BASELINE, CV, FAIL_REASON, INTERRUPTED, PRUNED, START, WORKER

TRIAL_COLUMNS = [
    "number", "state", "value", "model", "params", "duration_s", "baseline", "start",
    "fail_reason", "pruned_after_fold", "saved_s", "rounds", "started", "completed", "worker",
]  # fmt: skip


def model_params(trial: FrozenTrial) -> tuple[str | None, dict[str, Any]]:
    """The trial's model and its parameters without the ``model.`` prefix."""
    model = trial.params.get("model")
    prefix = f"{model}."
    params = {k[len(prefix) :]: v for k, v in trial.params.items() if k.startswith(prefix)}
    return model, params


def trials_frame(trials: Sequence[FrozenTrial]) -> pd.DataFrame:
    """One row per trial, the columns the report and the dashboard show."""
    rows = []
    for t in trials:
        model, params = model_params(t)
        duration = t.duration.total_seconds() if t.duration is not None else None
        worker = WORKER.get(t) or {}
        pruned = PRUNED.get(t) or {}
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value if t.state == TrialState.COMPLETE else None,
                "model": model,
                "params": params,
                "duration_s": duration,
                "baseline": bool(BASELINE.get(t)),
                "start": bool(START.get(t)),
                "fail_reason": FAIL_REASON.get(t),
                "pruned_after_fold": pruned.get("after_fold"),
                "saved_s": pruned.get("saved_s"),
                "rounds": (CV.get(t) or {}).get("rounds"),
                "started": t.datetime_start,
                "completed": t.datetime_complete,
                "worker": f"{worker.get('host', '')}:{worker.get('pid', '')}" if worker else "",
            }
        )
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)


def saved_compute(trials: Sequence[FrozenTrial]) -> tuple[float, float]:
    """Seconds pruning saved (the folds pruned trials did not run, at their own pace), and that
    as a share of what the search would have cost without pruning."""
    # A trial cut by the time budget saved nothing: its folds were wanted, there was no time.
    saved = sum(
        info.get("saved_s", 0.0)
        for t in trials
        if (info := PRUNED.get(t) or {}).get("reason", "pruner") == "pruner"
    )
    spent = sum(t.duration.total_seconds() for t in trials if t.duration is not None)
    return saved, (saved / (saved + spent) if saved + spent > 0 else 0.0)


def complete(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if is_scored(t)]


def best_trial(trials: Sequence[FrozenTrial], direction: str) -> FrozenTrial | None:
    """The best scored trial (a pruned or failed one never is)."""
    done = complete(trials)
    return as_direction(direction).pick(done, key=lambda t: t.value) if done else None


def baseline_trial(trials: Sequence[FrozenTrial], direction: str) -> FrozenTrial | None:
    """The best of the default-parameter trials: what tuning has to beat."""
    return best_trial([t for t in trials if BASELINE.get(t)], direction)


def counts(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    out = {s.name: 0 for s in TrialState}
    for t in trials:
        out[t.state.name] += 1
    out["INTERRUPTED"] = sum(1 for t in trials if INTERRUPTED.get(t))
    return out


def refit_params(plan: StudyPlan, trial: FrozenTrial) -> tuple[str, dict[str, Any]]:
    """The model and the parameters a trial is refitted with on the whole training split.

    A defaults trial keeps every library default. A trial whose boosted model stopped early
    fixes its round count to the mean of its folds' best round counts (rounded): the refit has
    no validation slice to stop on, and the folds measured how many rounds these settings need.
    """
    model, params = model_params(trial)
    if BASELINE.get(trial):
        return str(model), {}
    rounds = (CV.get(trial) or {}).get("rounds")
    spec = plan.specs().get(str(model))
    if rounds and spec is not None and spec.boosting is not None:
        params = spec.boosting.fixed(params, max(1, round(sum(rounds) / len(rounds))))
    return str(model), params


def refit(plan: StudyPlan, trial: FrozenTrial, *, n_jobs: int = 1) -> Pipeline:
    """The trial's pipeline fitted on the whole training split (never on the test split)."""
    X, y = plan.load_split("train")
    model, params = refit_params(plan, trial)
    pipeline = pipeline_for(plan, model, params, seed=plan.config.seed, n_jobs=n_jobs)
    return pipeline.fit(X, y)


def test_score(plan: StudyPlan, pipeline: Pipeline) -> float:
    X, y = plan.load_split("test")
    return plan.metric_obj().score(pipeline, X, y)


@dataclass(frozen=True)
class SearchStatus:
    """A snapshot of a search, cheap enough to take every second."""

    state: str  # "queued" | "running" | "finished" | "stopped" | "interrupted"
    done: int  # trials that count toward the budget and have finished
    budget: int | None
    running: int
    complete: int
    failed: int
    pruned: int
    workers: int
    best_value: float | None
    baseline_value: float | None
    elapsed_s: float
    eta_s: float | None
    saved_s: float = 0.0
    saved_share: float = 0.0

    @property
    def progress(self) -> float | None:
        return None if not self.budget else min(1.0, self.done / self.budget)


@dataclass
class TuneResult:
    """What ``tune`` returns: the numbers, the trials and the refitted best pipeline."""

    study: str
    storage: str
    plan: StudyPlan
    best_score: float | None
    best_params: dict[str, Any]
    best_model: str | None
    best_trial: int | None
    baseline_score: float | None
    test_score: float | None
    n_trials: int
    wall_s: float
    trials: pd.DataFrame
    best_pipeline: Any = None
    counts: Mapping[str, int] = field(default_factory=dict)
    saved_s: float = 0.0
    saved_share: float = 0.0
    #: The model the search ended with (``knobs.ensembles.FinalChoice`` as a dict), when chosen.
    final: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``knobs tune --json``)."""
        trials = [
            {
                "number": int(r.number),
                "state": r.state,
                "value": _num(r.value),
                "params": r.params,
                "model": r.model,
                "duration_s": _num(r.duration_s),
                "baseline": bool(r.baseline),
                "start": bool(r.start),
                "fail_reason": r.fail_reason,
                "pruned_after_fold": None
                if _missing(r.pruned_after_fold)
                else int(r.pruned_after_fold),
                "saved_s": _num(r.saved_s),
                "rounds": r.rounds if isinstance(r.rounds, list) else None,
            }
            for r in self.trials.itertuples()
        ]
        return {
            "study": self.study,
            "storage": self.storage,
            "strategy": self.plan.config.strategy,
            "sampler": self.plan.config.sampler if self.plan.config.strategy == "bayes" else None,
            "models": list(self.plan.models),
            "task": self.plan.task,
            "target": self.plan.target,
            "metric": self.plan.metric,
            "direction": self.plan.direction,
            "cv": self.plan.folds,
            "pruner": self.plan.config.pruner,
            "early_stopping": self.plan.config.early_stopping,
            "saved_s": round(self.saved_s, 3),
            "saved_share": round(self.saved_share, 4),
            "best_score": _num(self.best_score),
            "best_params": self.best_params,
            "best_model": self.best_model,
            "best_trial": self.best_trial,
            "baseline_score": _num(self.baseline_score),
            "test_score": _num(self.test_score),
            "final": self.final,
            "n_trials": self.n_trials,
            "counts": dict(self.counts),
            "wall_s": round(self.wall_s, 3),
            "n_train": self.plan.n_train,
            "n_test": self.plan.n_test,
            "fingerprint": self.plan.fingerprint,
            "notices": list(self.plan.notices),
            "versions": dict(self.plan.versions),
            "trials": trials,
        }


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
