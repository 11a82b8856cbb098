"""Explanations (``knobs.explain``): permutation importance per user column, XGBoost's SHAP
values folded back onto those columns, the stored result, the weak-model warning, the CLI.

Studies are real (``Search.create`` splits and profiles the table); their trials are written as
a finished search leaves them, so each test fits only the one small model it explains.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

import knobs
from knobs import explain
from knobs.cli import main
from knobs.explain._shap import source_columns
from knobs.study import pipeline_for
from knobs.study.keys import BASELINE, CV

STRONG, MID, NOISE = "Strong [x]", "mid value", "noise col"


def planted_table(task: str = "binary", n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A strong column, a weaker one, a category, a date with gaps, and pure noise."""
    rng = np.random.default_rng(seed)
    strong, mid, noise = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    since = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), "D")
    signal = (3 * strong + 0.8 * mid + (color == "red") * 0.8 + (since.month >= 7) * 0.8
              + rng.normal(scale=0.3, size=n))  # fmt: skip
    frame = pd.DataFrame({
        STRONG: strong, MID: np.where(rng.random(n) < 0.1, np.nan, mid), NOISE: noise,
        "color": color, "since": since.strftime("%Y-%m-%d"),
    })  # fmt: skip
    if task == "binary":
        frame["label"] = np.where(signal > 0, "yes", "no")
    elif task == "multiclass":
        frame["label"] = pd.cut(signal, [-np.inf, -1.5, 1.5, np.inf],
                                labels=["low", "mid", "high"]).astype(str)  # fmt: skip
    else:
        frame["label"] = 2.0 * signal + 5.0
    return frame


def planted_study(task: str = "binary", *, tuned_gain: float = 0.05) -> str:
    """A study with an XGBoost defaults trial (1) and a small tuned one (2), scored on 3 folds
    (trial 0 is the defaults trial ``Search.create`` queued, left waiting);
    ``tuned_gain`` is how much better the tuned trial's folds are (0: a tie)."""
    frame = planted_table(task)
    config = knobs.SearchConfig(target="label", models=("xgboost",), strategy="random",
                                n_trials=3, cv=3, workers=1)  # fmt: skip
    search = knobs.Search.create(frame, config, source="planted.csv")
    study = search.study
    big = search.plan.direction == "maximize"
    base = [0.90, 0.91, 0.89] if big else [1.0, 1.1, 0.9]
    tuned = [v + tuned_gain if big else v - tuned_gain for v in base]
    dist = {"model": optuna.distributions.CategoricalDistribution(["xgboost"])}
    study.add_trial(optuna.trial.create_trial(
        params={"model": "xgboost"}, distributions=dist, value=float(np.mean(base)),
        user_attrs={**BASELINE.attr(True), **CV.attr({"fold_scores": base})},
    ))  # fmt: skip
    dist = {**dist, "xgboost.n_estimators": optuna.distributions.IntDistribution(10, 500),
            "xgboost.max_depth": optuna.distributions.IntDistribution(1, 10)}  # fmt: skip
    study.add_trial(optuna.trial.create_trial(
        params={"model": "xgboost", "xgboost.n_estimators": 40, "xgboost.max_depth": 3},
        distributions=dist, value=float(np.mean(tuned)), user_attrs=CV.attr({"fold_scores": tuned}),
    ))  # fmt: skip
    return search.name


@pytest.fixture(scope="module")
def explained(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict, Path]:
    """The best trial of a planted binary study, explained once for the module's tests."""
    home = tmp_path_factory.mktemp("explain-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", str(home))
        name = planted_study("binary")
        result = explain.explain(name)
    return name, result, home


def test_importances_name_the_users_columns_and_rank_the_planted_ones(explained) -> None:
    _, result, _ = explained
    columns = [c["column"] for c in result["importance"]["columns"]]
    assert set(columns) == {STRONG, MID, NOISE, "color", "since"}  # the user's names, not safe ones
    assert columns[0] == STRONG
    means = {c["column"]: c["mean"] for c in result["importance"]["columns"]}
    assert columns[-1] == NOISE  # the planted noise ranks last, and costs nothing
    assert abs(means[NOISE]) < 0.02 < means[STRONG]
    for c in result["importance"]["columns"]:
        assert len(c["values"]) == result["importance"]["repeats"] == explain.DEFAULT_REPEATS
        assert c["std"] == pytest.approx(float(np.std(c["values"])))
    assert result["trial"] == 2 and result["kind"] == "trial" and result["warning"] is None
    assert result["notices"] == []  # 80 test rows: nothing subsampled


def test_shap_columns_are_the_users_and_the_strong_one_leads(explained) -> None:
    _, result, _ = explained
    shap = result["shap"]
    assert shap["columns"] == [STRONG, MID, NOISE, "color", "since"]
    assert explain.UNMATCHED not in shap["columns"]
    assert explain.shap_bar_rows(result)[0]["column"] == STRONG
    assert shap["rows"] == shap["rows_total"] == result["n_test"]
    assert set(shap["actual"]) | set(shap["predicted"]) <= {"yes", "no"}  # the user's classes
    assert all(len(v) <= 10 for row in shap["shown"] for v in row)  # numbers cut to 4 digits


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_shap_values_sum_to_the_xgboost_margin(task: str) -> None:
    frame = planted_table(task, n=300)
    config = knobs.SearchConfig(target="label", models=("xgboost",), cv=2, n_trials=1)
    plan = knobs.Search.create(frame, config, source="planted.csv").plan
    X, y = plan.load_split("train")
    pipeline = pipeline_for(plan, "xgboost", {"n_estimators": 25, "max_depth": 3}).fit(X, y)
    X_test, y_test = plan.load_split("test")
    rows = np.arange(len(X_test))
    shap = explain.tree_shap(pipeline, X_test, y_test, plan.columns, rows, labels=plan.classes)
    margin = pipeline[-1].predict(pipeline[:-1].transform(X_test), output_margin=True)
    margin = np.asarray(margin).reshape(len(X_test), -1)  # (rows, outputs)
    values = np.asarray(shap["values"])  # (outputs, rows, columns)
    total = np.asarray(shap["base"])[:, None] + values.sum(axis=2)
    np.testing.assert_allclose(total.T, margin, atol=1e-4)
    assert shap["classes"] == (["high", "low", "mid"] if task == "multiclass" else [])
    # one row's chart adds up to the same margin
    row = explain.row_contributions(shap_result := {"shap": shap, "task": task}, 0)
    assert row["margin"] == pytest.approx(float(margin[0, 0]), abs=1e-4)
    assert sum(i["contribution"] for i in row["items"]) == pytest.approx(
        row["margin"] - row["base"]
    )
    assert explain.beeswarm_points(shap_result)["columns"][-1] == STRONG  # top of the chart


@pytest.mark.parametrize(
    ("task", "family", "params", "words"),
    [
        ("binary", "random_forest", {"n_estimators": 20, "max_depth": 4}, "probability"),
        ("multiclass", "extra_trees", {"n_estimators": 20, "max_depth": 4}, "probability"),
        ("regression", "random_forest", {"n_estimators": 20, "max_depth": 4}, "prediction"),
        ("binary", "hist_gb", {"max_iter": 30}, "log-odds"),
        ("multiclass", "hist_gb", {"max_iter": 30}, "log-odds"),
        ("regression", "hist_gb", {"max_iter": 30}, "prediction"),
    ],
)
def test_shap_values_of_scikit_learn_trees_sum_to_their_output(task, family, params, words):
    frame = planted_table(task, n=300)
    config = knobs.SearchConfig(target="label", models=(family,), cv=2, n_trials=1)
    plan = knobs.Search.create(frame, config, source="planted.csv").plan
    pipeline = pipeline_for(plan, family, params).fit(*plan.load_split("train"))
    X_test, y_test = plan.load_split("test")
    shap = explain.tree_shap(pipeline, X_test, y_test, plan.columns, np.arange(len(X_test)),
                             labels=plan.classes)  # fmt: skip
    features, model = pipeline[:-1].transform(X_test), pipeline[-1]
    if words == "prediction":
        expected = model.predict(features)[:, None]
    elif words == "probability":
        expected = model.predict_proba(features)
    else:
        expected = model.decision_function(features).reshape(len(X_test), -1)
    if task == "binary" and expected.shape[1] == 2:
        expected = expected[:, 1:]  # the positive class, as XGBoost's one binary margin
    values = np.asarray(shap["values"])  # (outputs, rows, columns)
    total = np.asarray(shap["base"])[:, None] + values.sum(axis=2)
    np.testing.assert_allclose(total.T, expected, atol=1e-5)
    assert shap["output"] == words
    assert shap["columns"][0] == STRONG and explain.UNMATCHED not in shap["columns"]
    assert explain.shap_bar_rows({"shap": shap})[0]["column"] == STRONG
    if task == "multiclass":
        assert shap["classes"] == ["high", "low", "mid"]
    figure = explain.shap_bar_figure({"shap": shap, "task": task}, 0)
    assert words in figure.layout.xaxis.title.text


def test_slow_shap_values_are_cut_to_their_time_budget_and_said(monkeypatch) -> None:
    from knobs.explain._shap import MIN_SHAP_ROWS, affordable_rows

    frame = planted_table("binary", n=1500)
    config = knobs.SearchConfig(target="label", models=("random_forest", "xgboost"), cv=2,
                                n_trials=1, test_size=0.5)  # fmt: skip
    plan = knobs.Search.create(frame, config, source="planted.csv").plan
    X, y = plan.load_split("train")
    X_test, y_test = plan.load_split("test")
    rows = np.arange(len(X_test))
    forest = pipeline_for(plan, "random_forest", {"n_estimators": 30}).fit(X, y)
    cut = affordable_rows(forest, X_test, rows, budget_s=1e-6)  # no time at all: the fewest
    assert len(cut) == MIN_SHAP_ROWS and set(cut) <= set(rows) and list(cut) == sorted(cut)
    assert len(affordable_rows(forest, X_test, rows, budget_s=1e6)) == len(rows)
    boosted = pipeline_for(plan, "xgboost", {"n_estimators": 20}).fit(X, y)
    assert len(affordable_rows(boosted, X_test, rows, budget_s=1e-6)) == len(rows)
    import knobs.explain._build as build

    monkeypatch.setattr(build, "affordable_rows",
                        lambda e, X, r, seed: affordable_rows(e, X, r, seed, budget_s=1e-6))  # fmt: skip
    parts = explain.explain_model(forest, plan, X_test, y_test, family="random_forest", repeats=1)
    assert parts["shap"]["rows"] == MIN_SHAP_ROWS
    assert any("slow to compute" in n for n in parts["notices"])


def test_one_hot_features_go_back_to_their_own_column() -> None:
    """``a`` and ``a_b`` are both one-hot encoded: ``a_b_x`` belongs to ``a_b``, not ``a``."""
    rng = np.random.default_rng(3)
    n = 120
    frame = pd.DataFrame({"a": rng.choice(["b_x", "y"], n), "a_b": rng.choice(["x", "z"], n),
                          "num": rng.normal(size=n)})  # fmt: skip
    frame["label"] = np.where((frame["a_b"] == "x") ^ (frame["num"] > 0), "p", "q")
    config = knobs.SearchConfig(target="label", models=("xgboost",), cv=2, n_trials=1)
    plan = knobs.Search.create(frame, config, source="t.csv").plan
    X, y = plan.load_split("train")
    prep = pipeline_for(plan, "xgboost", {"n_estimators": 5})[:-1].fit(X, y)
    names = [str(n) for n in prep.get_feature_names_out()]
    sources = source_columns(prep, {c.safe_name: c.name for c in plan.columns}, X)
    # both one-hot encoders name a feature `a_b_x`: what moves with each column tells them apart
    assert names.count("onehot__a_b_x") == 2
    got = sorted((n, s) for n, s in zip(names, sources, strict=True) if n.startswith("onehot__"))
    assert got == [("onehot__a_b_x", "a"), ("onehot__a_b_x", "a_b"), ("onehot__a_b_z", "a_b"),
                   ("onehot__a_y", "a")]  # fmt: skip
    assert sources[names.index("numeric__num")] == "num"


def test_big_tables_are_subsampled_and_say_so(explained, monkeypatch) -> None:
    name, _, home = explained
    monkeypatch.setenv("KNOBS_HOME", str(home))
    plan = knobs.Search.open(name).plan
    X, y = plan.load_split("test")
    pipeline = pipeline_for(plan, "xgboost", {"n_estimators": 10})
    pipeline.fit(*plan.load_split("train"))
    parts = explain.explain_model(pipeline, plan, X, y, family="xgboost", repeats=2,
                                  importance_rows=30, shap_rows=20)  # fmt: skip
    assert parts["importance"]["rows"] == 30 and parts["shap"]["rows"] == 20
    assert len(parts["shap"]["values"][0]) == 20
    assert any(f"30 of the {len(X)} test rows" in n for n in parts["notices"])
    assert any(f"20 of the {len(X)} test rows" in n for n in parts["notices"])


def test_a_model_without_trees_gets_importance_and_says_why_no_shap(explained, monkeypatch) -> None:
    name, _, home = explained
    monkeypatch.setenv("KNOBS_HOME", str(home))
    plan = knobs.Search.open(name).plan
    X, y = plan.load_split("test")
    pipeline = pipeline_for(plan, "logistic", {}).fit(*plan.load_split("train"))
    parts = explain.explain_model(pipeline, plan, X, y, family="logistic", repeats=2)
    assert (
        parts["shap"] is None
        and "tree models" in parts["shap_note"]
        and "logistic" in parts["shap_note"]
    )
    assert parts["importance"]["columns"][0]["column"] == STRONG


def test_a_model_barely_better_than_the_defaults_is_flagged() -> None:
    name = planted_study("binary", tuned_gain=0.0001)
    result = explain.explain(name, repeats=1, shap_rows=10)
    assert result["verdict"]["call"] == "tie"
    assert "barely better than the defaults" in result["warning"]
    assert "mislead" in result["warning"]
    # the defaults trial of a study where tuning clearly helped is flagged too: explain the tuned one
    name = planted_study("binary", tuned_gain=0.05)
    result = explain.explain(name, trial=1, repeats=1, shap_rows=10)
    assert (
        "uses the library defaults" in result["warning"] and "tuning beat it" in result["warning"]
    )


def test_a_defaults_trial_nothing_beat_is_explained_without_a_warning() -> None:
    """Explain called the delivered defaults trial of a search where tuning found nothing better
    "a weak model" whose importances "can mislead", at a test R² of 0.84."""
    name = planted_study("binary", tuned_gain=-0.05)
    result = explain.explain(name, trial=1, repeats=1, shap_rows=10)
    assert result["verdict"]["call"] == "tie" and result["warning"] is None


def test_stored_once_and_read_back(explained, monkeypatch) -> None:
    name, result, home = explained
    monkeypatch.setenv("KNOBS_HOME", str(home))
    assert explain.load(name, trial=2) == json.loads(json.dumps(result))
    assert explain.job_status(name, trial=2).state == "done"
    assert explain.job_status(name, trial=1).state == "none"
    assert explain.load(name, trial=1) is None
    with pytest.raises(knobs.KnobsError, match="ensemble id"):
        explain.result_key(ensemble="../../etc")


def test_cli_writes_json_and_reuses_the_stored_explanation(
    explained, monkeypatch, tmp_path, capsys
) -> None:
    name, _, home = explained
    monkeypatch.setenv("KNOBS_HOME", str(home))
    out = tmp_path / "explain.json"
    assert main(["explain", "--study", name, "--trial", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "stored explanation of Trial 2 (xgboost)" in printed  # not recomputed
    assert f"  {STRONG}" in printed and "±" in printed
    data = json.loads(out.read_text())
    assert data["importance"]["columns"][0]["column"] == STRONG
    assert data["shap"]["columns"][0] == STRONG
    assert main(["explain", "--study", name, "--trial", "7"]) == 2
    assert "has no trial 7" in capsys.readouterr().err


@pytest.mark.slow
def test_the_background_job_stores_the_explanation(explained, monkeypatch) -> None:
    name, _, home = explained
    monkeypatch.setenv("KNOBS_HOME", str(home))
    job = explain.start_job(name, trial=1)
    assert job.state == "running"
    assert explain.start_job(name, trial=1).state == "running"  # a second click starts nothing
    deadline = time.time() + 120
    while explain.job_status(name, trial=1).state == "running" and time.time() < deadline:
        time.sleep(0.5)
    assert explain.job_status(name, trial=1).state == "done", explain.job_status(name, trial=1)
    assert explain.load(name, trial=1)["trial"] == 1


def test_the_model_card_lists_the_top_importances(explained, monkeypatch, tmp_path) -> None:
    from knobs.export import export_study, render_markdown

    name, _, home = explained
    monkeypatch.setenv("KNOBS_HOME", str(home))
    card = export_study(name, "skops", tmp_path / "with", trial=2).card
    assert card["explanation"]["top"][0]["column"] == STRONG
    assert NOISE not in [c["column"] for c in card["explanation"]["top"]]  # it costs nothing
    md = (tmp_path / "with" / "card.md").read_text()
    assert "## What drives its predictions" in md and f"| `{STRONG}` |" in md
    # a model nobody explained: the card says nothing about importances
    assert explain.card_summary(name, trial=0) is None
    assert "What drives" not in render_markdown({**card, "explanation": None})


def test_a_metric_to_minimize_still_counts_a_loss_as_positive() -> None:
    """RMSE grows when a useful column is shuffled: that growth is the column's importance."""
    frame = planted_table("regression", n=300)
    config = knobs.SearchConfig(
        target="label", models=("xgboost",), cv=2, n_trials=1, metric="rmse"
    )
    plan = knobs.Search.create(frame, config, source="planted.csv").plan
    assert plan.direction == "minimize"
    pipeline = pipeline_for(plan, "xgboost", {"n_estimators": 30}).fit(*plan.load_split("train"))
    X, y = plan.load_split("test")
    imp = explain.column_importance(
        pipeline, X, y, plan.columns, plan.metric_obj(), plan.direction, repeats=3
    )
    assert imp["columns"][0]["column"] == STRONG and imp["columns"][0]["mean"] > 0.5
    assert imp["score"] == pytest.approx(plan.metric_obj().score(pipeline, X, y))


def test_a_feature_selection_after_the_preprocessor_still_folds_back() -> None:
    """A pipeline search nests the preprocessor and a feature selection in one step: the kept
    features still go back to their columns, and the values still sum to the margin."""
    from sklearn.feature_selection import SelectKBest
    from sklearn.pipeline import Pipeline

    from knobs.data import build_preprocessor
    from knobs.models import get_model

    frame = planted_table("binary", n=300)
    config = knobs.SearchConfig(target="label", models=("xgboost",), cv=2, n_trials=1)
    plan = knobs.Search.create(frame, config, source="planted.csv").plan
    prep = Pipeline([("columns", build_preprocessor(plan.columns, scale=False)),
                     ("select", SelectKBest(k=4))])  # fmt: skip
    model = get_model("xgboost").estimator("binary", {"n_estimators": 20}, seed=0, n_jobs=1)
    pipeline = Pipeline([("prep", prep), ("model", model)]).fit(*plan.load_split("train"))
    X, y = plan.load_split("test")
    shap = explain.tree_shap(pipeline, X, y, plan.columns, np.arange(len(X)))
    assert explain.UNMATCHED not in shap["columns"]
    margin = pipeline[-1].predict(pipeline[:-1].transform(X), output_margin=True)
    total = shap["base"][0] + np.asarray(shap["values"][0]).sum(axis=1)
    np.testing.assert_allclose(total, margin, atol=1e-4)
    assert explain.shap_bar_rows({"shap": shap})[0]["column"] == STRONG


def test_a_wide_table_is_shuffled_fewer_times_within_the_budget() -> None:
    """A 1,500-column table's explanation scored 7,500 shuffles (207 s for one trial): the
    repeats now shrink so columns times repeats stays within MAX_SHUFFLES, down to one."""
    from sklearn.linear_model import LinearRegression

    from knobs.data import prepare
    from knobs.explain._importance import MAX_SHUFFLES, column_importance
    from knobs.metrics import get_metric

    rng = np.random.default_rng(0)
    names = [f"g{i}" for i in range(MAX_SHUFFLES)]
    wide = pd.DataFrame(rng.normal(size=(40, MAX_SHUFFLES)), columns=names)
    wide["y"] = wide["g0"] * 3 + rng.normal(size=40)
    ds = prepare(wide, "y")
    calls = []

    class Counted(LinearRegression):
        def predict(self, X):  # noqa: ANN001, ANN202 - scikit-learn's signature
            calls.append(1)
            return super().predict(X)

    model = Counted().fit(ds.X, ds.y)
    r2 = get_metric("r2", "regression")
    result = column_importance(model, ds.X, ds.y, ds.columns, r2, "maximize", repeats=5)
    assert result["repeats"] == 1
    assert len(calls) == MAX_SHUFFLES + 2  # each column once, and the unshuffled score twice
    assert result["columns"][0]["column"] == "g0"
