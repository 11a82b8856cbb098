from __future__ import annotations

import optuna
import pytest
from sklearn.base import clone

from knobs.errors import ConfigError
from knobs.models import REGISTRY, Param, get_model, model_names, resolve_models

ALL = sorted(REGISTRY)


@pytest.mark.parametrize("name", ALL)
def test_every_model_declares_a_consistent_space(name):
    spec = REGISTRY[name]
    assert spec.params, "every model tunes something"
    for p in spec.params:
        dist = p.distribution()
        for v in p.grid:
            assert dist._contains(dist.to_internal_repr(v)), (name, p.name, v)
    assert spec.grid_size() >= 2
    assert spec.grid()["model"] == [name]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_model_builds_with_defaults_and_sampled_params(name, task):
    spec = REGISTRY[name]
    if task not in spec.tasks:
        pytest.skip("model does not learn this task")
    clone(spec.estimator(task, {}, seed=1))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    params = {p.name: p.suggest(trial, spec.key(p.name)) for p in spec.params}
    est = spec.estimator(task, params, seed=1)
    clone(est)


@pytest.mark.parametrize(
    ("name", "task", "expected"),
    [
        ("logistic", "regression", "linear"),
        ("linear", "binary", "logistic"),
        ("ridge", "regression", "linear"),
        ("XGBoost", "binary", "xgboost"),
        ("random-forest", "multiclass", "random_forest"),
    ],
)
def test_names_resolve_per_task(name, task, expected):
    assert get_model(name, task).name == expected


def test_all_means_every_family_for_the_task():
    names = [s.name for s in resolve_models("all", "regression")]
    assert names == model_names("regression")
    assert "logistic" not in names and "elastic_net" in names


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "a", "kind": "int", "low": 5, "high": 1}, "low <= high"),
        ({"name": "a", "kind": "float", "low": 0, "high": 1, "log": True}, "log scale"),
        ({"name": "a", "kind": "categorical"}, "no choices"),
        ({"name": "a", "kind": "int", "low": 1, "high": 5, "grid": (9,)}, "outside its range"),
    ],
)
def test_bad_params_are_refused_with_the_rule(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Param(**kwargs)


def test_unknown_model_lists_known_ones():
    with pytest.raises(ConfigError, match="Known models: .*xgboost"):
        resolve_models("catboost", "binary")


def test_space_override_replaces_one_param_and_roundtrips():
    spec = REGISTRY["xgboost"]
    new = Param("max_depth", "int", 2, 4, grid=(2, 4))
    edited = spec.with_params([new])
    assert edited.grid()["xgboost.max_depth"] == [2, 4]
    assert Param.from_dict(new.to_dict()) == new
    with pytest.raises(ConfigError, match="no parameter"):
        spec.with_params([Param("depth", "int", 1, 2)])
