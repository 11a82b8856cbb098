"""Every page through Streamlit's AppTest, from the entry point, as a user would meet it.

Each test starts at ``app.py``, seeds what it needs (session state, query params, a study made
with the public API), switches page, and checks ``at.exception`` first: a page must never show a
traceback. Widgets are addressed by the keys spelled in ``components/state.py``. AppTest does not
fire the live view's timer, so tests call ``at.run()`` again to refresh it.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import knobs
from components import forms, state
from knobs.data import sample_path
from knobs.pruners import DEFAULT_PRUNER
from tests.conftest import make_table, pruned_study

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(ROOT)
    yield tmp_path / "home"
    for name in [s["study"] for s in knobs.studies()]:
        knobs.Search.open(name).stop()  # no worker outlives its test


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)


def csv_bytes(n: int = 80, seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "ticket": [f"T{i:05d}" for i in range(n)],
            "hours": rng.uniform(0, 40, n).round(1),
            "team": rng.choice(["red", "blue", "green"], n),
            "constant": "same",
        }
    )
    frame["outcome"] = np.where(frame.hours + rng.normal(0, 8, n) > 20, "late", "on time")
    frame.loc[::7, "hours"] = None
    return frame.to_csv(index=False).encode()


def box(at: AppTest, base: str) -> str:
    """The key of a Data-page box for the table the session works on (keys carry its identity)."""
    return state.table_widget(base, at.session_state["knobs.data"])


def opened(page: str, study: str) -> AppTest:
    """A fresh session (a reload, a link) on ``app_pages/{page}.py`` with ``study`` in its URL."""
    at = app()
    at.query_params["study"] = study
    at.run()
    return at.switch_page(f"app_pages/{page}.py").run()


def search_page_with(models: list[str]) -> AppTest:
    """A fresh session on the Search page with ``--models auto`` off and ``models`` picked: the
    set-up of every test that starts a small search from the page."""
    at = app().run()
    at.switch_page("app_pages/search.py").run()
    at.toggle(key=state.W_AUTO_MODELS).set_value(False).run()
    at.multiselect(key=state.W_MODELS).set_value(models).run()
    return at


def texts(elements) -> str:  # noqa: ANN001 - an AppTest ElementList
    return "\n".join(str(e.value) for e in elements)


def finished_study(n_trials: int = 7) -> str:
    frame = pd.read_csv(sample_path("churn")).head(400)
    config = knobs.SearchConfig(
        target="churn", models=("logistic",), strategy="random", n_trials=n_trials, cv=3, workers=1
    )
    search = knobs.Search.create(frame, config, source="churn.csv")
    search.start()
    search.wait(poll_s=0.2)
    return search.name


# --- Data ----------------------------------------------------------------------------------------


def test_data_opens_on_the_sample_ready_to_tune() -> None:
    at = app().run()
    assert not at.exception
    assert not at.error
    assert at.selectbox(key=box(at, state.W_TARGET)).value == "churn"
    assert "Ready: binary classification of **churn**" in texts(at.success)
    assert "Working on **churn.csv** (bundled sample" in texts(at.caption)
    assert len(at.dataframe) >= 2  # preview and column summary
    assert at.button(key=state.W_TO_SEARCH)


def test_data_takes_a_test_table_of_your_own_and_the_search_scores_on_it() -> None:
    """Parity with `--test-data`: the Data page checks the test table against the training
    table now, and the search it starts is scored on it."""
    churn = pd.read_csv(sample_path("churn"))
    at = app().run()
    bad = churn.head(300).drop(columns=["contract"]).to_csv(index=False).encode()
    at.file_uploader(key=box(at, state.W_TEST_UPLOAD)).set_value(("t.csv", bad, "text/csv")).run()
    assert not at.exception
    assert "lacks column(s) `contract`" in texts(at.error)
    good = churn.head(300).to_csv(index=False).encode()
    at.file_uploader(key=box(at, state.W_TEST_UPLOAD)).set_value(("t.csv", good, "text/csv")).run()
    assert not at.exception and not at.error
    assert "scored on **t.csv** (300 labelled rows)" in texts(at.success)
    at.switch_page("app_pages/search.py").run()
    assert at.slider(key=state.W_TEST_SIZE).disabled
    at.toggle(key=state.W_AUTO_MODELS).set_value(False).run()
    at.multiselect(key=state.W_MODELS).set_value(["logistic"]).run()
    at.number_input(key=state.W_TRIALS).set_value(2).run()
    at.button(key=state.W_START).click().run()
    assert not at.exception and not at.error
    search = knobs.Search.open(at.session_state["knobs.study"])
    try:
        plan = search.plan
        assert plan.test_source == "t.csv" and plan.n_test == 300
        assert plan.n_train == len(churn)  # every row of the training table
    finally:
        search.stop()


def test_search_offers_a_split_by_time_on_a_dated_table() -> None:
    """`--time-column` on the page: a table with a date column offers "Latest rows by `day`"
    beside the random split."""
    rng = np.random.default_rng(1)
    days = pd.date_range("2022-01-01", periods=120, freq="D")
    table = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "promo": rng.integers(0, 2, 120),
                          "units": np.arange(120) + rng.normal(0, 3, 120)})  # fmt: skip
    at = app().run()
    data = table.to_csv(index=False).encode()
    at.file_uploader(key=state.W_UPLOAD).set_value(("units.csv", data, "text/csv")).run()
    at.switch_page("app_pages/search.py").run()
    split = at.selectbox(key=state.W_TIME_SPLIT)
    assert split.options == ["Random, stratified", "Latest rows by `day`"]
    split.set_value("day").run()
    assert not at.exception and not at.error


def test_data_takes_an_upload_and_a_target() -> None:
    at = app().run()
    at.file_uploader(key=state.W_UPLOAD).set_value(("tickets.csv", csv_bytes(), "text/csv")).run()
    assert not at.exception
    assert "Working on **tickets.csv** (your upload" in texts(at.caption)
    at.selectbox(key=box(at, state.W_TARGET)).set_value("outcome").run()
    assert not at.exception and not at.error
    assert "binary classification of **outcome**" in texts(at.success)
    summary = at.dataframe[-1].value
    flags = dict(zip(summary["column"], summary["flags"], strict=True))
    assert "ID-like" in flags["ticket"] and "constant" in flags["constant"]
    at.selectbox(key=box(at, state.W_TASK)).set_value("regression").run()
    assert not at.exception and not at.success
    assert "cannot be used for regression" in texts(at.error)
    at.selectbox(key=box(at, state.W_TASK)).set_value("auto").run()
    assert not at.error and "binary classification" in texts(at.success)
    at.multiselect(key=box(at, state.W_EXCLUDE)).set_value(["team"]).run()
    assert not at.exception
    assert box(at, state.W_EXCLUDE) in at.session_state and at.session_state["knobs.exclude"] == ("team",)


def test_data_says_each_reading_notice_once_and_a_rare_class_before_any_search() -> None:
    """A cp1252, semicolon-separated table showed its encoding, separator and decimal notices in
    two boxes, and its class of 3 rows was first mentioned once a search had run."""
    frame = pd.read_csv(io.BytesIO(csv_bytes(120)))
    frame["level"] = ["Élevé", "Bas"] * 60
    frame.loc[:2, "level"] = "Très rare"  # 3 rows
    data = frame.to_csv(sep=";", index=False).replace(".", ",").encode("cp1252")
    at = app().run()
    at.file_uploader(key=state.W_UPLOAD).set_value(("fr.csv", data, "text/csv")).run()
    at.selectbox(key=box(at, state.W_TARGET)).set_value("level").run()
    assert not at.exception and not at.error
    boxes = texts(at.info)
    assert boxes.count("Columns are separated by semicolons") == 1
    assert boxes.count("Decoded the file as") == 1
    assert "Class `Très rare` (" in boxes and "too rare to learn well" in boxes


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty"),
        ("photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(200), "PNG"),
        ("short.csv", b"a,b\n1,2\n3,4\n", "rows"),
    ],
)
def test_data_shows_reader_errors_in_place(name: str, content: bytes, message: str) -> None:
    at = app().run()
    at.file_uploader(key=state.W_UPLOAD).set_value((name, content, "text/csv")).run()
    assert not at.exception
    assert message.lower() in texts(at.error).lower()
    assert not at.success


def test_a_single_class_target_claims_no_task() -> None:
    """one_class.csv: the Task box read "Automatic: binary classification" beside the error
    saying the target has a single class."""
    frame = pd.read_csv(io.BytesIO(csv_bytes()))
    frame["status"] = "open"
    at = app().run()
    data = frame.to_csv(index=False).encode()
    at.file_uploader(key=state.W_UPLOAD).set_value(("one.csv", data, "text/csv")).run()
    at.selectbox(key=box(at, state.W_TARGET)).set_value("status").run()
    assert not at.exception
    assert "single class" in texts(at.error)
    task = at.selectbox(key=box(at, state.W_TASK))
    assert task.options[0] == "Automatic: unknown"


def test_data_shows_target_errors_next_to_the_target() -> None:
    at = app().run()
    at.file_uploader(key=state.W_UPLOAD).set_value(("tickets.csv", csv_bytes(), "text/csv")).run()
    at.selectbox(key=box(at, state.W_TARGET)).set_value("constant").run()
    assert not at.exception
    assert at.error and "constant" in texts(at.error)
    assert not at.success


# --- Search --------------------------------------------------------------------------------------


def test_search_without_data_points_to_the_data_page() -> None:
    at = app()
    at.session_state["knobs.sample_offered"] = True  # as if the user had cleared the sample
    at.run()
    at.switch_page("app_pages/search.py").run()
    assert not at.exception
    assert "No table is ready to search yet" in texts(at.info)


def test_search_page_warns_when_no_trial_fits_the_time_limit(monkeypatch) -> None:
    """A 147 MB table was offered Start at "about 0 trials fit, at ~305.0 s each", and its
    search ended with no model; the page now warns and says how long would do."""
    import knobs.study as study_api

    monkeypatch.setattr(study_api, "probe_fit_seconds", lambda ds, spec: 120.0)
    at = app().run()
    at.switch_page("app_pages/search.py").run()
    at.number_input(key=state.W_TRIALS).set_value(0).run()
    at.number_input(key=state.W_MINUTES).set_value(0.5).run()
    assert not at.exception
    assert "No trial may fit in this time limit: one takes about" in texts(at.warning)


def test_search_form_offers_task_metrics_and_an_estimate() -> None:
    at = app().run()
    at.switch_page("app_pages/search.py").run()
    assert not at.exception and not at.error
    # Automatic model choice by default: the families raced for the budget are named.
    assert at.toggle(key=state.W_AUTO_MODELS).value is True
    # the sparse linear families race on wide tables only (the churn sample is not one)
    assert "Racing: Logistic regression, Random forest" in texts(at.caption)
    assert at.selectbox(key=state.W_PRUNER).value == DEFAULT_PRUNER
    assert at.toggle(key=state.W_EARLY_STOPPING).value is True
    at.toggle(key=state.W_AUTO_MODELS).set_value(False).run()
    assert at.multiselect(key=state.W_MODELS).value == ["logistic", "random_forest"]
    metrics = at.selectbox(key=state.W_METRIC).options
    assert metrics[0] == "ROC AUC" and "R²" not in metrics
    page = texts(at.markdown)
    # the CLI's default budget too (the page said 30 trials where `knobs tune` ran 50)
    assert "Budget: **50 trials**" in page and "Estimated duration" in page
    at.number_input(key=state.W_TRIALS).set_value(30).run()
    at.radio(key=state.W_STRATEGY).set_value("grid").run()
    assert not at.exception
    # logistic 5 x 2 and random forest 2 x 3 x 2 x 2 grid points, plus two defaults trials
    grid = "Grid: **34 combinations** + 2 defaults trials = 36 trials; the trial limit stops"
    assert grid in texts(at.markdown)


def test_search_space_editor_shows_invalid_edits() -> None:
    at = search_page_with(["logistic"])
    at.session_state[state.W_SPACE_PREFIX + "logistic"] = {
        "edited_rows": {0: {"low": 50.0, "high": 5.0}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception
    assert "`low <= high` must hold" in texts(at.error)
    at.session_state[state.W_SPACE_PREFIX + "logistic"] = {
        "edited_rows": {0: {"low": 0.1, "high": 10.0, "grid values": "0.1, 1, 10"}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.radio(key=state.W_STRATEGY).set_value("grid").run()
    assert not at.exception and not at.error
    assert "Grid: **6 combinations** + 1 defaults trial = 7 trials" in texts(at.markdown)
    edited = at.session_state["knobs.space"]["logistic"]
    assert (edited[0].low, edited[0].high, edited[0].grid) == (0.1, 10.0, (0.1, 1, 10))


def test_search_page_offers_reproducible_and_the_final_fit() -> None:
    """Parity with `--reproducible` and `--final-fit`: the page's switches reach the study."""
    at = app().run()
    at.switch_page("app_pages/search.py").run()
    assert at.toggle(key=state.W_REPRODUCIBLE).value is False
    assert at.toggle(key=state.W_FINAL_FIT_ALL).value is True
    assert "Reproducible below" in at.number_input(key=state.W_SEED).help
    at.toggle(key=state.W_AUTO_MODELS).set_value(False).run()
    at.multiselect(key=state.W_MODELS).set_value(["logistic"]).run()
    at.number_input(key=state.W_TRIALS).set_value(2).run()
    at.toggle(key=state.W_REPRODUCIBLE).set_value(True).run()
    at.toggle(key=state.W_FINAL_FIT_ALL).set_value(False).run()
    at.button(key=state.W_START).click().run()
    assert not at.exception and not at.error
    search = knobs.Search.open(at.session_state["knobs.study"])
    try:
        config = search.plan.config
        assert config.reproducible and config.final_fit == "train" and config.n_workers == 1
    finally:
        search.stop()


def test_search_page_extends_a_finished_study_and_shows_its_storage() -> None:
    """Parity with `knobs tune --resume --trials N`: a finished study continues to a larger
    budget from the Search page, which also says where studies are stored."""
    from knobs.study import storage_url

    name = finished_study(n_trials=3)
    at = opened("search", name)
    assert not at.exception
    assert f"Studies are stored in `{storage_url(None)}`" in texts(at.caption)
    at.number_input(key=state.W_EXTEND_TRIALS).set_value(5).run()
    at.button(key=state.W_EXTEND).click().run()
    assert not at.exception and not at.error
    search = knobs.Search.open(name)
    search.wait(poll_s=0.2)
    assert search.status().done == 5 and search.budget() == 5


def test_search_page_offers_the_servers_dask_cluster(monkeypatch) -> None:
    """Parity with `--dask`: when the server names a scheduler (KNOBS_DASK), the Search page
    offers it; an unreachable one is a clear error in place, and off means local processes."""
    monkeypatch.setenv("KNOBS_DASK", "tcp://127.0.0.1:9")
    at = app().run()
    at.switch_page("app_pages/search.py").run()
    assert at.toggle(key=state.W_DASK).label == "Run on the Dask cluster at `tcp://127.0.0.1:9`"
    at.toggle(key=state.W_AUTO_MODELS).set_value(False).run()
    at.multiselect(key=state.W_MODELS).set_value(["logistic"]).run()
    at.number_input(key=state.W_TRIALS).set_value(2).run()
    at.button(key=state.W_START).click().run()
    assert not at.exception
    assert "Cannot reach the Dask scheduler at `tcp://127.0.0.1:9`" in texts(at.error)
    assert knobs.studies() == []  # the study that could not start is not left behind
    at.toggle(key=state.W_DASK).set_value(False).run()
    at.button(key=state.W_START).click().run()
    assert not at.exception and not at.error
    search = knobs.Search.open(at.session_state["knobs.study"])
    try:
        assert search.dask_info() is None and search.is_running() or search.status().done
    finally:
        search.stop()


def test_search_budget_must_exist() -> None:
    at = app().run()
    at.switch_page("app_pages/search.py").run()
    at.number_input(key=state.W_TRIALS).set_value(0).run()
    assert not at.exception
    assert "Give a budget" in texts(at.error)
    assert state.W_START not in [b.key for b in at.button]


def test_search_starts_a_study_and_the_live_view_follows_it() -> None:
    at = search_page_with(["logistic"])
    at.number_input(key=state.W_TRIALS).set_value(8).run()
    at.number_input(key=state.W_FOLDS).set_value(3).run()
    at.number_input(key=state.W_WORKERS).set_value(1).run()
    at.selectbox(key=state.W_PRUNER).set_value("none").run()  # 8 complete trials to chart
    at.button(key=state.W_START).click().run()
    assert not at.exception and not at.error
    name = at.session_state["knobs.study"]
    assert at.query_params["study"] == name
    assert "knobs.table" not in at.session_state  # the study holds the data now
    at.switch_page("app_pages/live.py").run()
    assert not at.exception
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        at.run()  # what the fragment timer does in a browser
        assert not at.exception
        if knobs.Search.open(name).status().state == "finished":
            break
        time.sleep(0.5)
    at.run()
    assert not at.exception and not at.error
    assert at.get("progress")[0].proto.text == "Finished: 8 of 8 trials done"
    # The search started here chooses its final model and scores the test rows by itself (a
    # finisher process): the live view ended on "Finished" with neither before.
    banner = next(s.value for s in at.success if "Final model" in s.value)
    assert "Test score:" in banner and "held-out rows, which no trial saw" in banner
    assert len(at.get("plotly_chart")) == 2  # best so far by trial and by time
    assert at.dataframe[-1].value.shape[0] == 8  # the Trials tab, open first
    # The other tabs are computed only when opened: a browser draws every chart it receives
    # before it shows the first one.
    drawn = {}
    for tab in ("Every trial's score", "Parameters", "Budget per model"):
        at.session_state[state.W_LIVE_TAB] = tab
        at.run()
        assert not at.exception and not at.error
        drawn[tab] = [c.key for c in at.get("plotly_chart")][2:]
        assert not at.dataframe or at.dataframe[-1].value.shape[0] != 8  # the table is not sent
    assert drawn["Every trial's score"] == ["live.scores"]
    assert drawn["Parameters"] == ["live.importance", "live.parallel"]


# --- Live view -----------------------------------------------------------------------------------


def test_live_shows_pruned_trials_and_the_compute_they_saved() -> None:
    name = pruned_study(pd.read_csv(sample_path("churn")).head(300), "churn")
    at = opened("live", name)
    assert not at.exception and not at.error
    assert "Pruning saved about" in texts(at.caption)
    metric = next(m for m in at.metric if m.label == "Failed / pruned")
    assert metric.value == "0 / 2"
    table = at.dataframe[-1].value
    pruned = table[table.state == "pruned"]
    assert len(pruned) == 2
    assert all(n.startswith("pruned after fold 1 of 3, saving") for n in pruned.note)


def test_live_says_what_the_noise_band_is_beside_the_verdict() -> None:
    """A ±0.0072 band beside "Tuning helps" for +0.0047: two measures of noise, and nothing
    said why both hold. The charts' caption now says what the band is and how the verdict
    differs."""
    knobs.tune(make_table("binary", n=200), "label", models="logistic", n_trials=4, cv=3,
               workers=1, ensemble=False, study="band-words")  # fmt: skip
    at = opened("live", "band-words")
    assert not at.exception
    assert "Shaded band: the best score ±" in texts(at.caption)
    assert "compares it with the defaults fold by fold" in texts(at.caption)
    # finished: the best trial, no longer "so far"
    assert "**Best trial:** trial" in texts(at.markdown) and "Best so far" not in texts(at.markdown)


def test_live_without_a_study_says_what_to_do() -> None:
    at = app().run()
    at.switch_page("app_pages/live.py").run()
    assert not at.exception
    assert "No search selected" in texts(at.info)


def test_live_with_an_unknown_study_explains() -> None:
    at = opened("live", "no-such-study-abc")
    assert not at.exception
    assert "No study named `no-such-study-abc`" in texts(at.error)


@pytest.mark.parametrize("page", ["export", "analytics", "ensemble"])
def test_a_link_to_an_unknown_study_says_which_study_it_shows_instead(page: str) -> None:
    """`/export?study=does-not-exist` opened the newest study without a word: one click from
    exporting another model than the one the link meant."""
    name = finished_study(n_trials=2)
    at = opened(page, "does-not-exist")
    assert not at.exception
    warned = texts(at.warning)
    assert "cannot show study `does-not-exist`" in warned and f"shows `{name}` instead" in warned


def test_live_reattaches_from_the_url_after_a_reload() -> None:
    name = finished_study()
    at = opened("live", name)  # a fresh session: only the URL knows the study
    assert not at.exception and not at.error
    assert name in texts(at.caption)
    assert [m.label for m in at.metric][:2] == ["Best ROC AUC", "Defaults score"]
    assert len(at.get("plotly_chart")) == 2  # best so far by trial and by time; tabs below
    assert at.get("progress")[0].proto.text.startswith("Finished: 7 of 7 trials")


def test_live_stop_button_stops_a_running_search() -> None:
    frame = pd.read_csv(sample_path("churn"))
    config = knobs.SearchConfig(target="churn", models=("random_forest",), n_trials=60, workers=1)
    search = knobs.Search.create(frame, config, source="churn.csv")
    search.start()
    at = opened("live", search.name)
    assert not at.exception
    at.button(key=state.W_STOP).click().run()
    assert not at.exception and not at.error
    assert not search.is_running()
    assert knobs.Search.open(search.name).status().state == "stopped"
    assert at.button(key=state.W_RESUME)


# --- Studies -------------------------------------------------------------------------------------


def test_studies_groups_studies_on_tables_like_each_other() -> None:
    """Issue 11, item 3: "2 studies on tables like this one", grouped by schema fingerprint."""
    finished_study(n_trials=2)
    finished_study(n_trials=2)
    at = app().run()
    at.switch_page("app_pages/studies.py").run()
    assert not at.exception
    assert "2 studies on tables like **churn.csv** (target `churn`)" in [e.label for e in at.expander]


def test_studies_empty() -> None:
    at = app().run()
    at.switch_page("app_pages/studies.py").run()
    assert not at.exception
    assert "No studies yet" in texts(at.info)


def test_studies_list_open_and_delete_with_confirmation() -> None:
    name = finished_study()
    at = app().run()
    at.switch_page("app_pages/studies.py").run()
    assert not at.exception and not at.error
    listed = at.dataframe[0].value
    assert listed["study"].tolist() == [name]
    assert listed.loc[0, "state"] == "finished" and listed.loc[0, "data"] == "churn.csv"
    assert at.selectbox(key=state.W_STUDY_PICK).value == name
    assert at.button(key=state.W_STUDY_RESUME).disabled  # a finished study has nothing left
    at.button(key=state.W_DELETE).click().run()
    assert not at.exception
    assert "Delete **churn.csv**" in texts(at.warning)
    at.button(key=state.W_DELETE_NO).click().run()
    assert not at.warning and [s["study"] for s in knobs.studies()] == [name]
    at.button(key=state.W_DELETE).click().run()
    at.button(key=state.W_DELETE_YES).click().run()
    assert not at.exception and not at.error
    assert knobs.studies() == []
    assert "No studies yet" in texts(at.info)


def test_studies_open_links_to_the_live_view_of_that_study() -> None:
    """A link, so the click does not rerun the Studies page (every study's status) before
    switching; the live view adopts the study the link names."""
    name = finished_study()
    at = app().run()
    at.switch_page("app_pages/studies.py").run()
    (link,) = [e.proto for e in at.get("page_link") if e.proto.label == "Open live view"]
    assert link.page == "live" and link.query_string == f"study={name}"
    assert not at.get("button") or all(b.label != "Open live view" for b in at.button)
    at.query_params["study"] = name
    at.switch_page("app_pages/live.py").run()
    assert not at.exception
    assert at.session_state["knobs.study"] == name


def test_studies_resume_a_stopped_search() -> None:
    name = finished_study(n_trials=6)
    search = knobs.Search.open(name)
    search.start(n_trials=9)  # more budget, then stop at once: a stopped, resumable study
    search.stop()
    at = app().run()
    at.switch_page("app_pages/studies.py").run()
    assert not at.exception
    assert not at.button(key=state.W_STUDY_RESUME).disabled
    at.button(key=state.W_STUDY_RESUME).click().run()
    assert not at.exception and not at.error
    assert at.session_state["knobs.study"] == name
    knobs.Search.open(name).wait(poll_s=0.2)
    assert knobs.Search.open(name).status().done == 9


# --- Sessions ----------------------------------------------------------------------------------------


def test_sessions_do_not_see_each_others_uploads() -> None:
    alice, bob = app().run(), app().run()
    alice.file_uploader(key=state.W_UPLOAD).set_value(("secret.csv", csv_bytes(), "text/csv"))
    alice.run()
    bob.run()
    assert "Working on **secret.csv**" in texts(alice.caption)
    assert "secret.csv" not in texts(bob.caption)
    assert "Working on **churn.csv**" in texts(bob.caption)


# --- Form helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("None", None), ("true", True), ("3", 3), ("-2", -2), ("0.1", 0.1), ("1e-3", 0.001),
     ("balanced", "balanced"), ("'sqrt'", "sqrt")],
)  # fmt: skip
def test_parse_value(text: str, value: object) -> None:
    parsed = forms.parse_value(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("model", sorted(knobs.REGISTRY))
def test_space_rows_round_trip(model: str) -> None:
    base = knobs.REGISTRY[model].params
    assert forms.params_from_rows(forms.space_rows(base), base) == tuple(base)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"low": 10.0, "high": 1.0}, "`low <= high` must hold"),
        ({"low": 0.0}, "log scale, so `low` must be > 0"),
        ({"grid values": "100, 5000"}, "grid values [5000] lie outside"),
        ({"grid values": "100, 2.5"}, "takes whole numbers"),
        ({"grid values": "100, many"}, "takes whole numbers"),
    ],
)
def test_space_edits_are_validated(edit: dict, message: str) -> None:
    base = knobs.REGISTRY["random_forest"].params  # n_estimators: int, log, 50..500
    rows = forms.space_rows(base)
    for column, value in edit.items():
        rows.loc[0, column] = value
    with pytest.raises(knobs.ConfigError, match=re.escape(message)):
        forms.params_from_rows(rows, base)


# --- Data: the boxes follow a new table (issue 14, item 2.1) ---------------------------------------


def _box(at: AppTest, label: str):  # noqa: ANN202 - an AppTest Selectbox
    """A Data-page select box found by its label (its key carries the table's identity)."""
    (box,) = [s for s in at.selectbox if s.label == label]
    return box


def _browser_shows(before: tuple[str, str], after) -> str:  # noqa: ANN001 - AppTest Selectbox
    """What a browser's select box reads after a rerun, given its (id, label) before it.

    The browser keeps a widget's own value across reruns: it only takes the server's when the
    widget is a new one (another id) or the server sets its value (``set_value``). AppTest
    itself always reads the server's value, so this is the check the stale boxes failed.
    """
    old_id, old_label = before
    if after.id == old_id and not after.proto.set_value:
        return old_label
    return after.options[after.index]


def test_data_boxes_show_the_new_tables_target_and_task_after_an_upload() -> None:
    at = app().run()
    target, task = _box(at, "Target column"), _box(at, "Task")
    assert target.value == "churn" and task.options[task.index].startswith("Automatic: binary")
    before = {
        "target": (target.id, target.options[target.index]),
        "task": (task.id, task.options[task.index]),
    }
    rng = np.random.default_rng(3)
    n = 140
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 9, n)})
    frame["grade"] = rng.choice(["low", "mid", "high"], n)
    frame.loc[rng.random(n) < 0.29, "grade"] = None  # a multiclass target with missing values
    upload = ("grades.csv", frame.to_csv(index=False).encode(), "text/csv")
    at.file_uploader(key=state.W_UPLOAD).set_value(upload).run()
    assert not at.exception and not at.error
    used = at.session_state["knobs.target"]
    assert used == "grade"
    assert _browser_shows(before["target"], _box(at, "Target column")) == used
    assert _browser_shows(before["task"], _box(at, "Task")) == (
        "Automatic: multiclass classification"
    )
    assert "multiclass classification of **grade**" in texts(at.success)


def test_an_excluded_column_reads_as_left_out_and_its_leak_warning_goes() -> None:
    """After excluding a flagged leak, "Ready" counted one feature fewer, but the Columns table
    still ticked it "used as feature" and the warning still asked to exclude it."""
    frame = pd.read_csv(io.BytesIO(csv_bytes(120)))
    frame["status"] = np.where(frame.outcome == "late", "closed late", "closed")  # a copy of it
    at = app().run()
    at.file_uploader(key=state.W_UPLOAD).set_value(
        ("tickets.csv", frame.to_csv(index=False).encode(), "text/csv")
    ).run()
    at.selectbox(key=box(at, state.W_TARGET)).set_value("outcome").run()
    assert "Possible leak: `status` predicts the target almost perfectly" in texts(at.warning)
    assert "Possible leak" not in texts(at.info)  # said once, in the warning
    at.multiselect(key=box(at, state.W_EXCLUDE)).set_value(["status"]).run()
    assert not at.exception and not at.error
    assert "Possible leak" not in texts(at.warning)
    summary = at.dataframe[-1].value.set_index("column")
    assert not summary.loc["status", "used"]
    assert "you excluded it" in " ".join(map(str, summary.loc["status"].tolist()))


def test_search_names_the_current_search_and_says_when_it_is_on_another_table() -> None:
    """After a loans search, loading reviews showed "Current search · Finished · 20 of 20 trials"
    with "Continue the search" above the reviews form, naming neither the study nor its table."""
    name = finished_study(3)
    at = app()
    at.query_params["study"] = name
    at.run()
    at.file_uploader(key=state.W_UPLOAD).set_value(("tickets.csv", csv_bytes(), "text/csv")).run()
    at.selectbox(key=box(at, state.W_TARGET)).set_value("outcome").run()
    at.switch_page("app_pages/search.py").run()
    assert not at.exception
    assert f"**Current search** `{name}` on churn.csv" in texts(at.markdown)
    assert "That search is on churn.csv, not on tickets.csv" in texts(at.caption)


def test_live_says_a_search_ended_on_a_perfect_score_and_what_it_usually_means() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = np.where(x > 0, "yes", "no")
    frame = pd.DataFrame({"x": rng.normal(size=200), "copy": np.where(y == "yes", "Y", "N"),
                          "y": y})  # fmt: skip
    knobs.tune(frame, "y", models="logistic", n_trials=8, cv=2, workers=1, ensemble=False,
               study="perfect-leak")  # fmt: skip
    at = opened("live", "perfect-leak")
    assert not at.exception
    assert "scored a perfect ROC AUC (1.0000) on every fold" in texts(at.warning)
    assert at.get("progress")[0].proto.text.startswith("Finished")


def test_an_excel_upload_reaches_knobs_which_says_how_to_save_it_as_csv() -> None:
    """The upload box refused `.xlsx` with Streamlit's own "files are not allowed" before Knobs'
    message (how to save a workbook as CSV) had a chance."""
    at = app().run()
    uploader = at.file_uploader(key=state.W_UPLOAD)
    assert ".xlsx" in list(uploader.proto.type) and ".xls" in list(uploader.proto.type)
    workbook = b"PK\x03\x04" + bytes(200)
    uploader.set_value(("report.xlsx", workbook, "application/vnd.ms-excel")).run()
    assert not at.exception
    assert "Save As" in texts(at.error) and "CSV UTF-8" in texts(at.error)
    real = (Path(__file__).parent / "fixtures" / "two_sheets.xlsx").read_bytes()
    at.file_uploader(key=state.W_UPLOAD).set_value(("q3.xlsx", real, "application/xlsx")).run()
    assert not at.exception and not at.error
    assert "Read sheet `data` of the workbook `q3.xlsx`" in texts(at.info)


def test_a_reload_finds_the_uploaded_table_again() -> None:
    """A browser reload starts a new session, which fell back to the bundled sample without a
    word: the upload was lost. The upload is kept and named in the URL; a reload (a new session
    with that URL) works on it again, and a link naming a table no longer kept gets the sample."""
    at = app().run()
    at.file_uploader(key=state.W_UPLOAD).set_value(("tickets.csv", csv_bytes(), "text/csv")).run()
    token = at.query_params.get("table")
    token = token[0] if isinstance(token, list) else token
    assert token and len(token) == 24
    reloaded = app()
    reloaded.query_params["table"] = token
    reloaded.run()
    assert not reloaded.exception
    assert "Working on **tickets.csv** (your upload, found again after the page reload" in texts(
        reloaded.caption)  # fmt: skip
    reloaded.switch_page("app_pages/search.py").run()
    assert not reloaded.exception and "tickets" in texts(reloaded.markdown) + texts(reloaded.caption)
    stale = app()
    stale.query_params["table"] = "0" * 24
    stale.run()
    assert not stale.exception and "(bundled sample" in texts(stale.caption)


def test_search_takes_the_rows_searched_and_refuses_too_few_in_words() -> None:
    """`--search-rows` on the page: 0 sizes it to the time limit; under 5,000 is refused by the
    configuration's own words, not a traceback."""
    at = app().run()
    at.switch_page("app_pages/search.py").run()
    rows = at.number_input(key=state.W_SEARCH_ROWS)
    assert rows.value == 0 and not at.exception
    rows.set_value(100).run()
    assert not at.exception
    errors = [e.value for e in at.error]  # one error, in the page's words, and nothing else
    assert len(errors) == 1 and errors[0].startswith("Rows searched: 0") and "not 100" in errors[0]
    assert not any("Trials are scored on a sample" in i.value for i in at.info)
    assert not any(b.key == state.W_START for b in at.button)
    rows.set_value(5_000).run()
    assert not at.exception and not any("search_rows" in e.value for e in at.error)
    assert not any("Trials are scored on a sample" in i.value for i in at.info)  # 2,400 rows


def test_search_says_before_start_which_rows_a_sampled_search_scores() -> None:
    """The dry run said "5,000 searched of 7,200 training rows"; the page's "Before you start"
    said nothing of it, and estimated the trials on every row."""
    rng = np.random.default_rng(0)
    n = 9_000
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                          "label": rng.choice(["yes", "no"], size=n)})  # fmt: skip
    at = app().run()
    at.file_uploader(key=state.W_UPLOAD).set_value(
        ("big.csv", frame.to_csv(index=False).encode(), "text/csv")
    ).run()
    at.selectbox(key=box(at, state.W_TARGET)).set_value("label").run()
    at.switch_page("app_pages/search.py").run()
    at.number_input(key=state.W_SEARCH_ROWS).set_value(5_000).run()
    assert not at.exception and not at.error
    said = " ".join(i.value for i in at.info)
    assert "Trials are scored on a sample of 5,000 of the 7,200 training rows, as set" in said


def test_a_flagged_leak_is_excluded_in_one_click() -> None:
    """The leak warning said "exclude it above": the user had to find the box and type the
    column. One button adds every flagged column to Exclude columns, box included."""
    frame = pd.read_csv(io.BytesIO(csv_bytes(120)))
    frame["status"] = np.where(frame.outcome == "late", "closed late", "closed")  # a copy of it
    frame["outcome_code"] = np.where(frame.outcome == "late", 1, 0)
    at = app().run()
    at.file_uploader(key=state.W_UPLOAD).set_value(
        ("tickets.csv", frame.to_csv(index=False).encode(), "text/csv")
    ).run()
    at.selectbox(key=box(at, state.W_TARGET)).set_value("outcome").run()
    assert "each predict the target almost perfectly" in texts(at.warning)
    at.button(key=state.W_EXCLUDE_LEAKS).click().run()
    assert not at.exception and not at.error
    assert set(at.multiselect(key=box(at, state.W_EXCLUDE)).value) == {"status", "outcome_code"}
    assert "Possible leak" not in texts(at.warning)
    assert not any(b.key == state.W_EXCLUDE_LEAKS for b in at.button)


def test_search_samples_a_large_table_for_a_short_time_limit_before_start() -> None:
    """The page's estimate said a sample would be searched, and the search it started searched
    every row: the run timed the models again and decided otherwise. The page now says why
    before Start and hands its decision to the search."""
    rng = np.random.default_rng(1)
    n = 70_000
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                          "c": rng.choice(list("pqrs"), size=n),
                          "label": rng.choice(["yes", "no"], size=n)})  # fmt: skip
    at = app().run(timeout=60)
    at.file_uploader(key=state.W_UPLOAD).set_value(
        ("big.csv", frame.to_csv(index=False).encode(), "text/csv")
    ).run(timeout=60)
    at.selectbox(key=box(at, state.W_TARGET)).set_value("label").run(timeout=60)
    at.switch_page("app_pages/search.py").run(timeout=60)
    at.number_input(key=state.W_TRIALS).set_value(0).run(timeout=60)
    at.number_input(key=state.W_MINUTES).set_value(0.05).run(timeout=60)  # 3 s
    assert not at.exception and not at.error
    said = " ".join(i.value for i in at.info)
    assert "Trials are scored on a sample of" in said and "of the 56,000 training rows, because" in (
        said
    )


def test_the_search_pages_time_limit_counts_from_the_click() -> None:
    """A 30 s search of 400,000 rows from the page ended 34-38 s after Start: the limit counted
    from the workers' start, after seconds of splitting and writing the table. It now counts from
    the click, as `knobs tune --timeout` counts from the command's start."""
    import time as clock_time

    from knobs.study.keys import CLOCK

    at = search_page_with(["logistic"])
    at.number_input(key=state.W_TRIALS).set_value(0).run()
    at.number_input(key=state.W_MINUTES).set_value(0.5).run()
    clicked = clock_time.time()
    at.button(key=state.W_START).click().run()
    assert not at.exception and not at.error
    search = knobs.Search.open(at.session_state["knobs.study"])
    try:
        clock = CLOCK.get(search.study)
        assert clock["deadline"] - clicked <= 30.0 + 2.0  # the click's rerun, then the limit
        # the split and the study's creation came out of the limit, not before it
        assert clock["deadline"] - clock["started"] < 30.0 - 1e-3
    finally:
        search.stop()


def test_the_ready_line_counts_the_classes_it_does_not_name() -> None:
    """A 10-class rating read "Ready: multiclass classification of rating with classes 1, 2,
    3, 4, 5, 6, 7, 8", the last two cut off without a sign. The line counts them all and says
    how many it leaves out."""
    at = app().run()
    at.selectbox(key=box(at, state.W_TARGET)).set_value("region").run()
    assert not at.exception
    ready = texts(at.success)
    assert "Ready: multiclass classification of **region** with 30 classes (" in ready
    assert " and 22 more)" in ready
