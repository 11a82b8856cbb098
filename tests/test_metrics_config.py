from __future__ import annotations

import numpy as np
import pytest

from knobs.config import SearchConfig
from knobs.errors import ConfigError
from knobs.metrics import get_metric
from knobs.models import Param


@pytest.mark.parametrize(
    ("name", "task", "scorer", "direction"),
    [
        (None, "binary", "roc_auc", "maximize"),
        (None, "multiclass", "accuracy", "maximize"),
        (None, "regression", "r2", "maximize"),
        ("rmse", "regression", "neg_root_mean_squared_error", "minimize"),
        ("log_loss", "binary", "neg_log_loss", "minimize"),
        ("roc_auc", "multiclass", "roc_auc_ovr", "maximize"),
        ("balanced_accuracy", "binary", "balanced_accuracy", "maximize"),
        ("MAE", "regression", "neg_mean_absolute_error", "minimize"),
    ],
)
def test_metrics_map_to_scorers(name, task, scorer, direction):
    m = get_metric(name, task)
    assert (m.scorer, m.direction) == (scorer, direction)


@pytest.mark.parametrize(
    ("name", "task", "match"),
    [("r2", "binary", "does not fit a binary task"), ("auprc", "binary", "Unknown metric")],
)
def test_bad_metrics_name_the_choices(name, task, match):
    with pytest.raises(ConfigError, match=match):
        get_metric(name, task)


def test_rmse_is_reported_positive():
    import numpy as np
    from sklearn.dummy import DummyRegressor

    X = np.zeros((4, 1))
    y = np.array([0.0, 2.0, 0.0, 2.0])
    est = DummyRegressor().fit(X, y)
    assert get_metric("rmse", "regression").score(est, X, y) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"strategy": "annealing"}, "strategy"),
        ({"sampler": "cmaes"}, "sampler"),
        ({"n_trials": 0}, "n_trials"),
        ({"n_trials": None}, "budget"),
        ({"cv": 1}, "folds"),
        ({"test_size": 0.9}, "test_size"),
        ({"workers": 0}, "workers"),
        ({"timeout": -1}, "timeout"),
        ({"task": "ranking"}, "task"),
    ],
)
def test_bad_config_fails_before_any_work(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SearchConfig(target="y", **kwargs)


def test_config_roundtrips_through_json_dict():
    import json

    cfg = SearchConfig(
        target="y",
        models=("xgboost", "knn"),
        space={"knn": (Param("n_neighbors", "int", 1, 9, grid=(3, 5)),)},
    )
    again = SearchConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_roc_auc_is_scikit_learns_number_ties_included(seed) -> None:
    import sklearn.metrics as skm

    from knobs.metrics import get_metric

    rng = np.random.default_rng(seed)
    y = rng.choice(["no", "yes"], size=300, p=[0.7, 0.3])
    pred = np.round(rng.random(300), 1)  # few distinct values: many ties
    ours = get_metric("roc_auc", "binary").score_predictions(y, pred, "proba", ["no", "yes"])
    assert ours == pytest.approx(skm.roc_auc_score(y == "yes", pred), abs=1e-12)
    # one class alone: no AUC; what scikit-learn says (nan, with its warning)
    with pytest.warns(Warning):
        alone = get_metric("roc_auc", "binary").score_predictions(
            np.array(["no"] * 5), np.arange(5.0), "proba", ["no", "yes"]
        )
    assert np.isnan(alone)


@pytest.mark.parametrize(
    "name, task",
    [("mae", "regression"), ("rmse", "regression"), ("r2", "regression"),
     ("median_ae", "regression"), ("accuracy", "multiclass"), ("log_loss", "multiclass"),
     ("roc_auc", "binary"), ("f1", "binary"), ("balanced_accuracy", "binary")],
)  # fmt: skip
def test_the_constant_score_is_scikit_learns_dummy_model_cross_validated(name, task) -> None:
    """``constant_cv`` is the score of scikit-learn's dummy model (median for absolute errors,
    mean otherwise, class shares for classes) on the same folds, as a trial is scored."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.model_selection import KFold, cross_val_score

    from knobs.metrics import constant_cv, constant_is_median

    rng = np.random.default_rng(4)
    if task == "regression":
        y = rng.lognormal(3, 1, 300)
        y[:4] = 1e5
        dummy = DummyRegressor(strategy="median" if name in ("mae", "median_ae") else "mean")
    else:
        # scikit-learn's binary scorers take 1 as the positive class, as Knobs the last one
        y = rng.choice([0, 1], 300, p=[0.3, 0.7]) if task == "binary" else rng.choice(
            ["a", "b", "c"], 300, p=[0.5, 0.3, 0.2])
        dummy = DummyClassifier(strategy="prior")
    metric = get_metric(name, task)
    assert constant_is_median(metric) == (name in ("mae", "median_ae"))
    folds = list(KFold(5, shuffle=True, random_state=0).split(y))
    expected = metric.sign * cross_val_score(
        dummy, np.zeros((len(y), 1)), y, cv=folds, scoring=metric.scorer
    ).mean()
    assert constant_cv(metric, y, folds) == pytest.approx(expected, rel=1e-9, abs=1e-12)
