"""Reading a study back: trials as a table, the best trial, the baseline, and the refit.

Pure functions over a study (or its trials), so the CLI report, the dashboard charts and tests all
read the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from sklearn.pipeline import Pipeline

from knobs.jobs import INTERRUPTED_ATTR, WORKER_ATTR
from knobs.plan import StudyPlan
from knobs.search import BASELINE_ATTR, FAIL_REASON_ATTR, build_pipeline

TRIAL_COLUMNS = [
    "number", "state", "value", "model", "params", "duration_s", "baseline",
    "fail_reason", "started", "completed", "worker",
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
        worker = t.user_attrs.get(WORKER_ATTR) or {}
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value if t.state == TrialState.COMPLETE else None,
                "model": model,
                "params": params,
                "duration_s": duration,
                "baseline": bool(t.user_attrs.get(BASELINE_ATTR)),
                "fail_reason": t.user_attrs.get(FAIL_REASON_ATTR),
                "started": t.datetime_start,
                "completed": t.datetime_complete,
                "worker": f"{worker.get('host', '')}:{worker.get('pid', '')}" if worker else "",
            }
        )
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)


def complete(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)
    ]


def best_trial(trials: Sequence[FrozenTrial], direction: str) -> FrozenTrial | None:
    done = complete(trials)
    if not done:
        return None
    pick = max if direction == "maximize" else min
    return pick(done, key=lambda t: t.value)


def baseline_trial(trials: Sequence[FrozenTrial], direction: str) -> FrozenTrial | None:
    """The best of the default-parameter trials: what tuning has to beat."""
    return best_trial([t for t in trials if t.user_attrs.get(BASELINE_ATTR)], direction)


def counts(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    out = {s.name: 0 for s in TrialState}
    for t in trials:
        out[t.state.name] += 1
    out["INTERRUPTED"] = sum(1 for t in trials if t.user_attrs.get(INTERRUPTED_ATTR))
    return out


def refit(plan: StudyPlan, trial: FrozenTrial, *, n_jobs: int = 1) -> Pipeline:
    """The trial's pipeline fitted on the whole training split (never on the test split)."""
    problem = plan.problem()
    model, params = model_params(trial)
    spec = problem.models[model]
    if trial.user_attrs.get(BASELINE_ATTR):
        params = {}
    pipeline = build_pipeline(problem, spec, params, seed=plan.config.seed, n_jobs=n_jobs)
    return pipeline.fit(problem.X, problem.y)


def test_score(plan: StudyPlan, pipeline: Pipeline) -> float:
    X, y = plan.load_split("test")
    return plan.metric_obj().score(pipeline, X, y)
