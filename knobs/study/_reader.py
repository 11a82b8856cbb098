"""Reading a study back: trials as a table, the best trial, the baseline, and the refit.

Pure functions over a study (or its trials), so the CLI report, the dashboard charts and tests all
read the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from knobs.errors import StudyError
from knobs.formatting import fmt_duration, fmt_gain, fmt_score, plural
from knobs.metrics import Metric, call, constant_is_median, fold_noise, margin_words, noise_floor
from knobs.metrics import direction as as_direction
from knobs.pipelines import PREFIX as PREP_PREFIX
from knobs.predict import DETECTED
from knobs.study._budget import cut_by_time, finished, is_scored
from knobs.study._pipeline import pipeline_for
from knobs.study._plan import StudyPlan
from knobs.study.keys import BASELINE, CV, FAIL_REASON, INTERRUPTED, PRUNED, START, WORKER

TRIAL_COLUMNS = [
    "number", "state", "value", "model", "params", "duration_s", "baseline", "start",
    "fail_reason", "pruned_after_fold", "saved_s", "rounds", "started", "completed", "worker",
]  # fmt: skip


def model_params(trial: FrozenTrial) -> tuple[str | None, dict[str, Any]]:
    """The trial's model and its parameters without the ``model.`` prefix; a pipeline search's
    preprocessing choices keep theirs (``prep.encoding``: ``pipeline_for`` reads them). A queued
    trial has no parameters yet: its queued ones are read instead (a finished study listed its
    never-run start as a row with no model and "library defaults")."""
    given = trial.params
    if trial.state == TrialState.WAITING and not given:
        given = trial.system_attrs.get("fixed_params", {})
    model = given.get("model")
    prefix = f"{model}."
    params = {k[len(prefix) :]: v for k, v in given.items() if k.startswith(prefix)}
    params.update({k: v for k, v in given.items() if k.startswith(PREP_PREFIX)})
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
                "state": "TIME_CUT" if cut_by_time(t) else t.state.name,
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
                "worker": _worker_name(worker),
            }
        )
    return pd.DataFrame(rows, columns=TRIAL_COLUMNS)


def _worker_name(worker: Mapping[str, Any]) -> str:
    """Where a trial ran: its Dask worker's address, or ``host:pid`` of a local worker."""
    if not worker:
        return ""
    return str(worker.get("dask") or f"{worker.get('host', '')}:{worker.get('pid', '')}")


def saved_compute(trials: Sequence[FrozenTrial]) -> tuple[float, float]:
    """Seconds pruning saved (the folds pruned trials did not run, at their own pace), and that
    as a share of what the search would have cost without pruning."""
    # A trial cut by the time budget saved nothing: its folds were wanted, there was no time.
    saved = sum(
        (PRUNED.get(t) or {}).get("saved_s", 0.0)
        for t in trials
        if t.state == TrialState.PRUNED and not cut_by_time(t)
    )
    spent = sum(t.duration.total_seconds() for t in trials if t.duration is not None)
    return saved, (saved / (saved + spent) if saved + spent > 0 else 0.0)


def complete(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if is_scored(t)]


def best_trial(trials: Sequence[FrozenTrial], direction: str) -> FrozenTrial | None:
    """The best scored trial (a pruned or failed one never is)."""
    done = complete(trials)
    return as_direction(direction).pick(done, key=lambda t: t.value) if done else None


def delivered_trial(
    trials: Sequence[FrozenTrial], direction: str
) -> tuple[FrozenTrial | None, str | None]:
    """The single trial a search hands over, and why when it is not the best by CV.

    The best trial, unless a linear model's trial (``ModelSpec.linear``) trails it by at most
    one standard error of their paired per-fold differences (every trial is scored on the same
    folds): then the best such linear trial (the one-standard-error rule, as glmnet's
    ``lambda.1se``). A CV lead that small is noise, and the linear model is the one whose
    held-out score it predicts best on a small table: on the peer benchmark it turned a 0.16 R²
    (HistGradientBoosting, CV 0.5518) into 0.33 (ridge, CV 0.5506) and a 0.980 ROC AUC (extra
    trees) into 0.994 (logistic). Paired, not the spread of the best trial's own folds: on the
    5,092-row affairs table XGBoost led logistic by 0.0031 on every fold alike, within the
    0.0042 spread of its folds, and delivering logistic cost 0.009 held-out (2 of 3 seeds).
    """
    from knobs.models import REGISTRY

    best = best_trial(trials, direction)
    if best is None or _is_linear(best, REGISTRY):
        return best, None
    folds = [float(v) for v in (CV.get(best) or {}).get("fold_scores") or ()]
    if len(folds) < 2:
        return best, None
    way = as_direction(direction)
    close: dict[int, float] = {}  # trial number -> the standard error it was judged by
    for t in complete(trials):
        if not _is_linear(t, REGISTRY):
            continue
        se = _paired_se(folds, [float(v) for v in (CV.get(t) or {}).get("fold_scores") or ()])
        if se is not None and way.gain(t.value, best.value) >= -se:
            close[t.number] = se
    if not close:
        return best, None
    chosen = way.pick([t for t in trials if t.number in close], key=lambda t: t.value)
    why = (
        f"trial {chosen.number} ({chosen.params.get('model')}, CV {fmt_score(chosen.value)}) "
        f"instead of the best trial {best.number} ({best.params.get('model')}, CV "
        f"{fmt_score(best.value)}): a linear model within one standard error of the best "
        f"(±{fmt_score(close[chosen.number])} from their {len(folds)} paired folds) is "
        "preferred, as its held-out score is the more predictable"
    )
    return chosen, why


def _paired_se(best: Sequence[float], other: Sequence[float]) -> float | None:
    """The standard error of the per-fold differences of two trials scored on the same folds
    (None when they were not: a different fold count)."""
    if len(other) != len(best):
        return None
    return fold_noise([b - o for b, o in zip(best, other, strict=True)])


def _is_linear(trial: FrozenTrial, registry: Mapping[str, Any]) -> bool:
    spec = registry.get(str(trial.params.get("model")))
    return bool(spec is not None and spec.linear)


def pick_trial(
    trials: Sequence[FrozenTrial],
    direction: str,
    study: str,
    trial: int | None,
    *,
    purpose: str,
    error: type[Exception] = StudyError,
) -> FrozenTrial:
    """The trial to export, explain or slim: ``trial`` by number, or the one the search delivers
    (``delivered_trial``); ``error`` (naming the study, the trial and what to do) when there is
    none or it has no score. ``purpose`` says what the model is wanted for, as in "nothing to
    export"."""
    if trial is None:
        chosen, _ = delivered_trial(trials, direction)
        if chosen is None:
            raise error(
                f"Study `{study}` has no completed trial yet, so there is nothing {purpose}. Let "
                "the search finish a trial first."
            )
        return chosen
    by_number = {t.number: t for t in trials}
    if trial not in by_number:
        raise error(
            f"Study `{study}` has no trial {trial} (trials 0 to {len(trials) - 1}). Pick one "
            "from `knobs studies` or the dashboard."
        )
    chosen = by_number[trial]
    if not complete([chosen]):
        raise error(
            f"Trial {trial} of study `{study}` is {chosen.state.name}, not COMPLETE with a "
            f"score, so there is nothing {purpose}; pick a completed trial."
        )
    return chosen


def baseline_trial(trials: Sequence[FrozenTrial], direction: str) -> FrozenTrial | None:
    """The best of the default-parameter trials: what tuning has to beat."""
    return best_trial([t for t in trials if BASELINE.get(t)], direction)


#: Below this many test rows a test score is called a rough figure.
FEW_TEST_ROWS = 50


def few_test_rows_caveat(plan: StudyPlan) -> str | None:
    """What a test score on few rows is worth: a 60-row table scored CV 0.94 and test 0.75 on
    its 12 test rows without a word, where one row moves an accuracy by 0.083."""
    if plan.test_source or plan.n_test >= FEW_TEST_ROWS:
        return None
    return (
        f"The test score is a rough figure: it stands on {plan.n_test} test rows, each "
        f"{1 / max(1, plan.n_test):.0%} of them. The cross-validated score, on every training "
        "row, is the steadier one."
    )


#: A test score this many fold standard deviations worse than the best CV score is said...
FAR_BELOW_FOLD_SDS = 4.0
#: ... and at least this share of it worse: a random test split of 240 rows scored AUC 0.802
#: against a CV of 0.849 (4.3 fold SDs of 5 folds), sampling noise, and was said to differ.
FAR_BELOW_SHARE = 0.1


#: A best cross-validated ROC AUC at or below this is said to be near chance (0.5): a table
#: whose label hung on a time of day read as 1,079 categories scored 0.4850, with no word said.
CHANCE_AUC = 0.55
CHANCE_AUC_METRICS = ("roc_auc", "roc_auc_ovr")


def test_caveat(plan: StudyPlan, trials: Sequence[FrozenTrial], score: float | None) -> str | None:
    """What the test score is worth, when it needs saying: few test rows
    (:func:`few_test_rows_caveat`), or a score far below the cross-validated one. Daily sales
    with a drift scored CV R² 0.99 and, on the last 800 days, -2.28, and the report said
    "Tuning helps" without a word on the gap."""
    if score is None:
        return None
    said = [few_test_rows_caveat(plan)]
    best = best_trial(trials, plan.direction)
    folds = [f for f in (CV.get(best) or {}).get("fold_scores") or [] if f is not None]
    if best is not None and len(folds) >= 2 and math.isfinite(score):
        spread = float(np.std(folds, ddof=1))
        gap = as_direction(plan.direction).gain(best.value, score)  # > 0: test is worse
        if gap > max(FAR_BELOW_FOLD_SDS * spread, FAR_BELOW_SHARE * max(abs(best.value), 0.1)):
            said.append(
                f"The test score ({fmt_score(score)}) is far below the cross-validated "
                f"{fmt_score(best.value)}, more than {FAR_BELOW_FOLD_SDS:g} times the folds' "
                "spread: the test rows differ from the training rows. If they come later in "
                "time, from another source or group, or a leak the folds share, the "
                "cross-validated score flatters the model; trust the test score."
            )
    if best is not None and plan.metric == "r2" and best.value is not None and best.value < 0:
        said.append(
            f"Every model scored below 0 R² in cross-validation (best {fmt_score(best.value)}): "
            "each predicts worse than the training rows' mean would. A few extreme target "
            "values often do this (see the notices): leave those rows out, or rank the models "
            "by a measure they sway less (`--metric mae`, or Metric on the Search page)."
        )
    if (best is not None and plan.metric in CHANCE_AUC_METRICS and best.value is not None
            and best.value <= CHANCE_AUC):  # fmt: skip
        said.append(
            f"The best model ranks the rows {'no' if best.value <= 0.5 else 'little'} better "
            f"than chance (cross-validated "
            f"{fmt_score(best.value)} ROC AUC; 0.5 is a coin toss): the columns, as read, do not "
            "predict the target. Check the notices for columns read as categories that hold "
            "numbers, times or codes, and that the target is the column you meant."
        )
    said.append(constant_caveat(plan, best))
    return " ".join(s for s in said if s) or None


#: Metrics whose no-better-than-a-constant case has words of its own above (R² below 0, ROC AUC
#: near chance).
_OWN_CONSTANT_WORDS = ("r2", *CHANCE_AUC_METRICS)


def constant_caveat(plan: StudyPlan, best: FrozenTrial | None) -> str | None:
    """Words for a best trial no better than predicting a constant (``plan.constant``)."""
    if (best is None or best.value is None or plan.constant is None
            or plan.metric in _OWN_CONSTANT_WORDS):  # fmt: skip
        return None
    if plan.goal.gain(best.value, plan.constant) > 0:
        return None
    metric = plan.metric_obj()
    if plan.task == "regression":
        what = "the training rows' median" if constant_is_median(metric) else "their mean"
        why = (
            "Models here fit squared error, which a few extreme target values pull far from most "
            "rows whatever the metric ranks them by: leave those rows out (see the notices)."
            if constant_is_median(metric) else
            "The columns, as read, do not predict the target: check the notices."
        )  # fmt: skip
    else:
        what = (
            "the most common class" if metric.reads == "labels"
            else "each class's share of the training rows"
        )  # fmt: skip
        why = (
            "The columns, as read, do not predict the target: check the notices, and for a rare "
            "class rank by a measure made for it (balanced accuracy, F1 or ROC AUC)."
        )
    return (
        f"The best model's cross-validated {metric.in_words} ({fmt_score(best.value)}) is no better "
        f"than predicting {what} for every row ({fmt_score(plan.constant)}). {why}"
    )


def perfect_trial(trials: Sequence[FrozenTrial], metric: Metric) -> FrozenTrial | None:
    """The best trial when it scored the metric's perfect score on every fold: no trial can
    beat it, so the search ends there (a table with a column that gives the target away ran
    40 trials at a CV accuracy of 1.0000)."""
    best = best_trial(trials, metric.direction)
    folds = (CV.get(best) or {}).get("fold_scores") if best is not None else None
    if not folds or not all(f is not None and abs(f - metric.perfect) < 1e-12 for f in folds):
        return None
    return best


def perfect_words(trial: FrozenTrial, metric: Metric) -> str:
    """Why a search ended before its budget on a perfect score, and what that usually means."""
    return (
        f"Trial {trial.number} scored a perfect {metric.in_words} ({fmt_score(metric.perfect)}) on "
        "every fold, so the search stopped there: no trial can beat it. A perfect score usually "
        "means a column gives the target away (recorded after the fact, or a copy of it): "
        "Knobs flags such columns as a possible leak when it reads the table; exclude them and "
        "search again."
    )


def tuning_verdict(trials: Sequence[FrozenTrial], direction: str) -> dict[str, Any] | None:
    """Is tuning worth it here? The best trial against the defaults on the same folds, judged by
    the one rule (:data:`knobs.metrics.RULE`), with the CV noise of the best score.

    ``{"call": "gain" | "tie", "gain", "margin", "cv_noise", "folds", "words"}``; None before a
    defaults trial and a best trial have both finished every fold.
    """
    best, base = best_trial(trials, direction), baseline_trial(trials, direction)
    if best is None or base is None:
        return None
    way = as_direction(direction)
    best_folds = (CV.get(best) or {}).get("fold_scores") or []
    base_folds = (CV.get(base) or {}).get("fold_scores") or []
    cv_noise = fold_noise(best_folds)
    gain = way.gain(best.value, base.value)
    if best.number == base.number:
        scored = len(complete(trials))
        ended = finished(trials)  # the trial count the summary gives ("25 trials"), not 26
        # "12 trials" beside "in 5 scored trials" left the other 7 unexplained
        others = (f" (the other {ended - scored} of {ended} were pruned, failed or stopped "
                  "before their last fold)") if ended > scored else ""  # fmt: skip
        return {
            "call": "tie", "gain": 0.0, "margin": None, "cv_noise": cv_noise,
            "folds": len(best_folds),
            "words": f"The defaults trial is the best: tuning found nothing better in "
            f"{plural(scored, 'scored trial')}{others}.",
        }  # fmt: skip
    gains = [way.gain(a, b) for a, b in zip(best_folds, base_folds, strict=False)]
    floor = noise_floor(gains) if len(gains) == len(best_folds) else math.inf
    verdict = call(gain, floor)
    numbers = (
        f"best CV {fmt_score(best.value)} vs {fmt_score(base.value)} with the defaults "
        f"({fmt_gain(gain)}, {margin_words(floor, len(gains))})"
    )
    words = (
        f"Tuning helps: {numbers}."
        if verdict == "gain"
        else f"Tuning is within the noise: {numbers}; the defaults would do about as well."
    )
    return {
        "call": verdict, "gain": gain, "margin": floor if math.isfinite(floor) else None,
        "cv_noise": cv_noise, "folds": len(gains), "words": words,
    }  # fmt: skip


def devices_used(plan: StudyPlan, trials: Sequence[FrozenTrial]) -> dict[str, Any]:
    """``{"asked", "used", "words"}``: the ``--device`` asked for and where the workers' XGBoost
    trained (each worker resolves it on its own machine and records it with its trials)."""
    from knobs.devices import device_words

    used = sorted({(WORKER.get(t) or {}).get("device") or "cpu" for t in trials if WORKER.get(t)})
    asked = plan.config.device
    words = "; ".join(device_words(asked, u) for u in used) if used else ""
    return {"asked": asked, "used": used, "words": words}


def counts(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    """Trials per Optuna state, but ``PRUNED`` holds only the pruner's and ``FAIL`` only real
    failures; ``TIME_CUT`` those the time budget stopped (stored as pruned, or as failed when
    their worker was killed past the deadline). ``INTERRUPTED`` counts trials that were killed
    or stopped (also in ``FAIL``, or in ``TIME_CUT``)."""
    out = {s.name: 0 for s in TrialState}
    for t in trials:
        out[t.state.name] += 1
    cut = [t for t in trials if cut_by_time(t)]
    out["TIME_CUT"] = len(cut)
    out["PRUNED"] -= sum(1 for t in cut if t.state == TrialState.PRUNED)
    out["FAIL"] -= sum(1 for t in cut if t.state == TrialState.FAIL)
    out["INTERRUPTED"] = sum(1 for t in trials if INTERRUPTED.get(t))
    # Ended but not in the trial count (stopped by the time before their first fold, or killed
    # and retried): COMPLETE + PRUNED + FAIL + TIME_CUT = the trial count + NOT_COUNTED. A
    # report read "13 trials" beside 9 complete and 6 cut, and the counts did not add up.
    ended = sum(1 for t in trials if t.state.is_finished())
    out["NOT_COUNTED"] = ended - finished(trials)
    return out


def no_model_words(trials: Sequence[FrozenTrial], timeout: float | None) -> str | None:
    """Why a search delivered no model, and what to do, or None when a trial finished. A
    1.7-million-row table with 40 s ended on "best r2 - (None, trial None)" and exit status 1,
    the internal error's, with no word of why."""
    if any(is_scored(t) for t in trials):
        return None
    cut = [t for t in trials if cut_by_time(t)]
    failed = [t for t in trials if t.state == TrialState.FAIL and not cut_by_time(t)]
    if timeout and (cut or not failed):
        ran = max((float((PRUNED.get(t) or {}).get("fit_s") or 0.0) for t in cut), default=0.0)
        longest = f"; the longest ran {ran:.0f} s without finishing its folds" if ran >= 1 else ""
        budget = f"{timeout:g} s" if timeout < 120 else fmt_duration(timeout)
        return (f"No trial finished within the time budget ({budget}, from "
                f"reading the table to the refit){longest}. Give the search more time "
                "(`--timeout`, or Time limit on the Search page), fewer folds (`--cv 2`, or "
                "Folds), or a sample of the rows.")
    if failed:
        reason = next((FAIL_REASON.get(t) for t in failed if FAIL_REASON.get(t)), "")
        return (f"No trial finished: every trial failed ({plural(len(failed), 'trial')})"
                + (f"; the first reason: {reason}" if reason else "")
                + ". The trials table says why for each.")
    return "No trial finished: the search ended before any trial was scored."


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


def fit_final(plan: StudyPlan, estimator: Any) -> tuple[Any, int]:
    """The delivered model and the rows it was fitted on: ``estimator`` (fitted on the training
    split, and scored on the test split already) refitted on every labelled row when the plan
    says so (``config.final_fit``), else ``estimator`` itself.

    A greedy ensemble keeps the weights it chose; a stacking ensemble stays on the training
    split, since its meta-learner was fitted on the training rows' out-of-fold predictions and
    the test rows have none.
    """
    from knobs.portable import StackingEnsembleClassifier, StackingEnsembleRegressor

    stacking = (StackingEnsembleClassifier, StackingEnsembleRegressor)
    if not plan.fits_all_rows or isinstance(estimator, stacking):
        return estimator, plan.n_train
    X, y = plan.load_split("all")
    fresh = clone(estimator)
    if hasattr(estimator, "weights_") and hasattr(estimator, "members_"):  # greedy
        return fresh.fit(X, y, weights=estimator.weights_), len(y)
    return fresh.fit(X, y), len(y)


def test_score(plan: StudyPlan, pipeline: Pipeline) -> float:
    X, y = plan.load_split("test")
    return plan.metric_obj().score(pipeline, X, y)


@dataclass(frozen=True)
class SearchStatus:
    """A snapshot of a search, cheap enough to take every second."""

    state: str  # "queued" | "running" | "finishing" | "finished" | "stopped" | "interrupted"
    done: int  # trials that count toward the budget and have finished
    budget: int | None
    running: int
    complete: int
    failed: int
    pruned: int  # by the pruner; the time budget's cuts are ``time_cut``
    workers: int
    best_value: float | None
    baseline_value: float | None
    elapsed_s: float
    eta_s: float | None
    saved_s: float = 0.0
    saved_share: float = 0.0
    time_cut: int = 0

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
    #: Which rows ``best_pipeline`` was fitted on after the test score: ``{"rows", "on", "why"}``.
    fit: dict[str, Any] | None = None
    #: ``{"trial", "model", "why"}`` when the single model delivered is not the best trial by CV
    #: (:func:`delivered_trial`); None when it is, or when an ensemble is delivered.
    chosen: dict[str, Any] | None = None
    #: Is tuning worth it: :func:`tuning_verdict` (its ``cv_noise`` is the best score's noise).
    verdict: dict[str, Any] | None = None
    #: Where a Dask run's tasks went (``Search.dask_info``); None for local worker processes.
    dask: dict[str, Any] | None = None
    #: Where XGBoost trained: :func:`devices_used`.
    device: dict[str, Any] | None = None
    #: Why the search ended on a perfect score (:func:`perfect_words`); None when it did not.
    perfect: str | None = None
    #: Why no model was delivered, and what to do (:func:`no_model_words`); None when one was.
    no_model: str | None = None
    #: What the test score is worth, when it needs saying (:func:`test_caveat`).
    test_caveat: str | None = None

    def predict(self, data: Any, *, id_column: str | None = DETECTED) -> pd.DataFrame:
        """Predictions for new rows (a path, bytes or a DataFrame with the table's own column
        names), as ``knobs predict`` writes them: class labels, not the class codes
        ``best_pipeline.predict`` returns (a 1-5 rating came back as 0-4), one probability
        column per class, keyed by the ID column; the columns are checked as there. Its
        warnings (unseen categories, unreadable values) go to ``warnings.warn``."""
        import warnings

        from knobs.export import LoadedModel
        from knobs.export._card import predict_card
        from knobs.predict import predict_frame

        if self.best_pipeline is None:
            raise StudyError(f"Study `{self.study}` delivered no model: no trial finished.")
        if isinstance(data, pd.DataFrame):
            frame = data
        else:
            from knobs.data import read_table

            frame = read_table(data, min_rows=1).frame
        fitted_on = "all" if (self.fit or {}).get("on") == "all" else "train"
        card = predict_card(self.plan, self.plan.load_split(fitted_on)[0])
        prediction = predict_frame(LoadedModel(card=card, estimator=self.best_pipeline), frame,
                                   id_column=id_column)  # fmt: skip
        for said in prediction.warnings:
            warnings.warn(said, stacklevel=2)
        return prediction.frame

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
                "worker": r.worker or None,
            }
            for r in self.trials.itertuples()
        ]
        return {
            "study": self.study,
            "storage": self.storage,
            "strategy": self.plan.config.strategy,
            "seed": self.plan.config.seed,
            "reproducible": self.plan.config.reproducible,
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
            "chosen_trial": self.chosen,
            "baseline_score": _num(self.baseline_score),
            "test_score": _num(self.test_score),
            "test_caveat": self.test_caveat,
            "cv_noise": _num((self.verdict or {}).get("cv_noise")),
            "verdict": self.verdict,
            "perfect": self.perfect,
            "no_model": self.no_model,
            "final": self.final,
            "final_fit": self.fit,
            "device": self.device,
            "dask": None
            if self.dask is None
            else {k: self.dask.get(k) for k in ("address", "workers", "storage")},
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
