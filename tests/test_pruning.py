"""Early stopping inside boosted models and trial pruning on cross-validation folds."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from knobs.data import prepare
from knobs.metrics import get_metric
from knobs.models import ALL_TASKS, REGISTRY, ModelSpec, Param
from knobs.pruners import PRUNERS, get_pruner
from knobs.study import Problem, best_trial, evaluate, make_folds, refit_params
from knobs.study.keys import BASELINE, CV, PRUNED
from tests.conftest import make_table


def _problem(models: dict[str, ModelSpec], *, n: int = 240, task: str = "binary", **kw: Any):
    ds = prepare(make_table(task, n=n), "label")
    return Problem(
        X=ds.X, y=ds.y, task=task, metric=get_metric(None, task), models=models,
        columns=ds.columns, folds=make_folds(ds.y, task, 5, seed=0), **kw,
    )  # fmt: skip


# --- early stopping ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [m for m, s in REGISTRY.items() if s.boosting is not None])
def test_boosted_models_stop_early_and_record_their_rounds(model: str) -> None:
    problem = _problem({model: REGISTRY[model]}, early_stopping=True)
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    value = evaluate(trial, problem, seed=0)
    study.tell(trial, value)
    rounds = CV.get(study.trials[0])["rounds"]
    assert len(rounds) == 5 and all(r >= 1 for r in rounds)
    # The round count is a cap where it is tuned (the MLP's epochs are capped by its builder).
    cap = study.trials[0].params.get(f"{model}.{REGISTRY[model].boosting.rounds}", 400)
    assert max(rounds) <= cap


def test_early_stopping_never_sees_the_rows_a_fold_is_scored_on() -> None:
    """The inner slice comes from the fold's training rows: record which rows stopped the model
    (a unique id column survives preprocessing) and compare with each fold's scored rows."""
    seen: list[set[int]] = []
    xgb = REGISTRY["xgboost"].boosting

    def spy(model: Any, X: Any, y: Any, X_val: Any, y_val: Any) -> int:
        seen.append({int(round(v)) for v in np.asarray(X_val)[:, 0]})
        return xgb.fit(model, X, y, X_val, y_val)

    spec = replace(REGISTRY["xgboost"], boosting=replace(xgb, fit=spy))
    frame = make_table("binary", n=200)
    frame.insert(0, "rid", np.arange(len(frame)) * 1.0 + 0.25)
    ds = prepare(frame, "label")
    assert "rid" in ds.X.columns  # a float column, not taken for an ID
    folds = make_folds(ds.y, "binary", 4, seed=0)
    problem = Problem(
        X=ds.X, y=ds.y, task="binary", metric=get_metric(None, "binary"),
        models={"xgboost": spec}, columns=ds.columns, folds=folds, early_stopping=True,
    )  # fmt: skip
    study = optuna.create_study(direction="maximize")
    evaluate(study.ask(), problem, seed=0)
    rid = ds.X["rid"].to_numpy()
    assert len(seen) == len(folds)
    for stop_rows, (train_idx, valid_idx) in zip(seen, folds, strict=True):
        scored = {int(round(v)) for v in rid[valid_idx]}
        trained = {int(round(v)) for v in rid[train_idx]}
        assert stop_rows and not stop_rows & scored
        assert stop_rows <= trained


def test_the_refit_uses_the_mean_round_count_of_the_folds() -> None:
    class Plan:
        def specs(self) -> dict[str, ModelSpec]:
            return {"xgboost": REGISTRY["xgboost"]}

    trial = optuna.trial.create_trial(
        params={"model": "xgboost", "xgboost.n_estimators": 900},
        distributions={
            "model": optuna.distributions.CategoricalDistribution(["xgboost"]),
            "xgboost.n_estimators": optuna.distributions.IntDistribution(50, 1000),
        },
        value=0.8,
        user_attrs=CV.attr({"fold_scores": [0.8] * 3, "rounds": [40, 50, 63]}),
    )
    model, params = refit_params(Plan(), trial)
    assert (model, params["n_estimators"]) == ("xgboost", 51)


def test_defaults_trials_are_never_early_stopped() -> None:
    problem = _problem({"hist_gb": REGISTRY["hist_gb"]}, early_stopping=True)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"model": "hist_gb"}, user_attrs=BASELINE.attr(True))
    trial = study.ask()
    study.tell(trial, evaluate(trial, problem, seed=0))
    assert "rounds" not in CV.get(study.trials[0])


# --- pruning -------------------------------------------------------------------------------------


def _toy(task: str, p: dict[str, Any], seed: int, n_jobs: int) -> Any:
    """Half the space is hopeless: a classifier that guesses; the other half learns."""
    if p.get("hopeless"):
        return DummyClassifier(strategy="uniform", random_state=seed)
    return LogisticRegression(C=float(p.get("C", 1.0)), max_iter=500)


TOY = ModelSpec(
    "toy", "Toy", ALL_TASKS, _toy,
    (Param("hopeless", "categorical", choices=(False, True)), Param("C", "float", 1.0, 1.0)),
    scale=True,
)  # fmt: skip


def _search(pruner: str, *, hopeless: list[bool]) -> list[optuna.trial.FrozenTrial]:
    spec = get_pruner(pruner)
    problem = _problem({"toy": TOY}, reports=spec.reports, n=300)
    study = optuna.create_study(direction="maximize", pruner=spec.build(len(problem.folds)))
    for h in hopeless:
        study.enqueue_trial({"model": "toy", "toy.hopeless": h, "toy.C": 1.0})
    for _ in hopeless:
        trial = study.ask()
        try:
            study.tell(trial, evaluate(trial, problem, seed=0))
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
    return study.trials


PRUNING = [p for p in PRUNERS if p != "none"]


@pytest.mark.parametrize("pruner", PRUNING)
def test_every_pruner_prunes_hopeless_trials_and_only_them(pruner: str) -> None:
    hopeless = [False] * 6 + [True, False] * 6
    trials = _search(pruner, hopeless=hopeless)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, f"{pruner} pruned nothing"
    assert all(t.params["toy.hopeless"] for t in pruned)
    for t in pruned:
        info = PRUNED.get(t)
        assert 1 <= info["after_fold"] < info["folds"] == 5
        assert info["saved_s"] > 0 and math.isfinite(info["saved_s"])


@pytest.mark.parametrize("pruner", PRUNING)
def test_no_pruner_prunes_when_every_configuration_is_the_same(pruner: str) -> None:
    trials = _search(pruner, hopeless=[False] * 14)
    assert all(t.state == TrialState.COMPLETE for t in trials)


class _SlowLogistic(LogisticRegression):
    """A logistic regression whose every fit takes 0.3 s: a fold's time, known in advance."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _SlowLogistic:
        import time

        time.sleep(0.3)
        return super().fit(X, y, sample_weight)


SLOW = ModelSpec("slow", "Slow", ALL_TASKS, lambda task, p, seed, n_jobs: _SlowLogistic(), ())


def test_a_trial_whose_remaining_folds_cannot_end_by_the_cut_stops_at_once() -> None:
    """A 60,000-row search's random forest start ran 20 s and was killed in its second of three
    folds: after each fold the trial only asked whether the next fold fitted before the cut, so
    it spent that fold's time on a trial that could never finish."""
    import time

    problem = _problem({"slow": SLOW}, deadline=time.time() + 1.0)  # 5 folds of 0.3 s
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned, match="after fold 1"):
        evaluate(trial, problem, seed=0)
    info = PRUNED.get(trial)
    assert info["after_fold"] == 1 and info["reason"] == "time budget"


def test_a_pruned_trial_is_never_best_even_with_better_intermediate_values() -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.7, params={}, distributions={}))
    pruned = optuna.trial.create_trial(
        state=TrialState.PRUNED, params={}, distributions={}, intermediate_values={0: 0.99}
    )
    study.add_trial(pruned)
    assert best_trial(study.trials, "maximize").value == 0.7


# --- several families: a trial is judged against its own family (WithinFamily) -----------------


def _family_trial(model: str, folds: list[float]) -> optuna.trial.FrozenTrial:
    from optuna.distributions import CategoricalDistribution

    return optuna.trial.create_trial(
        params={"model": model},
        distributions={"model": CategoricalDistribution(["ridge", "xgb"])},
        value=float(np.mean(folds)),
        intermediate_values={k: float(np.mean(folds[: k + 1])) for k in range(len(folds))},
    )


@pytest.mark.parametrize("pruner", ["median", "percentile", "sh", "wilcoxon"])
def test_a_revived_family_is_judged_against_its_own_trials(pruner: str) -> None:
    """The house-price case: ridge's trials all at 0.83, XGBoost's at 0.79-0.81. While the
    allocator has brought XGBoost back for a rung, a good XGBoost configuration (0.82 at its
    second fold) runs on, though below every ridge trial, and a poor one still stops; outside a
    revival every trial is judged against everyone, as before."""
    from knobs.pruners import WithinFamily, build_pruner
    from knobs.study.keys import FAMILIES

    study = optuna.create_study(direction="maximize")
    for _ in range(8):
        study.add_trial(_family_trial("ridge", [0.830, 0.832, 0.831, 0.833, 0.832]))
    for level in (0.79, 0.80, 0.80, 0.81, 0.80, 0.79):
        study.add_trial(_family_trial("xgb", [level] * 5))
    study.pruner = build_pruner(pruner, 5, n_models=2)
    assert isinstance(study.pruner, WithinFamily)

    def pruned_at_fold_2(score: float) -> bool:
        study.enqueue_trial({"model": "xgb"})  # as the family allocator does
        trial = study.ask()
        trial.suggest_categorical("model", ["ridge", "xgb"])
        for k in range(2):
            trial.report(score, k)
        decision = trial.should_prune()
        study.tell(trial, state=TrialState.FAIL)
        return decision

    if pruner == "median":
        assert pruned_at_fold_2(0.82)  # no revival: below the median of everyone
    FAMILIES.set(study, {"rung": 3, "alive": ["ridge", "xgb"], "until": {"xgb": 14}})
    assert not pruned_at_fold_2(0.82)  # best of its family: goes on
    if pruner != "wilcoxon":  # Wilcoxon needs more paired folds to be sure
        assert pruned_at_fold_2(0.70)


def test_a_sampled_configuration_too_big_to_end_by_the_cut_stops_before_its_first_fold() -> None:
    """On 60,000 rows a sampled random forest began 22 s before the cut at three times its
    family's pace, held a worker for 13 s and was killed in its first fold, unscored."""
    import time

    def pace(family: str, given: Any) -> float:
        assert family == "slow" and isinstance(given, dict)
        return 5.0  # its family's trials took 5 s

    problem = _problem({"slow": SLOW}, deadline=time.time() + 2.0, pace=pace)
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned, match="before its first fold"):
        evaluate(trial, problem, seed=0)
    assert PRUNED.get(trial)["after_fold"] == 0
    # one that can end in time at that pace runs
    quick = _problem({"slow": SLOW}, deadline=time.time() + 60.0, pace=pace)
    assert evaluate(study.ask(), quick, seed=0) > 0
