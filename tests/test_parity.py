"""The CLI at parity with the pages (issue 14, part 3): ``knobs delete`` and ``knobs predict --id``.

Real studies, a real exported bundle and the real ``knobs`` entry point; only the terminal that
``knobs delete`` asks on is a plain text stream that says it is one.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pandas as pd
import pytest

import knobs
from knobs import race as R
from knobs.cli import main
from knobs.data import prepare, sample_path
from knobs.delete_cli import cmd_delete
from knobs.export import write_bundle
from tests.conftest import make_table
from tests.test_export import fitted_source, make_plan

# --- knobs delete ---------------------------------------------------------------------------------


def small_study(strategy: str = "random") -> str:
    frame = pd.read_csv(sample_path("churn")).head(200)
    config = knobs.SearchConfig(
        target="churn", models=("logistic",), strategy=strategy, n_trials=3, cv=2, workers=1
    )
    return knobs.Search.create(frame, config, source="churn.csv").name


class Terminal(io.StringIO):
    """What the user types at the prompt."""

    def isatty(self) -> bool:
        return True


def listed() -> list[str]:
    return [r["study"] for r in knobs.studies()]


def test_delete_with_yes_removes_the_study_and_its_data(capsys: pytest.CaptureFixture[str]) -> None:
    name = small_study()
    home = knobs.Search.open(name).plan.data_dir
    assert Path(home).exists()
    assert main(["delete", name, "--yes"]) == 0
    assert f"deleted {name}" in capsys.readouterr().out
    assert name not in listed() and not Path(home).exists()


def test_delete_asks_first_and_needs_yes_without_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = small_study()
    assert main(["delete", name]) == 2  # pytest's stdin is no terminal: nobody to ask
    assert "pass --yes" in capsys.readouterr().err and name in listed()
    args = argparse.Namespace(study=name, storage=None, yes=False)
    out = io.StringIO()
    assert cmd_delete(args, stdin=Terminal("n\n"), stdout=out) == 1
    assert "[y/N]" in out.getvalue() and f"kept {name}" in out.getvalue() and name in listed()
    assert cmd_delete(args, stdin=Terminal("y\n"), stdout=io.StringIO()) == 0
    assert name not in listed()


def test_delete_refuses_an_unknown_study_and_a_race_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["delete", "no-such-study", "--yes"]) == 2
    assert "no-such-study" in capsys.readouterr().err
    frame = pd.read_csv(sample_path("churn")).head(200)
    config = knobs.SearchConfig(target="churn", models=("logistic",), n_trials=3, cv=2)
    spec = R.RaceSpec(config=config, contestants=("random", "qmc"), seeds=1, source="churn.csv")
    race = R.create_race(prepare(frame, "churn"), spec)
    run = race.runs[0].study
    assert main(["delete", run, "--yes"]) == 2
    err = capsys.readouterr().err
    assert f"run of race `{race.id}`" in err and run in listed()


@pytest.mark.slow
def test_delete_refuses_a_running_study(capsys: pytest.CaptureFixture[str]) -> None:
    name = small_study()
    search = knobs.Search.open(name)
    search.start(n_trials=500, workers=1)
    try:
        assert search.is_running()
        assert main(["delete", name, "--yes"]) == 2
        assert f"knobs stop {name}" in capsys.readouterr().err and name in listed()
    finally:
        search.stop()
    assert main(["delete", name, "--yes"]) == 0 and name not in listed()


# --- knobs predict --id ---------------------------------------------------------------------------


def with_ids(frame: pd.DataFrame, start: int = 0) -> pd.DataFrame:
    ids = [f"R{i:05d}" for i in range(start, start + len(frame))]
    return pd.concat([pd.DataFrame({"row_id": ids}), frame], axis=1)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A logistic model trained on a table whose `row_id` the profile flags ID-like."""
    directory = tmp_path_factory.mktemp("parity")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", str(directory / "home"))
        plan = make_plan(directory, with_ids(make_table("binary")), "parity-ids", ("logistic",))
        assert "id_like" in next(c for c in plan.columns if c.name == "row_id").flags
        write_bundle(plan, fitted_source(plan, "logistic"), "skops", directory / "bundle")
    return directory / "bundle"


@pytest.fixture()
def new_csv(tmp_path: Path) -> Path:
    path = tmp_path / "new.csv"
    with_ids(make_table("binary", n=25, seed=4).drop(columns="label"), start=900).to_csv(
        path, index=False
    )
    return path


def predict(bundle: Path, data: Path, out: Path, *extra: str) -> pd.DataFrame:
    assert main(["predict", str(bundle), str(data), "--out", str(out), *extra]) == 0
    return pd.read_csv(out)


def test_predictions_keep_the_id_column_found_at_training(
    bundle: Path, new_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = predict(bundle, new_csv, tmp_path / "p.csv")
    assert list(frame.columns) == ["row_id", "prediction", "probability_no", "probability_yes"]
    assert frame["row_id"].tolist() == pd.read_csv(new_csv)["row_id"].tolist()
    assert "keyed by `row_id`" in capsys.readouterr().out


def test_predict_id_names_another_column_or_none(
    bundle: Path, new_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = predict(bundle, new_csv, tmp_path / "a.csv", "--id", "count")
    assert list(frame.columns)[:2] == ["count", "prediction"]
    assert frame["count"].tolist() == pd.read_csv(new_csv)["count"].tolist()
    frame = predict(bundle, new_csv, tmp_path / "b.csv", "--no-id")
    assert list(frame.columns) == ["prediction", "probability_no", "probability_yes"]
    capsys.readouterr()
    assert main(["predict", str(bundle), str(new_csv), "--out", str(tmp_path / "c.csv"),
                 "--id", "customer"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "no ID column `customer`" in err and "`row_id`" in err


def test_a_table_without_the_training_id_column_gets_no_id(
    bundle: Path, new_csv: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare.csv"
    pd.read_csv(new_csv).drop(columns="row_id").to_csv(bare, index=False)
    frame = predict(bundle, bare, tmp_path / "p.csv")
    assert list(frame.columns) == ["prediction", "probability_no", "probability_yes"]
