"""The Slim section of the Export page (``components.slim``) through AppTest: each state of the
background run, the curves with the suggestion, and the slim bundle's download."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components import slim as slim_view
from knobs.slim import job_status, start_job
from knobs.slim._jobs import _paths, run_job, write_json_atomic
from tests.test_slim import make_study

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120


@pytest.fixture(scope="module")
def slimmed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A forest study whose trial 0 was slimmed by the background job's own body."""
    tmp = tmp_path_factory.mktemp("slim-page")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", str(tmp / "home"))
        name = make_study(tmp, "random_forest", {"n_estimators": 16}, name="slim-page")
        trial = only_trial(name)
        run_job(name, trial)
        yield {"home": tmp / "home", "name": name, "trial": trial}


def only_trial(name: str) -> int:
    """The number of the study's one complete trial (its queued defaults trial came first)."""
    from knobs.study import Search, complete

    (trial,) = complete(Search.open(name).trials())
    return trial.number


def section(study: str, trial: int | None) -> AppTest:
    def script(study: str, trial: int | None) -> None:
        from components.slim import slim_section

        slim_section(study, trial, "skops")

    at = AppTest.from_function(script, kwargs={"study": study, "trial": trial},
                               default_timeout=TIMEOUT)  # fmt: skip
    return at.run()


def words(at: AppTest) -> str:
    parts = [str(e.value) for e in (*at.markdown, *at.caption, *at.info, *at.error)]
    return "\n".join(parts)


def test_the_curves_the_suggestion_and_the_slim_download(
    slimmed: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KNOBS_HOME", str(slimmed["home"]))
    monkeypatch.chdir(ROOT)
    report = job_status(slimmed["name"], slimmed["trial"]).report
    assert report is not None, job_status(slimmed["name"], slimmed["trial"]).error
    at = section(slimmed["name"], slimmed["trial"])
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 2  # the feature and the tree curve
    cols = at.select_slider(key=slim_view.W_COLUMNS)
    assert cols.value == report["feature_curve"]["suggested"]
    assert at.select_slider(key=slim_view.W_TREES).value == report["tree_curve"]["suggested"]
    labels = [m.label for m in at.metric]
    assert labels == ["Columns", "Test ROC AUC", "Model file", "Predictions/s (1,000 rows)"]
    assert "Dropped:" in words(at) and "`noise_" in words(at)
    cols.set_value(3).run()
    at.select_slider(key=slim_view.W_TREES).set_value(10).run()
    at.button(key=slim_view.W_BUILD).click().run()
    assert not at.exception and not at.error
    download = at.get("download_button")
    assert len(download) == 1 and "Download slim skops bundle" in download[0].proto.label
    assert "`knobs predict` needs only its columns: `strong`, `medium`, `color`" in words(at)


def test_before_the_run_a_button_offers_it_and_an_ensemble_is_not_slimmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    name = make_study(tmp_path, "random_forest", {"n_estimators": 10}, name="slim-none")
    at = section(name, only_trial(name))
    assert not at.exception and at.button(key=slim_view.W_START)
    assert "once, in the background" in words(at)
    at = section(name, None)
    assert "Slimming works on a single trial" in words(at)


def test_a_running_job_is_shown_and_a_dead_one_fails_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from knobs.study import worker_identity

    monkeypatch.chdir(ROOT)
    name = make_study(tmp_path, "random_forest", {"n_estimators": 10}, name="slim-run")
    trial = only_trial(name)
    _, running, _ = _paths(name, trial)
    write_json_atomic(running, worker_identity())  # this test's own process: alive
    at = section(name, trial)
    assert f"Measuring the curves of trial {trial}" in words(at)
    assert at.button(key=slim_view.W_REFRESH)
    running.write_text(json.dumps({**worker_identity(), "pid": 2**22 + 12345}))  # no such pid
    at = section(name, trial)
    assert "ended without a result" in words(at) and at.button(key=slim_view.W_START)


@pytest.mark.slow
def test_the_background_process_writes_the_report(tmp_path: Path) -> None:
    name = make_study(tmp_path, "random_forest", {"n_estimators": 10}, name="slim-bg")
    trial = only_trial(name)
    assert start_job(name, trial).state == "running"
    assert start_job(name, trial).state == "running"  # a second start does not start another
    deadline = time.monotonic() + 180
    while job_status(name, trial).state == "running" and time.monotonic() < deadline:
        time.sleep(1)
    job = job_status(name, trial)
    assert job.state == "done", job.error
    assert job.report is not None and job.report["trial"] == trial


def test_the_export_page_shows_the_slim_section_of_the_chosen_trial(
    slimmed: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KNOBS_HOME", str(slimmed["home"]))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["study"] = slimmed["name"]
    at.run()
    at.switch_page("app_pages/export.py").run()
    assert not at.exception and not at.error
    assert "Slim the model" in [h.value for h in at.subheader]
    assert at.select_slider(key=slim_view.W_COLUMNS) and at.select_slider(key=slim_view.W_TREES)
