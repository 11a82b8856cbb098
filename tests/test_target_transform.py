"""What a regression model learns (``--target-transform``): the target as is or its log.

On a target above 0 in every row, ``auto`` lets trials choose (``prep.target``) and the folds
decide; the chosen model is scikit-learn's ``TransformedTargetRegressor`` around the pipeline,
so it is refitted, exported (skops, ONNX, train.py), explained, slimmed and fine-tuned on the
target's own scale. The end-to-end tests run one worker on small generated tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.compose import TransformedTargetRegressor

from knobs import study as results
from knobs.api import Search
from knobs.cli import build_parser
from knobs.config import SearchConfig
from knobs.errors import ConfigError, ExportError
from knobs.export import export_study, load_bundle, source_from_study, write_bundle
from knobs.pipelines import TARGET_KEY, pipeline_of, target_of, target_transforms
from knobs.study import pipeline_for, suggest
from knobs.study.keys import START
from tests.test_export import assert_train_py_reproduces

optuna.logging.set_verbosity(optuna.logging.WARNING)


def multiplicative(n: int = 300, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """Prices: each column multiplies the target (``shift`` changes one factor's strength)."""
    rng = np.random.default_rng(seed)
    area = rng.uniform(30, 300, n)
    rooms = rng.integers(1, 7, n)
    city = rng.choice(["north", "south", "east"], n)
    factor = np.select([city == "north", city == "south"], [1.6, 0.8], 1.0)
    price = 900 * area ** (1.2 + shift) * factor * 1.15**rooms * rng.lognormal(0, 0.05, n)
    return pd.DataFrame({"area": area, "rooms": rooms, "city": city, "price": price.round(2)})


def additive(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A target above 0 whose log is strongly curved in the one column that drives it."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    return pd.DataFrame(
        {"x": x, "other": rng.normal(size=n), "y": 1 + 50 * x + rng.normal(0, 0.5, n)}
    )


def make_search(frame: pd.DataFrame, target: str, **config: object) -> Search:
    options = {"target": target, "cv": 3, "n_trials": 4, "seed": 0, "workers": 1, **config}
    return Search.create(frame, SearchConfig(**options))


def add_trial(search: Search, model: str, params: dict[str, object], transform: str) -> None:
    """A completed trial written without a worker: ``params`` (unprefixed) and the target."""
    spec = search.plan.specs()[model]
    values = {"model": model, **{spec.key(k): v for k, v in params.items()}}
    dists = {"model": optuna.distributions.CategoricalDistribution([model])}
    dists |= {spec.key(p.name): p.distribution() for p in spec.params if p.name in params}
    values[TARGET_KEY] = transform
    dists[TARGET_KEY] = optuna.distributions.CategoricalDistribution(("none", "log"))
    search.study.add_trial(optuna.trial.create_trial(params=values, distributions=dists, value=0.9))


def done(search: Search) -> optuna.trial.FrozenTrial:
    """The study's completed trial (the openers ``Search.create`` queued are still waiting)."""
    return next(t for t in search.trials() if t.state.name == "COMPLETE")


# --- what the plan lets trials learn ----------------------------------------------------------


def test_a_positive_regression_target_lets_the_folds_choose_and_says_so():
    y = pd.Series([1.5, 20.0, 300.0])
    choices, notice = target_transforms(y, "regression", "auto", target="price")
    assert choices == ("none", "log")
    assert "`price` is above 0 in every row" in notice and "--target-transform none" in notice
    # A grid keeps the target unless the log is asked for; so do 0s, classes and `none`.
    assert target_transforms(y, "regression", "auto", target="price", tuned=False) == (
        ("none",),
        None,
    )
    assert target_transforms(pd.Series([0.0, 2.0]), "regression", "auto", target="p")[0] == (
        "none",
    )
    assert target_transforms(pd.Series([1, 2]), "binary", "auto", target="p") == (("none",), None)
    assert target_transforms(y, "regression", "none", target="price") == (("none",), None)
    assert target_transforms(y, "regression", "log", target="price")[0] == ("log",)


def test_a_log_of_a_target_with_zeros_is_refused_by_name():
    y = pd.Series([0.0, 3.0, -1.0, 4.0])
    with pytest.raises(ConfigError, match=r"`visits` above 0 in every row, but 2 row\(s\)"):
        target_transforms(y, "regression", "log", target="visits")
    with pytest.raises(ConfigError, match="target_transform"):
        SearchConfig(target="y", target_transform="sqrt")


def test_the_plan_stores_the_choice_and_older_studies_read_as_the_target_itself():
    search = make_search(multiplicative(), "price")
    assert search.plan.target_transforms == ("none", "log")
    assert any("trials also try learning its log" in n for n in search.plan.notices)
    data = search.plan.to_attr()
    data.pop("target_transforms")
    data["config"].pop("target_transform")
    old = type(search.plan).from_attr(data)
    assert old.target_transforms == ("none",) and old.config.target_transform == "auto"
    assert make_search(multiplicative(), "price", strategy="grid").plan.target_transforms == (
        "none",
    )


def test_the_cli_option_reaches_the_config():
    parser = build_parser()
    args = parser.parse_args(["tune", "t.csv", "--target", "y", "--target-transform", "log"])
    assert args.target_transform == "log"
    assert parser.parse_args(["tune", "t.csv", "--target", "y"]).target_transform == "auto"


# --- trials -----------------------------------------------------------------------------------


def _suggested(problem: results.Problem, n: int) -> list[dict[str, object]]:
    out = []

    def objective(trial: optuna.Trial) -> float:
        out.append(suggest(trial, problem)[1])
        return 0.0

    optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).optimize(objective, n)
    return out


def test_trials_choose_the_target_only_where_the_plan_lets_them():
    positive = make_search(multiplicative(), "price", models=("linear", "xgboost"))
    seen = {p.get(TARGET_KEY) for p in _suggested(positive.plan.problem(), 30)}
    assert seen == {"none", "log"}
    for frame, target in ((additive().assign(y=lambda f: f.y - 10), "y"),):
        plain = make_search(frame, target, models=("linear",))
        assert plain.plan.target_transforms == ("none",)
        assert not any(TARGET_KEY in p for p in _suggested(plain.plan.problem(), 10))


def test_each_models_first_start_is_queued_on_the_target_and_on_its_log():
    search = make_search(multiplicative(), "price", models=("xgboost", "random_forest"))
    from knobs.study._search import enqueue_openers

    enqueue_openers(search.study, search.plan)
    starts = [
        t.system_attrs["fixed_params"]
        for t in search.study.get_trials(deepcopy=False)
        if START.get(t)
    ]
    for model in ("xgboost", "random_forest"):
        first = search.plan.specs()[model].start_points()[0]
        assert {**first, TARGET_KEY: "none"} in starts and {**first, TARGET_KEY: "log"} in starts


@pytest.mark.slow
@pytest.mark.parametrize(("frame", "target", "chosen"), [
    (multiplicative(), "price", "log"),
    (additive(), "y", "none"),
])  # fmt: skip
def test_the_folds_choose_the_log_where_it_fits_and_score_what_the_wrapper_predicts(
    frame, target, chosen
):
    search = make_search(frame, target, models=("linear",), strategy="random", n_trials=10)
    search.start(workers=1)
    search.wait()
    best = search.best()
    assert best.params.get(TARGET_KEY) == chosen
    assert {t.params.get(TARGET_KEY) for t in search.trials() if t.value is not None} >= {
        "none",
        "log",
    }
    plan = search.plan
    problem = plan.problem()
    model, params = results.refit_params(plan, best)
    scores = []
    for train_idx, valid_idx in problem.folds:
        wrapped = pipeline_for(plan, model, params, seed=plan.config.seed)
        assert target_of(wrapped) == chosen
        wrapped.fit(problem.X.iloc[train_idx], problem.y.iloc[train_idx])
        scores.append(
            problem.metric.score(wrapped, problem.X.iloc[valid_idx], problem.y.iloc[valid_idx])
        )
    assert float(np.mean(scores)) == pytest.approx(best.value, rel=1e-9)


def test_a_warm_start_carries_the_earlier_choice_of_the_log_and_says_where_it_cannot():
    from knobs.study.keys import WARM
    from knobs.transfer._prior import new_space

    source = make_search(multiplicative(), "price", models=("xgboost",))
    add_trial(source, "xgboost", {"n_estimators": 60, "max_depth": 3}, "log")
    warm = make_search(multiplicative(seed=1), "price", models=("xgboost",),
                       warm_start=(source.name,))  # fmt: skip
    (carried,) = [t for t in warm.study.get_trials() if WARM.get(t)]
    assert carried.system_attrs["fixed_params"][TARGET_KEY] == "log"
    assert "no longer in the space" not in warm.plan.notices[-1]
    assert TARGET_KEY in new_space(warm.plan)["xgboost"]  # the prior keeps the choice too
    # A table with a zero cannot learn the log: the choice is dropped by name.
    zero = multiplicative(seed=2)
    zero.loc[0, "price"] = 0.0
    cold = make_search(zero, "price", models=("xgboost",), warm_start=(source.name,))
    (carried,) = [t for t in cold.study.get_trials() if WARM.get(t)]
    assert TARGET_KEY not in carried.system_attrs["fixed_params"]
    assert f"parameter(s) {TARGET_KEY} no longer in the space" in cold.plan.notices[-1]


# --- the delivered model ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def log_study(tmp_path_factory) -> Iterator[tuple[Search, Path, Path]]:
    """A study whose one trial is an XGBoost model that learned log(price)."""
    root = tmp_path_factory.mktemp("log-target")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", str(root / "home"))
        csv = root / "prices.csv"
        multiplicative().to_csv(csv, index=False)
        search = Search.create(
            csv, SearchConfig(target="price", models=("xgboost",), n_trials=2, cv=2, workers=1)
        )
        add_trial(search, "xgboost", {"n_estimators": 60, "max_depth": 3}, "log")
        yield search, csv, root


def test_the_refit_is_the_wrapper_and_predicts_on_the_targets_scale(log_study):
    search, _csv, _root = log_study
    trial = done(search)
    fitted = results.refit(search.plan, trial)
    assert isinstance(fitted, TransformedTargetRegressor)
    X, y = search.plan.load_split("train")
    pred = fitted.predict(X)
    assert np.corrcoef(pred, y)[0, 1] > 0.95 and pred.min() > 0
    # The pipeline inside learned the log: its own predictions are on that scale.
    inner = pipeline_of(fitted).predict(X)
    np.testing.assert_allclose(np.exp(inner), pred, rtol=1e-5)


def test_skops_onnx_and_train_py_rebuild_it_and_the_xgboost_format_says_why_not(
    log_study, tmp_path, monkeypatch
):
    search, csv, root = log_study
    monkeypatch.setenv("KNOBS_HOME", str(root / "home"))
    plan, source, _base = source_from_study(search.name, done(search).number, storage=search.storage)
    bundle = tmp_path / "skops"
    write_bundle(plan, source, "skops", bundle, data=csv)
    card = json.loads((bundle / "card.json").read_text())
    assert card["model"]["target_transform"] == "log"
    assert "It learned log(`price`)" in (bundle / "card.md").read_text()
    script = assert_train_py_reproduces(bundle, csv, source.fit_rows, tmp_path)
    assert "TransformedTargetRegressor(" in script and "func=np.log" in script
    loaded = load_bundle(bundle).estimator
    X = pd.read_csv(csv).drop(columns=["price"]).head(50)
    expected = source.estimator.predict(X)
    onnx_dir = tmp_path / "onnx"
    write_bundle(plan, source, "onnx", onnx_dir, data=csv)
    from knobs.predict import predict_table

    via_onnx = predict_table(onnx_dir, csv).frame["prediction"].to_numpy()[:50]
    np.testing.assert_allclose(via_onnx, expected, rtol=1e-4)
    assert target_of(loaded) == "log"
    with pytest.raises(ExportError, match="learned the log of its target"):
        export_study(search.name, "xgboost", tmp_path / "xgb")


def test_ensembles_with_a_log_member_export_to_onnx(log_study):
    """A greedy and a voting ensemble of the log model and a plain linear one: each member's
    graph maps its own output back before the blend, as its wrapper does."""
    from sklearn.ensemble import VotingRegressor

    from knobs.export._onnx import to_onnx
    from knobs.portable import GreedyEnsembleRegressor

    search, _csv, _root = log_study
    plan = search.plan
    X, y = plan.load_split("train")
    logged = results.refit(plan, done(search))
    plain = pipeline_for(plan, "linear", {TARGET_KEY: "none"}).fit(X, y)
    members = [("m0_log", logged), ("m1_plain", plain)]
    greedy = GreedyEnsembleRegressor(members).fit(X, y, weights=[3.0, 1.0])
    voting = VotingRegressor(members).fit(X, y)
    for ensemble in (greedy, voting):
        _data, _schema, check = to_onnx(ensemble, "regression", X)
        assert check.max_abs_diff <= check.tolerance
        assert check.max_abs_diff < 1e-4 * float(np.abs(ensemble.predict(X)).max())


def test_explanations_say_the_values_are_in_the_log(log_study):
    from knobs.explain._shap import output_words, tree_model

    search, _csv, _root = log_study
    fitted = results.refit(search.plan, done(search))
    prep, model = tree_model(fitted)
    assert output_words(model, target_of(fitted)) == "log of the prediction"


def test_the_tree_curve_scores_the_log_model_on_the_targets_scale(log_study):
    from knobs.slim._curves import tree_curve

    search, _csv, _root = log_study
    model, params = results.refit_params(search.plan, done(search))
    curve = tree_curve(search.plan, model, params)
    best = max(p.score for p in curve.points)
    assert best > 0.8  # R² on prices; scored on the log it would be far off


@pytest.mark.slow
def test_fine_tuning_a_log_model_keeps_the_log_and_adds_trees(log_study, tmp_path, monkeypatch):
    from knobs.transfer import finetune

    search, csv, root = log_study
    monkeypatch.setenv("KNOBS_HOME", str(root / "home"))
    parent = tmp_path / "parent"
    export_study(search.name, "skops", parent)
    result = finetune(parent, multiplicative(n=360, seed=5, shift=0.15), out=tmp_path / "ft")
    tuned = load_bundle(result.out).estimator
    assert target_of(tuned) == "log"
    before = pipeline_of(load_bundle(parent).estimator).steps[-1][1]
    after = pipeline_of(tuned).steps[-1][1]
    assert after.get_booster().num_boosted_rounds() > before.get_booster().num_boosted_rounds()
    assert result.scores["finetuned"] > result.scores["old"]


# --- the Search page --------------------------------------------------------------------------


@pytest.mark.slow
def test_search_page_offers_the_choice_for_regression_and_starts_with_it(monkeypatch):
    """Parity with `--target-transform`: absent for classes (the churn sample), on a regression
    upload `auto` by default, and the choice reaches the study's plan."""
    from streamlit.testing.v1 import AppTest

    from components import state
    from knobs.data import sample_path

    root = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(root)
    at = AppTest.from_file(str(root / "app.py"), default_timeout=90).run()
    at.switch_page("app_pages/search.py").run()
    assert not at.exception and not at.error
    assert not [s for s in at.selectbox if s.key == state.W_TARGET_TRANSFORM]
    at.switch_page("app_pages/data.py").run()
    houses = sample_path("houses")
    at.file_uploader(key=state.W_UPLOAD).set_value((houses.name, houses.read_bytes(), "text/csv"))
    at.run()
    at.switch_page("app_pages/search.py").run()
    assert not at.exception and not at.error
    choice = at.selectbox(key=state.W_TARGET_TRANSFORM)
    assert choice.value == "auto"
    choice.set_value("log").run()
    at.toggle(key=state.W_AUTO_MODELS).set_value(False).run()
    at.multiselect(key=state.W_MODELS).set_value(["linear"]).run()
    at.number_input(key=state.W_TRIALS).set_value(2).run()
    at.button(key=state.W_START).click().run()
    assert not at.exception and not at.error
    search = Search.open(at.session_state["knobs.study"])
    try:
        assert search.plan.config.target_transform == "log"
        assert search.plan.target_transforms == ("log",)
    finally:
        search.stop()
