"""A test table of the user's own (`--test-data`, ``tune(test_data=...)``): the search learns from
all of the training table and the final model is scored on the test table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import knobs
from knobs.errors import DataError
from knobs.export import source_from_study, write_bundle
from tests.conftest import make_table
from tests.test_cli import knobs_cli
from tests.test_export import assert_train_py_reproduces


@pytest.fixture()
def tables(tmp_path: Path) -> tuple[Path, Path]:
    frame = make_table("binary", n=260)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    frame.iloc[:200].to_csv(train, index=False)
    frame.iloc[200:].to_csv(test, index=False)
    return train, test


@pytest.mark.slow
def test_the_test_table_scores_the_model_and_train_py_fits_the_whole_training_file(
    tables, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path / "home"))
    train, test = tables
    result = knobs.tune(
        train, "label", test_data=test, models="logistic", n_trials=2, cv=3, workers=1,
        ensemble=False,
    )  # fmt: skip
    plan = result.plan
    assert (plan.n_train, plan.n_test, plan.test_source) == (200, 60, "test.csv")
    assert result.fit["rows"] == 200 and "`test.csv` only scored it" in result.fit["why"]
    X_test, y_test = plan.load_split("test")
    assert plan.metric_obj().score(result.best_pipeline, X_test, y_test) == pytest.approx(
        result.test_score
    )
    _plan, source, _base = source_from_study(result.study)
    assert source.test_score == pytest.approx(result.test_score)
    bundle = tmp_path / "bundle"
    card = write_bundle(plan, source, "skops", bundle, data=train).card
    assert card["data"]["test_source"] == "test.csv"
    assert "the test table `test.csv` (60 rows) only scored it" in (bundle / "card.md").read_text()
    assert_train_py_reproduces(bundle, train, 200, tmp_path)


def _write(frame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["label"]), "has no target column `label`"),
        (lambda f: f.drop(columns=["color"]), "lacks column(s) `color`"),
        (lambda f: f.assign(label=np.nan), "has no row with a value for the target"),
    ],
)
def test_a_test_table_that_cannot_score_is_refused_by_name(
    tables, tmp_path, monkeypatch, change, message
) -> None:
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path / "home"))
    train, test = tables
    import pandas as pd

    bad = _write(change(pd.read_csv(test)), tmp_path / "bad.csv")
    with pytest.raises(DataError) as err:
        knobs.preview(train, "label", test_data=bad, models="logistic", n_trials=2)
    assert message in str(err.value) and "bad.csv" in str(err.value)


def test_a_class_only_the_test_table_has_is_refused(tables, tmp_path) -> None:
    import pandas as pd

    train, test = tables
    frame = pd.read_csv(test)
    frame.loc[frame.index[:3], "label"] = "maybe"
    bad = _write(frame, tmp_path / "odd.csv")
    with pytest.raises(DataError, match="class\\(es\\) `maybe` that the training table never"):
        knobs.preview(train, "label", test_data=bad, models="logistic", n_trials=2)


def test_extra_test_columns_are_ignored_and_said(tables, tmp_path) -> None:
    import pandas as pd

    train, test = tables
    extra = _write(pd.read_csv(test).assign(note="x"), tmp_path / "extra.csv")
    seen = knobs.preview(train, "label", test_data=extra, models="logistic", n_trials=2)
    assert seen.plan.n_test == 60 and seen.plan.n_train == 200
    assert any("`note`" in n for n in seen.plan.notices)


@pytest.mark.slow
def test_cli_test_data_dry_run(tables) -> None:
    train, test = tables
    run = knobs_cli("tune", str(train), "--target", "label", "--test-data", str(test),
                    "--models", "logistic", "--trials", "2", "--dry-run")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "200 training / 60 test rows" in run.stdout and "scored on the test table" in run.stdout
    missing = knobs_cli("tune", str(train), "--target", "label", "--test-data", "nope.csv")
    assert missing.returncode != 0 and "No such test file" in missing.stderr
