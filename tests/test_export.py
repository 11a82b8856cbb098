"""Exporting a fitted model: formats, round trips without pickle, the card, train.py.

Pipelines are built straight from a real StudyPlan (``Search.create`` splits and profiles the
table; no search runs), one per registered model family and task, then exported and loaded back
in a fresh process whose audit hook raises on ``pickle.find_class``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from knobs import ensembles
from knobs import study as results
from knobs.api import Search, tune
from knobs.config import SearchConfig
from knobs.errors import ExportError, UntrustedModelError
from knobs.export import (
    ModelSource,
    export_model,
    load_bundle,
    source_from_ensemble,
    source_from_study,
    write_bundle,
)
from knobs.export._onnx import PROBA_TOL
from knobs.models import model_names
from knobs.study import StudyPlan, pipeline_for, storage_url
from tests.conftest import make_table

TASKS = ("binary", "multiclass", "regression")
ROOT = Path(__file__).resolve().parents[1]
#: hist_gb: skl2onnx 1.20 cannot build its tree node (uint32 node ids from scikit-learn 1.9).
ONNX_UNSUPPORTED = {"hist_gb"}

CSVS: dict[str, Path] = {}
STORAGE: dict[
    str, str
] = {}  # the module's own journal, filled by the `plans` fixture  # the original CSV of each plan, filled by the `plans` fixture
CHILD = r"""
import json, pickle, sys

def forbid_pickle(event, args):
    if event == "pickle.find_class":
        raise RuntimeError(f"pickle is forbidden here: {args}")

sys.addaudithook(forbid_pickle)
import numpy as np
import pandas as pd
from knobs.export import load_bundle

jobs = json.load(open(sys.argv[1]))
for job in jobs:
    X = pd.read_parquet(job["X"])
    model = load_bundle(job["bundle"])
    pred, proba = model.predict_safe(X)
    np.save(job["pred"], np.asarray(pred), allow_pickle=False)
    if proba is not None:
        np.save(job["proba"], np.asarray(proba), allow_pickle=False)
try:  # the hook must bite, or this test proves nothing
    pickle.loads(pickle.dumps(pd.DataFrame))
    print("HOOK-DID-NOT-FIRE")
except RuntimeError:
    print("HOOK-OK")
"""


def rich_table(n: int = 240, seed: int = 1) -> pd.DataFrame:
    """Every preprocessing branch: numbers, yes/no, a date, text, low- and high-cardinality."""
    rng = np.random.default_rng(seed)
    base = make_table("binary", n=n, seed=seed)
    words = np.array(["late", "fee", "loyal", "upgrade", "refund", "slow", "happy", "call"])
    base["member"] = rng.choice(["Yes", "No"], size=n)
    base["since"] = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D")
    base["since"] = base["since"].dt.strftime("%Y-%m-%d")
    base["note"] = [" ".join(rng.choice(words, size=6)) + f" case {i % 37}" for i in range(n)]
    base["city"] = rng.choice([f"city{i:02d}" for i in range(30)], size=n)
    return base


def make_plan(
    directory: Path, table: pd.DataFrame, name: str, models: tuple[str, ...], trials: int = 0
) -> StudyPlan:
    """A real study's plan; with ``trials``, that many baseline trials run (ensembles need them)."""
    csv = directory / f"{name}.csv"
    table.to_csv(csv, index=False)
    if trials:
        tune(str(csv), "label", models=",".join(models), n_trials=trials, cv=2, workers=1,
             study=name, refit=False)  # fmt: skip
        return Search.open(name).plan
    cfg = SearchConfig(target="label", models=models, cv=2, n_trials=1, seed=0)
    return Search.create(csv, cfg, name=name).plan


#: Smaller than the defaults where fitting dominates the test's time; the formats do not care.
FAST_PARAMS: dict[str, dict[str, int]] = {
    "hist_gb": {"max_iter": 20},
    "random_forest": {"n_estimators": 20},
    "extra_trees": {"n_estimators": 20},
    "xgboost": {"n_estimators": 30},
}


def fitted_source(plan: StudyPlan, family: str) -> ModelSource:
    problem = plan.problem()
    started = time.perf_counter()
    params = FAST_PARAMS.get(family, {})
    pipeline = pipeline_for(plan, family, params, seed=plan.config.seed)
    pipeline.fit(problem.X, problem.y)
    return ModelSource(
        estimator=pipeline, label=f"{family} trial", kind="trial", family=family, params=params,
        cv_score=0.5, test_score=results.test_score(plan, pipeline), fit_s=time.perf_counter() - started,
    )  # fmt: skip


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StudyPlan]:
    """One StudyPlan per task with every model family of that task, and a rich table."""
    directory = tmp_path_factory.mktemp("export-plans")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", str(directory / "home"))
        # Two baseline trials per task run for real: the ensembles below combine them.
        out = {
            task: make_plan(
                directory, make_table(task), f"exp-{task}", tuple(model_names(task)), trials=2
            )
            for task in TASKS
        }
        STORAGE["url"] = storage_url(None)
        out["rich"] = make_plan(directory, rich_table(), "exp-rich", ("xgboost", "logistic"))
    CSVS.update({name: directory / f"exp-{name}.csv" for name in out})
    return out


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for task in TASKS:
        for family in model_names(task):
            cases.append(("skops", task, family))
            cases.append(("onnx", task, family))
        cases.append(("xgboost", task, "xgboost"))
        for kind in ensembles.KINDS:
            cases.append(("skops", task, f"ensemble-{kind}"))
    return cases


CASES = _cases()


def ensemble_source(task: str, kind: str) -> ModelSource:
    """A kept ensemble of the study's trials, refit through the exporter's own adapter."""
    report = ensembles.build_ensemble([f"exp-{task}"], kind, top=2, storage=STORAGE["url"])
    _plan, source, _best = source_from_ensemble(report.id, STORAGE["url"])
    return source


@pytest.fixture(scope="module")
def roundtrip(plans: dict[str, StudyPlan], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Export every case, reload all of them in one fresh process with pickle forbidden."""
    root = tmp_path_factory.mktemp("roundtrip")
    jobs, expected, refused = [], {}, {}
    sources: dict[tuple[str, str], ModelSource] = {}
    for fmt, task, family in CASES:
        plan = plans[task]
        source = sources.get((task, family)) or (
            ensemble_source(task, family.removeprefix("ensemble-"))
            if family.startswith("ensemble-")
            else fitted_source(plan, family)
        )
        sources[(task, family)] = source
        X, _ = plan.load_split("test")
        key = f"{fmt}-{task}-{family}"
        try:
            result = write_bundle(plan, source, fmt, root / key)
        except ExportError as exc:
            refused[key] = str(exc)
            continue
        X.to_parquet(root / f"{key}.parquet")
        est = source.estimator
        proba = (
            est.predict_proba(X) if task != "regression" and hasattr(est, "predict_proba") else None
        )
        expected[key] = (np.asarray(est.predict(X)), proba, result.card)
        jobs.append({"X": str(root / f"{key}.parquet"), "bundle": str(root / key),
                     "pred": str(root / f"{key}.pred.npy"), "proba": str(root / f"{key}.proba.npy")})  # fmt: skip
    (root / "jobs.json").write_text(json.dumps(jobs))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(root / "jobs.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "HOOK-OK" in proc.stdout
    return {"root": root, "expected": expected, "refused": refused}


@pytest.mark.slow
@pytest.mark.parametrize(("fmt", "task", "family"), CASES, ids=["-".join(c) for c in CASES])
def test_round_trip_without_pickle(roundtrip: dict, fmt: str, task: str, family: str) -> None:
    key = f"{fmt}-{task}-{family}"
    if fmt == "onnx" and family in ONNX_UNSUPPORTED:
        assert "skl2onnx cannot convert" in roundtrip["refused"][key]
        assert "HistGradientBoosting" in roundtrip["refused"][key]
        return
    assert key not in roundtrip["refused"], roundtrip["refused"].get(key)
    want_pred, want_proba, card = roundtrip["expected"][key]
    root = roundtrip["root"]
    got_pred = np.load(root / f"{key}.pred.npy")
    proba_file = root / f"{key}.proba.npy"
    if fmt in ("skops", "xgboost"):
        np.testing.assert_array_equal(got_pred, want_pred)  # exactly, not approximately
        if want_proba is not None:
            np.testing.assert_array_equal(np.load(proba_file), want_proba)
        return
    onnx = card["onnx"]
    assert onnx["max_abs_diff"] <= onnx["tolerance"]
    if task == "regression":
        np.testing.assert_allclose(got_pred, want_pred, rtol=0, atol=onnx["tolerance"])
    elif want_proba is not None:
        np.testing.assert_allclose(np.load(proba_file), want_proba, rtol=0, atol=PROBA_TOL)
        # Labels may differ only where the model's top two probabilities tie within the
        # tolerance (a forest with 10 of 20 votes each way): float32 sums break such ties
        # either way.
        flipped = got_pred != want_pred
        top2 = np.sort(want_proba, axis=1)[:, -2:]
        assert np.all(top2[flipped, 1] - top2[flipped, 0] <= 2 * PROBA_TOL)
    else:
        np.testing.assert_array_equal(got_pred, want_pred)


def test_untrusted_type_in_skops_file_is_refused(plans: dict, tmp_path: Path) -> None:
    """A model file swapped for one that needs an extra type is refused, naming the type."""
    import skops.io as sio
    from sklearn.pipeline import Pipeline

    source = fitted_source(plans["binary"], "logistic")
    bundle = tmp_path / "bundle"
    write_bundle(plans["binary"], source, "skops", bundle)
    assert load_bundle(bundle).estimator is not None
    tampered = Pipeline([*source.estimator.steps[:-1], ("model", Sneaky())])
    tampered.steps[-1][1].fit(None)
    sio.dump(tampered, bundle / "model.skops")
    with pytest.raises(UntrustedModelError, match=r"`(tests\.)?test_export\.Sneaky`.*not loaded"):
        load_bundle(bundle)


def test_card_that_trusts_a_foreign_module_is_refused(plans: dict, tmp_path: Path) -> None:
    source = fitted_source(plans["binary"], "logistic")
    bundle = tmp_path / "bundle"
    write_bundle(plans["binary"], source, "skops", bundle)
    card = json.loads((bundle / "card.json").read_text())
    card["trusted_types"].append("os.system")
    (bundle / "card.json").write_text(json.dumps(card))
    with pytest.raises(UntrustedModelError, match=r"`os\.system`.*outside the libraries"):
        load_bundle(bundle)


class Sneaky:
    """A type no card trusts (skops would have to build it by importing this module)."""

    def fit(self, X: object, y: object = None) -> Sneaky:
        self.armed_ = True
        return self


def test_onnx_names_the_blocking_step(plans: dict, tmp_path: Path) -> None:
    source = fitted_source(plans["rich"], "xgboost")
    # Dates and target encoding convert now (tests/test_onnx.py); the text column still blocks.
    with pytest.raises(ExportError, match=r"cannot be exported to ONNX: step `pipeline › prep › "
                       r"text_note` \(TextTfidf: text TF-IDF"):  # fmt: skip
        write_bundle(plans["rich"], source, "onnx", tmp_path / "b")


def test_xgboost_format_refuses_other_models(plans: dict, tmp_path: Path) -> None:
    source = fitted_source(plans["binary"], "random_forest")
    with pytest.raises(ExportError, match="ends in `RandomForestClassifier`.*--format skops"):
        write_bundle(plans["binary"], source, "xgboost", tmp_path / "b")


def test_joblib_is_marked_and_never_loaded(plans: dict, tmp_path: Path) -> None:
    source = fitted_source(plans["binary"], "logistic")
    result = write_bundle(plans["binary"], source, "joblib", tmp_path / "b")
    assert any("runs code" in w for w in result.card["warnings"])
    assert "runs code stored in it" in (tmp_path / "b" / "card.md").read_text()
    with pytest.raises(ExportError, match="joblib .*pickle.*never loads"):
        load_bundle(tmp_path / "b")


def test_card_holds_what_the_issue_lists(plans: dict, tmp_path: Path) -> None:
    plan = plans["rich"]
    source = fitted_source(plan, "xgboost")
    result = export_model(plan, source, "skops", tmp_path / "b", study="exp-rich",
                          baseline_score=0.61)  # fmt: skip
    card = json.loads((tmp_path / "b" / "card.json").read_text())
    assert card == json.loads(json.dumps(result.card, default=str))
    assert card["task"] == "binary" and card["target"] == "label"
    assert card["classes"] == ["no", "yes"]
    assert card["scores"] == {
        "metric": plan.metric, "direction": plan.direction, "cv": 0.5,
        "test": source.test_score, "baseline": 0.61,
        "baseline_label": "baseline (default parameters, CV)",
    }  # fmt: skip
    schema = {c["name"]: c for c in card["schema"]}
    assert schema["color"]["categories"] == ["blue", "green", "red"]
    assert schema["x2 [cm]"]["safe_name"] == "x2_cm" and schema["x2 [cm]"]["kind"] == "numeric"
    assert schema["since"]["kind"] == "datetime" and schema["member"]["kind"] == "boolean"
    assert card["data"]["fingerprint"] == plan.fingerprint
    assert card["data"]["n_train"] == plan.n_train and card["data"]["seed"] == 0
    assert {"scikit-learn", "xgboost-cpu", "skops", "numpy"} <= set(card["versions"]["export"])
    assert "knobs.portable.KindCoercer" in card["trusted_types"]
    assert card["requires_knobs"] and "knobs==" in card["loading"]["note"]
    assert 'sio.load("model.skops", trusted=card["trusted_types"])' in card["loading"]["snippet"]
    names = {f["name"] for f in card["files"]}
    assert names == {"model.skops", "train.py", "requirements.txt"}
    md = (tmp_path / "b" / "card.md").read_text()
    for text in ("Model card", "`x2 [cm]`", "Data fingerprint", "How to load it", "train.py"):
        assert text in md


def test_the_snippet_in_the_card_loads_the_model(plans: dict, tmp_path: Path) -> None:
    """The card's how-to-load code, run as written in the bundle folder, gives the same model."""
    source = fitted_source(plans["multiclass"], "random_forest")
    write_bundle(plans["multiclass"], source, "skops", tmp_path)
    card = json.loads((tmp_path / "card.json").read_text())
    code = card["loading"]["snippet"].replace("model.predict(X)", "")
    namespace: dict = {}
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        exec(code, namespace)  # noqa: S102 - our own generated snippet
    finally:
        os.chdir(cwd)
    X, _ = plans["multiclass"].load_split("test")
    np.testing.assert_array_equal(namespace["model"].predict_proba(X),
                                  source.estimator.predict_proba(X))  # fmt: skip


def test_zip_and_folder_outputs(plans: dict, tmp_path: Path) -> None:
    source = fitted_source(plans["regression"], "linear")
    zipped = export_model(plans["regression"], source, "skops", tmp_path / "m.zip")
    with zipfile.ZipFile(zipped.path) as zf:
        assert set(zf.namelist()) == {"model.skops", "card.json", "card.md", "train.py",
                                      "requirements.txt"}  # fmt: skip
    X, _ = plans["regression"].load_split("test")
    np.testing.assert_array_equal(load_bundle(zipped.path).predict_safe(X)[0],
                                  source.estimator.predict(X))  # fmt: skip
    with pytest.raises(ExportError, match="already exists"):
        export_model(plans["regression"], source, "skops", tmp_path / "m.zip")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not an empty folder"):
        export_model(plans["regression"], source, "skops", tmp_path / "full")
    with pytest.raises(ExportError, match="Unknown export format `pickle`"):
        export_model(plans["regression"], source, "pickle", tmp_path / "new")


TRAIN_CASES = [("binary", "xgboost"), ("multiclass", "logistic"), ("regression", "random_forest"),
               ("rich", "xgboost")]  # fmt: skip
BLOCK_KNOBS = r"""
import runpy, sys

class NoKnobs:
    def find_spec(self, name, path=None, target=None):
        if name == "knobs" or name.startswith("knobs."):
            raise ImportError("train.py must not import knobs")

sys.meta_path.insert(0, NoKnobs())
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def assert_train_py_reproduces(bundle: Path, csv: Path, n_train: int, workdir: Path) -> str:
    """Run the bundle's train.py with ``knobs`` unimportable on the original CSV, predict that
    CSV with it, and check it against ``knobs predict`` on the exported model file. Returns the
    script's text."""
    from knobs.predict import predict_table

    script = (bundle / "train.py").read_text()
    assert "import knobs" not in script and "from knobs" not in script
    reqs = (bundle / "requirements.txt").read_text().split()
    assert "scikit-learn==" in " ".join(reqs) and not any(r.startswith("knobs") for r in reqs)
    out = workdir / "pred.csv"
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_KNOBS, str(bundle / "train.py"), str(csv),
         "--predict", str(csv), "--out", str(out)],
        cwd=workdir, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"fitted on {n_train} rows" in proc.stdout
    ours = predict_table(bundle, csv).frame
    theirs = pd.read_csv(out)
    assert list(theirs.columns) == list(ours.columns)
    # The CSV holds each float's shortest round-trip text in its own precision (XGBoost gives
    # float32): read back at that precision, the values are bit-identical.
    theirs = theirs.astype(ours.dtypes.to_dict())
    if "probability" not in " ".join(ours.columns) and ours["prediction"].dtype.kind == "f":
        values = ours["prediction"].to_numpy()
        # `knobs predict` writes float64; a model that predicts float32 (XGBoost, and the exp
        # of its log-target output) gets float32 text from train.py: compare at that precision.
        single = np.array_equal(values.astype(np.float32).astype(np.float64), values)
        as_read = pd.read_csv(out)["prediction"].to_numpy()
        np.testing.assert_array_equal(
            as_read.astype(np.float32) if single else theirs["prediction"].to_numpy(),
            values.astype(np.float32) if single else values,
        )
    else:
        assert (theirs["prediction"].astype(str) == ours["prediction"].astype(str)).all()
        np.testing.assert_array_equal(theirs.iloc[:, 1:].to_numpy(), ours.iloc[:, 1:].to_numpy())
    return script


@pytest.mark.slow
@pytest.mark.parametrize(("task", "family"), TRAIN_CASES)
def test_train_py_reproduces_the_export(
    plans: dict, tmp_path: Path, task: str, family: str
) -> None:
    """train.py, run without Knobs importable on the original CSV, predicts exactly the same."""
    plan = plans[task]
    source = fitted_source(plan, family)
    bundle = tmp_path / "bundle"
    write_bundle(plan, source, "skops", bundle, data=CSVS[task])
    assert_train_py_reproduces(bundle, CSVS[task], plan.n_train, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_study_export_is_fitted_on_every_row_and_train_py_agrees(
    plans: dict, tmp_path: Path, task: str
) -> None:
    """The delivered model is refitted on the training and test splits after the test split
    scored its training-split fit; train.py fits on the same rows in the table's order and
    predicts the same."""
    plan = plans[task]
    assert plan.fits_all_rows
    _plan, source, _base = source_from_study(f"exp-{task}", storage=STORAGE["url"])
    assert source.fit_on == "all" and source.fit_rows == plan.n_train + plan.n_test
    best = results.best_trial(Search.open(f"exp-{task}", STORAGE["url"]).trials(), plan.direction)
    on_train = results.refit(plan, best)
    assert source.test_score == pytest.approx(results.test_score(plan, on_train))
    X_all, y_all = plan.load_split("all")
    X_test, _ = plan.load_split("test")
    assert len(y_all) == source.fit_rows
    # Refitted, not the training-split model: its predictions on the test rows differ somewhere.
    method = "predict" if plan.task == "regression" else "predict_proba"
    ours = getattr(source.estimator, method)(X_test)
    assert not np.allclose(ours, getattr(on_train, method)(X_test))
    bundle = tmp_path / "bundle"
    result = write_bundle(plan, source, "skops", bundle, data=CSVS[task])
    assert result.card["data"]["fit_on"] == "all"
    assert f"all {source.fit_rows} labelled rows" in (bundle / "card.md").read_text()
    assert_train_py_reproduces(bundle, CSVS[task], source.fit_rows, tmp_path)


def test_the_all_rows_split_is_the_table_order(plans: dict) -> None:
    """``load_split("all")`` puts every row back where the table had it: the training and test
    rows interleave as the split drew them, which is the order train.py reads the CSV in."""
    plan = plans["regression"]
    X_all, y_all = plan.load_split("all")
    X_train, y_train = plan.load_split("train")
    X_test, y_test = plan.load_split("test")
    with np.load(Path(plan.data_dir) / "rows.npz") as rows:
        train_rows, test_rows = rows["train"], rows["test"]
    np.testing.assert_array_equal(y_all.to_numpy()[train_rows], y_train.to_numpy())
    np.testing.assert_array_equal(y_all.to_numpy()[test_rows], y_test.to_numpy())
    pd.testing.assert_frame_equal(
        X_all.iloc[test_rows].reset_index(drop=True), X_test, check_dtype=False
    )


#: Every ensemble kind on every task; stacking also with the features passed through (its
#: meta-learner then also sees the preprocessed table, fitted in the script), and greedy with a
#: single round, which keeps one member and drops the other (the script must not refit it).
ENSEMBLE_TRAIN_CASES = [
    *((task, kind, {}) for task in TASKS for kind in ensembles.KINDS),
    ("binary", "stacking", {"passthrough": True}),
    ("regression", "greedy", {"n_iter": 1}),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task", "kind", "options"),
    ENSEMBLE_TRAIN_CASES,
    ids=["-".join([t, k, *map(str, o)]) for t, k, o in ENSEMBLE_TRAIN_CASES],
)
def test_train_py_rebuilds_each_ensemble_kind(
    plans: dict, tmp_path: Path, task: str, kind: str, options: dict
) -> None:
    """Voting refits its members with their weights; greedy refits the members its recorded
    weights keep; stacking refits its members and fits its meta-learner on the OOF predictions
    the script carries. Each predicts bit for bit what the exported ensemble predicts."""
    report = ensembles.build_ensemble(
        [f"exp-{task}"], kind, top=2, evaluate_test=False, storage=STORAGE["url"], **options
    )
    plan, source, _best = source_from_ensemble(report.id, STORAGE["url"])
    bundle = tmp_path / "bundle"
    result = write_bundle(plan, source, "skops", bundle, data=CSVS[task])
    assert result.card["train_py"] == {"available": True, "reason": ""}
    card_md = (bundle / "card.md").read_text()
    assert "train.py` rebuilds this model" in card_md and f"For this {kind} ensemble" in card_md
    # Voting and greedy are refitted on every labelled row after the test score; stacking's
    # meta-learner was fitted on the training rows' OOF predictions, so it stays on them.
    n_all = plan.n_train + plan.n_test
    assert source.fit_rows == (plan.n_train if kind == "stacking" else n_all)
    script = assert_train_py_reproduces(bundle, CSVS[task], source.fit_rows, tmp_path)
    assert f"'id': '{report.id}'" in script and f"'kind': '{kind}'" in script
    for member in report.members:
        assert f"_{member['model']}_{member['trial']}'" in script  # each member's pipeline
    if kind == "greedy":
        weights = [float(w) for w in source.estimator.weights_]
        assert f"'weights': {weights}" in script
        if options.get("n_iter") == 1:  # one round: one member kept, the other dropped
            assert 0.0 in weights
        # (the default may drop one too: selection stops after rounds without a better bag; the
        # script refits only the members kept, which reproducing the predictions above checks)
    assert ("STACKING_OOF = " in script) == (kind == "stacking")


@pytest.mark.slow
def test_train_py_refuses_stacking_whose_oof_no_longer_match(plans: dict, tmp_path: Path) -> None:
    """OOF predictions other than those the meta-learner was fitted on would make train.py
    fit another model: the export says train.py is unavailable rather than write it."""
    import dataclasses

    report = ensembles.build_ensemble(
        ["exp-binary"], "stacking", top=2, evaluate_test=False, storage=STORAGE["url"]
    )
    plan, source, _best = source_from_ensemble(report.id, STORAGE["url"])
    assert source.oof is not None
    moved = tuple(np.clip(a[::-1], 0.0, 1.0) for a in source.oof)
    result = write_bundle(plan, dataclasses.replace(source, oof=moved), "skops", tmp_path / "b")
    assert result.card["train_py"]["available"] is False
    assert "no longer give the meta-learner" in result.card["train_py"]["reason"]
    assert not (tmp_path / "b" / "train.py").exists()
    result = write_bundle(plan, dataclasses.replace(source, oof=None), "skops", tmp_path / "c")
    assert "needs the out-of-fold predictions" in result.card["train_py"]["reason"]


# --- the format registry, and the portable module train.py carries ------------------------------


def test_every_reader_of_formats_reads_the_registry() -> None:
    """The CLI's choices, the page's labels and the files a loader accepts come from the rows."""
    from components.export import FORMAT_LABELS
    from knobs.cli import build_parser
    from knobs.export import FORMATS
    from knobs.export._formats import BUNDLE_FILES

    assert list(FORMATS) == ["skops", "xgboost", "onnx", "joblib"]
    assert FORMAT_LABELS == {name: row.label for name, row in FORMATS.items()}
    assert {f for row in FORMATS.values() for f in row.files} <= BUNDLE_FILES
    import argparse

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))  # noqa: SLF001
    fmt = next(a for a in commands.choices["export"]._actions if a.dest == "fmt")  # noqa: SLF001
    assert list(fmt.choices) == list(FORMATS) and fmt.default == "skops"
    for row in FORMATS.values():
        assert row.help in fmt.help
    assert [name for name, row in FORMATS.items() if row.runs_code] == ["joblib"]


def test_portable_imports_nothing_but_the_pinned_libraries() -> None:
    """knobs.portable is copied into train.py whole: any other import would break the script."""
    import ast

    from knobs.export._trainpy import portable_source

    allowed = {"numpy", "pandas", "scipy", "sklearn", "xgboost", "__future__"}
    roots = set()
    for node in ast.walk(ast.parse(portable_source())):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            roots.add(str(node.module).split(".")[0])
    assert roots, "the parse found no imports at all"
    assert roots - allowed <= set(sys.stdlib_module_names), (
        roots - allowed - set(sys.stdlib_module_names)
    )


def test_new_exports_name_the_portable_classes(plans: dict, tmp_path: Path) -> None:
    """A new skops file records Knobs' classes under knobs.portable, the stable public path."""
    result = write_bundle(plans["rich"], fitted_source(plans["rich"], "xgboost"), "skops", tmp_path)
    ours = [t for t in result.card["trusted_types"] if t.startswith("knobs.")]
    assert ours and all(t.startswith("knobs.portable.") for t in ours), ours
    assert "`knobs.portable`" in result.card["loading"]["note"]


def test_greedy_outside_knobs_needs_weights_and_refits_only_the_kept_members() -> None:
    """What train.py relies on: with ``weights`` given, no selection runs, and members of weight
    0 are never fitted; without weights or a selection, fit says how to give them."""
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge

    import knobs.portable as portable

    X, y = make_regression(60, 3, random_state=0)
    members = [("a", Ridge()), ("b", Ridge(alpha=10.0)), ("c", Ridge(alpha=100.0))]
    est = portable.GreedyEnsembleRegressor(members).fit(X, y, weights=[0.0, 2.0, 1.0])
    assert est.members_.tolist() == [1, 2] and len(est.estimators_) == 2
    blend = (2 * est.estimators_[0].predict(X) + est.estimators_[1].predict(X)) / 3
    np.testing.assert_allclose(est.predict(X), blend)
    with pytest.raises(ValueError, match="3 non-negative numbers"):
        portable.GreedyEnsembleRegressor(members).fit(X, y, weights=[1.0, -1.0, 0.0])
    saved = dict(portable._GREEDY_SELECTION)  # noqa: SLF001 - restored below
    try:
        portable.set_greedy_selection(None)
        with pytest.raises(ValueError, match="no `weights` and no selection is set"):
            portable.GreedyEnsembleRegressor(members).fit(X, y)
    finally:
        portable._GREEDY_SELECTION.update(saved)  # noqa: SLF001


def test_train_py_carries_the_portable_module_whole(plans: dict, tmp_path: Path) -> None:
    from knobs.export._trainpy import portable_source

    write_bundle(plans["binary"], fitted_source(plans["binary"], "logistic"), "skops", tmp_path)
    script = (tmp_path / "train.py").read_text()
    assert portable_source() in script
    # Library classes are imported by the exported part, even those portable imports itself.
    exported = script.split("# ==== Part 2: the exported model ====", 1)[1]
    assert "from sklearn.linear_model import LogisticRegression" in exported
    compile(script, "train.py", "exec")  # and the whole still parses as one module


@pytest.mark.slow
def test_a_semicolon_decimal_comma_table_gets_a_train_py_that_reads_it(tmp_path: Path) -> None:
    """A `;`-separated table with decimal commas, exported from its study without `--data`:
    the card said "read with delimiter `,`, decimal `.`" and train.py failed on the table with
    `KeyError: 'Preis'`. The study records how its file was read, and the export uses that."""
    import knobs
    from knobs.export import export_study

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"Fläche": rng.uniform(30, 150, 120).round(2),
                          "Stadt": rng.choice(["Berlin", "Köln"], 120)})  # fmt: skip
    frame["Preis"] = (frame["Fläche"] * 3000 + rng.normal(0, 5000, 120)).round(2)
    csv = tmp_path / "eu.csv"
    frame.to_csv(csv, sep=";", decimal=",", index=False)
    result = knobs.tune(csv, "Preis", models="linear", n_trials=2, cv=2, workers=1,
                        ensemble=False, study="eu")  # fmt: skip
    bundle = tmp_path / "bundle"
    exported = export_study("eu", "skops", bundle)
    assert exported.card["data"]["reading"] == {"delimiter": ";", "decimal": ",", "encoding": "utf-8"}
    assert "read with delimiter `;`, decimal `,`" in (bundle / "card.md").read_text()
    assert_train_py_reproduces(bundle, csv, exported.card["data"]["n_fit"], tmp_path)
    assert result.plan.reading["delimiter"] == ";"


@pytest.mark.parametrize("form", ["xlsx", "parquet", "jsonl", "titled_csv"])
def test_train_py_reads_the_source_as_knobs_read_it(form: str, tmp_path: Path) -> None:
    """Knobs reads workbooks, Parquet and JSON lines, skips title lines above a header and
    renames a repeated column name; train.py read every source with pandas.read_csv as it was,
    and failed on all of them (a workbook as garbled text, `KeyError` on `value_2`)."""
    import knobs
    from knobs.export import export_study

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"size": rng.uniform(30, 150, 120).round(2),
                          "city": rng.choice(["Oslo", "Bergen"], 120),
                          "value": rng.normal(0, 1, 120).round(3)})  # fmt: skip
    frame["price"] = (frame["size"] * 3 + (frame["city"] == "Oslo") * 40 + rng.normal(0, 5, 120))
    source, target = tmp_path / f"houses.{form.replace('titled_', '')}", "price"
    if form == "xlsx":  # a `README` sheet, then the `data` sheet (no xlsx writer is installed)
        source, target = tmp_path / "two_sheets.xlsx", "bought"
        shutil.copy(Path(__file__).parent / "fixtures" / "two_sheets.xlsx", source)
    elif form == "parquet":
        frame.to_parquet(source)
    elif form == "jsonl":
        frame.to_json(source, orient="records", lines=True)
    else:  # two title lines, and `value` twice: Knobs calls the second `value_2`
        frame["value_again"] = frame["value"] * 2
        body = frame.to_csv(index=False).replace("value_again", "value")
        source.write_text("House prices, 2024\nExported by hand\n" + body, encoding="utf-8")
    knobs.tune(source, target, models="linear", n_trials=2, cv=2, workers=1, ensemble=False,
               study=f"src-{form}")  # fmt: skip
    bundle = tmp_path / "bundle"
    exported = export_study(f"src-{form}", "skops", bundle)
    reading = exported.card["data"]["reading"]
    expected = {"xlsx": "workbook", "parquet": "parquet", "jsonl": "jsonl"}.get(form, "csv")
    assert reading.get("format", "csv") == expected
    if form == "xlsx":
        assert reading["sheet"] == "data" and "python-calamine==" in (
            bundle / "requirements.txt").read_text()  # fmt: skip
    if form == "titled_csv":
        assert reading["skip_lines"] == "2"
        assert "value_2" in [c["name"] for c in exported.card["schema"]]
        assert "2 lines above the header skipped" in (bundle / "card.md").read_text()
    assert_train_py_reproduces(bundle, source, exported.card["data"]["n_fit"], tmp_path)


def test_a_study_split_by_time_scores_the_latest_rows_and_train_py_splits_the_same(
    tmp_path: Path,
) -> None:
    """`--time-column`: the test split is the latest rows, the plan says so, and train.py (fitted
    on the training split here) rebuilds the same split from the dates."""
    import knobs
    from knobs.export import export_study

    rng = np.random.default_rng(6)
    n = 240
    order = rng.permutation(n)
    days = pd.date_range("2022-01-01", periods=n, freq="D")[order]
    frame = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "promo": rng.integers(0, 2, n),
                          "units": order * 0.5 + rng.normal(0, 2, n)})  # fmt: skip
    csv = tmp_path / "sales.csv"
    frame.to_csv(csv, index=False)
    result = knobs.tune(csv, "units", models="linear", n_trials=2, cv=3, workers=1,
                        ensemble=False, final_fit="train", time_column="day",
                        study="by-time")  # fmt: skip
    said = " ".join(result.plan.notices)
    assert "Split by time on `day`: the test split is the latest 48 rows (2022-07-12 to " in said
    assert "Split by time (`--time-column" not in said
    X_test, _ = result.plan.load_split("test")
    assert X_test["day"].min() == pd.Timestamp("2022-07-12")
    bundle = tmp_path / "bundle"
    exported = export_study("by-time", "skops", bundle)
    assert "'time_column': 'day'" in (bundle / "train.py").read_text()
    assert_train_py_reproduces(bundle, csv, exported.card["data"]["n_fit"], tmp_path)


def test_train_py_predictions_keep_the_id_column_with_its_zeros(tmp_path: Path) -> None:
    """`train.py --predict` wrote predictions with no key, where `knobs predict` keys them by the
    ID column: rows could not be joined back. It keeps the first ID column, as text."""
    import knobs
    from knobs.export import export_study

    frame = make_table("binary", n=160)
    frame.insert(0, "customer", [f"{i:06d}" for i in range(160)])
    csv = tmp_path / "customers.csv"
    frame.to_csv(csv, index=False)
    knobs.tune(csv, "label", models="logistic", n_trials=2, cv=2, workers=1, ensemble=False,
               study="keyed")  # fmt: skip
    bundle = tmp_path / "bundle"
    exported = export_study("keyed", "skops", bundle)
    assert_train_py_reproduces(bundle, csv, exported.card["data"]["n_fit"], tmp_path)
    written = pd.read_csv(tmp_path / "pred.csv", dtype=str)
    assert list(written.columns[:2]) == ["customer", "prediction"]
    assert written["customer"].iloc[7] == "000007"


def test_a_model_fitted_on_every_row_knows_every_rows_categories(tmp_path: Path) -> None:
    """A model refitted on all 2,000 rows carried a card whose categories came from its 1,600
    training-split rows, so predicting rows copied from its own table warned "categories the
    model never saw" for values the test split had held. The card, and the API's predict, now
    take them from the rows the model learned from."""
    import warnings

    import knobs
    from knobs.export import export_study

    frame = make_table("binary", n=300)
    frame["code"] = [f"c{i}" for i in range(60)] + [f"c{i % 20}" for i in range(240)]
    result = knobs.tune(frame, "label", models="logistic", n_trials=1, cv=2, workers=1,
                        ensemble=False, study="every-cat")  # fmt: skip
    assert result.fit is not None and result.fit["on"] == "all"
    exported = export_study("every-cat", "skops", tmp_path / "bundle")
    schema = {c["name"]: c for c in exported.card["schema"]}
    assert set(schema["code"]["categories"]) == set(frame["code"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any "never saw" warning fails the test
        result.predict(frame.drop(columns=["label"]))


def test_a_column_of_many_categories_is_checked_at_predict_and_its_card_rows_hold(
    tmp_path: Path,
) -> None:
    """A zip-code column of 1,807 values was cut at 1,000 on the card, so `knobs predict` did
    not check it: rows of an all-`99999` zip passed without a word. And a category holding a
    line break or a `|` broke the card's Markdown table. Both from the new-user sweep."""
    import knobs
    from knobs.export import export_study, load_bundle
    from knobs.predict import predict_frame

    frame = make_table("binary", n=1600)
    frame["zip"] = [f"{i:05d}" for i in range(1500)] + [f"{i:05d}" for i in range(100)]
    frame["note"] = np.where(np.arange(1600) % 2 == 0, "first line\nsecond | part", "plain")
    knobs.tune(frame, "label", models="logistic", n_trials=1, cv=2, workers=1, ensemble=False,
               study="many-cats")  # fmt: skip
    exported = export_study("many-cats", "skops", tmp_path / "bundle")
    schema = {c["name"]: c for c in exported.card["schema"]}
    assert schema["zip"]["kind"] == "categorical" and not schema["zip"]["categories_truncated"]
    new = frame.drop(columns=["label"]).head(5).assign(zip="99999")
    prediction = predict_frame(load_bundle(tmp_path / "bundle"), new)
    assert any("`zip`: 5 row(s) have categories the model never saw" in w
               for w in prediction.warnings)  # fmt: skip
    card_md = next(p for p in (tmp_path / "bundle").glob("*.md")).read_text()
    table = card_md.split("## Input schema")[1].split("\n\n")[0].strip().splitlines()
    assert all(line.startswith("|") and line.endswith("|") for line in table), table
    assert "`first line second \\| part`" in card_md


def test_train_py_reads_codes_written_with_leading_zeros_as_knobs_did(tmp_path: Path) -> None:
    """Knobs reads `0123` as a category of its own; train.py read the column as numbers, so
    `0123` and `123` became one category and its model differed from the export."""
    import knobs
    from knobs.export import export_study

    rng = np.random.default_rng(5)
    n = 400
    codes = rng.choice(["0123", "123", "0456", "456"], n)
    frame = pd.DataFrame({
        "x": rng.normal(size=n),
        "code": codes,
        "label": np.where(np.isin(codes, ["0123", "456"]) ^ (rng.random(n) < 0.1), "yes", "no"),
    })  # fmt: skip
    csv = tmp_path / "codes.csv"
    frame.to_csv(csv, index=False)
    result = knobs.tune(csv, "label", models="logistic", n_trials=1, cv=2, workers=1,
                        ensemble=False, study="zero-codes")  # fmt: skip
    exported = export_study("zero-codes", "skops", tmp_path / "bundle")
    schema = {c["name"]: c for c in exported.card["schema"]}
    assert set(schema["code"]["categories"]) == {"0123", "123", "0456", "456"}
    script = assert_train_py_reproduces(tmp_path / "bundle", csv, result.fit["rows"], tmp_path)
    assert "'text_columns': ['code']" in script
