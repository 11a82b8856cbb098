"""The single model a search delivers: the best trial, or a linear one within one standard error."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

import knobs
from knobs.study import delivered_trial, pick_trial
from knobs.study.keys import CV, TEST_SCORE
from tests.conftest import make_table

MODELS = CategoricalDistribution(["linear", "random_forest"])


def _trial(number: int, model: str, folds: list[float]) -> optuna.trial.FrozenTrial:
    params: dict = {"model": model}
    dists: dict = {"model": MODELS}
    if model == "linear":
        params["linear.alpha"], dists["linear.alpha"] = 1.0, FloatDistribution(1e-3, 1e3, log=True)
    else:
        params["random_forest.n_estimators"] = 50
        dists["random_forest.n_estimators"] = IntDistribution(10, 500)
    t = optuna.trial.create_trial(params=params, distributions=dists, value=sum(folds) / len(folds),
                                  user_attrs=CV.attr({"fold_scores": folds, "fit_s": 0.1}))  # fmt: skip
    t.number = number
    return t


FOREST = [0.70, 0.90, 0.80]  # mean 0.80, standard error 0.0577


@pytest.mark.parametrize(
    ("linear_folds", "expected"),
    [
        ([0.76, 0.78, 0.77], 1),  # 0.77: within one standard error of 0.80 -> the linear model
        ([0.70, 0.72, 0.71], 0),  # 0.71: beyond it -> the best trial
    ],
)
def test_a_linear_model_within_one_standard_error_is_delivered(linear_folds, expected):
    trials = [_trial(0, "random_forest", FOREST), _trial(1, "linear", linear_folds)]
    chosen, why = delivered_trial(trials, "maximize")
    assert chosen.number == expected
    assert (why is not None) == (expected == 1)
    if why:
        assert "trial 1 (linear, CV 0.7700) instead of the best trial 0" in why
        assert "one standard error of the best (±0.0520 from their 3 paired folds)" in why


def test_a_lead_alike_on_every_fold_is_not_noise():
    """The affairs table: XGBoost ahead of logistic by 0.003 on each of 5 folds, its folds
    themselves spread ±0.004. The spread of the best trial's folds called that lead noise and
    delivered logistic (0.009 worse held-out); the paired differences do not."""
    best = [0.740, 0.760, 0.750, 0.745, 0.755]
    trials = [_trial(0, "random_forest", best),
              _trial(1, "linear", [v - 0.003 + 0.0002 * (i % 2) for i, v in enumerate(best)]),
              _trial(2, "linear", [0.75, 0.75])]  # fmt: skip  # other folds: never compared
    assert delivered_trial(trials, "maximize") == (trials[0], None)


def test_the_best_stays_when_it_is_linear_or_has_no_folds_and_losses_count_the_other_way():
    best_linear = [_trial(0, "linear", [0.8, 0.8, 0.8]), _trial(1, "random_forest", FOREST)]
    assert delivered_trial(best_linear, "maximize") == (best_linear[0], None)
    assert delivered_trial([_trial(0, "random_forest", [0.8])], "maximize")[1] is None
    assert delivered_trial([], "maximize") == (None, None)
    # a loss to minimize: 0.83 is within 0.0577 of 0.80 from above
    trials = [_trial(0, "random_forest", FOREST), _trial(1, "linear", [0.82, 0.83, 0.84])]
    assert delivered_trial(trials, "minimize")[0].number == 1
    assert pick_trial(trials, "minimize", "s", None, purpose="to export").number == 1


def test_the_search_refits_scores_and_exports_the_delivered_trial(tmp_path, monkeypatch):
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path))
    config = knobs.SearchConfig(target="label", models=("linear", "random_forest"),
                                strategy="random", n_trials=2, cv=3, ensemble=False)  # fmt: skip
    search = knobs.Search.create(make_table("regression"), config)
    for waiting in search.study.get_trials(states=(optuna.trial.TrialState.WAITING,)):
        search.study._storage.set_trial_state_values(  # the queued defaults: not part of this
            waiting._trial_id, optuna.trial.TrialState.FAIL
        )
    search.study.add_trial(_trial(0, "random_forest", FOREST))
    search.study.add_trial(_trial(0, "linear", [0.76, 0.78, 0.77]))
    linear = max(t.number for t in search.trials())
    result = search.result()
    assert result.best_model == "random_forest"  # the best by CV is still reported as such
    assert result.chosen["trial"] == linear and result.chosen["model"] == "linear"
    assert TEST_SCORE.get(search.study)["trial"] == linear
    assert type(result.best_pipeline[-1]).__name__ == "Ridge"
    assert result.to_dict()["chosen_trial"]["trial"] == linear
    from components.export import trial_choices, trial_label

    first = trial_choices(search.name)[0]
    assert first["number"] == linear and first["delivered"] and not first["best"]
    assert "delivered: linear" in trial_label(first)
