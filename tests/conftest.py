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
