"""A warm start's prior: earlier trials by rank, placed on the new study's scale, down-weighted."""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from knobs.config import SearchConfig
from knobs.models import Param
from knobs.strategies import STRATEGIES, make_sampler
from knobs.strategies._samplers import PriorTPESampler, _WithPrior, prior_weight
from knobs.study import Search
from knobs.transfer._prior import QUANTILE_ATTR, prior_trials
from tests.conftest import make_table, pruned_study

X = FloatDistribution(0.0, 1.0)


def _prior(good: float, n: int = 40, seed: int = 0) -> list:
    """Prior trials on x in [0, 1] whose rank improves towards ``good``."""
    rng = np.random.default_rng(seed)
    xs = sorted(rng.uniform(0, 1, n), key=lambda x: abs(x - good))  # best first
    out = []
    for i, x in enumerate(xs):
        q = i / (n - 1)
        t = optuna.trial.create_trial(params={"x": x}, distributions={"x": X}, value=q,
                                      user_attrs={QUANTILE_ATTR: q})  # fmt: skip
        t.number = i - n
        out.append(t)
    return out


def _first_points(sampler, n: int, direction: str = "maximize") -> list[float]:
    study = optuna.create_study(direction=direction, sampler=sampler)
    xs = []
    for _ in range(n):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        xs.append(x)
        study.tell(trial, 0.0 if direction == "maximize" else 1.0)  # flat: the prior decides
    return xs


def test_a_prior_steers_the_first_samples_where_the_earlier_study_did_well():
    warm = PriorTPESampler(seed=3, n_startup_trials=10)
    warm.set_prior(_prior(good=0.85))
    cold = PriorTPESampler(seed=3, n_startup_trials=10)
    near = [abs(x - 0.85) for x in _first_points(warm, 8)]
    far = [abs(x - 0.85) for x in _first_points(cold, 8)]
    assert np.median(near) < 0.12 < np.median(far)  # cold: its random start-up trials


def test_without_a_prior_it_is_optunas_tpe_unchanged():
    ours = _first_points(PriorTPESampler(seed=5, n_startup_trials=3), 12)
    optunas = _first_points(optuna.samplers.TPESampler(seed=5, n_startup_trials=3), 12)
    assert ours == optunas


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_prior_trials_take_this_studys_scale_by_rank(direction):
    study = optuna.create_study(direction=direction)
    for v in (0.2, 0.5, 0.9):
        study.add_trial(optuna.trial.create_trial(params={"x": v}, distributions={"x": X},
                                                  value=v))  # fmt: skip
    placed = _WithPrior(study, _prior(good=0.5, n=3))._placed()
    best, worst = (0.9, 0.2) if direction == "maximize" else (0.2, 0.9)
    assert [t.value for t in placed] == pytest.approx([best, 0.5, worst])
    assert [t.number for t in placed] == [-3, -2, -1]
    assert all(t.user_attrs[QUANTILE_ATTR] in (0.0, 0.5, 1.0) for t in placed)


def test_prior_trials_weigh_less_than_the_studys_own_and_less_as_it_scores():
    assert prior_weight(0, 6) < 1.0  # the study's own trials weigh 1 (TPE's default)
    assert prior_weight(0, 40) > prior_weight(10, 40) > prior_weight(40, 40) > 0
    # all together the prior weighs as much as 10 own trials at the start, whatever its size
    assert prior_weight(0, 40) * 40 == pytest.approx(10) == prior_weight(0, 2000) * 2000
    assert prior_weight(10, 2000) * 2000 == pytest.approx(5)
    sampler = PriorTPESampler(seed=0, n_startup_trials=1)
    sampler.set_prior(_prior(good=0.2, n=6))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for v in (0.3, 0.6):
        study.add_trial(optuna.trial.create_trial(params={"x": v}, distributions={"x": X},
                                                  value=v))  # fmt: skip
    seen = _WithPrior(study, sampler._prior)
    trials = seen._get_trials(states=(TrialState.COMPLETE,))
    mpe = sampler._build_parzen_estimator(seen, {"x": X}, trials, handle_below=True)
    weights = mpe._mixture_distribution.weights[:-1]  # the last one is TPE's own prior
    own, prior = weights[-2:], weights[:-2]
    assert np.allclose(prior / own[0], prior_weight(2, 6))


def test_prior_trials_come_from_the_earlier_study_in_the_new_space():
    source = pruned_study(make_table("binary"), "label")  # C=1.0: 0.84, 10.0: 0.83, 0.01: 0.80
    config = SearchConfig(target="label", models=("logistic", "xgboost"), n_trials=6, cv=3,
                          workers=1, warm_start=(source,))  # fmt: skip
    search = Search.create(make_table("binary", seed=1), config)
    prior = prior_trials(search.plan, search.storage)
    assert [t.params["logistic.C"] for t in prior] == [1.0, 10.0, 0.01]  # best first
    assert [t.user_attrs[QUANTILE_ATTR] for t in prior] == [0.0, 0.5, 1.0]
    assert [t.number for t in prior] == [-3, -2, -1]
    assert set(prior[0].distributions["model"].choices) == {"logistic", "xgboost"}
    # A value outside the new range is left out; a trial left with its model alone is no prior.
    narrow = dataclasses.replace(
        config, space={"logistic": (Param("C", "float", 0.1, 5.0, log=True),)}
    )
    narrowed = Search.create(make_table("binary", seed=1), narrow)
    kept = prior_trials(narrowed.plan, narrowed.storage)
    assert [t.params.get("logistic.C") for t in kept] == [1.0]  # 10.0 and 0.01 fall outside
    # The notice says what the sampler takes from them.
    assert any("prior" in n for n in search.plan.notices)


def test_only_tpe_takes_a_prior_and_the_notice_says_so_for_the_others():
    assert [s.name for s in STRATEGIES.values() if s.prior] == ["tpe"]
    assert hasattr(make_sampler("bayes", "tpe"), "set_prior")
    source = pruned_study(make_table("binary"), "label")
    config = SearchConfig(target="label", models=("logistic",), n_trials=6, cv=3, workers=1,
                          strategy="random", warm_start=(source,))  # fmt: skip
    search = Search.create(make_table("binary", seed=1), config)
    assert any("Random takes no prior" in n for n in search.plan.notices)
