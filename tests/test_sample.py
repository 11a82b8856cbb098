"""A table too large for its time budget is searched on a sample of its training rows, and the
rows left out still reach the model delivered (``knobs.study._sample``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import knobs
from knobs.config import SearchConfig
from knobs.errors import ConfigError
from knobs.portable import sample_indices
from knobs.study import Search
from knobs.study._timing import END_S, MARGIN_S, refit_reserve
from tests.test_export import assert_train_py_reproduces
from tests.test_timing import _trial


def test_a_sample_keeps_each_class_share_and_a_rare_class_whole() -> None:
    y = np.array([0] * 9_000 + [1] * 990 + [2] * 10)
    kept = sample_indices(y, "binary", 1_000, seed=3, classes=("a", "b", "c"))
    counts = np.bincount(y[kept], minlength=3)
    assert counts[0] == 900 and counts[1] == 99
    assert counts[2] == 3  # a tenth of 10 is 1 row: the folds could not each hold it
    assert np.all(np.diff(kept) > 0)
    again = sample_indices(y, "binary", 1_000, seed=3, classes=("a", "b", "c"))
    assert np.array_equal(kept, again)  # train.py draws the same rows from the seed


def test_search_rows_is_every_row_or_at_least_the_floor() -> None:
    with pytest.raises(ConfigError, match="at least 5,000"):
        SearchConfig(target="y", search_rows=100)
    with pytest.raises(ConfigError, match="search_rows"):
        SearchConfig(target="y", search_rows=-1)
    assert SearchConfig(target="y", search_rows=0).search_rows == 0


def test_the_cli_reads_search_rows_as_all_auto_or_a_count() -> None:
    from knobs.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["tune", "t.csv", "--target", "y", "--search-rows", "all"]).search_rows == 0
    assert parse(["tune", "t.csv", "--target", "y", "--search-rows", "auto"]).search_rows is None
    assert parse(["tune", "t.csv", "--target", "y", "--search-rows", "20,000"]).search_rows == 20_000
    with pytest.raises(SystemExit):
        parse(["tune", "t.csv", "--target", "y", "--search-rows", "10"])


def _large(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    label = np.where(x[:, 0] - x[:, 1] + rng.normal(0, 1, n) > 0, "yes", "no")
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["region"] = rng.choice(["n", "s", "e", "w"], size=n)
    frame["label"] = label
    return frame


def test_a_search_asked_for_fewer_rows_scores_trials_on_them_and_delivers_on_all(
    tmp_path: Path,
) -> None:
    frame = _large(9_000)
    result = knobs.tune(frame, "label", models="logistic", n_trials=2, cv=2, workers=1,
                        ensemble=False, search_rows=5_000, study="sampled")  # fmt: skip
    plan = result.plan
    assert plan.n_test == 1_800
    assert plan.n_train == pytest.approx(5_000, abs=2) and plan.sample == 5_000
    assert plan.n_train + plan.n_extra == 7_200
    assert "Trials are scored on a sample of 5,000 of the 7,200 training rows, as set" in " ".join(
        plan.notices
    )
    X, y = plan.load_split("train")
    assert len(y) == plan.n_train
    X_all, y_all = plan.load_split("all")  # the table's own rows, in its order
    assert len(y_all) == 9_000
    assert np.allclose(X_all["a"].to_numpy(), frame["a"].to_numpy())
    assert result.fit["on"] == "all" and result.fit["rows"] == 9_000
    assert "fitted on the training split" not in result.fit["why"]


def test_train_py_fits_the_searched_sample_when_the_model_was_fitted_on_it(
    tmp_path: Path,
) -> None:
    from knobs.export import export_study

    frame = _large(7_000, seed=1)
    csv = tmp_path / "big.csv"
    frame.to_csv(csv, index=False)
    knobs.tune(csv, "label", models="logistic", n_trials=2, cv=2, workers=1, ensemble=False,
               final_fit="train", search_rows=5_000, study="sampled-train")  # fmt: skip
    bundle = tmp_path / "bundle"
    exported = export_study("sampled-train", "skops", bundle)
    assert exported.card["data"]["n_fit"] == pytest.approx(5_000, abs=2)
    assert "'sample': 5000" in (bundle / "train.py").read_text()
    card = (bundle / "card.md").read_text()
    n = exported.card["data"]["n_train"]
    assert f"- Training rows: 5,600, of which {n:,} searched" in card
    assert f"- Fitted on: the {n:,} training rows searched (a sample of 5,600)" in card
    assert_train_py_reproduces(bundle, csv, exported.card["data"]["n_fit"], tmp_path)


def test_a_time_budget_too_short_for_every_row_samples_them_and_says_why() -> None:
    """Timed, not mocked: 4 s cannot hold two trials of a forest on 56,000 rows here."""
    frame = _large(70_000, seed=2)
    config = SearchConfig(target="label", models=("logistic", "random_forest"), n_trials=None,
                          timeout=4, workers=1)  # fmt: skip
    sampled = Search.preview(frame, config).plan
    assert 5_000 <= sampled.n_train < 0.8 * 56_000 and sampled.n_extra == 56_000 - sampled.n_train
    said = " ".join(sampled.notices)
    assert f"Trials are scored on a sample of {sampled.sample:,} of the 56,000 training rows" in said
    assert "would end in the 00:04 left" in said
    every = Search.preview(frame, config.with_updates(search_rows=0)).plan
    assert every.n_train == 56_000 and every.n_extra == 0 and "sample" not in " ".join(every.notices)
    roomy = Search.preview(frame, config.with_updates(timeout=3_600)).plan
    assert roomy.n_extra == 0


def test_the_refit_on_every_row_is_kept_back_only_within_its_share_of_the_budget() -> None:
    trials = [_trial(6.0, 0.9, fit_s=5.0)]  # 1 s a fold: a training-split refit of 1.875 s
    refit = 1.5 * 1.0 * 5 / 4
    assert refit_reserve(trials, 5, "maximize", refits=2.25, budget_s=60) == pytest.approx(
        MARGIN_S + END_S + 2.25 * refit
    )
    # 60 times the rows searched: about 110 s more, against a 60 s budget
    assert refit_reserve(trials, 5, "maximize", refits=60, budget_s=60) == pytest.approx(
        MARGIN_S + END_S + refit
    )


def test_a_race_gives_every_run_the_rows_its_first_run_sampled(tmp_path: Path) -> None:
    from knobs.data import prepare
    from knobs.race import RaceSpec, create_race

    frame = _large(9_000, seed=4)
    spec = RaceSpec(
        config=SearchConfig(target="label", models=("logistic",), n_trials=2, cv=2,
                            search_rows=5_000),  # fmt: skip
        contestants=("random", "tpe"), seeds=1, source="big.csv",
    )  # fmt: skip
    race = create_race(prepare(frame, "label"), spec)
    plans = [Search.open(r.study).plan for r in race.runs]
    assert {p.n_train for p in plans} == {plans[0].n_train} and plans[0].n_extra > 0


def test_the_dry_run_says_how_many_rows_are_searched(tmp_path: Path) -> None:
    csv = tmp_path / "big.csv"
    _large(9_000, seed=5).to_csv(csv, index=False)
    done = subprocess.run(
        [sys.executable, "-m", "knobs.cli", "tune", str(csv), "--target", "label", "--models",
         "logistic", "--search-rows", "5000", "--dry-run"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "searched of 7,200 training / 1,800 test rows" in done.stdout


def test_an_ensemble_whose_choice_outgrows_its_share_of_the_budget_is_not_waited_for() -> None:
    """Greedy selection's time grows with the rows: 11.6 s on a 239,358-row sample, judged by a
    worker at a 40 s budget, ended the command 7 s late. Where the choice alone would take more
    than a fifth of the budget, no time is kept back for it and the end says why it did not look.
    """
    from knobs.study._timing import CHOOSE_S, choose_seconds, ensemble_fits

    frame = _large(33_000, seed=6)
    result = knobs.tune(frame, "label", models="logistic", timeout=6, workers=1, cv=2,
                        search_rows=0, study="big-choice")  # fmt: skip
    plan = result.plan
    assert plan.keeps_oof() and choose_seconds(plan) > 0.2 * 6 > CHOOSE_S
    assert not ensemble_fits(plan)
    assert result.final["kind"] == "single"
    assert "choosing an ensemble over 26,400 rows' out-of-fold predictions takes about" in (
        result.final["why"]
    )
    roomy = plan.config.with_updates(timeout=600)
    assert ensemble_fits(type(plan)(**{**plan.__dict__, "config": roomy}))


def test_a_refit_on_every_row_that_takes_no_time_is_made_with_no_time_left() -> None:
    from knobs.study._timing import refit_in_time

    assert refit_in_time(0.07, -0.1)  # "about 0 s" against "0 s left": made
    assert refit_in_time(3.0, 5.0) and refit_in_time(30.0, None)
    assert not refit_in_time(3.0, 1.0)


def test_the_api_does_not_print_optunas_study_created_line() -> None:
    """`knobs.tune()` printed Optuna's "[I ...] A new study created in Journal with name: ..."
    under a user's default (INFO) Optuna logging; the CLI silences Optuna, the API did not."""
    import logging

    import optuna

    heard: list[str] = []

    class Ear(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            heard.append(record.getMessage())

    ear = Ear(level=0)
    logging.getLogger("optuna").addHandler(ear)
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO)  # a user's default
    try:
        Search.create(_large(6_000), SearchConfig(target="label", models=("logistic",), n_trials=1))
        assert optuna.logging.get_verbosity() == optuna.logging.INFO  # the caller's, kept
    finally:
        optuna.logging.set_verbosity(before)
        logging.getLogger("optuna").removeHandler(ear)
    assert not [m for m in heard if "A new study created" in m]
