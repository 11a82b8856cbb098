"""The Explain section through AppTest: offer to compute, show the stored explanation (importance,
SHAP bar and beeswarm, one row), the weak-model warning and the subsample notice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from components import state
from knobs import explain
from tests.test_explain import STRONG, planted_study

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(ROOT)
    yield tmp_path / "home"


def _section(study: str, trial: int | None, pick: bool) -> None:
    from components.explain import section

    section(study, trial, pick=pick)


def open_section(study: str, trial: int | None = 2, *, pick: bool = False) -> AppTest:
    at = AppTest.from_function(_section, args=(study, trial, pick), default_timeout=TIMEOUT)
    return at.run()


def text(at: AppTest) -> str:
    parts = [str(e.value) for e in (*at.markdown, *at.caption, *at.info, *at.warning, *at.error)]
    return "\n".join(parts)


def charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


def test_offers_to_compute_then_shows_the_stored_explanation() -> None:
    name = planted_study()
    at = open_section(name)
    assert not at.exception and not at.error
    assert at.button(key=state.W_EXPLAIN_COMPUTE).label == "Compute explanations"
    assert not charts(at)
    explain.explain(name, trial=2, repeats=2)  # what the background job does
    at.run()
    assert not at.exception and not at.error
    assert not at.warning  # tuning clearly helped: no caution
    assert len(charts(at)) == 4  # importance, SHAP bar, beeswarm, the row
    assert "Permutation importance" in text(at)
    row = at.selectbox(key=state.W_EXPLAIN_ROW)
    assert len(row.options) == explain.load(name, trial=2)["shap"]["rows"]
    row.set_value(3).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert STRONG in set(table["column"])


def test_a_weak_model_is_flagged_and_a_subsample_is_announced() -> None:
    name = planted_study(tuned_gain=0.0001)
    explain.explain(name, trial=2, repeats=2, importance_rows=30, shap_rows=25)
    at = open_section(name)
    assert not at.exception and not at.error
    assert "barely better than the defaults" in at.warning[0].value
    shown = text(at)
    assert "random 30 of the" in shown and "random 25 of the" in shown
    assert len(at.selectbox(key=state.W_EXPLAIN_ROW).options) == 25


def test_the_analytics_picker_lists_the_studys_trials_best_first() -> None:
    name = planted_study()
    at = open_section(name, None, pick=True)
    assert not at.exception and not at.error
    picker = at.selectbox(key=state.study_widget(state.W_EXPLAIN_MODEL, name))
    assert picker.options[0].startswith("trial 2 · xgboost") and "best" in picker.options[0]
    assert any("defaults" in o for o in picker.options)


@pytest.mark.slow
def test_the_button_computes_in_the_background_and_the_section_follows() -> None:
    name = planted_study()
    at = open_section(name)
    at.button(key=state.W_EXPLAIN_COMPUTE).click().run()
    assert not at.exception and not at.error
    assert "Computing the explanations in the background" in text(at)
    deadline = time.time() + 120
    while explain.job_status(name, trial=2).state == "running" and time.time() < deadline:
        time.sleep(0.5)
    at.run()  # AppTest does not fire the poll timer: run again as the timer would
    assert not at.exception and not at.error, text(at)
    assert len(charts(at)) == 4


def _folded(study: str, trial: int) -> None:
    from components.explain import section

    section(study, trial, folded=True)


def test_folded_into_an_expander_on_the_export_page() -> None:
    name = planted_study()
    explain.explain(name, trial=2, repeats=2)
    at = AppTest.from_function(_folded, args=(name, 2), default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert at.expander[0].label.startswith("Explain this model")
    assert len(charts(at)) == 4


def test_the_analytics_page_has_the_explain_section() -> None:
    name = planted_study()
    explain.explain(name, trial=2, repeats=2)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["study"] = name
    at.run()
    at.switch_page("app_pages/analytics.py").run()
    assert not at.exception and not at.error, text(at)
    assert at.selectbox(key=state.study_widget(state.W_EXPLAIN_MODEL, name)).value == "trial:2"
    assert "Permutation importance" in text(at)
    assert at.selectbox(key=state.W_EXPLAIN_ROW) is not None
