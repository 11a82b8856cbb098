"""Is tuning worth it? Every search says so (issue 14, item 2.2): the best trial against the
defaults on the same folds, by the one rule, in the report, the JSON and the CLI's last lines."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution

from knobs.study import tuning_verdict
from knobs.study.keys import BASELINE, CV


def _trial(number: int, folds: list[float], *, baseline: bool = False) -> optuna.trial.FrozenTrial:
    attrs = {CV.name: {"fold_scores": folds}}
    if baseline:
        attrs[BASELINE.name] = True
    t = optuna.trial.create_trial(
        value=sum(folds) / len(folds),
        params={} if baseline else {"x": 0.5},
        distributions={} if baseline else {"x": FloatDistribution(0, 1)},
        user_attrs=attrs,
    )
    t.number = number
    return t


def test_a_steady_gain_over_the_defaults_is_called_a_gain() -> None:
    base = _trial(0, [0.80, 0.81, 0.79, 0.80, 0.82], baseline=True)
    best = _trial(1, [0.85, 0.86, 0.84, 0.85, 0.87])
    verdict = tuning_verdict([base, best], "maximize")
    assert verdict["call"] == "gain" and verdict["gain"] == pytest.approx(0.05)
    assert verdict["words"].startswith("Tuning helps: best CV 0.8540 vs 0.8040")
    assert "95% margin" in verdict["words"] and verdict["cv_noise"] > 0


def test_a_gain_the_folds_disagree_on_is_within_the_noise() -> None:
    """+0.004 on average, but one fold gains 0.05 and the others lose: not worth it."""
    base = _trial(0, [0.80, 0.81, 0.79, 0.80, 0.82], baseline=True)
    best = _trial(1, [0.85, 0.80, 0.78, 0.79, 0.82])
    verdict = tuning_verdict([base, best], "maximize")
    assert verdict["call"] == "tie"
    assert "within the noise" in verdict["words"] and "defaults would do about as well" in verdict["words"]


def test_lower_is_better_metrics_are_judged_the_right_way() -> None:
    base = _trial(0, [10.0, 10.2, 9.9], baseline=True)
    best = _trial(1, [8.0, 8.1, 7.9])
    verdict = tuning_verdict([base, best], "minimize")
    assert verdict["call"] == "gain" and verdict["gain"] > 0


def test_when_the_defaults_win_it_says_so_and_before_a_baseline_nothing() -> None:
    base = _trial(0, [0.9, 0.9, 0.91], baseline=True)
    worse = _trial(1, [0.7, 0.7, 0.7])
    assert "The defaults trial is the best" in tuning_verdict([base, worse], "maximize")["words"]
    assert tuning_verdict([worse], "maximize") is None


def test_when_the_defaults_win_the_trials_not_scored_are_counted() -> None:
    """"12 trials" in the summary beside "nothing better in 5 scored trials" left 7 unexplained."""
    base = _trial(0, [0.9, 0.9, 0.91], baseline=True)
    worse = _trial(1, [0.7, 0.7, 0.7])
    pruned = optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, params={"x": 0.1},
                                       distributions={"x": FloatDistribution(0, 1)})  # fmt: skip
    # a trial stopped before its first fold is not in the trial count either ("25 trials" in
    # the summary beside "the other 17 of 26")
    from knobs.study.keys import PRUNED

    never = optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED, params={"x": 0.1},
        distributions={"x": FloatDistribution(0, 1)},
        user_attrs=PRUNED.attr({"after_fold": 0, "reason": "time budget"}),
    )  # fmt: skip
    words = tuning_verdict([base, worse, pruned, pruned, never], "maximize")["words"]
    assert words.endswith("in 2 scored trials (the other 2 of 4 were pruned, failed or stopped "
                          "before their last fold).")  # fmt: skip
    assert tuning_verdict([base, worse], "maximize")["words"].endswith("in 2 scored trials.")
