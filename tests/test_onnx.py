"""ONNX export of realistic tables and of ensembles.

The churn sample (a date, a high-cardinality categorical, yes/no and missing values) is tuned for
real, exported as ONNX and as skops, and both bundles predict the raw CSV rows (with unseen and
missing values added) through ``knobs predict``'s own path: the ONNX graph must give the skops
model's probabilities within the tolerance. A voting ensemble comes from the real ensemble
builder; greedy, hard voting, stacking, regression blends, target encoding on every task and
the pipeline search's preprocessing choices are checked on small tables. What ONNX cannot
express faithfully (stacking on the raw table, text TF-IDF, normal quantile scaling) is refused
with the step named and what to use instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import VotingClassifier, VotingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from knobs import ensembles
from knobs.api import Search, tune
from knobs.config import SearchConfig
from knobs.data import build_preprocessor
from knobs.errors import ExportError
from knobs.export import (
    LoadedModel,
    ModelSource,
    blocking_step,
    load_bundle,
    source_from_study,
    write_bundle,
)
from knobs.export._formats import FORMATS
from knobs.export._onnx import PROBA_TOL, to_onnx
from knobs.portable import (
    DateParts,
    GreedyEnsembleClassifier,
    GreedyEnsembleRegressor,
    KindCoercer,
    StackingEnsembleClassifier,
    StackingEnsembleRegressor,
    TargetEncoding,
)
from knobs.predict import PROBA_PREFIX, predict_frame
from knobs.study import StudyPlan, pipeline_for, storage_url
from tests.conftest import make_table

ROOT = Path(__file__).resolve().parents[1]
CHURN = ROOT / "knobs" / "samples" / "churn.csv"
STORAGE: dict[str, str] = {}


def _steps(est: object) -> list[object]:
    """Every step inside a fitted pipeline or ensemble (to prove what a test exercises)."""
    from knobs.export._onnx import _walk

    return [step for _path, step in _walk(est, "x")]


# --- the churn sample, end to end -----------------------------------------------------------------


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real (small) study on the bundled churn sample, in the module's own KNOBS_HOME."""
    home = tmp_path_factory.mktemp("onnx-churn")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", str(home))
        tune(str(CHURN), "churn", models="xgboost", n_trials=2, cv=3, workers=1, ensemble=False,
             study="churn", refit=False)  # fmt: skip
        STORAGE["url"] = storage_url(None)
    return "churn"


def _user_rows() -> pd.DataFrame:
    """Raw CSV rows as `knobs predict` reads them, plus the trouble new tables bring: an unseen
    region, missing and unreadable dates, a missing contract, a zoned timestamp."""
    frame = pd.read_csv(CHURN, dtype=str).drop(columns="churn").head(300).reset_index(drop=True)
    frame.loc[0, "region"] = "Atlantis"
    frame.loc[1, "signup_date"] = None
    frame.loc[2, "signup_date"] = "not a date"
    frame.loc[3, "contract"] = None
    frame.loc[4, "region"] = None
    frame.loc[5, "signup_date"] = "2021-06-30 23:30:00+02:00"
    return frame


def _assert_same_predictions(onnx_out: pd.DataFrame, skops_out: pd.DataFrame) -> None:
    proba = [c for c in skops_out.columns if c.startswith(PROBA_PREFIX)]
    assert proba and list(onnx_out.columns) == list(skops_out.columns)
    diff = np.abs(onnx_out[proba].to_numpy() - skops_out[proba].to_numpy())
    assert diff.max() <= PROBA_TOL, diff.max()
    # Labels may differ only where the two classes tie within the tolerance (float32 sums).
    flipped = (onnx_out["prediction"] != skops_out["prediction"]).to_numpy()
    top = skops_out[proba].to_numpy()
    assert np.all(np.abs(top[flipped, 0] - top[flipped, 1]) <= 2 * PROBA_TOL)


@pytest.mark.slow
def test_the_churn_sample_exports_to_onnx_and_predicts_like_skops(
    churn: str, tmp_path: Path
) -> None:
    plan, source, _base = source_from_study(churn, storage=STORAGE["url"])
    steps = _steps(source.estimator)
    # What used to block it: the date parts and the target-encoded `region` (30 levels).
    assert any(isinstance(s, DateParts) for s in steps)
    assert any(isinstance(s, TargetEncoding) for s in steps)
    assert blocking_step(source.estimator) is None
    result = write_bundle(plan, source, "onnx", tmp_path / "onnx")
    o = result.card["onnx"]
    assert o["max_abs_diff"] <= o["tolerance"] == PROBA_TOL and o["rows"] == plan.n_train
    assert o["inputs"]["region"] == "categorical"
    assert [k for k, v in o["inputs"].items() if v.startswith("datetime.")] == [
        f"signup_date__{p}" for p in ("year", "month", "day", "weekday", "hour")
    ]
    assert "signup_date" not in o["inputs"]
    assert "`signup_date`) enter the graph as precomputed parts" in result.card["loading"]["note"]
    assert "precomputed parts" in (tmp_path / "onnx" / "card.md").read_text()
    # The graph looks `region` up in the fitted encoding table.
    graph = onnx.load_model_from_string((tmp_path / "onnx" / "model.onnx").read_bytes()).graph
    assert any(n.op_type == "LabelEncoder" for n in graph.node)

    # The skops export of the same model, read by its own format row (exact, no pickle), behind
    # the same card: both go through `knobs predict`'s checks and cleaning.
    onnx_model = load_bundle(tmp_path / "onnx")
    skops_dir = tmp_path / "skops"
    skops_dir.mkdir()
    written = FORMATS["skops"].dump(source.estimator, skops_dir, plan.task, None)
    skops_model = FORMATS["skops"].load(skops_dir, {"trusted_types": list(written.trusted)})
    rows = _user_rows()
    got = predict_frame(onnx_model, rows)
    want = predict_frame(LoadedModel(card=onnx_model.card, estimator=skops_model), rows)
    assert any("Atlantis" in w for w in got.warnings)
    _assert_same_predictions(got.frame, want.frame)


@pytest.mark.slow
def test_churn_voting_and_greedy_ensembles_export_to_onnx(churn: str, tmp_path: Path) -> None:
    """A voting ensemble made by Knobs' own builder; a greedy ensemble of the same fitted
    members (weights as the builder would store them); both through the ONNX format row."""
    report = ensembles.build_ensemble([churn], "voting", top=2, evaluate_test=False,
                                      storage=STORAGE["url"])  # fmt: skip
    voting, _meta = ensembles.fitted_ensemble(report.id, STORAGE["url"])
    assert isinstance(voting, VotingClassifier) and len(voting.estimators_) == 2
    plan = Search.open(churn, STORAGE["url"]).plan
    X_train, y_train = plan.load_split("train")
    X, _ = plan.load_split("test")
    model = _dump_and_load(voting, "binary", X_train, tmp_path / "voting")
    np.testing.assert_allclose(model.predict_proba(X), voting.predict_proba(X), rtol=0,
                               atol=PROBA_TOL)  # fmt: skip
    assert (model.predict(X) == voting.predict(X)).mean() > 0.99

    members = list(zip([n for n, _ in voting.estimators], voting.estimators_, strict=True))
    greedy = GreedyEnsembleClassifier(members).fit(X_train, y_train, weights=[3.0, 1.0])
    check = _dump_and_load(greedy, "binary", X_train, tmp_path / "greedy")
    np.testing.assert_allclose(check.predict_proba(X), greedy.predict_proba(X), rtol=0,
                               atol=PROBA_TOL)  # fmt: skip


# --- small tables: every task, ensembles, preprocessing choices -----------------------------------


def _table(task: str, n: int = 200, seed: int = 3) -> pd.DataFrame:
    """make_table plus two dates (day-first with gaps; with hours) and two categoricals of 70
    and 66 levels (target-encoded: more than 64): several columns in each branch of the graph."""
    rng = np.random.default_rng(seed)
    frame = make_table(task, n=n, seed=seed)
    dates = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), "D")
    frame["opened"] = pd.Series(dates.strftime("%d/%m/%Y")).where(rng.random(n) > 0.1)
    stamps = dates + pd.to_timedelta(rng.integers(0, 24 * 60, n), "min")
    frame["closed"] = stamps.strftime("%Y-%m-%d %H:%M")
    frame["shop"] = rng.choice([f"shop{i:02d}" for i in range(70)], size=n)
    frame["agent"] = rng.choice([f"agent{i:02d}" for i in range(66)], size=n)
    return frame


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StudyPlan]:
    """One real StudyPlan per task (``Search.create`` profiles and splits; no search runs)."""
    directory = tmp_path_factory.mktemp("onnx-small")
    plans = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", str(directory / "home"))
        for task in ("binary", "multiclass", "regression"):
            csv = directory / f"{task}.csv"
            _table(task).to_csv(csv, index=False)
            cfg = SearchConfig(target="label", cv=2, n_trials=1, seed=0)
            plans[task] = Search.create(csv, cfg, name=f"onnx-{task}").plan
    return plans


def _fitted(plan: StudyPlan, family: str, params: dict | None = None) -> Pipeline:
    problem = plan.problem()
    fast = {"xgboost": {"n_estimators": 20}, "random_forest": {"n_estimators": 10}}
    pipe = pipeline_for(plan, family, {**fast.get(family, {}), **(params or {})}, seed=0)
    return pipe.fit(problem.X, problem.y)


def _dump_and_load(est: object, task: str, X_train: pd.DataFrame, directory: Path) -> object:
    """The ONNX format row's own writer and reader (no card, no train.py)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = FORMATS["onnx"].dump(est, directory, task, X_train)
    return FORMATS["onnx"].load(directory, {"onnx": written.onnx, "task": task})


def _new_rows(plan: StudyPlan) -> pd.DataFrame:
    X, _ = plan.load_split("test")
    X = X.copy()
    X.loc[X.index[0], "shop"] = "never seen"
    X.loc[X.index[1], "opened"] = None
    X.loc[X.index[2], "agent"] = None
    return X


def plan_kinds(plan: StudyPlan) -> dict[str, str]:
    return {c.safe_name: c.kind for c in plan.columns}


FAMILIES = {"binary": "logistic", "multiclass": "logistic", "regression": "linear"}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_target_encoding_and_dates_convert_on_every_task(small: dict, task: str,
                                                         tmp_path: Path) -> None:  # fmt: skip
    """Multiclass target encoding gives one column per class; an unseen category gets the
    fitted target mean in the graph as in scikit-learn; scaled after it, as Knobs builds it."""
    plan = small[task]
    pipe = _fitted(plan, FAMILIES[task])
    steps = _steps(pipe)
    assert any(isinstance(s, TargetEncoding) for s in steps)
    assert any(isinstance(s, DateParts) for s in steps)
    kinds = plan_kinds(plan)
    assert kinds["opened"] == kinds["closed"] == "datetime"
    X_train, _ = plan.load_split("train")
    model = _dump_and_load(pipe, task, X_train, tmp_path)
    X = _new_rows(plan)
    if task == "regression":
        want = pipe.predict(X)
        np.testing.assert_allclose(model.predict(X), want, rtol=0,
                                   atol=1e-4 * max(1.0, np.abs(want).max()))  # fmt: skip
    else:
        np.testing.assert_allclose(model.predict_proba(X), pipe.predict_proba(X), rtol=0,
                                   atol=PROBA_TOL)  # fmt: skip


#: The preprocessing a pipeline search may choose (``knobs.pipelines``), each exported.
PREP_CASES = [
    {"prep.encoding": "ordinal", "prep.impute": "mean", "prep.scaler": "robust"},
    {"prep.encoding": "target", "prep.missing_indicator": False},
    {"prep.keep_features": 0.5},
]


# The F-test meets constant columns (the hour of a date without time): scikit-learn warns.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:Features .* are constant:UserWarning")
@pytest.mark.parametrize("params", PREP_CASES, ids=["ordinal-mean-robust", "target-no-indicator",
                                                    "select-half"])  # fmt: skip
def test_pipeline_search_choices_convert(small: dict, params: dict, tmp_path: Path) -> None:
    plan = small["multiclass"]
    pipe = _fitted(plan, "logistic", params)
    X_train, _ = plan.load_split("train")
    model = _dump_and_load(pipe, "multiclass", X_train, tmp_path)
    X = _new_rows(plan)
    np.testing.assert_allclose(model.predict_proba(X), pipe.predict_proba(X), rtol=0,
                               atol=PROBA_TOL)  # fmt: skip


@pytest.mark.filterwarnings("ignore:n_quantiles:UserWarning")
def test_quantile_normal_scaling_is_refused_before_conversion(small: dict) -> None:
    pipe = _fitted(small["binary"], "logistic", {"prep.scaler": "quantile"})
    with pytest.raises(ExportError, match=r"step `pipeline › prep › numeric › scale` "
                       r"\(QuantileTransformer: quantile scaling .*"
                       r"standard or robust scaler"):  # fmt: skip
        to_onnx(pipe, "binary", small["binary"].load_split("train")[0])


def test_greedy_and_voting_regressors_blend_in_the_graph(small: dict, tmp_path: Path) -> None:
    plan = small["regression"]
    problem = plan.problem()
    members = [(f"m{i}_{f}", pipeline_for(plan, f, p, seed=0)) for i, (f, p) in enumerate(
        [("linear", {}), ("xgboost", {"n_estimators": 20}), ("random_forest", {"n_estimators": 10})]
    )]  # fmt: skip
    greedy = GreedyEnsembleRegressor(members).fit(problem.X, problem.y, weights=[2.0, 0.0, 1.0])
    voting = VotingRegressor(members, weights=[1.0, 2.0, 1.0]).fit(problem.X, problem.y)
    X_train, _ = plan.load_split("train")
    X = _new_rows(plan)
    for name, est in (("greedy", greedy), ("voting", voting)):
        model = _dump_and_load(est, "regression", X_train, tmp_path / name)
        want = est.predict(X)
        np.testing.assert_allclose(model.predict(X), want, rtol=0,
                                   atol=1e-4 * max(1.0, np.abs(want).max()))  # fmt: skip


def test_hard_voting_counts_weighted_votes(small: dict, tmp_path: Path) -> None:
    """Hard voting has labels only: the graph adds each member's weight to the class it
    predicts; the loaded model has no predict_proba, as scikit-learn's has none."""
    plan = small["multiclass"]
    problem = plan.problem()
    members = [("a", pipeline_for(plan, "logistic", {}, seed=0)),
               ("b", pipeline_for(plan, "xgboost", {"n_estimators": 20}, seed=0)),
               ("c", pipeline_for(plan, "logistic", {"C": 0.01}, seed=0))]  # fmt: skip
    est = VotingClassifier(members, voting="hard", weights=[1.0, 2.0, 1.5])
    est.fit(problem.X, problem.y)
    X_train, _ = plan.load_split("train")
    model = _dump_and_load(est, "multiclass", X_train, tmp_path)
    assert not hasattr(model, "predict_proba")
    X = _new_rows(plan)
    np.testing.assert_array_equal(model.predict(X), est.predict(X))


# --- what is still refused ----------------------------------------------------------------------


@pytest.mark.parametrize(("task", "passthrough"), [("binary", True), ("multiclass", False),
                                                   ("regression", True)])  # fmt: skip
def test_stacking_converts_with_its_meta_learner(small: dict, task: str, passthrough: bool,
                                                 tmp_path: Path) -> None:  # fmt: skip
    """Members' outputs laid out as the meta-learner saw them (a binary classifier's positive
    column only), then Knobs' preprocessing when the features are passed through, then the
    meta-learner's graph."""
    plan = small[task]
    problem = plan.problem()
    first = "linear" if task == "regression" else "logistic"
    members = [("a", pipeline_for(plan, first, {}, seed=0)),
               ("b", pipeline_for(plan, "xgboost", {"n_estimators": 20}, seed=0))]  # fmt: skip
    cls = StackingEnsembleRegressor if task == "regression" else StackingEnsembleClassifier
    through = build_preprocessor(plan.columns, scale=True) if passthrough else False
    est = cls(members, passthrough=through, cv=2).fit(problem.X, problem.y)
    X_train, _ = plan.load_split("train")
    model = _dump_and_load(est, task, X_train, tmp_path)
    X = _new_rows(plan)
    if task == "regression":
        want = est.predict(X)
        np.testing.assert_allclose(model.predict(X), want, rtol=0,
                                   atol=1e-4 * max(1.0, np.abs(want).max()))  # fmt: skip
    else:
        np.testing.assert_allclose(model.predict_proba(X), est.predict_proba(X), rtol=0,
                                   atol=PROBA_TOL)  # fmt: skip


def test_stacking_on_the_raw_table_is_refused_naming_the_step(tmp_path: Path) -> None:
    """``passthrough=True`` hands the meta-learner the table itself as one numeric matrix; the
    graph has one input per column: refused, saying what to use instead."""
    table = make_table("binary", n=120).drop(columns=["color", "x2 [cm]"])
    csv = tmp_path / "numbers.csv"
    table.to_csv(csv, index=False)
    plan = Search.create(csv, SearchConfig(target="label", cv=2, n_trials=1), name="raw").plan
    problem = plan.problem()
    members = [("a", pipeline_for(plan, "logistic", {}, seed=0)),
               ("b", pipeline_for(plan, "logistic", {"C": 0.1}, seed=0))]  # fmt: skip
    est = StackingEnsembleClassifier(members, passthrough=True, cv=2).fit(problem.X, problem.y)
    source = ModelSource(estimator=est, label="stacking", kind="ensemble", family="ensemble",
                         params={}, cv_score=0.5, test_score=0.5, fit_s=0.0)  # fmt: skip
    with pytest.raises(ExportError, match=r"step `ensemble` \(StackingEnsembleClassifier: "
                       r"stacking whose meta-learner also reads the raw table.*--format skops.*"
                       r"knobs ensemble --kind stacking"):  # fmt: skip
        write_bundle(plan, source, "onnx", tmp_path / "b")
    assert not (tmp_path / "b" / "model.onnx").exists()


def test_text_is_refused_naming_the_column_step(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    table = make_table("binary", n=120)
    words = np.array(["late", "fee", "loyal", "café", "refund", "slow"])
    table["note"] = [" ".join(rng.choice(words, size=5)) + f" case {i % 29}" for i in range(120)]
    csv = tmp_path / "t.csv"
    table.to_csv(csv, index=False)
    plan = Search.create(csv, SearchConfig(target="label", cv=2, n_trials=1), name="txt").plan
    pipe = _fitted(plan, "logistic")
    with pytest.raises(ExportError, match=r"step `pipeline › prep › text_note` \(TextTfidf: "
                       r"text TF-IDF: .*Unicode.*leave that column out"):  # fmt: skip
        to_onnx(pipe, "binary", plan.load_split("train")[0])


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
def test_an_imputer_that_drops_empty_columns_keeps_the_graph_aligned() -> None:
    """Without keep_empty_features scikit-learn drops a column that was all missing at fit
    time; the graph's imputer drops it too, so the indicator and model columns line up."""
    rng = np.random.default_rng(0)
    b = np.where(rng.random(80) < 0.2, np.nan, rng.normal(size=80))
    X = pd.DataFrame({"a": rng.normal(size=80), "empty": np.nan, "b": b})
    y = (X["a"] + rng.normal(scale=0.3, size=80) > 0).astype(int)
    branch = Pipeline([("coerce", KindCoercer("numeric")),
                       ("impute", SimpleImputer(strategy="mean", add_indicator=True))])  # fmt: skip
    pipe = Pipeline([("prep", ColumnTransformer([("numeric", branch, ["a", "empty", "b"])])),
                     ("model", LogisticRegression())]).fit(X, y)  # fmt: skip
    _data, schema, check = to_onnx(pipe, "binary", X)
    assert schema == {"a": "numeric", "empty": "numeric", "b": "numeric"}
    assert check.max_abs_diff <= PROBA_TOL and check.label_agreement == 1.0
