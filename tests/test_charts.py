"""``knobs.visualization``: the data behind the live view's charts, checked on real studies.

Two small studies are run once per module with real worker processes under a temporary
``KNOBS_HOME``: one that completes normally, and one whose space is impossible for the
model (a class weight scikit-learn rejects), so its tuned trials fail for a real reason.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

import knobs
from knobs import study as results
from knobs import visualization as V
from knobs.formatting import fmt_duration
from knobs.models import Param
from knobs.strategies import STRATEGIES
from knobs.study.keys import BASELINE, FAIL_REASON, INTERRUPTED
from knobs.visualization._style import rgba, strategy_colour, strategy_short


def _table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], n),
        }
    )
    frame["label"] = np.where(frame.x1 + rng.normal(scale=0.8, size=n) > 0, "yes", "no")
    return frame


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("knobs_home")
        mp.setenv("KNOBS_HOME", str(path))
        yield str(path)


@pytest.fixture(scope="module")
def finished(home: str) -> knobs.Search:
    config = knobs.SearchConfig(
        target="label", models=("logistic",), strategy="random", n_trials=9, cv=3, workers=1,
        pruner="none",  # every trial scored: the counts below are exact
    )  # fmt: skip
    search = knobs.Search.create(_table(160), config, source="toy.csv")
    search.start()
    search.wait(poll_s=0.2)
    return search


@pytest.fixture(scope="module")
def failing(home: str) -> knobs.Search:
    impossible = (Param("class_weight", "categorical", choices=("bogus",)),)
    config = knobs.SearchConfig(
        target="label", models=("logistic",), strategy="random", n_trials=5, cv=2, workers=1,
        space={"logistic": impossible},
    )  # fmt: skip
    search = knobs.Search.create(_table(60), config, source="tiny.csv")
    search.start()
    search.wait(poll_s=0.2)
    return search


def test_history_follows_the_study(finished: knobs.Search) -> None:
    trials = finished.trials()
    h = V.history(trials, "maximize")
    assert len(h.points) == len([t for t in trials if t.state.is_finished()]) == 9
    assert [p.number for p in h.points] == sorted(p.number for p in h.points)
    assert h.best == pytest.approx(results.best_trial(trials, "maximize").value)
    assert h.baseline == pytest.approx(results.baseline_trial(trials, "maximize").value)
    best = [b for _, b in h.best_by_number]
    assert best == sorted(best), "best so far never gets worse"
    times = [x for x, _ in h.best_by_time]
    assert times == sorted(times) and times[0] >= 0
    assert h.best_by_time[-1][1] == pytest.approx(h.best)
    assert h.n_failed == h.n_pruned == 0
    assert sum(p.baseline for p in h.points) == 1


def test_failed_trials_are_kept_with_their_reason(failing: knobs.Search) -> None:
    h = V.history(failing.trials(), "maximize")
    assert h.n_failed == 4 and len(h.scored) == 1  # only the defaults trial could score
    assert all(p.value is None and "class_weight" in (p.reason or "") for p in h.unscored)
    fig = V.scores_figure(h, "ROC AUC")
    grey = next(tr for tr in fig.data if tr.name.startswith("failed"))
    assert grey.name == "failed (4)"
    assert len(set(grey.y)) == 1 and grey.y[0] < min(p.value for p in h.scored)


def test_tuned_trials_drop_defaults_and_prefixes(finished: knobs.Search) -> None:
    tuned = V.tuned_trials(finished.trials(), "logistic")
    assert len(tuned) == 8
    assert all(set(t.params) == {"C", "class_weight"} for t in tuned)
    assert all(set(t.distributions) == {"C", "class_weight"} for t in tuned)
    assert V.tuned_trials(finished.trials(), "xgboost") == []


def test_analysis_needs_enough_trials(finished: knobs.Search, failing: knobs.Search) -> None:
    ready = V.MIN_TRIALS_FOR_ANALYSIS
    assert V.tuned_counts(finished.trials(), minimum=ready) == {"logistic": 8}
    assert V.tuned_counts(failing.trials()) == {}  # its tuned trials all failed
    few = finished.trials()[:ready]  # defaults + 4 tuned
    assert V.tuned_counts(few, minimum=ready) == {}
    assert V.tuned_counts(few) == {"logistic": 4}


def test_live_analysis_figures_name_the_model(finished: knobs.Search) -> None:
    tuned = V.tuned_trials(finished.trials(), "logistic")
    assert "C" in V.params_varied_in_complete(tuned)
    importance = V.importance_figure(tuned, "maximize", model="logistic")
    parallel = V.parallel_figure(tuned, "maximize", "ROC AUC", model="logistic")
    assert importance.data and importance.layout.title.text.endswith("· logistic")
    assert parallel.data and parallel.layout.title.text == "Parameters of each trial · logistic"
    assert list(parallel.layout.xaxis.ticktext) == ["ROC AUC", "C", "class_weight"]


def test_parallel_coordinates_merge_the_trials_lines_into_colour_bands() -> None:
    """Optuna draws one trace per trial (480 traces took 3.6 s to draw in Chromium); the figure
    keeps every trial's line and hover text in a few traces of nearly one colour each."""
    import optuna
    from optuna.distributions import FloatDistribution

    from knobs.visualization._parallel import merged_lines

    rng = np.random.default_rng(0)
    trials = [
        optuna.trial.create_trial(
            params={"a": float(a), "b": float(b)},
            distributions={"a": FloatDistribution(0, 1), "b": FloatDistribution(0, 1)},
            value=float(a + b),
        )
        for a, b in rng.random((300, 2))
    ]
    study = optuna.create_study(direction="maximize")
    study.add_trials(trials)
    raw = optuna.visualization.plot_parallel_coordinate(study)
    merged = merged_lines(raw)
    lines = [t for t in merged.data if t.mode == "lines"]
    assert len(raw.data) == 301 and len(lines) < 60
    assert sum(y is not None for t in lines for y in t.y) == 300 * 3  # 3 axes: score, a, b
    hover = {tuple(c) for t in lines for c in t.customdata if c[0] is not None}
    assert hover == {tuple(c) for t in raw.data if t.mode == "lines" for c in t.customdata}
    assert len(merged.data) - len(lines) == 1  # the colour bar stays
    assert merged.layout.xaxis.ticktext == raw.layout.xaxis.ticktext


def test_best_so_far_figure_draws_the_baseline_and_the_cv_noise(finished: knobs.Search) -> None:
    """Is tuning worth it, on the live charts (issue 14, 2.2): a band of the best score's CV
    noise around it, beside the defaults line."""
    from knobs.metrics import fold_noise
    from knobs.study import best_trial
    from knobs.study.keys import CV

    trials = finished.trials()
    h = V.history(trials, "maximize")
    best = best_trial(trials, "maximize")
    assert h.noise == pytest.approx(fold_noise(CV.get(best)["fold_scores"])) and h.noise > 0
    for x in ("number", "elapsed"):
        fig = V.best_so_far_figure(h, "ROC AUC", x=x)
        band, line = fig.layout.shapes
        assert (band.y0, band.y1) == (pytest.approx(h.best - h.noise), pytest.approx(h.best + h.noise))
        assert line.y0 == pytest.approx(h.baseline)
        assert any("best score's fold noise ±" in a.text for a in fig.layout.annotations)
        assert list(fig.data[0].y) == [
            b for _, b in (h.best_by_number if x == "number" else h.best_by_time)
        ]


def test_trials_table(finished: knobs.Search, failing: knobs.Search) -> None:
    table = V.trials_table(finished.trials())
    assert list(table.columns) == [
        "trial", "state", "score", "model", "parameters", "duration_s", "defaults", "note",
    ]  # fmt: skip
    assert len(table) == 9 and table["score"].dtype == "float64"
    assert table.loc[table.defaults, "parameters"].tolist() == ["(library defaults)"]
    assert table["parameters"].str.contains("C=").sum() == 8
    notes = V.trials_table(failing.trials())["note"]
    assert notes.str.contains("class_weight").sum() == 4


def _trial(number: int, value: float | None, state: TrialState = TrialState.COMPLETE, *,
           start_s: float = 0.0, end_s: float = 1.0,
           attrs: dict | None = None) -> optuna.trial.FrozenTrial:  # fmt: skip
    origin = dt.datetime(2026, 1, 1)
    trial = optuna.trial.create_trial(
        params={"model": "linear", "linear.alpha": 0.1 * (number + 1)},
        distributions={
            "model": optuna.distributions.CategoricalDistribution(["linear"]),
            "linear.alpha": FloatDistribution(1e-3, 10.0, log=True),
        },
        value=value,
        state=state,
        user_attrs=attrs,
    )
    trial.number = number
    trial.datetime_start = origin + dt.timedelta(seconds=start_s)
    trial.datetime_complete = origin + dt.timedelta(seconds=end_s)
    return trial


def test_minimize_best_goes_down_and_time_order_differs_from_number_order() -> None:
    trials = [
        _trial(0, 5.0, start_s=0, end_s=9),  # slow first trial finishes last
        _trial(1, 3.0, start_s=0, end_s=2),
        _trial(2, None, TrialState.FAIL, start_s=2, end_s=3),
        _trial(3, 4.0, start_s=3, end_s=5),
        _trial(4, -math.inf, start_s=5, end_s=6),  # a non-finite score counts as a failure
    ]
    h = V.history(trials, "minimize")
    assert h.best_by_number == ((0, 5.0), (1, 3.0), (3, 3.0))
    assert h.best_by_time == ((2.0, 3.0), (5.0, 3.0), (9.0, 3.0))
    assert h.n_failed == 2 and h.baseline is None
    assert {p.number for p in h.unscored} == {2, 4}


def test_interrupted_trials_are_told_apart_from_failures() -> None:
    trials = [
        _trial(0, 0.7, attrs=BASELINE.attr(True)),
        _trial(1, None, TrialState.FAIL, attrs=FAIL_REASON.attr("ValueError: boom")),
        _trial(2, None, TrialState.FAIL, attrs=INTERRUPTED.attr(True)),
        _trial(3, None, TrialState.PRUNED),
    ]
    h = V.history(trials, "maximize")
    assert (h.n_failed, h.n_pruned, h.n_interrupted) == (1, 1, 1)
    assert h.baseline == 0.7
    assert [p.reason for p in h.unscored][0] == "ValueError: boom"
    fig = V.scores_figure(h, "accuracy")
    assert fig.data[-1].name == "failed (1), pruned (1), interrupted (1)"
    assert fig.layout.annotations[0].text == "defaults 0.7000"  # knobs.formatting.fmt_score
    states = V.trials_table(trials)["state"].tolist()
    assert states == ["complete", "fail", "interrupted", "pruned"]


def test_running_trials_are_not_drawn() -> None:
    running = _trial(0, None, TrialState.RUNNING)
    running.datetime_complete = None
    h = V.history([running], "maximize")
    assert h.points == () and h.best is None
    assert V.scores_figure(h, "r2").data == ()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "--:--"), (math.inf, "--:--"), (0, "00:00"), (59.6, "01:00"), (125, "02:05"),
     (3725, "1:02:05")],
)  # fmt: skip
def test_fmt_duration(seconds: float | None, text: str) -> None:
    """How the live view's elapsed and ETA read (the function lives in ``knobs.formatting``)."""
    assert fmt_duration(seconds) == text


# --- one style for every chart ---------------------------------------------------------------


def test_race_colours_and_labels_come_from_the_strategy_registry() -> None:
    for name, row in STRATEGIES.items():
        assert strategy_colour(name) == row.colour and strategy_short(name) == row.short
    assert strategy_short("annealing") == "annealing"  # an unknown name reads as itself
    assert rgba("#3366cc", 0.15) == "rgba(51,102,204,0.15)"


# --- the ensemble page's comparison ----------------------------------------------------------


def _ensemble_report(best_is_member: bool) -> dict:
    best = {"study": "s", "trial": 3 if best_is_member else 9, "model": "xgb"}
    return {
        "kind": "greedy", "cv_score": 0.9, "test_score": 0.88, "best_single_cv_score": 0.85,
        "best_single_test_score": 0.86, "best_single": best,
        "members": [
            {"study": "s", "trial": 3, "model": "xgb", "weight": 0.6, "cv_score": 0.85},
            {"study": "s", "trial": 7, "model": "knn", "weight": 0.4, "cv_score": 0.8},
        ],
    }  # fmt: skip


def test_comparison_puts_the_ensemble_beside_the_best_single() -> None:
    data = V.ensemble_comparison_data(_ensemble_report(best_is_member=True))
    assert data["role"].tolist() == ["best single", "member", "ensemble"]
    assert data.loc[0, "test"] == 0.86 and np.isnan(data.loc[1, "test"])
    assert data.loc[2, "cv"] == 0.9
    fig = V.ensemble_comparison_figure(data, "ROC AUC")
    assert [t.name for t in fig.data] == ["CV", "test"]
    assert list(fig.data[0].text) == ["0.8500", "0.8000", "0.9000"]
    assert list(fig.data[1].x) == ["xgb #3", "greedy ensemble"]  # members have no test score


def test_comparison_adds_a_best_single_that_is_not_a_member() -> None:
    data = V.ensemble_comparison_data(_ensemble_report(best_is_member=False))
    assert data["role"].tolist() == ["member", "member", "best single", "ensemble"]
    assert data.loc[2, ["name", "cv", "test"]].tolist() == ["xgb #9", 0.85, 0.86]


def test_correlation_heatmap_keeps_the_matrix() -> None:
    corr = pd.DataFrame([[1.0, 0.3], [0.3, 1.0]], index=["a", "b"], columns=["a", "b"])
    fig = V.correlation_figure(corr)
    assert fig.data[0].z.tolist() == corr.to_numpy().tolist()
    assert fig.layout.height == 200


def _header(state: str, done: int, interrupted: int, verdict: dict | None = None) -> None:
    from types import SimpleNamespace

    from components.charts import status_header
    from knobs.study import SearchStatus

    status = SearchStatus(
        state=state, done=done, budget=None, running=0, complete=done, failed=interrupted,
        pruned=0, workers=0, best_value=0.8, baseline_value=0.7, elapsed_s=25.2, eta_s=None,
    )  # fmt: skip
    plan = SimpleNamespace(config=SimpleNamespace(timeout=30.0), direction="maximize",
                           metric="roc_auc")  # fmt: skip
    status_header(status, plan, interrupted=interrupted, verdict=verdict)


@pytest.mark.parametrize(
    ("state", "done", "bar", "words", "said"),
    [
        # a search its time budget ended: the bar is full, its cut trials are nothing to resume
        ("finished", 1, 1.0, "Finished: 1 trial done", "cut short by the time budget: not pruned"),
        # a stopped one: its interrupted trials run again on resume
        ("stopped", 13, 0.84, "Stopped: 13 trials done", "will run again if you resume"),
    ],
)
def test_a_time_budget_header_reads_as_the_search_ended(state, done, bar, words, said) -> None:
    """A finished 30 s search read "Finished" beside a bar at 84%, "1 trials done", and promised
    its time-cut trials would "run again if you resume" where no resume was offered."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_header, args=(state, done, 2)).run()
    assert not at.exception
    progress = at.get("progress")[0]
    assert progress.value == round(100 * bar)  # percent
    assert words in progress.proto.text
    # the budget, not a reason: "Stopped: 10 trials done (time budget)" after the user's Stop
    assert progress.proto.text.endswith(" · time budget 00:30")
    assert said in "\n".join(str(c.value) for c in at.caption)


def test_a_paused_search_is_still_watched_so_a_resume_elsewhere_shows() -> None:
    """Tab A stopped a search and tab B resumed it: 8 s later tab A still read "Stopped" with
    a Resume button, because a live view stopped refreshing once its search was not running."""
    from components.charts import WATCH_PAUSED_S, refresh_every

    assert refresh_every(10) == 1.0 and refresh_every(5000) == 5.0
    for paused in ("stopped", "interrupted", "queued"):
        assert refresh_every(10, paused) == WATCH_PAUSED_S
    assert refresh_every(10, "finished") is None


def test_a_queued_trial_reads_as_its_model_and_settings() -> None:
    """A finished study listed its never-run start as "waiting", no model, "(library
    defaults)": a queued trial has no parameters until it runs, only the queued ones."""
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"model": "random_forest", "random_forest.n_estimators": 300})
    study.enqueue_trial({"model": "xgboost"}, user_attrs=BASELINE.attr(True))
    table = V.trials_table(study.get_trials())
    assert table["state"].tolist() == ["queued", "queued"]
    assert table["model"].tolist() == ["random_forest", "xgboost"]
    assert table["parameters"].tolist() == ["n_estimators=300", "(library defaults)"]
    # "Finished: 50 of 50 trials done" beside a bare "queued" row: the note says what it is
    assert table["note"].tolist() == [
        "queued (a starting point, or settings asked for), not run: it runs when a worker is "
        "free, or when the search is resumed"] * 2


def test_a_queued_retry_says_which_trial_it_retries_and_when_it_runs() -> None:
    """A finished study listed two "queued" trials beside "6 trials done": retries of trials the
    time cut interrupted, re-queued for a resume, with nothing saying so."""
    from knobs.study.keys import RETRY_OF

    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"model": "xgboost"}, user_attrs=RETRY_OF.attr(4))
    note = V.trials_table(study.get_trials())["note"].tolist()
    assert note == ["retry of trial 4, which was interrupted: it runs when a worker is free, or "
                    "when the search is resumed"]  # fmt: skip


def test_a_best_score_within_the_noise_is_not_shown_as_a_gain() -> None:
    """The live view showed a green "+0.0001 vs defaults" where the folds' noise was ±0.0043."""
    from streamlit.testing.v1 import AppTest

    words = "Tuning is within the noise: best CV 0.8000 vs 0.7000 ..."
    grey, green = 2, 1  # MetricProto.MetricColor
    NONE = 2  # noqa: N806 - MetricProto.MetricDirection
    for verdict, color, said in (
        ({"call": "tie", "words": words}, grey, "+0.1000, within the noise"),
        ({"call": "gain", "words": "Tuning helps"}, green, "+0.1000 vs defaults"),
    ):
        at = AppTest.from_function(_header, args=("finished", 3, 0, verdict)).run()
        best = next(m for m in at.metric if m.label == "Best ROC AUC")
        assert best.proto.delta == said
        assert best.proto.color == color
        assert (best.proto.direction == NONE) is (color == grey)  # no up arrow on a tie
        assert best.help == verdict["words"]


def test_a_trial_the_time_budget_stopped_is_not_called_pruned() -> None:
    """On a 240-row x 1,500-column table at 30 s, three tree families' defaults trials were
    stopped by the time budget after a fold: the CLI said "pruned 3 trials, saving about 0 s",
    the trials table "pruned", and the chart's hover "pruned: its early folds scored too low",
    though the pruner never judges a defaults trial and their folds were wanted."""
    from knobs.study import counts, saved_compute, trials_frame
    from knobs.study.keys import PRUNED

    cut = {"after_fold": 1, "folds": 5, "fit_s": 6.0, "saved_s": 24.0, "fold_scores": [0.7],
           "reason": "time budget"}  # fmt: skip
    judged = {**cut, "saved_s": 2.0, "reason": "pruner"}
    trials = [
        _trial(0, 0.9, attrs=BASELINE.attr(True)),
        _trial(1, None, TrialState.PRUNED, attrs={**BASELINE.attr(True), **PRUNED.attr(cut)}),
        _trial(2, None, TrialState.PRUNED, attrs=PRUNED.attr(judged)),
    ]
    c = counts(trials)
    assert (c["PRUNED"], c["TIME_CUT"], c["COMPLETE"]) == (1, 1, 1)
    assert saved_compute(trials)[0] == 2.0  # the cut saved nothing
    assert trials_frame(trials)["state"].tolist() == ["COMPLETE", "TIME_CUT", "PRUNED"]
    table = V.trials_table(trials)
    assert table["state"].tolist() == ["complete", "cut by time", "pruned"]
    assert table["note"][1].startswith("stopped by the time budget after fold 1 of 5")
    h = V.history(trials, "maximize")
    assert (h.n_pruned, h.n_time_cut) == (1, 1)
    assert "early folds scored too low" not in h.unscored[0].reason
    assert V.scores_figure(h, "r2").data[-1].name == "pruned (1), cut by time (1)"


def test_a_test_score_on_few_rows_is_called_a_rough_figure() -> None:
    """A 60-row table: CV 0.94, test 0.75 on 12 rows, said without a caveat anywhere."""
    from types import SimpleNamespace

    from knobs.study import few_test_rows_caveat

    small = SimpleNamespace(test_source="", n_test=12)
    assert "it stands on 12 test rows, each 8% of them" in few_test_rows_caveat(small)
    assert few_test_rows_caveat(SimpleNamespace(test_source="", n_test=400)) is None
    assert few_test_rows_caveat(SimpleNamespace(test_source="test.csv", n_test=12)) is None
