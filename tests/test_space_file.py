"""`--space FILE` (the Search page's space editor as a file) and `--dry-run` (its "Before you
start"): the CLI at parity with the page."""

from __future__ import annotations

import json

import pytest

from knobs.errors import ConfigError
from knobs.models import get_model
from knobs.spaces import read_space_file, space_overrides
from knobs.study import list_studies
from tests.conftest import make_table
from tests.test_cli import knobs_cli


def test_a_toml_file_changes_only_the_fields_it_names(tmp_path) -> None:
    path = tmp_path / "space.toml"
    path.write_text("[xgboost.max_depth]\nlow = 2\nhigh = 4\n\n[logistic.C]\nlog = false\n")
    space = read_space_file(path)
    depth = space["xgboost"][0]
    registry = {p.name: p for p in get_model("xgboost").params}["max_depth"]
    assert (depth.name, depth.kind, depth.low, depth.high) == ("max_depth", registry.kind, 2, 4)
    # The registry's grid values outside the narrowed range are dropped, the rest kept.
    assert set(depth.grid) == {v for v in registry.grid if 2 <= v <= 4}
    assert space["logistic"][0].log is False


def test_json_and_the_editor_schema_agree(tmp_path) -> None:
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"knn": {"weights": {"choices": ["distance"]}}}))
    (param,) = read_space_file(path)["knn"]
    assert param.choices == ("distance",) and param.grid == ("distance",)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"xgbost": {"max_depth": {"low": 2}}}, "xgbost"),
        ({"xgboost": {"depth": {"low": 2}}}, "has no parameter `depth`"),
        ({"xgboost": {"max_depth": {"lo": 2}}}, "unknown field(s) ['lo']"),
        ({"xgboost": {"max_depth": {"low": "two"}}}, "`low` must be a number"),
        ({"xgboost": {"max_depth": {"low": 9, "high": 3}}}, "`xgboost.max_depth`"),
        ({"xgboost": {}}, "needs parameters to change"),
        ({"random_forest": {"max_features": {"grid": ["sqrt"]}}}, "must hold numbers"),
    ],
)
def test_mistakes_name_the_model_the_parameter_and_the_fix(raw, message) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        space_overrides(raw, where="s.toml")
    assert message in str(err.value) and str(err.value).startswith("s.toml")


def test_a_broken_file_names_its_line(tmp_path) -> None:
    path = tmp_path / "space.toml"
    path.write_text("[xgboost.max_depth]\nlow = = 2\n")
    with pytest.raises(ConfigError, match=r"space.toml.*line 2"):
        read_space_file(path)


@pytest.mark.slow
def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path) -> None:
    csv = tmp_path / "people.csv"
    make_table("binary", n=200).to_csv(csv, index=False)
    space = tmp_path / "space.toml"
    space.write_text("[logistic.C]\nlow = 0.5\nhigh = 2.0\n")
    report = tmp_path / "plan.json"
    run = knobs_cli(
        "tune", str(csv), "--target", "label", "--models", "logistic", "--strategy", "grid",
        "--space", str(space), "--dry-run", "--json", str(report),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("dry run: binary task, target `label`")
    assert "grid: " in run.stdout and "estimate: about" in run.stdout
    plan = json.loads(report.read_text())
    assert plan["config"]["space"]["logistic"][0]["low"] == 0.5
    assert plan["budget"] == plan["grid_size"] + 1 and plan["estimate_s"] > 0
    assert list_studies() == []  # nothing was written
    bad = knobs_cli("tune", str(csv), "--target", "label", "--space", str(tmp_path / "no.toml"))
    assert bad.returncode != 0 and "No space file" in bad.stderr and "Traceback" not in bad.stderr
