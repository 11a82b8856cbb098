"""The Strategy race and Analytics pages through AppTest, from ``app.py`` as a user meets them.

AppTest does not fire the race panel's timer: the tests call ``at.run()`` again while the race
process (a real detached process) runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import knobs
from components import state
from knobs import race as R
from knobs.data import sample_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(ROOT)
    yield tmp_path / "home"
    for race in R.list_races():
        if race.active:
            R.request_stop(race.id)
    for row in knobs.studies():
        knobs.Search.open(row["study"]).stop()  # no worker outlives its test


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)


def texts(elements) -> str:  # noqa: ANN001 - an AppTest ElementList
    return "\n".join(str(e.value) for e in elements)


def test_race_without_data_points_to_the_data_page() -> None:
    at = app()
    at.session_state["knobs.sample_offered"] = True  # as if the user had cleared the sample
    at.run()
    at.switch_page("app_pages/race.py").run()
    assert not at.exception
    assert "Pick a table and the column to predict" in texts(at.info)


def test_race_with_an_unknown_id_in_the_url_explains() -> None:
    at = app()
    at.query_params[state.QUERY_RACE] = "nosuchrace"
    at.run()
    at.switch_page("app_pages/race.py").run()
    assert not at.exception
    assert "No race `nosuchrace`" in texts(at.error)
    assert at.button(key=state.W_RACE_START)  # the form is offered instead


def test_race_form_offers_the_split_by_time_of_a_dated_table() -> None:
    """The race takes `--time-column` as a search does; the page offered only a random split."""
    at = app().run()
    at.switch_page("app_pages/race.py").run()
    assert not at.exception
    split = at.selectbox(key=state.W_RACE_TIME_SPLIT)  # the churn sample has a date column
    assert split.options[0] == "Random, stratified"
    assert any(o.startswith("Latest rows by `") for o in split.options[1:])


def test_race_form_refuses_a_single_contestant() -> None:
    at = app().run()
    at.switch_page("app_pages/race.py").run()
    assert not at.exception
    assert at.multiselect(key=state.W_RACE_CONTESTANTS).value == ["grid", "random", "tpe"]
    at.multiselect(key=state.W_RACE_CONTESTANTS).set_value(["random"]).run()
    at.button(key=state.W_RACE_START).click().run()
    assert not at.exception
    assert "at least two contestants" in texts(at.error)
    assert not R.list_races()


@pytest.mark.slow
def test_race_page_runs_a_race_to_its_verdict_and_reattaches() -> None:
    at = app().run()
    at.switch_page("app_pages/race.py").run()
    at.multiselect(key=state.W_RACE_MODELS).set_value(["logistic"]).run()
    at.multiselect(key=state.W_RACE_CONTESTANTS).set_value(["random", "tpe"]).run()
    at.number_input(key=state.W_RACE_TRIALS).set_value(4).run()
    at.number_input(key=state.W_RACE_SEEDS).set_value(2).run()
    at.number_input(key=state.W_RACE_WORKERS).set_value(2).run()
    at.number_input(key=state.W_RACE_FOLDS).set_value(2).run()
    at.button(key=state.W_RACE_START).click().run()
    assert not at.exception and not at.error
    race_id = at.query_params[state.QUERY_RACE]
    race_id = race_id[0] if isinstance(race_id, list) else race_id
    race = R.load_race(race_id)
    assert race.pid is not None and len(race.runs) == 4  # running in its own process
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        at.run()  # what the fragment timer does in a browser
        assert not at.exception
        if R.load_race(race_id).state == "finished":
            break
        time.sleep(1)
    at.run()
    at.run()
    assert not at.exception and not at.error
    assert R.load_race(race_id).state == "finished"
    assert at.get("progress")[0].proto.text.startswith("Finished: 4 of 4 runs done")
    assert len(at.get("plotly_chart")) == 4
    table = at.dataframe[-1].value
    assert sorted(table["contestant"]) == ["Random", "TPE"]
    assert "**Verdict.**" in texts(at.markdown)
    assert len(at.get("download_button")) == 3  # results CSV, charts HTML, report JSON
    # a reload (a new session with the id in the URL) finds the race again
    again = app()
    again.query_params[state.QUERY_RACE] = race_id
    again.run()
    again.switch_page("app_pages/race.py").run()
    assert not again.exception
    assert len(again.get("plotly_chart")) == 4


def finished_study() -> str:
    frame = pd.read_csv(sample_path("churn")).head(300)
    config = knobs.SearchConfig(
        target="churn", models=("logistic",), strategy="random", n_trials=8, cv=2, workers=1
    )
    search = knobs.Search.create(frame, config, source="churn.csv")
    search.start()
    search.wait(poll_s=0.2)
    return search.name


def test_analytics_without_studies() -> None:
    at = app().run()
    at.switch_page("app_pages/analytics.py").run()
    assert not at.exception
    assert "No studies yet" in texts(at.info)


@pytest.mark.slow
def test_analytics_draws_every_chart_with_filters() -> None:
    name = finished_study()
    at = app()
    at.session_state["knobs.study"] = name
    at.run()
    at.switch_page("app_pages/analytics.py").run()
    assert not at.exception and not at.error
    assert at.selectbox(key=state.W_AN_STUDY).value == name
    # Only the open tab is computed and sent: history and EDF first; then the per-fold values
    # (trials report them to the default pruner); importance, parallel, slice, contour; workers,
    # timeline.
    drawn = {"History": len(at.get("plotly_chart"))}
    for tab in ("Per fold", "Parameters", "Time"):
        at.session_state[state.W_AN_TAB] = tab
        at.run()
        assert not at.exception and not at.error
        drawn[tab] = len(at.get("plotly_chart"))
    assert drawn == {"History": 2, "Per fold": 1, "Parameters": 4, "Time": 2}
    at.session_state[state.W_AN_TAB] = "Parameters"
    at.run()
    assert at.selectbox(key=state.W_AN_X).value == "C"
    assert at.selectbox(key=state.W_AN_Y).value == "class_weight"
    at.radio(key=state.W_AN_IMPORTANCE).set_value("ped_anova").run()
    at.toggle(key=state.W_AN_FAILED).set_value(True).run()
    at.toggle(key=state.W_AN_BASELINE).set_value(False).run()
    assert not at.exception and not at.error
    assert "7 of 8 trials shown" in texts(at.caption)
    # failed and pruned trials are listed but have no score to plot: the caption says how many do
    from knobs.study import is_scored
    from knobs.study.keys import BASELINE

    tuned = [t for t in knobs.Search.open(name).trials() if not BASELINE.get(t)]
    plotted = sum(is_scored(t) for t in tuned)
    assert plotted < 7 and f"7 of 8 trials shown ({plotted} with a score)" in texts(at.caption)


# --- the Studies page groups race runs under their race (issue 14, item 2.5) ----------------------


def test_studies_page_groups_race_runs_under_their_race() -> None:
    from knobs.data import prepare

    frame = pd.read_csv(sample_path("churn")).head(200)
    config = knobs.SearchConfig(target="churn", models=("logistic",), n_trials=3, cv=3)
    own = knobs.Search.create(
        frame, config.with_updates(strategy="cmaes"), source="churn.csv"
    ).name
    spec = R.RaceSpec(config=config, contestants=("gp", "qmc"), seeds=2, source="churn.csv")
    race = R.create_race(prepare(frame, "churn"), spec)
    runs = [r.study for r in race.runs]
    at = app().run()
    at.switch_page("app_pages/studies.py").run()
    assert not at.exception and not at.error
    listed = at.dataframe[0].value
    assert listed["study"].tolist() == [own]  # the race's four runs do not crowd the list
    assert listed.loc[0, "strategy"] == "CMA-ES"
    (block,) = [e for e in at.expander if "GP, Quasi-random" in e.label]
    assert "churn.csv" in block.label and "× 2 seeds" in block.label and "4 runs" in block.label
    in_race = block.dataframe[0].value
    assert sorted(in_race["study"]) == sorted(runs)
    assert set(in_race["strategy"]) == {"Bayesian (Gaussian process)", "Quasi-random (Sobol)"}
    assert set(in_race["state"]) == {"queued"}
    picker = at.selectbox(key=state.W_STUDY_PICK)
    assert picker.options == [next(o for o in picker.options if o.startswith(f"{own} · CMA-ES"))]
    assert " · best " in picker.options[0]
    at.toggle(key=state.W_STUDIES_RACE_RUNS).set_value(True).run()
    assert not at.exception
    picker = at.selectbox(key=state.W_STUDY_PICK)
    assert len(picker.options) == 5
    picker.set_value(runs[0]).run()
    assert not at.exception
    assert at.button(key=state.W_DELETE).disabled  # the race reads its runs: kept whole
    at.button(key=state.W_OPEN_RACE_PREFIX + race.id).click().run()
    assert not at.exception
    assert at.session_state["knobs.race"] == race.id
    assert "Strategy race" in [t.value for t in at.title]


@pytest.mark.slow
def test_race_form_offers_what_knobs_race_takes() -> None:
    """Parity with ``knobs race``: metric, seed, test share, target fraction, threads, early
    stopping reach the race; the target fraction also re-reads a race's results."""
    at = app().run()
    at.switch_page("app_pages/race.py").run()
    assert at.selectbox(key=state.W_RACE_METRIC).value == "roc_auc"  # the task's default
    assert at.number_input(key=state.W_RACE_TARGET_FRACTION).value == pytest.approx(0.99)
    at.multiselect(key=state.W_RACE_MODELS).set_value(["logistic"])
    at.multiselect(key=state.W_RACE_CONTESTANTS).set_value(["random", "qmc"])
    at.number_input(key=state.W_RACE_TRIALS).set_value(3)
    at.number_input(key=state.W_RACE_SEEDS).set_value(1)
    at.number_input(key=state.W_RACE_FOLDS).set_value(2)
    at.selectbox(key=state.W_RACE_METRIC).set_value("accuracy")
    at.number_input(key=state.W_RACE_SEED).set_value(7)
    at.number_input(key=state.W_RACE_TEST_SIZE).set_value(0.3)
    at.number_input(key=state.W_RACE_TARGET_FRACTION).set_value(0.9)
    at.number_input(key=state.W_RACE_THREADS).set_value(1)
    at.toggle(key=state.W_RACE_EARLY_STOPPING).set_value(False).run()
    at.button(key=state.W_RACE_START).click().run()
    assert not at.exception and not at.error
    (race,) = R.list_races()
    cfg = race.spec.config
    assert (race.metric, cfg.metric, cfg.seed, cfg.test_size) == ("accuracy", "accuracy", 7, 0.3)
    assert race.spec.threads == 1 and cfg.early_stopping is False
    assert at.number_input(key=state.W_RACE_VIEW_FRACTION).value == pytest.approx(0.9)
    deadline = time.monotonic() + 120
    while R.load_race(race.id).state != "finished" and time.monotonic() < deadline:
        time.sleep(1)
    at.run()
    at.run()
    assert not at.exception and not at.error
    assert "within 10% of the race's best score" in texts(at.caption)
    at.number_input(key=state.W_RACE_VIEW_FRACTION).set_value(0.95).run()
    assert not at.exception
    assert "within 5% of the race's best score" in texts(at.caption)
