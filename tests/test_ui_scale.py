"""Charts of big studies: thinned points, bounded importance, shared caches, the paged table.

Trials are built by hand the way Knobs stores them (``model`` and ``<model>.<param>``
parameters, defaults trials flagged with ``BASELINE``), so every answer is known; the page tests
use a study written by ``bench/ui_scale.py``'s builder (a real ``Search.create`` plan plus
synthetic trials), which is what the benchmark measures.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import FrozenTrial, TrialState
from streamlit.testing.v1 import AppTest

from components import charts, state
from knobs import visualization as V
from knobs.errors import ConfigError
from knobs.study.keys import BASELINE

ROOT = Path(__file__).resolve().parents[1]
T0 = dt.datetime(2026, 1, 1, 12, 0, 0)
DISTS = {
    "model": CategoricalDistribution(["logistic"]),
    "logistic.C": FloatDistribution(1e-3, 1e3, log=True),
    "logistic.l1_ratio": FloatDistribution(0.0, 1.0),
}


def _trial(number: int, value: float | None, *, state: TrialState = TrialState.COMPLETE,
           baseline: bool = False, c: float = 1.0, l1: float = 0.5) -> FrozenTrial:  # fmt: skip
    params = {"model": "logistic"} if baseline else {"model": "logistic", "logistic.C": c,
                                                     "logistic.l1_ratio": l1}  # fmt: skip
    t = optuna.trial.create_trial(
        params=params,
        distributions={k: DISTS[k] for k in params},
        value=value if state == TrialState.COMPLETE else None,
        state=state,
        user_attrs=BASELINE.attr(True) if baseline else {},
    )
    t.number = number
    t.datetime_start = T0 + dt.timedelta(seconds=number)
    t.datetime_complete = t.datetime_start + dt.timedelta(seconds=1)
    return t


def _study(n: int, seed: int = 0) -> list[FrozenTrial]:
    """``n`` trials: a defaults trial, then noisy scores that improve now and then, some failed."""
    rng = random.Random(seed)
    out = [_trial(0, 0.70, baseline=True)]
    for i in range(1, n):
        c, l1 = 10 ** rng.uniform(-3, 3), rng.random()
        if rng.random() < 0.05:
            out.append(_trial(i, None, state=TrialState.FAIL, c=c, l1=l1))
        else:
            value = 0.6 + 0.1 * l1 + 0.02 * rng.random() + i * 1e-5
            out.append(_trial(i, value, c=c, l1=l1))
    return out


def _best_line(trials: list[FrozenTrial], direction: str) -> list[tuple[int, float]]:
    """The best-so-far step corners of ``trials``: what the history chart draws as its line."""
    h = V.history(trials, direction)
    return list(V.thin_history(h, cap=10**9).best_by_number)


# --- thinning ------------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_thin_keeps_the_best_so_far_steps_and_the_best_trials_exactly(direction: str) -> None:
    trials = _study(5_000)
    drawn = V.thin(trials, direction, cap=400, top=20)
    numbers = [t.number for t in drawn.trials]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert _best_line(drawn.trials, direction) == _best_line(trials, direction)
    scored = sorted((t for t in trials if t.value is not None), key=lambda t: t.value,
                    reverse=direction == "maximize")  # fmt: skip
    assert {t.number for t in scored[:20]} <= set(numbers)
    assert 0 in numbers  # the defaults trial
    improving = len(_best_line(trials, direction))
    assert 400 - 5 <= len(drawn.trials) <= 400 + improving
    assert drawn.thinned and drawn.total == 5_000
    assert drawn.note.startswith(f"Drawn from {len(drawn.trials):,} of 5,000 trials")
    assert [t.number for t in V.thin(trials, direction, cap=400, top=20).trials] == numbers


def test_thin_leaves_small_studies_alone() -> None:
    trials = _study(50)
    drawn = V.thin(list(reversed(trials)), "maximize", cap=50)
    assert [t.number for t in drawn.trials] == list(range(50))
    assert not drawn.thinned and drawn.note == ""
    with pytest.raises(ConfigError, match="cap=0"):
        V.thin(trials, "maximize", cap=0)


def test_thin_history_caps_points_and_keeps_the_lines() -> None:
    full = V.history(_study(6_000), "maximize")
    h = V.thin_history(full, cap=1_000)
    assert len(h.points) <= 1_000 + len(h.best_by_number)
    assert (h.n_failed, h.baseline, h.best) == (full.n_failed, full.baseline, full.best)

    def step(steps, x):  # noqa: ANN001, ANN202 - the "hv" line's value at x
        return [v for sx, v in steps if sx <= x][-1]

    for x in range(0, 6_000, 37):
        if x >= full.best_by_number[0][0]:
            assert step(h.best_by_number, x) == step(full.best_by_number, x)
    assert h.best_by_number[-1] == full.best_by_number[-1]
    assert h.best_by_time[-1] == full.best_by_time[-1]
    assert len(h.best_by_number) < 100  # corners only, not one point per trial
    assert (
        "of 6,000 finished trials" in V.history_note(full, h) and V.history_note(full, full) == ""
    )


def test_figures_from_thinned_data_stay_under_the_point_cap() -> None:
    full = V.history(_study(8_000), "maximize")
    h = V.thin_history(full)
    fig = V.scores_figure(h, "AUC")
    assert sum(len(trace.x) for trace in fig.data) <= V.MAX_POINTS + len(h.best_by_number)
    assert len(V.best_so_far_figure(h, "AUC").data[0].x) == len(h.best_by_number)


def test_thinned_optuna_plots_keep_the_studys_trial_numbers() -> None:
    trials = _study(3_000)
    drawn = V.thin(trials, "maximize", cap=200)
    numbers = {t.number for t in drawn.trials}
    history = V.optimization_history_figure(drawn.trials, "maximize")
    assert set(history.data[0].x) <= numbers and max(history.data[1].x) == 2_999
    timeline = V.timeline_figure(drawn.trials, "maximize")
    assert {y for trace in timeline.data for y in (trace.y or ())} == numbers


def test_coarse_count() -> None:
    got = [V.coarse_count(n) for n in (0, 7, 100, 101, 457, 999, 4_575, 10_000, 12_345)]
    assert got == [0, 7, 100, 100, 450, 990, 4_500, 10_000, 12_000]


# --- importance ----------------------------------------------------------------------------------


def test_importance_switches_to_ped_anova_above_the_fanova_cap() -> None:
    at, above = V.FANOVA_MAX_TRIALS, V.FANOVA_MAX_TRIALS + 1
    assert V.importance_method("auto", at) == "fanova"
    assert V.importance_method("auto", above) == "ped_anova"
    assert V.importance_method("fanova", 10**6) == "fanova"  # the user's choice stands
    with pytest.raises(ConfigError, match="must be one of"):
        V.importance_method("shap", 10)


def test_importance_runs_on_a_seeded_sample_of_complete_trials() -> None:
    trials = _study(3_000)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    method, used = V.importance_sample(trials, "auto")
    assert method == "ped_anova" and len(used.trials) == V.PED_ANOVA_MAX_TRIALS
    assert used.total == len(complete) and used.thinned
    assert {t.state for t in used.trials} == {TrialState.COMPLETE}
    again = V.importance_sample(trials, "auto")[1]
    assert [t.number for t in again.trials] == [t.number for t in used.trials]
    method, used = V.importance_sample(trials, "fanova")
    assert method == "fanova" and len(used.trials) == V.FANOVA_MAX_TRIALS
    small = V.importance_sample(trials[:100], "fanova")[1]
    assert not small.thinned and small.total == len([t for t in trials[:100] if t.value])


def test_importance_title_says_which_method_and_how_many_trials() -> None:
    tuned = V.tuned_trials(_study(400), "logistic")
    fig = V.importance_figure(tuned, "maximize", method="fanova", cap=60, model="logistic")
    assert fig.layout.title.text == "Parameter importance · logistic"
    assert fig.layout.title.subtitle.text == (
        f"fANOVA on 60 of {len(tuned):,} trials (a seeded sample)"
    )
    bars = dict(zip(fig.data[0].y, fig.data[0].x, strict=True))
    assert bars["l1_ratio"] > bars["C"]  # l1_ratio drives the synthetic score
    fig = V.importance_figure(tuned, "maximize", method="auto")
    n = len(tuned)
    assert fig.layout.title.subtitle.text == f"PED-ANOVA on {n:,} trials"  # < 1,000: all


# --- the shared cache ----------------------------------------------------------------------------


def test_a_new_finished_trial_changes_the_cache_key_and_nothing_else_does() -> None:
    trials = _study(30)
    key = charts.study_key("s", "/x/knobs.journal", trials)
    assert key == charts.study_key("s", "/x/knobs.journal", list(trials))
    running = _trial(30, None, state=TrialState.RUNNING)
    with_running = charts.study_key("s", "/x/knobs.journal", [*trials, running])
    assert with_running != key
    done = _trial(30, 0.9)
    assert charts.study_key("s", "/x/knobs.journal", [*trials, done]) not in (key, with_running)
    assert charts.study_key("t", "/x/knobs.journal", trials) != key


def test_shared_results_are_computed_once_per_key() -> None:
    calls: list[int] = []

    def make() -> int:
        calls.append(1)
        return len(calls)

    trials = _study(20)
    key = charts.study_key("cache-test", "/tmp/a", trials)
    assert charts.shared("count", key, make) == (1, None)
    assert charts.shared("count", key, make) == (1, None)  # another session, same key
    newer = charts.study_key("cache-test", "/tmp/a", [*trials, _trial(20, 0.9)])
    assert charts.shared("count", newer, make) == (2, None)
    assert len(calls) == 2

    def broken() -> int:
        calls.append(1)
        raise ConfigError("Parameter `gamma` did not vary.")

    assert charts.shared("broken", key, broken) == (None, "Parameter `gamma` did not vary.")
    assert charts.shared("broken", key, broken)[1] == "Parameter `gamma` did not vary."
    assert len(calls) == 3  # the failure is kept too


# --- the paged trials table ----------------------------------------------------------------------


def test_trials_page_builds_one_page_in_the_chosen_order() -> None:
    trials = _study(1_234)
    page = V.trials_page(trials, page=3, size=500)
    assert (page.page, page.pages, page.first, page.last, page.total) == (3, 3, 1_001, 1_234, 1_234)
    assert list(page.frame.trial) == list(range(1_000, 1_234))
    newest = V.trials_page(trials, size=100, order="newest")
    assert list(newest.frame.trial)[:3] == [1_233, 1_232, 1_231] and len(newest.frame) == 100
    best = V.trials_page(trials, size=50, order="best", direction="maximize").frame
    assert best.score.is_monotonic_decreasing and best.score.iloc[0] == max(
        t.value for t in trials if t.value is not None
    )
    worst_first = V.trials_page(trials, size=50, order="best", direction="minimize").frame
    assert worst_first.score.is_monotonic_increasing
    assert V.trials_page(trials, page=99, size=500).page == 3  # clamped
    assert V.trials_page([], size=10).first == 0
    with pytest.raises(ConfigError, match="must be one of"):
        V.trials_page(trials, order="random")


# --- pages ---------------------------------------------------------------------------------------


def _bench_study(name: str, n: int) -> None:
    from bench.ui_scale import build_study

    build_study(name, n)


def test_live_view_of_a_big_study_pages_the_table_and_thins_the_scores() -> None:
    _bench_study("big-live", 2_300)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["study"] = "big-live"
    at.run()
    at.switch_page("app_pages/live.py").run()
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    assert len(table) == V.TRIALS_PAGE_ROWS
    assert table.score.is_monotonic_decreasing  # best first by default
    assert at.number_input(key=state.W_TRIALS_PAGE).value == 1
    assert any("Drawn from 2,000 of" in str(c.value) for c in at.caption)
    at.selectbox(key=state.W_TRIALS_ORDER).set_value("number").run()
    at.number_input(key=state.W_TRIALS_PAGE).set_value(5).run()
    assert not at.exception
    assert list(at.dataframe[-1].value.trial) == list(range(2_000, 2_300))
    assert any("Rows 2,001–2,300 of 2,300" in str(c.value) for c in at.caption)
