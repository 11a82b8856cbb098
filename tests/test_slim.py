"""Model pruning (``knobs slim``): the feature curve drops planted noise first, the tree curve
cuts real models to their first k trees, and a slim export predicts from its kept columns only.

Studies are real (``Search.create`` on a CSV: plan, split, folds); their one trial is written as
a search would leave it, so no search runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from sklearn.base import clone

import knobs
from knobs.cli import main
from knobs.errors import ConfigError, DataError, ExportError
from knobs.predict import predict_table
from knobs.slim import (
    curve_data,
    export_slim,
    feature_curve,
    job_status,
    kept_plan,
    parse_choice,
    slim_report,
    tree_curve,
)
from knobs.slim._trees import TREE_FAMILIES, staged_predictions, tree_count
from knobs.study import Search, pipeline_for
from knobs.study.keys import CV

NOISE = ["noise_0", "noise_1", "noise_2"]
SIGNAL = ["strong", "medium", "color"]


def planted(n: int = 300, seed: int = 0, task: str = "binary") -> pd.DataFrame:
    """Three columns that carry the target and three of pure noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"strong": rng.normal(size=n), "medium": rng.normal(size=n),
                          "color": rng.choice(["red", "green", "blue"], size=n)})  # fmt: skip
    for name in NOISE:
        frame[name] = rng.normal(size=n)
    signal = 2 * frame["strong"] + frame["medium"] + (frame["color"] == "red") * 1.5
    signal = signal + rng.normal(scale=0.3, size=n)
    frame["label"] = np.where(signal > 0.5, "yes", "no") if task == "binary" else 3 * signal + 5
    return frame


def make_study(tmp: Path, model: str, params: dict[str, int], *, task: str = "binary",
               name: str = "slim") -> str:  # fmt: skip
    """A Knobs study on a planted CSV whose single complete trial is ``model`` with ``params``."""
    csv = tmp / f"{name}.csv"
    planted(task=task).to_csv(csv, index=False)
    config = knobs.SearchConfig(target="label", models=(model,), strategy="random", n_trials=1,
                                cv=3, workers=1, seed=0)  # fmt: skip
    search = Search.create(csv, config, name=name)
    dist: dict = {"model": optuna.distributions.CategoricalDistribution([model])}
    dist |= {f"{model}.{k}": optuna.distributions.IntDistribution(1, 1000) for k in params}
    search.study.add_trial(optuna.trial.create_trial(
        params={"model": model, **{f"{model}.{k}": v for k, v in params.items()}},
        distributions=dist, value=0.9, user_attrs=CV.attr({"fold_scores": [0.9] * 3, "fit_s": 1.0}),
    ))  # fmt: skip
    return name


@pytest.fixture(scope="module")
def forest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A random-forest study slimmed once (columns=auto, trees=auto) and exported."""
    tmp = tmp_path_factory.mktemp("slim-forest")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", str(tmp / "home"))
        name = make_study(tmp, "random_forest", {"n_estimators": 16})
        report, fitted = slim_report(name, columns=3, trees="auto")
        result = export_slim(report, tmp / "bundle", fitted=fitted, data=tmp / f"{name}.csv")
        yield {"tmp": tmp, "name": name, "report": report, "result": result,
               "plan": Search.open(name).plan, "csv": tmp / f"{name}.csv"}  # fmt: skip


def test_the_feature_curve_drops_planted_noise_columns_first(tmp_path: Path) -> None:
    name = make_study(tmp_path, "logistic", {})
    plan = Search.open(name).plan
    curve, ranking = feature_curve(plan, "logistic", {})
    order = [r["name"] for r in ranking]
    assert set(order[-3:]) == set(NOISE), order
    assert order[0] == "strong"
    assert [p.size for p in curve.points] == [6, 5, 4, 3, 2, 1]
    assert set(curve.point(3).columns) == set(SIGNAL)
    suggested = curve.point(curve.suggested)
    assert not set(NOISE) & set(suggested.columns) and "strong" in suggested.columns
    assert curve.suggested <= curve.best and all(
        p.within_noise for p in curve.points if curve.suggested <= p.size <= curve.best
    )
    assert curve.suggested == 3  # dropping `color` too (2 columns) loses beyond the noise margin
    assert not curve.point(2).within_noise and curve.point(1).loss > curve.point(2).loss > 0
    assert all(p.noise is not None and p.noise > 0 for p in curve.points)


@pytest.mark.parametrize(("model", "task"), [("xgboost", "binary"), ("random_forest", "regression"),
                                             ("extra_trees", "binary"), ("hist_gb", "regression")])  # fmt: skip
def test_cutting_to_k_trees_equals_a_refit_with_k_trees(
    tmp_path: Path, model: str, task: str
) -> None:
    """The curve scores the first k trees of one fit; the export refits with n_estimators=k
    (hist_gb: max_iter=k) and the same seed: both must be the same model."""
    key = TREE_FAMILIES[model]
    name = make_study(tmp_path, model, {key: 30}, task=task)
    plan = Search.open(name).plan
    X, y = plan.load_split("train")
    full = pipeline_for(plan, model, {key: 30}, seed=plan.config.seed).fit(X, y)
    est = full.named_steps["model"]
    assert tree_count(est) == 30
    Xt = full.named_steps["prep"].transform(X)
    staged = staged_predictions(est, Xt, [7, 30], plan.task)
    for k in (7, 30):
        refit = pipeline_for(plan, model, {key: k}, seed=plan.config.seed).fit(X, y)
        fresh = refit.predict(X) if task == "regression" else refit.predict_proba(X)
        np.testing.assert_allclose(staged[k][1], fresh, rtol=1e-5, atol=1e-6)


def test_the_tree_curve_rises_with_trees_and_suggests_within_noise(tmp_path: Path) -> None:
    name = make_study(tmp_path, "xgboost", {"n_estimators": 60})
    plan = Search.open(name).plan
    curve = tree_curve(plan, "xgboost", {"n_estimators": 60})
    assert curve is not None and curve.kind == "trees"
    sizes = [p.size for p in curve.points]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 60 and sizes[-1] == 1
    scores = [p.score for p in curve.points]
    # monotone-ish: more trees never lose much, and 1 tree is clearly worse than the best
    assert np.corrcoef(np.log(sizes), scores)[0, 1] > 0.5
    assert curve.point(1).score < curve.point(curve.best).score
    assert curve.suggested <= curve.best
    assert all(p.within_noise for p in curve.points if curve.suggested <= p.size <= curve.best)
    assert tree_curve(plan, "logistic", {}) is None  # no trees to cut


def test_a_slim_export_needs_only_its_kept_columns(forest: dict) -> None:
    report, result, tmp = forest["report"], forest["result"], forest["tmp"]
    kept = report["choice"]["kept"]
    assert set(kept) == set(SIGNAL) and set(report["choice"]["dropped"]) == set(NOISE)
    card = result.card
    assert [c["name"] for c in card["schema"]] == [c for c in planted().columns if c in kept]
    table = planted(n=50, seed=3)
    slim_table = tmp / "kept-only.csv"
    table[kept].to_csv(slim_table, index=False)
    pred = predict_table(result.path, slim_table)
    assert len(pred.frame) == 50 and not pred.warnings
    full = tmp / "all-columns.csv"
    table.to_csv(full, index=False)  # extra columns are ignored, with a note
    assert predict_table(result.path, full).frame.equals(pred.frame)
    for missing in kept:
        broken = tmp / f"without-{missing}.csv"
        table[[c for c in kept if c != missing]].to_csv(broken, index=False)
        with pytest.raises(DataError, match=f"`{missing}`"):
            predict_table(result.path, broken)


def test_the_card_states_size_and_latency_before_and_after(forest: dict) -> None:
    card = forest["result"].card
    slim = card["model"]["extra"]["slim"]
    before, after = slim["before"], slim["after"]
    assert before["columns"] == 6 and after["columns"] == 3
    assert after["bytes"] > 0 and before["bytes"] > 0 and after["predictions_per_s"] > 0
    if after["trees"] < before["trees"]:
        assert after["bytes"] < before["bytes"]
    assert card["model"]["params"]["n_estimators"] == after["trees"]
    md = (forest["result"].path / "card.md").read_text()
    assert "## Slimmed (knobs slim)" in md and "`noise_0`" in md
    assert card["scores"]["cv"] == pytest.approx(report_cv(forest["report"]))


def report_cv(report: dict) -> float:
    trees = report["choice"]["trees"]
    curve = report["tree_curve"] if trees else report["feature_curve"]
    size = trees or report["choice"]["columns"]
    return next(p["score"] for p in curve["points"] if p["size"] == size)


@pytest.mark.slow
def test_train_py_rebuilds_a_slim_export(forest: dict, tmp_path: Path) -> None:
    from tests.test_export import assert_train_py_reproduces

    plan = forest["plan"]
    bundle = forest["result"].path
    settings = (bundle / "train.py").read_text()
    assert "noise_0" not in settings.split("def ")[0]  # SETTINGS lists the kept columns only
    n_fit = plan.n_train + plan.n_test if plan.fits_all_rows else plan.n_train
    assert_train_py_reproduces(bundle, forest["csv"], n_fit, tmp_path)


def test_knobs_slim_cli_writes_the_bundle_and_the_json(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    name = make_study(tmp_path, "xgboost", {"n_estimators": 20})
    out, report = tmp_path / "slim-out", tmp_path / "slim.json"
    code = main(["slim", "--study", name, "--columns", "4", "--trees", "10", "--out", str(out),
                 "--json", str(report), "--quiet"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "feature curve" in printed and "tree curve" in printed and "before" in printed
    data = json.loads(report.read_text())
    assert data["choice"]["columns"] == 4 and data["choice"]["trees"] == 10
    assert len(data["export"]["schema"]) == 4 and data["export"]["slim"]["after"]["trees"] == 10
    assert {p["size"] for p in data["tree_curve"]["points"]} >= {1, 10, 20}
    assert (out / "card.json").exists() and (out / "model.skops").exists()
    assert main(["slim", "--study", name, "--trees", "500", "--out", str(tmp_path / "x")]) == 2
    assert main(["slim", "--study", name, "--trial", "7", "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "Cannot keep 500 trees: the model has 20" in err and "no completed trial 7" in err


@pytest.mark.parametrize(
    ("value", "expected"), [("auto", "auto"), ("ALL", "all"), ("3", 3), (2, 2)]
)
def test_choices_read_auto_all_or_a_count(value: str | int, expected: str | int) -> None:
    assert parse_choice(value, "columns") == expected


@pytest.mark.parametrize("value", ["0", "-1", "many", 0])
def test_bad_choices_are_refused_by_name(value: str | int) -> None:
    with pytest.raises(ConfigError, match=r"--trees must be `auto`.*got"):
        parse_choice(value, "trees")


def test_kept_plan_marks_only_the_dropped_columns_unused(forest: dict) -> None:
    plan = forest["plan"]
    sub = kept_plan(plan, ["strong"])
    assert sub.schema() == {"strong": "numeric"} and plan.schema()["noise_0"] == "numeric"
    X, y = plan.load_split("train")
    pipe = pipeline_for(sub, "logistic", {}, seed=0)
    clone(pipe).fit(X[["strong"]], y)  # a pipeline on the kept column alone


def test_curve_data_is_smallest_first_with_its_band(forest: dict) -> None:
    data = curve_data(forest["report"], "columns")
    assert data is not None and data["sizes"] == sorted(data["sizes"])
    assert all(lo <= s <= hi for lo, s, hi in zip(data["low"], data["scores"], data["high"],
                                                   strict=True))  # fmt: skip
    assert data["suggested"] in data["sizes"]
    assert curve_data({**forest["report"], "tree_curve": None}, "trees") is None


def test_slimming_a_study_without_a_complete_trial_says_so(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    planted().to_csv(csv, index=False)
    cfg = knobs.SearchConfig(target="label", models=("logistic",), cv=3, n_trials=1, seed=0)
    name = Search.create(csv, cfg, name="empty").name
    with pytest.raises(ExportError, match="no completed trial"):
        slim_report(name)
    assert job_status(name, 0).state == "none"


def test_another_pick_of_the_curves_keeps_its_columns_and_scores(forest: dict) -> None:
    from knobs.slim import with_choice

    report = forest["report"]
    picked = with_choice(report, 2, None)
    ranked = [r["name"] for r in report["ranking"]["columns"]]
    assert picked["choice"]["kept"] == ranked[:2] and picked["choice"]["dropped"] == ranked[2:]
    assert picked["after"]["trees"] == report["before"]["trees"]  # None: every tree kept
    assert picked["after"]["cv"] == report_cv({**picked, "choice": {"trees": None, "columns": 2}})
    with pytest.raises(ConfigError, match="no point at 99"):
        with_choice(report, 99, None)


def test_histogram_boosting_gets_a_tree_curve_unless_it_stops_early_by_itself(
    tmp_path: Path,
) -> None:
    name = make_study(tmp_path, "hist_gb", {"max_iter": 20})
    plan = Search.open(name).plan
    curve = tree_curve(plan, "hist_gb", {"max_iter": 20})
    assert curve is not None and max(p.size for p in curve.points) == 20
    assert tree_curve(plan, "hist_gb", {"max_iter": 20, "early_stopping": True}) is None


def test_trees_cut_on_other_columns_than_the_tree_curve_have_no_cv(forest: dict) -> None:
    from knobs.slim import with_choice

    report = forest["report"]
    assert report["tree_curve_columns"] == 3
    assert with_choice(report, 2, 4)["after"]["cv"] is None
    assert with_choice(report, 3, 4)["after"]["cv"] == report_cv(
        {**report, "choice": {"trees": 4, "columns": 3}}
    )
