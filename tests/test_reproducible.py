"""The same seed gives the same search only with one worker: ``reproducible`` says so and does it."""

from __future__ import annotations

import pandas as pd
import pytest

import knobs
from knobs.config import SearchConfig
from knobs.errors import ConfigError
from tests.conftest import make_table


def _run(home, monkeypatch, **options) -> list[tuple]:
    monkeypatch.setenv("KNOBS_HOME", str(home))
    result = knobs.tune(
        make_table("binary", n=240), "label", models="logistic,random_forest,xgboost",
        n_trials=7, cv=3, seed=3, ensemble=False, **options,
    )  # fmt: skip
    # A pruned trial has no value (NaN, which never equals itself): compare it as None.
    return [
        (r.model, repr(r.params), r.state, None if pd.isna(r.value) else r.value)
        for r in result.trials.itertuples()
    ]


@pytest.mark.slow
def test_a_reproducible_search_repeats_itself(tmp_path, monkeypatch) -> None:
    """Twice the same seed and budget: the same trials, parameters, states and scores, in order
    (TPE, the median pruner and the auto spread all read what finished before)."""
    first = _run(tmp_path / "a", monkeypatch, reproducible=True)
    second = _run(tmp_path / "b", monkeypatch, reproducible=True)
    assert len(first) == 7
    assert first == second


def test_reproducible_means_one_worker() -> None:
    config = SearchConfig(target="y", reproducible=True)
    assert config.n_workers == 1
    with pytest.raises(ConfigError, match="reproducible search runs one worker"):
        SearchConfig(target="y", reproducible=True, workers=2)


def test_the_seed_says_where_it_stops_being_enough() -> None:
    from knobs.cli import build_parser

    tune = build_parser()._subparsers._group_actions[0].choices["tune"]
    helps = {a.dest: a.help for a in tune._actions}
    assert "--reproducible" in helps["seed"] and "one worker" in helps["reproducible"]
