"""``knobs predict`` and ``knobs export``: schema checks on new tables, the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from knobs.api import tune
from knobs.cli import main
from knobs.errors import DataError
from knobs.export import LoadedModel, load_bundle, write_bundle
from knobs.predict import check_schema, predict_frame, predict_table
from tests.conftest import make_table
from tests.test_export import fitted_source, make_plan


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """A multiclass XGBoost pipeline exported as skops and loaded back."""
    directory = tmp_path_factory.mktemp("predict")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", str(directory / "home"))
        plan = make_plan(directory, make_table("multiclass"), "pred-multi", ("xgboost",))
    write_bundle(plan, fitted_source(plan, "xgboost"), "skops", directory / "bundle")
    return load_bundle(directory / "bundle")


def new_rows(n: int = 6) -> pd.DataFrame:
    return make_table("multiclass", n=n, seed=5).drop(columns="label")


def test_predictions_have_labels_and_probabilities(model: LoadedModel) -> None:
    out = predict_frame(model, new_rows())
    assert list(out.frame.columns) == ["prediction", "probability_high", "probability_low",
                                       "probability_mid"]  # fmt: skip
    assert set(out.frame["prediction"]) <= {"high", "low", "mid"}
    np.testing.assert_allclose(out.frame.iloc[:, 1:].sum(axis=1), 1.0, atol=1e-6)
    assert out.warnings == ()


def test_missing_column_is_named(model: LoadedModel) -> None:
    with pytest.raises(DataError, match=r"lacks column\(s\) `x2 \[cm\]` that the model uses"):
        predict_frame(model, new_rows().drop(columns="x2 [cm]"))


def test_text_in_a_numeric_column(model: LoadedModel) -> None:
    rows = new_rows()
    rows["x1"] = "abc"
    with pytest.raises(DataError, match=r"Column `x1` should hold numbers .*`abc`"):
        predict_frame(model, rows)
    rows = new_rows()
    rows["x1"] = rows["x1"].astype(object)
    rows.loc[0, "x1"] = "n/a?"
    out = predict_frame(model, rows)
    assert any("`x1`: 1 value(s) cannot be read as numbers" in w for w in out.warnings)
    assert len(out.frame) == len(rows)


def test_unknown_category_warns_and_still_predicts(model: LoadedModel) -> None:
    rows = new_rows()
    rows.loc[0, "color"] = "purple"
    out = predict_frame(model, rows)
    assert any("`color`: 1 row(s) have categories the model never saw (`purple`)" in w
               for w in out.warnings)  # fmt: skip
    assert out.frame["prediction"].notna().all()


def test_extra_columns_are_ignored_with_a_note(model: LoadedModel) -> None:
    rows = new_rows()
    rows["comment"] = "x"
    out = predict_frame(model, rows)
    assert any("comment" in w for w in out.warnings)


def test_predict_table_reads_a_small_csv(model: LoadedModel, tmp_path: Path) -> None:
    """A CSV of a few rows (fewer than training needs) is scored all the same."""
    path = tmp_path / "three.csv"
    new_rows(3).to_csv(path, index=False)
    out = predict_table(model, path)
    assert len(out.frame) == 3


@pytest.mark.slow
def test_cli_export_then_predict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole command-line path on a real (tiny) study: tune, export three ways, predict."""
    data = tmp_path / "data.csv"
    make_table("binary").to_csv(data, index=False)
    # No final ensemble: the first export is the best trial's (an ensemble of the two is
    # delivered when it beats one standard error, which two xgboost trials may or may not do).
    tune(str(data), "label", models="xgboost", n_trials=2, cv=2, workers=1, study="cli-exp",
         ensemble=False)  # fmt: skip
    capsys.readouterr()

    assert main(["export", "--study", "cli-exp", "--out", str(tmp_path / "sk")]) == 0
    out = capsys.readouterr().out
    assert "exported trial" in out and "model.skops" in out

    assert main(["export", "--study", "cli-exp", "--format", "xgboost", "--trial", "0",
                 "--out", str(tmp_path / "xgb.zip")]) == 0  # fmt: skip
    assert "model.ubj" in capsys.readouterr().out

    assert main(["export", "--study", "cli-exp", "--format", "joblib",
                 "--out", str(tmp_path / "jl")]) == 0  # fmt: skip
    assert "runs code" in capsys.readouterr().err

    assert (
        main(["export", "--study", "cli-exp", "--trial", "99", "--out", str(tmp_path / "x")]) == 2
    )
    assert "has no trial 99" in capsys.readouterr().err

    new = tmp_path / "new.csv"
    make_table("binary", n=30, seed=3).drop(columns="label").to_csv(new, index=False)
    for bundle in ("sk", "xgb.zip"):
        pred = tmp_path / f"pred-{bundle}.csv"
        assert main(["predict", str(tmp_path / bundle), str(new), "--out", str(pred)]) == 0
        frame = pd.read_csv(pred)
        assert list(frame.columns) == ["prediction", "probability_no", "probability_yes"]
        assert len(frame) == 30
    a = pd.read_csv(tmp_path / "pred-sk.csv")
    card = json.loads((tmp_path / "sk" / "card.json").read_text())
    if card["model"]["trial"] == 0:  # the same trial: the two formats agree exactly
        pd.testing.assert_frame_equal(a, pd.read_csv(tmp_path / "pred-xgb.zip.csv"))

    assert main(["predict", str(tmp_path / "jl"), str(new), "--out", str(tmp_path / "p.csv")]) == 2
    assert "never loads" in capsys.readouterr().err

    from knobs import ensembles

    report = ensembles.build_ensemble(["cli-exp"], "greedy", top=2)
    assert main(["export", "--ensemble", report.id, "--out", str(tmp_path / "ens.zip")]) == 0
    assert "exported greedy ensemble of" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "ens.zip"), str(new), "--out",
                 str(tmp_path / "pe.csv")]) == 0  # fmt: skip
    assert len(pd.read_csv(tmp_path / "pe.csv")) == 30
    assert main(["export", "--out", str(tmp_path / "none")]) == 2
    assert "--study NAME [--trial N], or --ensemble ID" in capsys.readouterr().err


def test_a_day_first_column_is_read_day_first_one_row_at_a_time(tmp_path: Path) -> None:
    """A model trained on day-first dates read `02/04/2021` as 4 February when it came alone: the
    format was guessed from each batch, and days of 12 or less read month-first. The profile's
    formats now travel in the plan, the card and the pipeline's own DateParts."""
    from knobs.export import load_bundle
    from knobs.predict import check_schema

    rng = np.random.default_rng(0)
    days = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, 200), unit="D")
    frame = pd.DataFrame({"issued": days.strftime("%d/%m/%Y"), "x": rng.normal(size=200),
                          "label": np.where(days.month <= 6, "first", "second")})  # fmt: skip
    data = tmp_path / "days.csv"
    frame.to_csv(data, index=False)
    tune(str(data), "label", models="logistic", n_trials=1, cv=2, workers=1, study="days",
         ensemble=False)  # fmt: skip
    assert main(["export", "--study", "days", "--out", str(tmp_path / "sk")]) == 0
    model = load_bundle(tmp_path / "sk")
    one = pd.DataFrame({"issued": ["02/04/2021"], "x": [0.0]})
    X, _ = check_schema(one, model.card)
    assert X["issued"].iloc[0] == pd.Timestamp("2021-04-02")
    # The pipeline itself, given the text (an API user calling it directly), reads it the same.
    prep = model.estimator.steps[0][1]
    parts = prep.named_transformers_["datetime"].named_steps["parts"]
    assert parts.formats_ == [["%d/%m/%Y"]]
    assert parts.transform(one[["issued"]].rename(columns={"issued": "issued"}))[0, 1] == 4


def test_an_empty_used_column_warns_and_the_id_column_is_not_called_ignored(
    model: LoadedModel,
) -> None:
    """A fraud table's prediction said both "keyed by column_1" and "Ignored column(s) the model
    does not use: column_1", and took a used column empty in all 200 rows without a word."""
    rows = new_rows()
    rows["x1"] = np.nan
    out = predict_frame(model, rows)
    assert any(w.startswith("Column `x1` is empty in every row") for w in out.warnings)
    keyed = dict(model.card, id_columns=["row_id"])
    rows = new_rows().assign(row_id=range(len(new_rows())))
    _, warnings = check_schema(rows, keyed)
    assert not any("row_id" in w for w in warnings)


def test_a_search_result_predicts_in_the_tables_own_labels(tmp_path: Path) -> None:
    """`result.best_pipeline.predict` gives class codes: a 1-5 rating came back as 0-4, every
    prediction one too low, with nothing to say so. `result.predict` answers as `knobs predict`
    does: the labels, a probability per class, keyed by the ID column, columns checked."""
    import knobs

    rng = np.random.default_rng(2)
    n = 150
    frame = pd.DataFrame({"customer": [f"{i:05d}" for i in range(n)],
                          "score": rng.normal(0, 1, n)})  # fmt: skip
    frame["rating"] = np.digitize(frame["score"], [-1, -0.3, 0.3, 1]) + 1
    data = tmp_path / "ratings.csv"
    frame.to_csv(data, index=False)
    result = knobs.tune(data, "rating", models="logistic", n_trials=2, cv=2, workers=1,
                        ensemble=False, study="labels")  # fmt: skip
    new = frame.drop(columns="rating").iloc[:40]
    out = result.predict(new)
    assert list(out.columns) == ["customer", "prediction",
                                 *(f"probability_{c}" for c in "12345")]  # fmt: skip
    assert set(out["prediction"].astype(str)) <= set("12345")
    assert (out["prediction"].astype(int) == frame["rating"].iloc[:40]).mean() > 0.7
    codes = result.best_pipeline.predict(result.plan.load_split("test")[0])
    assert set(codes) <= {0, 1, 2, 3, 4}  # the pipeline's own answer stays codes
    with pytest.raises(knobs.DataError, match="lacks column"):
        result.predict(new.drop(columns="score"))
    from_file = result.predict(data)  # read from the file, `00007` stays `00007`
    assert from_file.shape[0] == n and from_file["customer"].iloc[7] == "00007"


def test_a_wide_table_is_checked_without_a_flood_of_pandas_warnings() -> None:
    """`knobs predict` on an 800-column model printed pandas' "DataFrame is highly fragmented"
    warning 700 times (235 KB of stderr for 8 rows)."""
    import warnings as py_warnings

    from knobs.predict import check_schema

    n_cols = 300
    frame = pd.DataFrame(np.ones((4, n_cols)), columns=[f"c{i}" for i in range(n_cols)])
    card = {
        "target": "y",
        "schema": [{"name": f"c{i}", "safe_name": f"c{i}", "kind": "numeric"}
                   for i in range(n_cols)],
    }  # fmt: skip
    with py_warnings.catch_warnings():
        py_warnings.simplefilter("error", pd.errors.PerformanceWarning)
        X, said = check_schema(frame, card)
    assert X.shape == (4, n_cols) and list(X.columns[:2]) == ["c0", "c1"] and not said


def test_a_one_column_file_to_predict_is_told_which_columns_it_lacks(
    model: LoadedModel, tmp_path: Path
) -> None:
    """A file holding only `color` was refused as "a table to learn from needs a column to
    predict and at least one other", which is no help when predicting."""
    path = tmp_path / "one.csv"
    new_rows(3)[["color"]].to_csv(path, index=False)
    with pytest.raises(DataError, match=r"lacks column\(s\) `x1`, `x2 \[cm\]`"):
        predict_table(model, path)


def test_a_wide_models_missing_columns_are_named_in_a_line_of_reasonable_length() -> None:
    """A one-column file against an 800-column model named all 800 in one error line."""
    from knobs.predict import check_schema

    card = {"target": "y", "schema": [{"name": f"g{i}", "safe_name": f"g{i}", "kind": "numeric"}
                                      for i in range(800)]}  # fmt: skip
    with pytest.raises(DataError) as caught:
        check_schema(pd.DataFrame({"g0": [1.0]}), card)
    said = str(caught.value)
    assert "`g1`, `g2`" in said and "and 787 more" in said and "and 788 more" in said
    assert len(said) < 600


def test_a_column_spelled_in_another_case_or_spacing_is_read_as_the_models_and_said() -> None:
    """A file from another tool with `X` for the model's `x` was refused for lacking `x`. One
    column that differs only in case or spaces now stands in, with a warning; two candidates,
    or a candidate the model uses itself, are not guessed between."""
    from knobs.predict import check_schema

    card = {"target": "y", "schema": [
        {"name": "x", "safe_name": "x", "kind": "numeric"},
        {"name": "unit price", "safe_name": "unit_price", "kind": "numeric"},
    ]}  # fmt: skip
    frame = pd.DataFrame({"X": [1.0, 2.0], "Unit  Price ": [3.0, 4.0]})
    X, said = check_schema(frame, card)
    assert list(X["x"]) == [1.0, 2.0] and list(X["unit_price"]) == [3.0, 4.0]
    assert said == ["Read column(s) `X` as `x`, `Unit  Price ` as `unit price`: the names differ "
                    "from the model's only in case or spaces."]  # fmt: skip
    with pytest.raises(DataError, match="lacks column"):
        check_schema(pd.DataFrame({"X": [1.0], " x ": [2.0], "unit price": [3.0]}), card)


def test_placeholders_are_quiet_and_infinite_values_are_said_as_such_at_predict() -> None:
    """Every batch warned "cannot be read as numbers (`-`, `?`, `none`)" for placeholders that
    training had read as missing, and `inf` read as a parsing failure."""
    from knobs.predict import check_schema

    card = {"target": "y", "schema": [{"name": "a", "safe_name": "a", "kind": "numeric"}]}
    rows = pd.DataFrame({"a": ["1.5", "-", "?", "none", "N/A", "inf", "-Infinity", "abc", "2"]})
    X, said = check_schema(rows, card)
    assert said == [
        "Column `a`: 2 value(s) are infinite (`inf`, `-Infinity`) and are treated as missing, "
        "as in training.",
        "Column `a`: 1 value(s) cannot be read as numbers (`abc`) and are treated as missing.",
    ]
    with pytest.raises(DataError, match="none of its values can be read"):
        check_schema(pd.DataFrame({"a": ["abc", "-", "x"]}), card)


def test_values_far_outside_the_range_the_model_saw_are_said() -> None:
    """Trained on `-17.9%` (read as -0.179), a batch written `-17.9` moved the predictions from
    2.25 to -86.5 without a word. The card keeps each numeric column's range; values beyond it
    by more than its width are said, with the units to check. A drift stays quiet."""
    from knobs.export._card import input_schema
    from knobs.predict import check_schema

    class Plan:
        columns = [type("C", (), {"name": "pct", "safe_name": "pct", "kind": "numeric",
                                  "used": True, "flags": (), "formats": ()})()]  # fmt: skip

    schema = input_schema(Plan(), pd.DataFrame({"pct": [-0.52, 0.1, 0.61]}))
    assert schema[0]["range"] == [-0.52, 0.61]
    card = {"target": "y", "schema": schema}
    _, quiet = check_schema(pd.DataFrame({"pct": ["-0.6", "0.7", "12%"]}), card)
    assert quiet == []
    _, said = check_schema(pd.DataFrame({"pct": ["-17.9", "0.2", "41.9"]}), card)
    assert said == [
        "Column `pct`: 2 value(s) lie far outside the -0.52 to 0.61 the model was fitted on "
        "(`-17.9`, `41.9`); its predictions for those rows are guesses. Check the units: a column "
        "written as percentages in training (45%) is read as shares (0.45)."
    ]
