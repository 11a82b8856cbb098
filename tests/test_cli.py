"""The `knobs` command as a user runs it: exit codes, messages, the JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import make_table


def knobs_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "knobs.cli", *args],
        capture_output=True, text=True, timeout=300, cwd=cwd, env=dict(os.environ),
    )  # fmt: skip


@pytest.fixture()
def csv_path(tmp_path):
    path = tmp_path / "people.csv"
    make_table("binary", n=200).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_tune_writes_the_report_and_resume_continues(csv_path, tmp_path):
    report = tmp_path / "r.json"
    run = knobs_cli(
        "tune", str(csv_path), "--target", "label", "--models", "logistic", "--strategy", "random",
        "--trials", "5", "--cv", "3", "--workers", "2", "--study", "cli-study", "--json", str(report),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    data = json.loads(report.read_text())
    assert data["study"] == "cli-study" and data["n_trials"] == 5 and data["task"] == "binary"
    assert data["metric"] == "roc_auc" and data["direction"] == "maximize"
    assert data["trials"][0]["number"] == 0 and data["best_score"] >= data["baseline_score"]
    assert "[5/5]" in run.stderr and "best" in run.stdout
    # Every search says whether tuning was worth it, by the one rule, and where its model was fit.
    assert "\nverdict: " in run.stdout and data["verdict"]["words"] in run.stdout
    assert data["cv_noise"] == data["verdict"]["cv_noise"] and data["cv_noise"] > 0
    assert data["final_fit"]["on"] == "all" and data["final_fit"]["rows"] == 200

    more = knobs_cli("tune", str(csv_path), "--target", "label", "--study", "cli-study",
                     "--resume", "--trials", "8", "--json", str(report))  # fmt: skip
    assert more.returncode == 0, more.stderr
    assert json.loads(report.read_text())["n_trials"] == 8

    listing = knobs_cli("studies")
    assert listing.returncode == 0 and "cli-study" in listing.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tune", "missing.csv", "--target", "y"], "No such file"),
        (["tune", "{csv}", "--target", "nope"], "nope"),
        (["tune", "{csv}", "--target", "label", "--metric", "r2"], "does not fit a binary task"),
        (["tune", "{csv}", "--target", "label", "--models", "catboost"], "Unknown model"),
        (["tune", "{csv}", "--target", "label", "--cv", "1"], "folds"),
        (["tune", "{csv}", "--target", "label", "--resume"], "--resume needs --study"),
        (["tune", "{csv}", "--target", "label", "--study", "ghost", "--resume"], "No study named"),
        (["tune", "{empty}", "--target", "label"], ""),
        # checked before the search, not after it (it ended in "internal error" past the budget)
        (["tune", "{csv}", "--target", "label", "--json", "{tmp}/no/such/r.json"],
         "there is no folder"),
        (["tune", "{csv}", "--target", "label", "--json", "{tmp}"], "is a folder"),
        # under a file: "there is no folder" sent the user looking for a folder that is a file
        (["tune", "{csv}", "--target", "label", "--json", "{empty}/r.json"],
         "empty.csv is a file, not a folder"),
    ],
)
def test_bad_input_exits_2_with_one_clear_message(args, message, csv_path, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    args = [a.format(csv=csv_path, empty=empty, tmp=tmp_path) for a in args]
    run = knobs_cli(*args)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith("knobs: error: ")
    assert message in run.stderr


def test_usage_errors_exit_2():
    run = knobs_cli("tune")
    assert run.returncode == 2 and "Traceback" not in run.stderr


def test_models_lists_spaces():
    run = knobs_cli("models", "--task", "regression")
    assert run.returncode == 0
    assert "xgboost" in run.stdout and "logistic" not in run.stdout.split()


def test_a_search_that_delivers_no_model_exits_3_and_says_why(csv_path, tmp_path):
    """A 1.7-million-row table with 40 s ended on "best r2 - (None, trial None)" and exit
    status 1, the internal error's, without a word of why. A time budget too short for any
    trial now says so, with what to do, and exits 3 (README: a search that ran, no model)."""
    from knobs.cli import main

    report = tmp_path / "r.json"
    code = main(["tune", str(csv_path), "--target", "label", "--timeout", "0.05",
                 "--json", str(report)])  # fmt: skip
    assert code == 3
    words = json.loads(report.read_text())["no_model"]
    assert words.startswith("No trial finished within the time budget (0.05 s")
    assert "`--timeout`" in words


def test_the_plan_line_of_a_timed_search_says_no_trial_limit() -> None:
    """`--timeout 15` alone printed "budget unbounded, timeout 15 s", which reads as if nothing
    bounded the search. It says there is no trial limit, and the timeout."""
    from knobs.api import Search
    from knobs.cli import _plan_line
    from knobs.config import SearchConfig

    plan = Search.create(make_table("binary"), SearchConfig(target="label", timeout=15)).plan
    line = _plan_line("study s", plan, None, 2)
    assert "no trial limit, timeout 15 s" in line and "unbounded" not in line
    assert "budget 30 trials, timeout 15 s" in _plan_line("study s", plan, 30, 2)
