"""Shared fixtures: an isolated KNOBS_HOME per test and tiny real tables made once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_thread_per_fit():
    """In-process fits use one thread: OpenMP pools spinning against each other (and against the
    worker processes other tests start) made a 120-row HistGradientBoosting fit take 20 s."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(autouse=True)
def knobs_home(tmp_path, monkeypatch):
    """Every test gets its own storage folder: no test sees another's studies."""
    home = tmp_path / "knobs-home"
    monkeypatch.setenv("KNOBS_HOME", str(home))
    return home


def make_table(task: str, n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A small mixed-type table with a learnable target: numbers, a category, missing values."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    signal = x1 + 0.5 * x2 + (color == "red") * 1.0 + rng.normal(scale=0.5, size=n)
    frame = pd.DataFrame(
        {
            "x1": x1,
            "x2 [cm]": np.where(rng.random(n) < 0.1, np.nan, x2),
            "color": color,
            "count": rng.integers(0, 50, size=n),
        }
    )
    if task == "binary":
        frame["label"] = np.where(signal > 0.3, "yes", "no")
    elif task == "multiclass":
        frame["label"] = pd.cut(
            signal, [-np.inf, -0.5, 0.8, np.inf], labels=["low", "mid", "high"]
        ).astype(str)
    else:
        frame["label"] = 3.0 * signal + 10.0
    return frame


@pytest.fixture(scope="session")
def binary_table() -> pd.DataFrame:
    return make_table("binary")


@pytest.fixture(scope="session")
def multiclass_table() -> pd.DataFrame:
    return make_table("multiclass")


@pytest.fixture(scope="session")
def regression_table() -> pd.DataFrame:
    return make_table("regression")


def pruned_study(frame, target: str, *, source: str = "churn.csv") -> str:  # noqa: ANN001
    """A finished Knobs study (no workers) whose trials include pruned ones that saved compute:
    the plan comes from the real ``Search.create``; the trials are written as a search with the
    median pruner leaves them, so pages can be tested on them deterministically."""
    import datetime as dt

    import optuna

    import knobs
    from knobs.study.keys import CV, PRUNED

    config = knobs.SearchConfig(target=target, models=("logistic",), strategy="random",
                                n_trials=6, cv=3, workers=1, pruner="median")  # fmt: skip
    search = knobs.Search.create(frame, config, source=source)
    study = search.study
    baseline = study.ask()  # the queued defaults trial, scored as a worker would
    CV.set(baseline, {"fold_scores": [0.82] * 3, "fit_s": 3.0})
    study.tell(baseline, 0.82)
    dist = {
        "model": optuna.distributions.CategoricalDistribution(["logistic"]),
        "logistic.C": optuna.distributions.FloatDistribution(1e-3, 1e3, log=True),
    }
    start = dt.datetime.now()
    for c, value in [(1.0, 0.84), (0.01, 0.80), (10.0, 0.83)]:
        study.add_trial(optuna.trial.create_trial(
            params={"model": "logistic", "logistic.C": c}, distributions=dist, value=value,
            user_attrs=CV.attr({"fold_scores": [value] * 3, "fit_s": 3.0}),
            intermediate_values={0: value, 1: value, 2: value},
        ))  # fmt: skip
    for c in (0.002, 0.003):
        study.add_trial(optuna.trial.FrozenTrial(
            number=0, trial_id=0, state=optuna.trial.TrialState.PRUNED, value=None,
            datetime_start=start, datetime_complete=start + dt.timedelta(seconds=1),
            params={"model": "logistic", "logistic.C": c}, distributions=dist,
            user_attrs=PRUNED.attr({"after_fold": 1, "folds": 3, "fit_s": 1.0, "saved_s": 2.0,
                                    "fold_scores": [0.6], "reason": "pruner"}),
            system_attrs={}, intermediate_values={0: 0.6},
        ))  # fmt: skip
    return search.name
