"""A time budget bounds the whole job, refit included, even when trials take seconds each."""

from __future__ import annotations

import datetime as dt

import numpy as np
import optuna
import pytest

import knobs
from knobs.models import Param
from knobs.study._timing import END_S, MARGIN_S, expected_trial_s, refit_reserve
from knobs.study.keys import BASELINE, CV
from tests.conftest import make_table


def _trial(seconds: float, value: float = 0.8, *, fit_s: float = 5.0, baseline: bool = False):
    start = dt.datetime(2026, 1, 1, 12, 0, 0)
    attrs = CV.attr({"fold_scores": [value] * 5, "fit_s": fit_s})
    if baseline:
        attrs |= BASELINE.attr(True)
    return optuna.trial.FrozenTrial(
        number=0, state=optuna.trial.TrialState.COMPLETE, value=value,
        datetime_start=start, datetime_complete=start + dt.timedelta(seconds=seconds),
        params={}, distributions={}, user_attrs=attrs, system_attrs={},
        intermediate_values={}, trial_id=0,
    )  # fmt: skip


def _family(seconds: float, value: float, model: str, *, fit_s: float = 5.0):
    t = _trial(seconds, value, fit_s=fit_s)
    t.params = {"model": model}
    t.distributions = {"model": optuna.distributions.CategoricalDistribution([model])}
    return t


def test_the_refit_reserve_scales_the_best_trials_fold_fit_to_all_rows() -> None:
    trials = [_trial(6.0, 0.7, fit_s=10.0), _trial(6.0, 0.9, fit_s=5.0)]
    # best trial: 5 s over 5 folds = 1 s a fold; the refit sees 5/4 of a fold's rows; x1.5 spread
    end = MARGIN_S + END_S  # the report and exit, the trials read and the test rows scored
    assert refit_reserve(trials, 5, "maximize") == pytest.approx(end + 1.5 * 1.0 * 5 / 4)
    assert refit_reserve([], 5, "maximize") == end


def test_the_ensemble_reserve_is_capped_at_a_share_of_the_budget() -> None:
    """One training-split refit of each family's best trial (1.875 s each), the choice and the
    end: a 40 s budget keeps back at most a share of it, and never less than the single model's
    end and the time to choose."""
    from knobs.study._timing import CHOOSE_S, ENSEMBLE_SHARE

    one = 1.5 * 1.0 * 5 / 4
    trials = [_family(6.0, 0.9, "xgboost"), _family(6.0, 0.8, "hist_gb"),
              _family(6.0, 0.85, "xgboost"), _family(6.0, 0.7, "random_forest")]  # fmt: skip
    end = MARGIN_S + END_S
    assert refit_reserve(trials, 5, "maximize", ensemble=True) == pytest.approx(
        end + CHOOSE_S + 3 * one  # three families' best, once each
    )
    capped = refit_reserve(trials, 5, "maximize", ensemble=True, budget_s=25.0)
    assert capped == pytest.approx(ENSEMBLE_SHARE * 25.0)
    tiny = refit_reserve(trials, 5, "maximize", ensemble=True, budget_s=5.0)
    assert tiny == pytest.approx(end + one + CHOOSE_S)  # the single model's end, at least


def test_the_ensemble_reserve_refits_the_families_it_blends_not_only_the_leader() -> None:
    """Houses: a ridge led (0.05 s refit) and the ensemble blended it with trees refitting in a
    second each; kept back at the ridge's pace, 1 s was left and no ensemble could be chosen."""
    from knobs.study._timing import CHOOSE_S

    trials = [_family(0.3, 0.86, "linear", fit_s=0.1), _family(5.0, 0.83, "xgboost"),
              _family(5.0, 0.82, "hist_gb"), _family(5.0, 0.80, "xgboost")]  # fmt: skip
    reserve = refit_reserve(trials, 5, "maximize", ensemble=True, refits=2.0)
    assert reserve == pytest.approx(MARGIN_S + END_S + CHOOSE_S + 1.5 * 0.02 * 5 / 4 + 2 * 1.875)


def test_chosen_members_that_cannot_refit_within_the_share_keep_nothing_back() -> None:
    """Churn: an early verdict's 5-member blend needed about 5 s of refits against the 4.4 s
    share kept for it; the end refused it for time, with 2.6 s of the budget unused. Members an
    early verdict chose whose refits exceed the share keep only the single model's end and a
    look at the candidates; guessed members keep the share, as before."""
    from knobs.study._timing import CHOOSE_S, ENSEMBLE_SHARE

    trials = [_family(0.3, 0.95, "linear", fit_s=0.1)] + [
        _family(5.0, 0.9 - i / 100, model)
        for i, model in enumerate(("xgboost", "hist_gb", "random_forest", "extra_trees"))
    ]
    single = refit_reserve(trials, 5, "maximize", refits=2.0)
    guessed = refit_reserve(trials, 5, "maximize", ensemble=True, refits=2.0, budget_s=20.0)
    chosen = refit_reserve(trials, 5, "maximize", ensemble=True, refits=2.0, budget_s=20.0,
                           members=trials)  # fmt: skip
    assert guessed == pytest.approx(ENSEMBLE_SHARE * 20.0)
    assert chosen == pytest.approx(single + CHOOSE_S)
    cheap = refit_reserve(trials, 5, "maximize", ensemble=True, refits=2.0, budget_s=20.0,
                          members=trials[:2])  # fmt: skip
    assert cheap == pytest.approx(MARGIN_S + END_S + CHOOSE_S + 1.5 * 0.02 * 5 / 4 + 1.875)


def test_the_expected_trial_time_is_the_median_of_recent_tuned_trials() -> None:
    trials = [_trial(100.0, baseline=True), _trial(2.0), _trial(4.0), _trial(30.0)]
    assert expected_trial_s(trials) == 4.0
    assert expected_trial_s([]) is None


def test_the_expected_time_is_the_next_trials_familys_own() -> None:
    def of(model: str, seconds: float, **kw: object):
        t = _trial(seconds, **kw)
        t.params = {"model": model}
        return t

    trials = [of("random_forest", 1.0, baseline=True), of("xgboost", 0.7, baseline=True),
              of("random_forest", 4.6), of("random_forest", 4.4)]  # fmt: skip
    assert expected_trial_s(trials, model="xgboost") == 0.7  # its defaults trial: no tuned one
    assert expected_trial_s(trials, model="random_forest") == 4.5
    assert expected_trial_s(trials, model="hist_gb") == 4.5  # nothing of its own: every family's
    assert expected_trial_s(trials) == 4.5


def test_a_family_whose_only_trials_the_time_cut_is_paced_by_how_long_they_ran() -> None:
    """On a 400-column table the boosting defaults were cut after 2.6 s and 1.8 s, then, judged
    at the logistic model's 0.2 s, started again and cut again. A family with no finished trial
    is expected to take at least as long as its cut ones ran."""
    from knobs.study.keys import INTERRUPTED, PRUNED

    logistic = _trial(0.2)
    logistic.params = {"model": "logistic"}
    cut = _trial(2.6)
    cut.params, cut.state = {"model": "xgboost"}, optuna.trial.TrialState.PRUNED
    cut.user_attrs = PRUNED.attr({"after_fold": 1, "fold_scores": [0.7], "reason": "time budget"})
    killed = _trial(1.8)
    killed.params, killed.state = {"model": "hist_gb"}, optuna.trial.TrialState.FAIL
    killed.user_attrs = {**INTERRUPTED.attr(True), **PRUNED.attr({"reason": "time budget"})}
    trials = [logistic, cut, killed]
    assert expected_trial_s(trials, model="xgboost") == 2.6
    assert expected_trial_s(trials, model="hist_gb") == 1.8
    assert expected_trial_s(trials, model="logistic") == 0.2
    assert expected_trial_s(trials, model="random_forest") == 0.2  # nothing of its own, nothing cut


def test_a_slow_familys_pace_does_not_stop_a_quick_familys_queued_trial() -> None:
    """A random forest's tuned trials took 4.6 s; 2 s before the cut, the queued XGBoost trial
    (0.7 s by its defaults trial) still starts. It did not when every family was judged by the
    last tuned trials: the search stopped with time unused."""
    import time

    from knobs.study._timing import final_refits
    from knobs.study.worker import claim

    config = knobs.SearchConfig(target="label", models=("random_forest", "xgboost"),
                                strategy="random", n_trials=50, cv=2, workers=1, ensemble=False)  # fmt: skip
    search = knobs.Search.create(make_table("binary", n=120), config)
    study, plan = search.study, search.plan
    families = ["random_forest", "xgboost"]
    first = study.ask()  # the random forest's defaults trial, queued first
    assert first.suggest_categorical("model", families) == "random_forest"
    study.tell(first, 0.7)
    dist = {"model": optuna.distributions.CategoricalDistribution(families)}
    for seconds in (4.6, 4.4):
        t = _trial(seconds, 0.75, fit_s=0.2)
        t.params, t.distributions = {"model": "random_forest"}, dist
        study.add_trial(t)
    (queued,) = [t for t in study.get_trials() if t.state.name == "WAITING"]
    assert queued.system_attrs["fixed_params"]["model"] == "xgboost"
    quick = _trial(0.7, 0.7, fit_s=0.2, baseline=True)
    quick.params, quick.distributions = {"model": "xgboost"}, dist
    study.add_trial(quick)
    trials = study.get_trials()
    reserve = refit_reserve(trials, plan.folds, plan.direction, refits=final_refits(plan))
    deadline = time.time() + reserve + 2.0
    trial, cut = claim(study, plan, deadline=deadline, grid=None)
    assert trial is not None and trial.suggest_categorical("model", families) == "xgboost"
    assert cut == pytest.approx(deadline - reserve, abs=0.5)


def test_a_slow_familys_queued_start_waits_while_a_quicker_one_behind_it_runs() -> None:
    """Near the cut, the queue's head is a random forest's trial (4.5 s a trial) and an XGBoost
    trial (0.7 s) is queued behind it: the XGBoost one runs, the forest's stays queued for a
    resume. The search used to end there, with the time left unused."""
    import time

    from knobs.study._timing import final_refits
    from knobs.study.worker import claim

    config = knobs.SearchConfig(target="label", models=("random_forest", "xgboost"),
                                strategy="random", n_trials=50, cv=2, workers=1, ensemble=False)  # fmt: skip
    search = knobs.Search.create(make_table("binary", n=120), config)
    study, plan = search.study, search.plan
    families = ["random_forest", "xgboost"]
    dist = {"model": optuna.distributions.CategoricalDistribution(families)}
    for model in families:  # the queued defaults trials, run at each family's pace
        trial = study.ask()
        assert trial.suggest_categorical("model", families) == model
        study.tell(trial, 0.7)
    for model, seconds in (("random_forest", 4.6), ("random_forest", 4.4), ("xgboost", 0.7)):
        t = _trial(seconds, 0.75, fit_s=0.2)
        t.params, t.distributions = {"model": model}, dist
        study.add_trial(t)
    study.enqueue_trial({"model": "random_forest"})
    study.enqueue_trial({"model": "xgboost"})
    trials = study.get_trials()
    reserve = refit_reserve(trials, plan.folds, plan.direction, refits=final_refits(plan))
    trial, _cut = claim(study, plan, deadline=time.time() + reserve + 2.0, grid=None)
    assert trial is not None and trial.suggest_categorical("model", families) == "xgboost"
    (still,) = [t for t in study.get_trials() if t.state.name == "WAITING"]
    assert still.system_attrs["fixed_params"] == {"model": "random_forest"}


@pytest.mark.parametrize(("trees", "runs"), [(300, False), (100, True)])
def test_a_queued_start_is_judged_by_its_own_size(trees: int, runs: bool) -> None:
    """On 60,000 rows the random forest's defaults (100 trees) took 12 s; its 300-tree start,
    judged by that pace, began 30 s before the cut and was killed there 20 s later. Judged by
    three times that pace it stays queued; a start as big as the defaults runs."""
    import time

    from knobs.study._timing import final_refits
    from knobs.study.worker import claim

    config = knobs.SearchConfig(target="label", models=("random_forest",), strategy="random",
                                n_trials=50, cv=2, workers=1, ensemble=False)  # fmt: skip
    search = knobs.Search.create(make_table("binary", n=120), config)
    study, plan = search.study, search.plan
    for t in study.get_trials():  # the queued defaults trial and start: replaced below
        study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
    dist = {"model": optuna.distributions.CategoricalDistribution(["random_forest"])}
    defaults = _trial(2.0, 0.8, fit_s=0.2, baseline=True)
    defaults.params, defaults.distributions = {"model": "random_forest"}, dist
    study.add_trial(defaults)
    study.enqueue_trial({"model": "random_forest", "random_forest.n_estimators": trees})
    trials = study.get_trials()
    reserve = refit_reserve(trials, plan.folds, plan.direction, refits=final_refits(plan))
    trial, _cut = claim(study, plan, deadline=time.time() + reserve + 4.0, grid=None)
    assert (trial is not None) is runs


def test_near_the_cut_a_quicker_alive_family_takes_the_trial_the_rungs_pick_cannot_finish() -> None:
    """Under --models auto, successive halving's pick is the random forest (4.5 s a trial) 2 s
    before the cut: the still-improving XGBoost (0.7 s) takes the trial. The search used to end."""
    import time

    from knobs.study._timing import final_refits
    from knobs.study.keys import FAMILIES
    from knobs.study.worker import claim

    config = knobs.SearchConfig(target="label", models=("auto",), strategy="random",
                                n_trials=50, cv=2, workers=1, ensemble=False)  # fmt: skip
    search = knobs.Search.create(make_table("binary", n=120), config)
    study, plan = search.study, search.plan
    families = list(plan.models)
    assert {"random_forest", "xgboost"} <= set(families)
    dist = {"model": optuna.distributions.CategoricalDistribution(families)}
    for _ in families:  # the queued defaults trials
        trial = study.ask()
        trial.suggest_categorical("model", families)
        study.tell(trial, 0.7)
    for model, seconds, value in (("random_forest", 4.6, 0.80), ("random_forest", 4.4, 0.81),
                                  ("xgboost", 0.7, 0.74), ("xgboost", 0.6, 0.79)):  # fmt: skip
        t = _trial(seconds, value, fit_s=0.2)
        t.params, t.distributions = {"model": model}, dist
        study.add_trial(t)
    FAMILIES.set(study, {"rung": 3, "alive": ["random_forest", "xgboost"],
                         "until": {"random_forest": 99, "xgboost": 2}})  # fmt: skip
    trials = study.get_trials()
    from knobs.study._families import next_family

    assert next_family(study, plan.models, plan.goal) == "random_forest"
    reserve = refit_reserve(trials, plan.folds, plan.direction, refits=final_refits(plan))
    trial, _cut = claim(study, plan, deadline=time.time() + reserve + 2.0, grid=None)
    assert trial is not None and trial.suggest_categorical("model", families) == "xgboost"


@pytest.mark.slow
def test_timeout_holds_for_the_whole_call_when_trials_take_seconds() -> None:
    budget = 25.0
    frame = make_table("binary", n=3000)
    slow = {"random_forest": (Param("n_estimators", "int", 300, 600),)}
    result = knobs.tune(
        frame, "label", models="random_forest", space=slow, timeout=budget, workers=2, cv=5,
        pruner="none",
    )  # fmt: skip
    durations = result.trials["duration_s"].dropna()
    assert durations.median() > 2.0, "the trials must take seconds for this test to mean much"
    assert result.best_score is not None and result.test_score is not None
    assert result.wall_s <= budget * 1.05, result.wall_s


def _judged_search(
    members_err_alike: bool, seconds: dict[str, float] | None = None, *, slow_loser: bool = False
):
    """A regression search with ``ensemble`` on and two finished trials of two families whose
    out-of-fold predictions are kept: equal errors (no blend can help) or independent ones
    (their average halves the error). The linear trial leads, fitting in 0.2 s a fold; the
    forest's refit (3 s a fold) is what an ensemble would wait for. ``seconds``: each family's
    trial duration (1 s by default). ``slow_loser``: the forest refits as fast as the linear
    model, and a third family's trial, far worse (no blend takes it), refits in 22 s."""
    from knobs.study._objective import VALUE
    from knobs.study.keys import OOF

    models = (
        ("linear", "random_forest", "extra_trees") if slow_loser else ("linear", "random_forest")
    )
    config = knobs.SearchConfig(target="label", models=models,
                                strategy="random", n_trials=50, cv=5, workers=1, ensemble=True)  # fmt: skip
    search = knobs.Search.create(make_table("regression", n=300), config)
    study, plan = search.study, search.plan
    y = plan.load_split("train")[1].to_numpy(dtype=float)
    rng = np.random.default_rng(0)
    noise = rng.normal(scale=2.0, size=len(y))
    dist = {"model": optuna.distributions.CategoricalDistribution(list(models))}
    plan.oof_dir().mkdir(parents=True, exist_ok=True)
    fit = {"linear": 1.0, "random_forest": 1.0 if slow_loser else 15.0, "extra_trees": 60.0}
    value = {"linear": 0.9, "random_forest": 0.8, "extra_trees": 0.1}
    for model in models:
        number = len(study.get_trials())
        err = noise if members_err_alike else rng.normal(scale=2.0, size=len(y))
        if model == "extra_trees":
            err = rng.normal(scale=40.0, size=len(y))
        np.save(plan.oof_dir() / f"trial-{number}.npy", y + err)
        t = _trial((seconds or {}).get(model, 1.0), value[model], fit_s=fit[model])
        t.params, t.distributions = {"model": model}, dist
        t.user_attrs |= OOF.attr({"file": f"trial-{number}.npy", "kind": VALUE, "shape": [len(y)]})
        study.add_trial(t)
        assert study.get_trials()[-1].number == number
    return search, study, plan


def _between_the_cuts(study, plan) -> float:
    """A deadline where a trial (1 s) can no longer end before the ensemble's cut, but can
    before the single model's."""
    import time

    from knobs.study._timing import CHOOSE_S, final_refits

    trials = study.get_trials()
    single = refit_reserve(trials, plan.folds, plan.direction, refits=final_refits(plan))
    whole = refit_reserve(trials, plan.folds, plan.direction, ensemble=True,
                          refits=final_refits(plan), budget_s=plan.config.timeout)  # fmt: skip
    assert whole > single + CHOOSE_S + 0.5, "the test needs a gap between the two cuts"
    return time.time() + single + CHOOSE_S + 1.4


@pytest.mark.parametrize(("alike", "kind"), [(True, "single"), (False, "ensemble")])
def test_the_ensemble_is_judged_early_and_if_it_loses_the_search_runs_on(alike, kind) -> None:
    """At the time kept back for a final ensemble's refits, one worker judges the ensemble on
    the trials so far: none earning its place, the search runs on to the single model's cut
    (the ensemble's share of the budget was left unused: up to a fifth of it); one earning it,
    the search stops there as before. Once a run: a second claim does not judge again."""
    from knobs.study.keys import EARLY_CHOICE
    from knobs.study.worker import claim

    search, study, plan = _judged_search(alike)
    deadline = _between_the_cuts(study, plan)
    trial, cut = claim(study, plan, deadline=deadline, grid=None, storage=search.storage, run=3)
    early = EARLY_CHOICE.get(study)
    assert early["kind"] == kind and early["run"] == 3 and early["trials"] == 2
    assert ("adds nothing" in early["why"]) == alike  # the blend is the best trial alone
    if kind == "single":
        assert trial is not None and cut > time_now() + 1.0
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    else:
        assert trial is None and cut is None
    EARLY_CHOICE.set(study, {**early, "why": "kept"})
    claim(study, plan, deadline=deadline, grid=None, storage=search.storage, run=3)
    assert EARLY_CHOICE.get(study)["why"] == "kept"


def test_the_ensemble_is_judged_when_no_family_fits_though_the_average_trial_would() -> None:
    """Houses: the average trial (2.75 s) still fitted before the ensemble's cut, so nothing was
    judged, but the queued forest's trial (5 s at its family's pace) did not: the search ended
    with 2 s of a 17.7 s budget unused. The ensemble is judged whenever no trial fits, and
    with none earning its place the forest's trial runs before the single model's cut."""
    import time

    from knobs.study._timing import final_refits
    from knobs.study.keys import EARLY_CHOICE
    from knobs.study.worker import claim

    search, study, plan = _judged_search(True, {"linear": 0.5, "random_forest": 5.0})
    opener = study.ask()  # the linear defaults trial leaves the queue: the forest's is next
    assert opener.suggest_categorical("model", ["linear", "random_forest"]) == "linear"
    study.tell(opener, state=optuna.trial.TrialState.FAIL)
    trials = study.get_trials()
    assert expected_trial_s(trials) == pytest.approx(2.75)
    whole = refit_reserve(trials, plan.folds, plan.direction, ensemble=True,
                          refits=final_refits(plan), budget_s=plan.config.timeout)  # fmt: skip
    deadline = time.time() + whole + 3.0  # 3 s to the ensemble's cut: the average trial fits
    trial, cut = claim(study, plan, deadline=deadline, grid=None, storage=search.storage, run=1)
    assert EARLY_CHOICE.get(study)["kind"] == "single"
    assert trial is not None
    assert trial.suggest_categorical("model", ["linear", "random_forest"]) == "random_forest"
    assert cut > deadline - whole + 2.0


def test_a_chosen_ensemble_says_how_long_its_members_refit_took_apart_from_the_choice() -> None:
    """The refit on every row is estimated from the members' refit alone: from the whole
    choice (judging included) a 0.4 s refit read as "about 2 s" and the diabetes ensemble went
    out fitted on 80% of the rows with 1 s left."""
    from knobs.ensembles import final_choice

    search, _study, _plan = _judged_search(False)
    choice, estimator = final_choice(search.name, storage=search.storage)
    assert choice.kind == "ensemble" and estimator is not None
    assert 0.0 < choice.refit_s < choice.seconds
    assert choice.to_dict()["refit_s"] == choice.refit_s  # stored with the choice


def test_an_early_single_verdict_is_the_final_choice_and_keeps_no_time_for_another() -> None:
    """Judged early and lost, the ensemble is not judged again at the end: the single model's
    cut keeps no time for a choice, and the search ends with the early verdict as its final
    choice (an ensemble that earned its place later could not be refitted in time anyway)."""
    from knobs.study._timing import final_refits
    from knobs.study.keys import EARLY_CHOICE, RUN
    from knobs.study.worker import claim

    search, study, plan = _judged_search(True)
    run = RUN.get(study)
    deadline = _between_the_cuts(study, plan)
    trial, cut = claim(study, plan, deadline=deadline, grid=None, storage=search.storage, run=run)
    assert EARLY_CHOICE.get(study)["kind"] == "single"
    single = refit_reserve(study.get_trials(), plan.folds, plan.direction,
                           refits=final_refits(plan))  # fmt: skip
    assert cut == pytest.approx(deadline - single, abs=0.05)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    result = knobs.Search.open(search.name, search.storage).result()
    assert result.final["kind"] == "single"
    assert result.final["why"] == EARLY_CHOICE.get(study)["why"]
    assert "when the search reached the time kept back" in result.final["why"]
    # the best single score it quotes is of the trials then, not the search's best at its end
    assert "(judged on the first " in result.final["why"]
    assert "its best trial may score higher" in result.final["why"]
    assert result.test_score is not None


def test_an_early_ensemble_verdict_keeps_back_only_its_own_members_refits() -> None:
    """Judged early and won, the ensemble's own members' refits are kept back, not those of the
    best four families' leaders: houses ended with 2.5 s of a 16.3 s budget left when its
    2-member blend refitted in 0.26 s. A slow family no blend takes no longer holds time."""
    from knobs.study._timing import CHOOSE_S, final_refits, refit_seconds
    from knobs.study.keys import EARLY_CHOICE, RUN
    from knobs.study.worker import claim

    search, study, plan = _judged_search(False, slow_loser=True)
    trials = study.get_trials()
    leaders = refit_reserve(trials, plan.folds, plan.direction, ensemble=True,
                            refits=final_refits(plan))  # fmt: skip
    single = refit_reserve(trials, plan.folds, plan.direction, refits=final_refits(plan))
    members = sum(refit_seconds(t, plan.folds) for t in trials[:2])
    kept = max(single + CHOOSE_S, MARGIN_S + END_S + CHOOSE_S + members)
    assert leaders > kept + 20.0
    deadline = time_now() + kept + 3.0  # a 1 s trial ends before the members' cut, not the leaders'
    trial, cut = claim(study, plan, deadline=deadline, grid=None, storage=search.storage,
                       run=RUN.get(study))  # fmt: skip
    early = EARLY_CHOICE.get(study)
    assert early["kind"] == "ensemble"
    assert [w > 0 for w in early["learned"]["weights"]] == [True, True, False]
    assert trial is not None and cut == pytest.approx(deadline - kept, abs=0.05)


def _no_judging(monkeypatch) -> list[int]:
    """Count the nested-CV judgements made from here on (each takes up to 1.25 s on fair)."""
    import knobs.ensembles._final as final

    calls: list[int] = []
    judge = final.nested_cv_scores

    def counted(*args, **kwargs):
        calls.append(1)
        return judge(*args, **kwargs)

    monkeypatch.setattr(final, "nested_cv_scores", counted)
    return calls


def test_an_early_ensemble_verdict_is_built_as_learned_at_the_end(monkeypatch) -> None:
    """Judged early and won, the ensemble is not judged again at the end when its candidates
    are still the best trials: fair judged it in 0.75 s at the cut and again in 0.97 s at the
    end, and an ensemble that beat the margin went back with "0 s left" for its refits. It is
    built as learned even with less than a choice's time left, when its refits fit."""
    import knobs.ensembles._final as final
    from knobs.ensembles import early_choice, final_choice
    from knobs.study._timing import CHOOSE_S

    search, _study, _plan = _judged_search(False)
    early = early_choice(search.name, storage=search.storage)
    assert early.kind == "ensemble" and early.learned is not None
    assert len(early.learned["candidates"]) == 2 and len(early.learned["folds"]) == 5
    stored = final.FinalChoice.from_dict(early.to_dict())  # as EARLY_CHOICE keeps it
    calls = _no_judging(monkeypatch)
    monkeypatch.setattr(final, "_refit_seconds", lambda pool, members: 0.05)
    choice, estimator = final_choice(
        search.name, storage=search.storage, budget_s=CHOOSE_S / 2, early=stored
    )
    assert calls == []
    assert choice.kind == "ensemble" and estimator is not None
    assert choice.cv_score == pytest.approx(early.cv_score)
    assert "learned" not in choice.to_dict()  # the final record keeps no learning
    fresh, _ = final_choice(search.name, storage=search.storage)  # judged anew: the same
    assert calls == [1] and fresh.cv_score == pytest.approx(choice.cv_score)


def test_an_early_ensemble_verdict_is_judged_again_when_a_better_trial_came_since(
    monkeypatch,
) -> None:
    """A trial that finished after the early verdict and ranks among the candidates makes the
    learning stale: the end judges again when it has the time, else keeps the single model."""
    from knobs.ensembles import early_choice, final_choice
    from knobs.study._objective import VALUE
    from knobs.study._timing import CHOOSE_S
    from knobs.study.keys import OOF

    search, study, plan = _judged_search(False)
    early = early_choice(search.name, storage=search.storage)
    assert early.kind == "ensemble"
    y = plan.load_split("train")[1].to_numpy(dtype=float)
    number = len(study.get_trials())
    np.save(
        plan.oof_dir() / f"trial-{number}.npy", y + np.random.default_rng(1).normal(size=len(y))
    )
    late = _trial(1.0, 0.95, fit_s=1.0)
    late.params = {"model": "linear"}
    late.distributions = {
        "model": optuna.distributions.CategoricalDistribution(["linear", "random_forest"])
    }
    late.user_attrs |= OOF.attr({"file": f"trial-{number}.npy", "kind": VALUE, "shape": [len(y)]})
    study.add_trial(late)
    calls = _no_judging(monkeypatch)
    short, _ = final_choice(search.name, storage=search.storage, budget_s=CHOOSE_S / 2, early=early)
    assert short.kind == "single" and "too little to choose" in short.why and calls == []
    final_choice(search.name, storage=search.storage, early=early)
    assert calls == [1]


def test_the_end_of_a_search_builds_the_ensemble_judged_early(monkeypatch) -> None:
    """``Search.result`` hands this run's early verdict to the final choice."""
    from knobs.study.keys import EARLY_CHOICE, RUN
    from knobs.study.worker import claim

    search, study, plan = _judged_search(False)
    run = RUN.get(study)
    trial, _cut = claim(study, plan, deadline=_between_the_cuts(study, plan), grid=None,
                        storage=search.storage, run=run)  # fmt: skip
    assert trial is None and EARLY_CHOICE.get(study)["kind"] == "ensemble"
    calls = _no_judging(monkeypatch)
    result = knobs.Search.open(search.name, search.storage).result()
    assert result.final["kind"] == "ensemble" and calls == []
    assert result.test_score is not None


def test_without_kept_predictions_no_time_is_kept_back_for_an_ensemble() -> None:
    """A table too large to keep out-of-fold predictions (or workers on Dask) cannot end in an
    ensemble: its search runs to the single model's cut, not the ensemble's."""
    import dataclasses

    from knobs.study._timing import CHOOSE_S, final_refits
    from knobs.study.worker import claim

    _search, study, plan = _judged_search(True)
    plan = dataclasses.replace(plan, config=dataclasses.replace(plan.config, keep_oof=False))
    trials = study.get_trials()
    single = refit_reserve(trials, plan.folds, plan.direction, refits=final_refits(plan))
    deadline = _between_the_cuts(study, plan)
    _trial_, cut = claim(study, plan, deadline=deadline, grid=None)
    assert cut == pytest.approx(deadline - single - CHOOSE_S, abs=0.01)


def time_now() -> float:
    import time

    return time.time()


def test_a_worker_stuck_in_native_code_past_the_deadline_is_ended(monkeypatch, tmp_path) -> None:
    """A 20 s search took 28.6 s: an L1 logistic regression (liblinear, C = 32) ran on 7.6 s past
    the run's deadline, because the time budget's signal lands only when a trial returns to
    Python. Whoever waits for the workers (the CLI, the API, the dashboard's finisher) now kills
    one that overstays the deadline by ``OVERDUE_S`` and fails its trial as cut by the budget."""
    import subprocess
    import sys
    import time

    import pandas as pd
    from optuna.trial import TrialState

    from knobs.study import _runner
    from knobs.study.keys import CLOCK, FAIL_REASON, INTERRUPTED, WORKER

    monkeypatch.setenv("KNOBS_HOME", str(tmp_path))
    config = knobs.SearchConfig(target="label", n_trials=None, timeout=20.0, cv=2)
    search = knobs.Search.create(pd.DataFrame(make_table("binary")), config, name="stuck")
    deaf = "import signal, time\nfor s in (signal.SIGALRM, signal.SIGTERM): signal.signal(s, signal.SIG_IGN)\ntime.sleep(60)"
    worker = subprocess.Popen([sys.executable, "-c", deaf])
    try:
        time.sleep(0.3)
        _runner._record_pids("stuck", [worker.pid])
        trial = search.study.ask()
        WORKER.set(trial, {"host": _runner.socket.gethostname(), "pid": worker.pid,
                           "start": _runner._proc_start_ticks(worker.pid)})  # fmt: skip
        now = time.time()
        CLOCK.set(search.study, {"started": now - 25.0, "deadline": now + 5.0, "spent": 0.0})
        assert _runner.end_overdue(search.study, "stuck") == 0 and worker.poll() is None
        CLOCK.set(search.study, {"started": now - 25.0, "deadline": now - 2.0, "spent": 0.0})
        assert _runner.end_overdue(search.study, "stuck") == 1
        assert worker.wait(timeout=5) == -9
        cut = search.study.get_trials(deepcopy=False)[trial.number]
        assert cut.state == TrialState.FAIL and INTERRUPTED.get(cut)
        assert "time budget" in FAIL_REASON.get(cut)
        # counted and shown as cut by time, not failed: a 1.7M-row search said "0 running, 2
        # failed" while its summary said no trial failed
        from knobs.study import cut_by_time
        from knobs.study._reader import counts

        assert cut_by_time(cut)
        got = counts(search.study.get_trials(deepcopy=False))
        assert got["FAIL"] == 0 and got["TIME_CUT"] == 1 and got["INTERRUPTED"] == 1
        assert search.status().failed == 0
    finally:
        worker.kill()
        worker.wait()


def test_a_test_score_far_below_the_cv_is_said(tmp_path) -> None:
    """A trend the random folds mix away scored CV R² 0.99 and, on later rows, -2.28, and the
    report said "Tuning helps" and nothing on the gap. A test score more than 4 fold standard
    deviations below the best CV score is said, beside the few-rows caveat's place."""
    import optuna

    from knobs.api import Search
    from knobs.config import SearchConfig
    from knobs.study import test_caveat
    from knobs.study.keys import CV
    from tests.conftest import make_table

    search = Search.create(make_table("regression", n=400),
                           SearchConfig(target="label", models=("linear",), n_trials=1))  # fmt: skip
    trial = optuna.trial.create_trial(
        value=0.98, params={}, distributions={},
        user_attrs=CV.attr({"fold_scores": [0.97, 0.98, 0.99]}),
    )  # fmt: skip
    far = test_caveat(search.plan, [trial], -2.4)
    assert far is not None and far.startswith(
        "The test score (-2.4000) is far below the cross-validated 0.9800, more than 4 times "
        "the folds' spread"
    )
    assert test_caveat(search.plan, [trial], 0.96) is None
    assert test_caveat(search.plan, [trial], None) is None


def test_a_trial_the_time_signal_stops_mid_fold_counts_as_cut_by_time(monkeypatch) -> None:
    """A 300-column table's 25 s search said "0 running, 1 failed" and "2 trials stopped by the
    time budget … not counted as failures": the trial the time signal stopped mid-fold was
    stored failed, without the time-cut record the others had. It is cut by time everywhere,
    still retried on resume; a search whose every trial the time cut reads "finished"."""
    import time

    from knobs.api import Search
    from knobs.config import SearchConfig
    from knobs.study import cut_by_time, worker
    from knobs.study._reader import counts
    from knobs.study.keys import CLOCK, INTERRUPTED
    from tests.conftest import make_table

    search = Search.create(make_table("binary"),
                           SearchConfig(target="label", models=("logistic",), n_trials=None,
                                        timeout=30))  # fmt: skip
    study = search.study

    def stopped_mid_fold(trial, problem, **_):  # noqa: ANN001, ANN202
        trial.report(0.7, 0)
        raise worker.OutOfTime()

    monkeypatch.setattr(worker, "evaluate", stopped_mid_fold)
    trial = study.ask()
    worker.run_trial(study, trial, search.plan.problem(), worker._Signals(), seed=0, n_jobs=1)
    stored = study.get_trials(deepcopy=False)[trial.number]
    assert stored.state == optuna.trial.TrialState.FAIL and INTERRUPTED.get(stored)
    assert cut_by_time(stored)
    got = counts(study.get_trials(deepcopy=False))
    assert got["FAIL"] == 0 and got["TIME_CUT"] == 1
    now = time.time()
    CLOCK.set(study, {"started": now - 40.0, "deadline": now - 10.0, "spent": 30.0})
    assert search.status().state == "finished" and search.status().failed == 0


def test_random_split_noise_is_not_called_a_far_below_test_score() -> None:
    """AUC 0.802 on 240 random test rows against a CV of 0.849 was said to come from rows that
    differ: a few hundredths is sampling noise. Only a gap of a tenth of the score is said."""
    import optuna

    from knobs.api import Search
    from knobs.config import SearchConfig
    from knobs.study import test_caveat
    from knobs.study.keys import CV
    from tests.conftest import make_table

    search = Search.create(make_table("binary", n=400),
                           SearchConfig(target="label", models=("logistic",), n_trials=1))  # fmt: skip
    trial = optuna.trial.create_trial(
        value=0.849, params={}, distributions={},
        user_attrs=CV.attr({"fold_scores": [0.840, 0.845, 0.850, 0.852, 0.858]}),
    )  # fmt: skip
    assert test_caveat(search.plan, [trial], 0.8018) is None
    assert test_caveat(search.plan, [trial], 0.70) is not None


def test_a_regression_worse_than_the_mean_is_said() -> None:
    """A target with a few values 1,000 times its median: best CV R² -1.64, test -5.07, and the
    report said only "Tuning is within the noise"; the fold spread hid the gap."""
    import optuna

    from knobs.api import Search
    from knobs.config import SearchConfig
    from knobs.study import test_caveat
    from knobs.study.keys import CV
    from tests.conftest import make_table

    search = Search.create(make_table("regression", n=400),
                           SearchConfig(target="label", models=("linear",), n_trials=1))  # fmt: skip
    folds = [-0.1, 0.05, -7.8, 0.02, -0.4]
    trial = optuna.trial.create_trial(
        value=float(np.mean(folds)), params={}, distributions={},
        user_attrs=CV.attr({"fold_scores": folds}),
    )  # fmt: skip
    said = test_caveat(search.plan, [trial], -5.07)
    assert said is not None and "Every model scored below 0 R² in cross-validation" in said
    assert "`--metric mae`" in said
    fine = optuna.trial.create_trial(value=0.4, params={}, distributions={},
                                     user_attrs=CV.attr({"fold_scores": [0.4] * 5}))  # fmt: skip
    assert test_caveat(search.plan, [fine], 0.41) is None


def _stopped_before_its_first_fold(model: str) -> optuna.trial.FrozenTrial:
    """A trial the time budget stopped before its first fold, as the objective records it."""
    from knobs.study._budget import BY_TIME
    from knobs.study.keys import PRUNED

    return optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED,
        params={"model": model},
        distributions={"model": optuna.distributions.CategoricalDistribution([model])},
        user_attrs=PRUNED.attr({"after_fold": 0, "folds": 5, "fit_s": 0.0, "saved_s": 0.0,
                                "fold_scores": [], "reason": BY_TIME}),
    )  # fmt: skip


def test_trials_stopped_before_their_first_fold_take_no_place_in_the_trial_budget() -> None:
    """A 50-trial search with an 18 s limit (the Search page's defaults) read "Finished: 50 of
    50 trials done" at 14 s: 20 of its trials were random forests sampled too big for the time
    left, each stopped before its first fold in 0.02 s, and each took a place in the budget.
    They ran nothing: they take none, and a trial cut mid-fold or pruned still does."""
    from knobs.study._budget import counts_toward_budget, finished, spent
    from knobs.study.keys import PRUNED

    never = _stopped_before_its_first_fold("random_forest")
    pruned = optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED, params={}, distributions={},
        user_attrs=PRUNED.attr({"after_fold": 1, "fold_scores": [0.7], "reason": "pruner"}),
    )  # fmt: skip
    cut_after_a_fold = optuna.trial.create_trial(
        state=optuna.trial.TrialState.PRUNED, params={}, distributions={},
        user_attrs=PRUNED.attr({"after_fold": 2, "fold_scores": [0.7, 0.7],
                                "reason": "time budget"}),
    )  # fmt: skip
    assert not counts_toward_budget(never)
    assert counts_toward_budget(pruned) and counts_toward_budget(cut_after_a_fold)
    assert spent([never, pruned, cut_after_a_fold]) == 2
    assert finished([never, pruned, cut_after_a_fold]) == 2
    # the report's counts add up to the trial count: "13 trials" sat beside 9 complete + 6 cut
    from knobs.study import counts

    c = counts([never, pruned, cut_after_a_fold])
    assert (c["COMPLETE"], c["PRUNED"], c["FAIL"], c["TIME_CUT"], c["NOT_COUNTED"]) == (0, 1, 0, 2, 1)
    assert c["COMPLETE"] + c["PRUNED"] + c["FAIL"] + c["TIME_CUT"] - c["NOT_COUNTED"] == 2


def test_a_family_whose_samples_keep_missing_the_cut_is_not_asked_for_again_this_run() -> None:
    """The claim judges a family by its pace and the objective a trial by its sampled size:
    near the cut the sampler was asked for one too-big forest after another. After
    ``TOO_BIG_STOPS`` of them in a run the family no longer fits; another family's, or an
    earlier run's, stops do not count."""
    from knobs.study.worker import TOO_BIG_STOPS, _too_big_now

    start = dt.datetime.now()
    since = start.timestamp() - 1.0
    forests = [_stopped_before_its_first_fold("random_forest")
               for _ in range(TOO_BIG_STOPS)]  # fmt: skip
    for t in forests:
        t.datetime_start = start
    assert _too_big_now(forests, "random_forest", since)
    assert _too_big_now(forests, None, since)
    assert not _too_big_now(forests[:-1], "random_forest", since)
    assert not _too_big_now(forests, "xgboost", since)
    assert not _too_big_now(forests, "random_forest", start.timestamp() + 1.0)  # a later run


def test_a_best_roc_auc_near_chance_is_said() -> None:
    """A table whose label hung on a time of day, read as 1,079 categories, delivered a model
    at CV ROC AUC 0.4850 and test 0.5031 with no word beyond "within the noise". A best CV AUC
    at or below ``CHANCE_AUC`` is now said, with where to look; a real model's is not."""
    from knobs.api import Search
    from knobs.config import SearchConfig
    from knobs.study import test_caveat
    from knobs.study._reader import CHANCE_AUC
    from knobs.study.keys import CV

    search = Search.create(make_table("binary", n=400),
                           SearchConfig(target="label", models=("logistic",), n_trials=1))  # fmt: skip
    assert search.plan.metric == "roc_auc"

    def best(value: float) -> optuna.trial.FrozenTrial:
        return optuna.trial.create_trial(
            value=value, params={}, distributions={},
            user_attrs=CV.attr({"fold_scores": [value - 0.01, value, value + 0.01]}),
        )  # fmt: skip

    said = test_caveat(search.plan, [best(0.485)], 0.5031)
    assert said is not None and "no better than chance" in said and "0.4850" in said
    little = test_caveat(search.plan, [best(0.53)], 0.52)
    assert little is not None and "ranks the rows little better than chance" in little
    assert test_caveat(search.plan, [best(CHANCE_AUC + 0.1)], CHANCE_AUC + 0.1) is None


def test_a_best_model_no_better_than_a_constant_is_said() -> None:
    """Ranked by MAE on a target with a few huge values, a search delivered a model at MAE 347
    where predicting the median scores 177, and nothing said so. The plan now keeps the
    constant's cross-validated score on the study's own folds, and the caveat compares."""
    from knobs.api import Search
    from knobs.config import SearchConfig
    from knobs.metrics import constant_cv
    from knobs.study import test_caveat
    from knobs.study._plan import read_plan
    from knobs.study.keys import CV

    table = make_table("regression", n=300)
    table.loc[:5, "label"] = -1e5
    search = Search.create(table, SearchConfig(target="label", models=("ridge",), n_trials=1,
                                               metric="mae"))  # fmt: skip
    plan = search.plan
    X, y = plan.load_split("train")
    assert plan.constant == constant_cv(plan.metric_obj(), y.to_numpy(), plan.study_folds(X, y))
    assert read_plan(search.study).constant == plan.constant  # stored with the study

    def best(value: float) -> optuna.trial.FrozenTrial:
        return optuna.trial.create_trial(
            value=value, params={}, distributions={},
            user_attrs=CV.attr({"fold_scores": [value - 1, value, value + 1]}),
        )  # fmt: skip

    said = test_caveat(plan, [best(plan.constant * 1.5)], plan.constant * 1.5)
    assert said is not None and "no better than predicting the training rows' median" in said
    assert "MAE (" in said and "lower is better" not in said
    assert test_caveat(plan, [best(plan.constant * 0.5)], plan.constant * 0.5) is None


def test_a_commands_start_is_read_to_the_hundredth_not_the_whole_second() -> None:
    """The budget's clock started at the boot time `/proc/stat` cuts to whole seconds plus the
    process's start ticks: up to a second before the real start (1.2 s on this machine's boot),
    so every time budget lost that much. Read from the uptime, the start falls between the
    interpreter's launch and its first line."""
    import subprocess
    import sys
    import time

    code = ("import time; t0 = time.time()\n"
            "from knobs.study._runner import process_started_at\n"
            "print(t0, process_started_at())")  # fmt: skip
    for _ in range(3):
        launched = time.time()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60, check=True).stdout.split()  # fmt: skip
        first_line, start = float(out[0]), float(out[1])
        assert launched - 0.05 <= start <= first_line + 0.02, (launched, start, first_line)
