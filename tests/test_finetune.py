"""Fine-tuning an exported model on new rows: every family that supports it, on every task,
loaded without pickle, compared with the old model and a model trained from scratch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from knobs.config import SearchConfig
from knobs.errors import DataError, ExportError
from knobs.export import export_study, load_bundle
from knobs.models import REGISTRY
from knobs.predict import check_schema
from knobs.study import Search
from knobs.transfer import FINETUNE_FAMILIES, finetune, how_finetuned
from tests.conftest import make_table

TASKS = ("binary", "multiclass", "regression")
#: Small models: the test is about the mechanics, not the scores.
FAST: dict[str, dict[str, object]] = {
    "xgboost": {"n_estimators": 50},
    "hist_gb": {"max_iter": 50},
    "random_forest": {"n_estimators": 50},
    "extra_trees": {"n_estimators": 50},
    "mlp": {"width": 16},
}
CASES = [
    (family, task)
    for family, tuner in FINETUNE_FAMILIES.items()
    if tuner.tune is not None
    for task in TASKS
    if task in REGISTRY[family].tasks
]


def shifted(task: str, n: int = 360, seed: int = 7) -> pd.DataFrame:
    """New rows of the same table whose target depends on the columns differently."""
    frame = make_table("regression", n=n, seed=seed)
    signal = frame["label"] - 3.0 * frame["x1"]
    if task == "regression":
        frame["label"] = signal
    elif task == "binary":
        frame["label"] = np.where(signal > 9.0, "yes", "no")
    else:
        frame["label"] = np.select([signal < 7.0, signal < 12.0], ["low", "mid"], "high")
    return frame


def make_bundle(directory: Path, task: str, family: str, fmt: str | None = None) -> Path:
    """A real study on the task's table with one completed trial of ``family``, exported."""
    config = SearchConfig(target="label", models=(family,), n_trials=2, cv=2, workers=1)
    search = Search.create(make_table(task, n=300), config)
    spec = search.plan.specs()[family]
    values = FAST.get(family, {})
    params = {"model": family, **{spec.key(k): v for k, v in values.items()}}
    dists = {"model": optuna.distributions.CategoricalDistribution([family])}
    dists |= {spec.key(p.name): p.distribution() for p in spec.params if p.name in values}
    search.study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=0.5))
    out = directory / f"{task}-{family}-{fmt or 'auto'}"
    export_study(search.name, fmt or ("xgboost" if family == "xgboost" else "skops"), out)
    return out


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> dict:
    """Every (family, task) case exported, then fine-tuned on shifted rows: done once."""
    root = tmp_path_factory.mktemp("finetune")
    done = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", str(root / "home"))
        for family, task in CASES:
            parent = make_bundle(root, task, family)
            result = finetune(parent, shifted(task), out=root / f"ft-{task}-{family}", extra=30)
            done[(family, task)] = (parent, result)
    return done


@pytest.mark.parametrize(("family", "task"), CASES)
def test_finetune_writes_a_bundle_that_names_its_parent(tuned, family, task):
    parent, result = tuned[(family, task)]
    assert set(result.scores) == {"old", "finetuned", "scratch"}
    assert all(np.isfinite(v) for v in result.scores.values())
    assert result.rows["tuned_on"] + result.rows["held_out"] == 360
    card = json.loads((result.out / "card.json").read_text())
    parent_card = json.loads((parent / "card.json").read_text())
    origin = card["model"]["extra"]["parent"]
    hashes = {f["name"]: f["sha256"] for f in parent_card["files"]}
    assert origin["files"] and all(hashes[n] == h for n, h in origin["files"].items())
    assert (
        origin["study"] == parent_card["study"] and origin["trial"] == parent_card["model"]["trial"]
    )
    assert card["model"]["extra"]["tuned_on"]["rows"] == result.rows["tuned_on"]
    assert card["format"] == parent_card["format"] and card["model"]["kind"] == "finetuned"
    assert card["scores"]["test"] == result.scores["finetuned"]
    assert card["scores"]["baseline"] == result.scores["old"]
    assert card["scores"]["baseline_label"].startswith("parent model as is")
    # train.py refits from scratch: the card says it does not rebuild the fine-tuned model.
    assert "does not continue the parent's training" in (result.out / "card.md").read_text()
    # The saved model is the fine-tuned one: it predicts what the model in memory predicts.
    X, _ = check_schema(shifted(task), card)
    loaded = load_bundle(result.out)
    np.testing.assert_allclose(
        np.asarray(loaded.estimator.predict(X), dtype=float),
        np.asarray(result.estimator.predict(X), dtype=float),
        rtol=1e-6,
    )


@pytest.mark.slow
def test_finetuned_bundles_reload_in_a_fresh_process_with_pickle_forbidden(tuned, tmp_path):
    jobs = [str(result.out) for _, result in tuned.values()]
    child = (
        "import json, pickle, sys\n"
        "def hook(event, args):\n"
        "    if event == 'pickle.find_class':\n"
        "        raise RuntimeError('pickle is forbidden')\n"
        "sys.addaudithook(hook)\n"
        "from knobs.export import load_bundle\n"
        "for path in json.loads(sys.argv[1]):\n"
        "    assert load_bundle(path).estimator is not None\n"
        "try:\n"
        "    import pandas as pd; pickle.loads(pickle.dumps(pd.DataFrame)); print('NO-HOOK')\n"
        "except RuntimeError:\n"
        "    print('HOOK-OK')\n"
    )
    run = subprocess.run([sys.executable, "-c", child, json.dumps(jobs)], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ))  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "HOOK-OK"


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_finetuned_xgboost_has_more_trees_and_beats_its_parent_on_shifted_rows(tuned, task):
    _, result = tuned[("xgboost", task)]
    assert result.details["trees_after"] > result.details["trees_before"] == 50
    assert result.estimator[-1].get_booster().num_boosted_rounds() == result.details["trees_after"]
    goal_better = (lambda a, b: a > b) if result.direction == "maximize" else (lambda a, b: a < b)
    assert goal_better(result.scores["finetuned"], result.scores["old"])


@pytest.mark.parametrize(
    ("family", "task", "message"),
    [
        ("knn", "binary", "k-nearest-neighbours model is its training rows"),
        ("linear", "regression", "Ridge is solved in closed form"),
        ("svm", "regression", "kernel SVM cannot continue"),
    ],
)
def test_families_where_fine_tuning_means_nothing_are_refused(tmp_path, family, task, message):
    parent = make_bundle(tmp_path, task, family)
    with pytest.raises(ExportError, match=message):
        finetune(parent, shifted(task), out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert how_finetuned(family).startswith("refused")
    assert "cannot be fine-tuned" in how_finetuned("ensemble")


def test_a_pickle_bundle_is_never_loaded(tmp_path):
    parent = make_bundle(tmp_path, "binary", "logistic", fmt="joblib")
    with pytest.raises(ExportError, match="never loads"):
        finetune(parent, shifted("binary"), out=tmp_path / "out")


def test_new_rows_are_checked_like_knobs_predict(tuned, tmp_path):
    parent, _ = tuned[("logistic", "binary")]
    rows = shifted("binary")
    with pytest.raises(DataError, match="lacks column.*`color`"):
        finetune(parent, rows.drop(columns=["color"]))
    with pytest.raises(DataError, match="no target column `label`"):
        finetune(parent, rows.drop(columns=["label"]))
    with pytest.raises(DataError, match="class\\(es\\) `maybe` the model does not know"):
        finetune(parent, rows.assign(label=np.where(rows.index < 5, "maybe", rows["label"])))
    odd = rows.assign(color=np.where(rows.index < 7, "purple", rows["color"]))
    odd.loc[:2, "label"] = None
    result = finetune(parent, odd)
    assert any("never saw (`purple`)" in w for w in result.warnings)
    assert any("Dropped 3 row(s) without a `label` value" in w for w in result.warnings)
    assert result.rows["dropped_target"] == 3 and result.out is None


@pytest.mark.slow
def test_the_cli_fine_tunes_and_writes_the_report(tuned, tmp_path):
    parent, _ = tuned[("xgboost", "regression")]
    csv = tmp_path / "new.csv"
    shifted("regression").to_csv(csv, index=False)
    report = tmp_path / "ft.json"
    run = subprocess.run(
        [sys.executable, "-m", "knobs.cli", "finetune", str(parent), str(csv), "--out",
         str(tmp_path / "bundle.zip"), "--json", str(report), "--extra", "30"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "fine-tuned xgboost on 270 new rows" in run.stdout and "from scratch" in run.stdout
    data = json.loads(report.read_text())
    assert set(data["scores"]) == {"old", "finetuned", "scratch"}
    assert data["parent"]["format"] == "xgboost" and (tmp_path / "bundle.zip").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "knobs.cli", "finetune", str(tmp_path), str(csv), "--out",
         str(tmp_path / "x")], capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    assert bad.returncode == 2 and "knobs: error:" in bad.stderr


@pytest.mark.parametrize(
    ("scores", "said"),
    [
        ({"old": 0.9410, "finetuned": 0.9283, "scratch": 0.90}, "keep using the old model"),
        ({"old": 0.80, "finetuned": 0.85, "scratch": 0.90}, "train a model on the new rows"),
        ({"old": 0.80, "finetuned": 0.95, "scratch": 0.90}, None),
    ],
)
def test_a_fine_tuned_model_that_is_not_the_best_says_which_to_use(scores, said):
    """`knobs finetune` printed "best: old (0.9410 vs fine-tuned 0.9283)" and then "wrote the
    fine-tuned model", with no word on which model to use; the report says it, and the CLI
    and the Export page show it."""
    from knobs.transfer import FinetuneResult

    result = FinetuneResult(
        family="xgboost", metric="roc_auc", direction="maximize", scores=scores,
        seconds={"finetuned": 1.0, "scratch": 1.0}, rows={"tuned_on": 80, "held_out": 20},
        details={}, meaning="", warnings=(), out=None,
    )  # fmt: skip
    if said is None:
        assert result.advice is None and result.to_dict()["advice"] is None
    else:
        assert said in result.advice and "holds the fine-tuned model" in result.advice
        assert result.to_dict()["advice"] == result.advice


@pytest.mark.parametrize(
    ("scores", "winner", "best", "tied"),
    [
        ({"old": 1.0, "finetuned": 1.0, "scratch": 1.0}, "finetuned",
         "finetuned, old, scratch (tied)",
         " (tied with the old model as is and the model trained from scratch)"),
        ({"old": 0.9, "finetuned": 0.8, "scratch": 0.9}, "old", "old, scratch (tied)",
         " (tied with the model trained from scratch)"),
        ({"old": 0.7, "finetuned": 0.8, "scratch": 0.9}, "scratch", "scratch", ""),
    ],
)  # fmt: skip
def test_tied_fine_tuning_scores_are_said_as_a_tie(scores, winner, best, tied):
    """Three scores of 1.0000 read "best: old" and "the fine-tuned model scores below the old
    model as is". A tie is said as one, and the fine-tuned model (the one written) is not
    advised against when it ties for best."""
    from knobs.transfer import FinetuneResult

    result = FinetuneResult(
        family="logistic", metric="roc_auc", direction="maximize", scores=scores,
        seconds={"finetuned": 0.1, "scratch": 0.1}, rows={"tuned_on": 80, "held_out": 20},
        details={}, meaning="", warnings=(), out=None,
    )  # fmt: skip
    assert result.winner == winner and result.best_words() == best
    assert result.tied_words() == tied
    assert (result.advice is None) == (winner == "finetuned")
