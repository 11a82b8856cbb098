"""What a new user met in Chromium (session 27): an upload over the limit refused without a
visible word, a `price` feature guessed as the target, a race caption promising 10 random trials
whatever the budget, ensemble advice naming an API argument and no model, and a live view
reading "Finished: 1 trial done" when no trial had completed.

Pages go through AppTest from ``app.py`` (as ``tests/test_pages.py``); the panels that need a
built ensemble or a race are rendered alone, on reports made by the core's own functions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from types import SimpleNamespace
from typing import Any

import optuna
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

import knobs
from components import ensemble as ensemble_ui
from components import forms, race_view, state
from knobs import ensembles
from knobs import race as R
from knobs.data import sample_path
from knobs.data._ingest import DEFAULT_MAX_UPLOAD_MB
from knobs.study.keys import FAIL_REASON, INTERRUPTED, PRUNED

# ``home``: the page tests' own KNOBS_HOME per test (autouse, so imported to apply here)
from tests.test_pages import ROOT, app, home, opened, texts  # noqa: F401

# --- 1. an upload over the limit ------------------------------------------------------------------


def test_streamlit_lets_a_table_over_knobs_limit_reach_knobs() -> None:
    """At Streamlit's own cap (it was Knobs' 200 MB) a 219 MB CSV only turned the upload box
    red, the reason in a tooltip, while the page went on reading "Working on churn.csv ...
    Ready". Streamlit's cap must sit well above Knobs', so Knobs' message is the one shown."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] >= 2 * DEFAULT_MAX_UPLOAD_MB


def test_a_table_over_the_limit_is_refused_in_words_naming_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KNOBS_MAX_UPLOAD_MB", "0.5")  # the churn sample (276 KB) still fits
    at = app().run()
    assert not at.exception and not at.error
    uploader = at.file_uploader(key=state.W_UPLOAD)
    assert "Up to 512.0 KB (the KNOBS_MAX_UPLOAD_MB setting)" in uploader.proto.help
    big = pd.read_csv(sample_path("churn"))
    content = pd.concat([big, big, big]).to_csv(index=False).encode()
    assert len(content) > 512 * 1024
    uploader.set_value(("big.csv", content, "text/csv")).run()
    assert not at.exception
    assert "Working on **big.csv** (your upload" in texts(at.caption)
    error = texts(at.error)
    assert "`big.csv` is " in error and "more than the 512.0 KB limit" in error
    # one size, in the caption and the refusal alike (they read 10.38 MB and 9.9 MB)
    size = error.split("`big.csv` is ", 1)[1].split(",", 1)[0]
    assert f"(your upload, {size})" in texts(at.caption)
    assert "KNOBS_MAX_UPLOAD_MB" in error
    assert not at.success  # no "Ready" under the refusal


def test_the_upload_help_states_the_default_limit() -> None:
    from knobs.data import upload_limit_words

    assert upload_limit_words() == f"{DEFAULT_MAX_UPLOAD_MB:.1f} MB"


# --- 2. the target's first guess ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        # a reviews table: `price` is a feature, the last column is what to predict
        (["id", "review", "price", "tags", "rating"], "rating"),
        (["customer", "churn", "tenure", "plan"], "plan"),  # a domain word is no target name
        (["x1", "Target ", "x2"], "Target "),  # generic names win, whatever their case
        (["outcome", "label", "x"], "label"),  # in the order of the list
        (["a", "y", "b"], "y"),
        ([], None),
    ],
)
def test_the_target_guess_prefers_generic_names_then_the_last_column(
    columns: list[str], expected: str | None
) -> None:
    assert forms.guess_target(columns) == expected


@pytest.mark.parametrize(("sample", "target"), [("churn", "churn"), ("houses", "price")])
def test_the_bundled_samples_still_get_their_target(sample: str, target: str) -> None:
    columns = list(pd.read_csv(sample_path(sample), nrows=1).columns)
    assert forms.guess_target(columns) == target


# --- 3. the race caption --------------------------------------------------------------------------


def _race_caption(monkeypatch: pytest.MonkeyPatch, n_trials: int | None, contestants: tuple) -> str:
    """The caption under a race's charts, as ``race_view.charts`` writes it."""
    config = knobs.SearchConfig(target="y", n_trials=n_trials, timeout=None if n_trials else 60)
    race = SimpleNamespace(id="r1", spec=R.RaceSpec(config, contestants=contestants, seeds=1),
                           metric="roc_auc")  # fmt: skip
    summary = SimpleNamespace(curves=[SimpleNamespace(values=[0.8])], target_fraction=0.99)
    names = ("by_trial", "by_time", "distribution", "best")
    monkeypatch.setattr(race_view.V, "race_figures", lambda *a: {n: go.Figure() for n in names})
    monkeypatch.setattr(race_view.st, "plotly_chart", lambda *a, **k: None)
    said: list[str] = []
    monkeypatch.setattr(race_view.st, "caption", lambda text, **k: said.append(text))
    race_view.charts(race, summary)
    return said[-1]


@pytest.mark.parametrize(
    ("n_trials", "words"),
    [
        (20, "On this 20-trial budget, TPE models the study once 4 trials have finished"),
        (10, "On this 10-trial budget, TPE models the study once 3 trials have finished"),
        (200, "On this 200-trial budget, TPE models the study once 10 trials have finished"),
        (None, "On a time budget, TPE models the study once 10 trials have finished"),
    ],
)
def test_the_race_caption_sizes_tpe_start_up_to_the_race_budget(
    monkeypatch: pytest.MonkeyPatch, n_trials: int | None, words: str
) -> None:
    """It said "TPE and GP start with 10 random trials" whatever the budget."""
    caption = _race_caption(monkeypatch, n_trials, ("random", "tpe"))
    assert words in caption
    assert "10 random trials" not in caption


def test_the_race_caption_says_nothing_of_tpe_in_a_race_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caption = _race_caption(monkeypatch, 20, ("random", "grid"))
    assert "TPE" not in caption and "Elapsed time is each run's own" in caption


# --- 4. the ensemble's advice ---------------------------------------------------------------------


def _tie_report() -> dict[str, Any]:
    """An ensemble report whose verdict (the core's own words) is a tie with the best single."""
    helps, words = ensembles.verdict("maximize", "roc_auc", 0.8400, 0.8405, 0.8100, 0.8269,
                                     [0.001, -0.002, 0.0005])  # fmt: skip
    assert not helps and "`diverse`" in words
    return {
        "id": "ens-1", "kind": "greedy", "studies": ["s1"], "metric": "roc_auc",
        "direction": "maximize", "cv_score": 0.8400, "best_single_cv_score": 0.8405,
        "test_score": 0.8100, "best_single_test_score": 0.8269, "helps": helps,
        "verdict": words, "notes": [],
        "best_single": {"study": "s1", "trial": 147, "model": "xgboost"},
        "members": [
            {"study": "s1", "trial": 147, "model": "xgboost", "weight": 0.6, "cv_score": 0.8405},
            {"study": "s1", "trial": 19, "model": "logistic", "weight": 0.4, "cv_score": 0.8350},
        ],
    }  # fmt: skip


def _panel(data: dict, delivered: dict | None = None) -> None:
    from components import ensemble as ui

    if delivered is None:
        ui.report_panel(data)
    else:
        ui.report_panel(data, delivered)


def test_ensemble_advice_names_the_control_and_the_single_model() -> None:
    """"try other model families or `diverse`" named the API argument, not the toggle; "Keep the
    single model" did not say which."""
    at = AppTest.from_function(_panel, args=(_tie_report(),)).run()
    assert not at.exception
    advice = texts(at.warning)
    assert "`diverse`" not in advice
    assert f"**{ensemble_ui.DIVERSE_LABEL}**" in advice and ensemble_ui.DIVERSE_LABEL == (
        "Prefer diversity")  # fmt: skip
    assert ("The single model compared is **xgboost #147**, the candidate with the best CV "
            "score (test 0.8269).") in advice  # fmt: skip


def test_ensemble_advice_says_the_search_delivers_another_single_model() -> None:
    """"Best single test 0.8269" (xgboost #147) sat beside the study's delivered logistic trial
    19 (test 0.8139) without a word."""
    delivered = {
        "trial": 19, "value": 0.8139, "final": {"kind": "single"},
        "chosen": {"trial": 19, "model": "logistic",
                   "why": "trial 19 (logistic, CV 0.8350) instead of the best trial 147"},
    }  # fmt: skip
    at = AppTest.from_function(_panel, args=(_tie_report(), delivered)).run()
    assert not at.exception
    advice = texts(at.warning)
    assert "**xgboost #147**" in advice
    assert ("The search delivers another single model: trial 19 (logistic, CV 0.8350) instead "
            "of the best trial 147 (test 0.8139).") in advice  # fmt: skip


@pytest.mark.parametrize(
    ("delivered", "words"),
    [
        ({"trial": 147, "value": 0.8269, "final": None}, "It is also the model the search delivers."),
        ({"trial": 147, "value": 0.85, "final": {"kind": "ensemble"}},
         "The search delivers its own final ensemble (test 0.8500)."),
        ({"trial": 3, "value": 0.80}, "The search delivers another single model: trial 3 (test 0.8000)."),
        (None, "the candidate with the best CV score (test 0.8269)."),
    ],
)  # fmt: skip
def test_which_single_model_in_every_case(delivered: dict | None, words: str) -> None:
    assert ensemble_ui.which_single(_tie_report(), delivered).endswith(words)


# --- 5. a search in which no trial completed ------------------------------------------------------


def _nothing_completed() -> str:
    """A finished 30 s search on a table too big for it: counts COMPLETE 0, two trials whose
    stuck workers were killed at the deadline (failed, interrupted), one cut by the time budget
    between folds; the plan comes from the real ``Search.create``."""
    frame = pd.read_csv(sample_path("churn")).head(300)
    config = knobs.SearchConfig(target="churn", models=("logistic",), strategy="random",
                                n_trials=None, timeout=30, cv=3, workers=1)  # fmt: skip
    search = knobs.Search.create(frame, config, source="huge.csv")
    study = search.study
    dist = {
        "model": optuna.distributions.CategoricalDistribution(["logistic"]),
        "logistic.C": optuna.distributions.FloatDistribution(1e-3, 1e3, log=True),
    }
    start = dt.datetime.now()
    cut = {"after_fold": 0, "folds": 3, "fit_s": 29.0, "saved_s": 0.0, "fold_scores": [],
           "reason": "time budget"}  # fmt: skip
    baseline = study.ask()  # the queued defaults trial, killed as ``runner.end_overdue`` does
    for key, value in ((PRUNED, cut), (INTERRUPTED, True), (FAIL_REASON, "Stopped by the time "
                       "budget in the middle of a fold.")):  # fmt: skip
        key.set(baseline, value)
    study.tell(baseline, state=optuna.trial.TrialState.FAIL)
    for state_, attrs in (
        (optuna.trial.TrialState.FAIL, {**PRUNED.attr(cut), **INTERRUPTED.attr(True)}),
        (optuna.trial.TrialState.PRUNED, PRUNED.attr(cut)),
    ):
        study.add_trial(optuna.trial.FrozenTrial(
            number=0, trial_id=0, state=state_, value=None, datetime_start=start,
            datetime_complete=start + dt.timedelta(seconds=29), params={"model": "logistic",
            "logistic.C": 1.0}, distributions=dist, user_attrs=attrs, system_attrs={},
            intermediate_values={},
        ))  # fmt: skip
    return search.name


def test_live_says_no_trial_finished_when_the_time_budget_cut_them_all() -> None:
    """It read "Finished: 1 trial done", "Failed / pruned 0 / 0", "3 trials were cut short" and
    "charts appear as soon as one finishes" under empty space."""
    name = _nothing_completed()
    at = opened("live", name)
    assert not at.exception and not at.error
    assert at.get("progress")[0].proto.text == "Finished: no trial completed · time budget 00:30"
    assert ("No trial finished within the time budget (30 s, from reading the table to the "
            "refit); the longest ran 29 s") in texts(at.warning)  # fmt: skip
    assert "3 trials were cut short by the time budget" in texts(at.caption)
    assert "charts appear as soon as one finishes" not in texts(at.info)
    assert not at.get("plotly_chart")
    assert at.dataframe  # the trials table still says how far each got


def test_no_trial_words_are_the_clis_once_the_search_finished() -> None:
    """The live view says what `knobs tune` says (``knobs.study.no_model_words``), and asks for
    a resume when the search was stopped; nothing while trials are to come."""
    from components.charts import no_trial_words
    from knobs.study import no_model_words

    name = _nothing_completed()
    handle = knobs.Search.open(name)
    trials = handle.trials()
    status = handle.status()
    said = no_trial_words(status, handle.plan, trials)
    assert said == no_model_words(trials, 30) and said.startswith(
        "No trial finished within the time budget (30 s"
    )
    stopped = dataclasses.replace(status, state="stopped")
    assert no_trial_words(stopped, handle.plan, trials).startswith(
        "No trial finished before the search stopped. Resume it"
    )
    running = dataclasses.replace(status, state="running")
    assert no_trial_words(running, handle.plan, trials) is None


# --- the live view's final model: what its test score is worth ------------------------------------


def _far_below_test(test_value: float) -> tuple[str, optuna.trial.FrozenTrial]:
    """A study whose one completed trial scored a CV AUC of 0.85 (folds 0.84 to 0.86) and whose
    final model scored ``test_value`` on its 80 held-out rows, stored as the search stores it."""
    from knobs.study.keys import CV, TEST_SCORE

    frame = pd.read_csv(sample_path("churn")).head(400)
    config = knobs.SearchConfig(target="churn", models=("logistic",), strategy="random",
                                n_trials=1, cv=3, workers=1)  # fmt: skip
    search = knobs.Search.create(frame, config, source="churn.csv")
    dist = {
        "model": optuna.distributions.CategoricalDistribution(["logistic"]),
        "logistic.C": optuna.distributions.FloatDistribution(1e-3, 1e3, log=True),
    }
    trial = optuna.trial.create_trial(
        value=0.85, params={"model": "logistic", "logistic.C": 1.0}, distributions=dist,
        user_attrs=CV.attr({"fold_scores": [0.84, 0.85, 0.86]}),
    )  # fmt: skip
    search.study.add_trial(trial)
    TEST_SCORE.set(search.study, {"trial": 0, "value": test_value, "final": None, "fit": None,
                                  "chosen": None})  # fmt: skip
    return search.name, trial


def test_live_final_model_says_a_test_score_far_below_the_cv() -> None:
    """`knobs tune` printed "note: The test score (0.6000) is far below the cross-validated
    0.8500 ..." while the live view's final-model box showed the same 0.6000 without a word:
    the box says the core's own caveat (``knobs.study.test_caveat``), not a second wording."""
    from knobs.study import test_caveat

    name, _ = _far_below_test(0.6)
    at = opened("live", name)
    assert not at.exception and not at.error
    box = texts(at.success)
    assert "**Test score:** 0.6000" in box
    handle = knobs.Search.open(name)
    caveat = test_caveat(handle.plan, handle.trials(), 0.6)
    assert caveat is not None and caveat.startswith(
        "The test score (0.6000) is far below the cross-validated 0.8500"
    )
    assert caveat in box
    # a test score within the folds' noise gets no caveat (80 test rows: not "a rough figure")
    from components.charts import final_model_words

    close = {"trial": 0, "value": 0.84}
    words = final_model_words(None, close, handle.plan, handle.trials())
    assert words is not None and "0.8400" in words and "far below" not in words
    assert "rough figure" not in words


def test_a_table_over_the_limit_is_refused_before_it_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The refused 10 MB upload sat under KNOBS_HOME/uploads all the same (kept for a reload
    before the reader refused it). It is refused as before, and nothing of it is written."""
    from knobs.study import knobs_home

    monkeypatch.setenv("KNOBS_MAX_UPLOAD_MB", "0.5")
    at = app().run()
    content = pd.concat([pd.read_csv(sample_path("churn"))] * 3).to_csv(index=False).encode()
    at.file_uploader(key=state.W_UPLOAD).set_value(("big.csv", content, "text/csv")).run()
    assert not at.exception
    assert "`big.csv` is " in texts(at.error) and "more than the 512.0 KB limit" in texts(at.error)
    uploads = knobs_home() / "uploads"
    assert not uploads.exists() or not [p.name for p in uploads.rglob("*")]
    small = pd.read_csv(sample_path("churn")).head(200).to_csv(index=False).encode()
    at.file_uploader(key=state.W_UPLOAD).set_value(("small.csv", small, "text/csv")).run()
    assert not at.exception and not at.error
    assert [p.name for p in uploads.rglob("*.csv")] == ["small.csv"]  # one within it is kept
