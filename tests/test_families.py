"""``--models auto``: the budget goes to the families that lead, and stops for those that lose."""

from __future__ import annotations

import collections

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from knobs.config import SearchConfig
from knobs.metrics import MAXIMIZE
from knobs.models import AUTO_FAMILIES, resolve_models
from knobs.study._families import next_family
from knobs.study.keys import CV, FAMILIES

FAMILIES_ = ("a", "b", "c", "d")


def _run(score: dict[str, float | None], n: int, spread: float = 0.001) -> collections.Counter:
    """Spend ``n`` tuned trials with ``next_family``; each family scores what ``score`` says
    (None: its every trial fails), its folds ``spread`` apart."""
    study = optuna.create_study(direction="maximize")
    dist = {"model": CategoricalDistribution(list(FAMILIES_))}
    spent: collections.Counter = collections.Counter()
    for i in range(n):
        family = next_family(study, FAMILIES_, MAXIMIZE)
        spent[family] += 1
        value = score[family]
        if value is None:
            trial = optuna.trial.create_trial(
                params={"model": family}, distributions=dist, state=TrialState.FAIL
            )
        else:
            value += 0.001 * (i % 3)
            trial = optuna.trial.create_trial(
                params={"model": family}, distributions=dist, value=value,
                user_attrs=CV.attr({"fold_scores": [value - spread, value + spread] * 2}),
            )  # fmt: skip
        study.add_trial(trial)
    return spent


def test_the_leading_family_gets_most_of_the_budget_and_laggards_stop() -> None:
    spent = _run({"a": 0.60, "b": 0.90, "c": 0.70, "d": 0.85}, 40)
    assert spent.most_common(1)[0][0] == "b"
    assert spent["b"] >= 20
    assert spent["a"] <= 2 and spent["c"] <= 2  # dropped after the first rung


def test_a_family_that_cannot_learn_the_task_stops_getting_trials() -> None:
    spent = _run({"a": None, "b": 0.8, "c": 0.7, "d": 0.75}, 30)
    assert spent["a"] == 1  # its one rung-0 trial failed: no more


def test_families_within_the_noise_of_the_leader_stay_in() -> None:
    spent = _run({"a": 0.800, "b": 0.8005, "c": 0.7995, "d": 0.8002}, 24, spread=0.02)
    assert min(spent.values()) >= 3  # nobody is clearly behind: nobody is dropped early


def test_the_decisions_are_stored_on_the_study_for_every_worker() -> None:
    study = optuna.create_study(direction="maximize")
    next_family(study, FAMILIES_, MAXIMIZE)
    assert FAMILIES.get(study)["alive"] == list(FAMILIES_)


def test_auto_is_the_default_and_keeps_the_families_that_fit_the_task() -> None:
    assert SearchConfig(target="y").models == ("auto",)
    names = [s.name for s in resolve_models("auto", "regression")]
    assert "logistic" not in names and "linear" in names
    assert names == [n for n in AUTO_FAMILIES if n != "logistic"]
