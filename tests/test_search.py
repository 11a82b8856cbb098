"""The objective on tiny real tables, for every registered model and every task."""

from __future__ import annotations

import math

import optuna
import pytest

from knobs.data import prepare
from knobs.metrics import get_metric
from knobs.models import REGISTRY
from knobs.strategies import make_sampler
from knobs.study import Problem, TrialFailed, evaluate, make_folds
from knobs.study.keys import BASELINE, CV, FAIL_REASON, OOF
from tests.conftest import make_table


def _problem(task: str, model: str, metric: str | None = None, n: int = 120) -> Problem:
    ds = prepare(make_table(task, n=n), "label")
    assert ds.task == task
    return Problem(
        X=ds.X,
        y=ds.y,
        task=task,
        metric=get_metric(metric, task),
        models={model: REGISTRY[model]},
        columns=ds.columns,
        folds=make_folds(ds.y, task, 3, seed=0),
    )


CASES = [
    (m, t)
    for m in sorted(REGISTRY)
    for t in ("binary", "multiclass", "regression")
    if t in REGISTRY[m].tasks
]


@pytest.mark.parametrize(("model", "task"), CASES)
def test_every_model_scores_defaults_and_a_sampled_trial(model, task):
    problem = _problem(task, model)
    study = optuna.create_study(
        direction=problem.metric.direction, sampler=optuna.samplers.RandomSampler(seed=1)
    )
    study.enqueue_trial({"model": model}, user_attrs=BASELINE.attr(True))
    for _ in range(2):
        trial = study.ask()
        value = evaluate(trial, problem, seed=0)
        assert math.isfinite(value)
        study.tell(trial, value)
    baseline, sampled = study.trials
    assert baseline.params == {"model": model}
    assert len(sampled.params) == 1 + len(REGISTRY[model].params)
    assert len(CV.get(sampled)["fold_scores"]) == 3


def test_svm_is_calibrated_only_when_the_metric_needs_probabilities():
    from sklearn.calibration import CalibratedClassifierCV

    from knobs.study import pipeline_for

    auc = _problem("binary", "svm")
    ll = _problem("binary", "svm", metric="log_loss")
    spec = REGISTRY["svm"]
    assert not isinstance(pipeline_for(auc, spec, {}, seed=0)[-1], CalibratedClassifierCV)
    calibrated = pipeline_for(ll, spec, {}, seed=0).fit(ll.X, ll.y)
    assert isinstance(calibrated[-1], CalibratedClassifierCV)
    assert calibrated.predict_proba(ll.X).shape == (len(ll.X), 2)


def test_size_guard_fails_the_trial_with_a_reason():
    problem = _problem("binary", "svm")
    guarded = REGISTRY["svm"].__class__(**{**REGISTRY["svm"].__dict__, "max_rows": 10})
    problem.models = {"svm": guarded}
    study = optuna.create_study(direction="maximize")
    with pytest.raises(TrialFailed, match="limited to 10 training rows"):
        evaluate(study.ask(), problem, seed=0)


@pytest.mark.parametrize(
    ("strategy", "sampler", "cls"),
    [
        ("random", "tpe", optuna.samplers.RandomSampler),
        ("bayes", "tpe", optuna.samplers.TPESampler),
        ("bayes", "gp", optuna.samplers.GPSampler),
    ],
)
def test_strategies_are_optuna_samplers(strategy, sampler, cls):
    assert isinstance(make_sampler(strategy, sampler, seed=0), cls)


def test_grid_strategy_walks_the_declared_grid():
    grid = REGISTRY["knn"].grid()
    sampler = make_sampler("grid", grid=grid, seed=0)
    assert isinstance(sampler, optuna.samplers.GridSampler)
    with pytest.raises(Exception, match="grid"):
        make_sampler("grid")


def test_nan_scores_and_model_errors_fail_the_trial_with_a_reason():
    from dataclasses import replace

    from knobs.study.worker import _Signals, run_trial

    class NanMetric(type(get_metric(None, "binary"))):
        def score(self, estimator, X, y):
            return float("nan")

    problem = _problem("binary", "logistic")
    nan_problem = replace(problem, metric=NanMetric(**get_metric(None, "binary").__dict__))
    study = optuna.create_study(direction="maximize")
    run_trial(study, study.ask(), nan_problem, _Signals(), seed=0, n_jobs=1)
    bad = replace(problem, models={"knn": REGISTRY["knn"]})
    study.enqueue_trial(
        {"model": "knn", "knn.n_neighbors": 10_000, "knn.weights": "uniform", "knn.p": 2}
    )
    run_trial(study, study.ask(), bad, _Signals(), seed=0, n_jobs=1)
    run_trial(study, study.ask(), problem, _Signals(), seed=0, n_jobs=1)
    nan_trial, error_trial, ok = study.trials
    assert (
        nan_trial.state.name == "FAIL"
        and "not a number" in FAIL_REASON.get(nan_trial)
    )
    assert (
        error_trial.state.name == "FAIL"
        and "ValueError" in FAIL_REASON.get(error_trial)
    )
    assert ok.state.name == "COMPLETE"


@pytest.mark.parametrize(("task", "model", "kind", "width"), [
    ("binary", "logistic", "proba", 2),
    ("multiclass", "random_forest", "proba", 3),
    ("regression", "linear", "value", None),
    ("binary", "svm", "decision", None),
])  # fmt: skip
def test_out_of_fold_predictions_cover_every_row_once(tmp_path, task, model, kind, width):
    from dataclasses import replace

    import numpy as np

    problem = replace(_problem(task, model), oof_dir=tmp_path / "oof")
    study = optuna.create_study(direction=problem.metric.direction)
    trial = study.ask()
    evaluate(trial, problem, seed=0)
    meta = OOF.get(trial)
    assert meta["kind"] == kind
    oof = np.load(tmp_path / "oof" / meta["file"], allow_pickle=False)
    expected = (len(problem.y),) if width is None else (len(problem.y), width)
    assert oof.shape == expected and not np.isnan(oof).any()


def test_gp_models_the_tuned_trials_despite_the_defaults_trial():
    from knobs.strategies._samplers import TunedSpaceGPSampler

    def objective(trial):
        if BASELINE.get(trial):
            return trial.suggest_categorical("model", ["m"]) and 1.0
        trial.suggest_categorical("model", ["m"])
        return trial.suggest_float("m.x", -2, 2) ** 2 + trial.suggest_int("m.k", 1, 9)

    plain = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=0, n_startup_trials=3))
    ours = optuna.create_study(sampler=TunedSpaceGPSampler(seed=0, n_startup_trials=3))
    for study in (plain, ours):
        study.enqueue_trial({"model": "m"}, user_attrs=BASELINE.attr(True))
        study.optimize(objective, n_trials=6)
    frozen = ours.trials[-1]
    assert plain.sampler.infer_relative_search_space(plain, frozen) == {}
    assert set(ours.sampler.infer_relative_search_space(ours, frozen)) == {"m.x", "m.k"}
    assert all(t.state.name == "COMPLETE" for t in ours.trials)


@pytest.mark.parametrize(("task", "model", "metric"), [
    ("binary", "hist_gb", None), ("binary", "logistic", "f1"), ("binary", "svm", None),
    ("multiclass", "random_forest", None), ("multiclass", "knn", "log_loss"),
    ("regression", "xgboost", "rmse"), ("regression", "linear", None),
])  # fmt: skip
def test_scoring_from_kept_predictions_matches_the_scikit_learn_scorer(
    tmp_path, task, model, metric
):
    """Trials that keep OOF predictions score folds from them (one prediction pass): the
    score must be the one scikit-learn's scorer gives on the same fitted models."""
    from dataclasses import replace

    values = []
    for oof_dir in (None, tmp_path / "oof"):
        problem = replace(_problem(task, model, metric=metric), oof_dir=oof_dir)
        study = optuna.create_study(direction=problem.metric.direction)
        study.enqueue_trial({"model": model}, user_attrs=BASELINE.attr(True))
        values.append(evaluate(study.ask(), problem, seed=0))
    assert values[1] == pytest.approx(values[0], rel=1e-9, abs=1e-12)


def test_a_class_too_rare_for_a_models_own_slice_fails_in_words() -> None:
    """A 52,000-row table with a class of 3 rows: HistGradientBoosting's defaults trial failed
    with scikit-learn's "The least populated classes in y have only 1 member ... [3.0]"."""
    frame = make_table("binary", n=90)
    common = frame["label"].mode()[0]
    frame["label"] = [common] * 87 + ["rare"] * 3
    ds = prepare(frame, "label")  # a class needs 3 rows: as if the test split took one
    X, y = ds.X.iloc[:-1].reset_index(drop=True), ds.y.iloc[:-1].reset_index(drop=True)
    problem = Problem(
        X=X, y=y, task="binary", metric=get_metric(None, "binary"),
        models={"mlp": REGISTRY["mlp"]}, columns=ds.columns,
        folds=make_folds(y, "binary", 2, seed=0),  # 2 folds, one rare row in each training part
    )  # fmt: skip
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"model": "mlp"}, user_attrs=BASELINE.attr(True))
    with pytest.raises(TrialFailed, match=r"a class has a single row there: too rare to split"):
        evaluate(study.ask(), problem, seed=0)


def test_a_packed_table_names_its_study_as_the_table_itself() -> None:
    """`reviews.csv.gz` made studies named `reviews-csv-bayes-...`."""
    from knobs.study._search import new_study_name

    for source in ("reviews.csv.gz", "data/reviews.csv", "reviews.zip", "reviews.csv.zip"):
        assert new_study_name(source, "bayes").startswith("reviews-bayes-"), source


def test_a_perfect_score_on_every_fold_ends_the_search(monkeypatch, tmp_path) -> None:
    """A loans table with a copy of its target ran 40 trials at a CV of 1.0000: nothing could
    beat the first. The search now ends on a trial perfect on every fold, says why and what a
    perfect score usually means, and reads "finished" (not "interrupted" short of its budget)."""
    import numpy as np
    import pandas as pd

    import knobs
    from knobs.study import Search

    monkeypatch.setenv("KNOBS_HOME", str(tmp_path))
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    y = np.where(x + rng.normal(size=300) > 0, "yes", "no")
    frame = pd.DataFrame({"x": x, "copy": np.where(y == "yes", "Y", "N"), "y": y})
    result = knobs.tune(frame, "y", models="logistic", n_trials=12, cv=3, workers=1,
                        ensemble=False, study="leaky")  # fmt: skip
    assert result.best_score == 1.0 and result.n_trials < 12
    assert result.perfect.startswith(f"Trial {result.best_trial} scored a perfect ROC AUC")
    assert "gives the target away" in result.to_dict()["perfect"]
    assert Search.open("leaky").status().state == "finished"
    honest = knobs.tune(frame.drop(columns="copy"), "y", models="logistic", n_trials=3, cv=3,
                        workers=1, ensemble=False)  # fmt: skip
    assert honest.perfect is None and honest.n_trials == 3
