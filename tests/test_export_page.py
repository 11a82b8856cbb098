"""The Export page through AppTest, from the entry point: pick, build, read the card, download."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import knobs
from components import state
from components.export import study_download
from knobs.export import load_bundle_bytes
from tests.conftest import make_table

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(ROOT)
    yield tmp_path / "home"


def finished_study(tmp_path: Path) -> str:
    data = tmp_path / "loans.csv"
    make_table("binary").to_csv(data, index=False)
    knobs.tune(str(data), "label", models="xgboost", n_trials=2, cv=2, workers=1, study="page-exp",
               refit=False)  # fmt: skip
    return "page-exp"


def open_export(study: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if study:
        at.query_params["study"] = study
    at.run()
    at.switch_page("app_pages/export.py").run()
    return at


def text(at: AppTest) -> str:
    parts = [str(e.value) for e in (*at.markdown, *at.caption, *at.info, *at.warning)]
    return "\n".join(parts)


def test_without_studies_the_page_says_what_to_do() -> None:
    at = open_export()
    assert not at.exception and not at.error
    assert "No study has a finished trial yet" in text(at)


@pytest.mark.slow
def test_build_shows_the_card_and_a_download(tmp_path: Path) -> None:
    name = finished_study(tmp_path)
    at = open_export(name)
    assert not at.exception and not at.error
    assert at.selectbox(key=state.W_EXPORT_STUDY).value == name
    assert not at.get("download_button")  # nothing built yet
    at.button(key=state.W_EXPORT_BUILD).click().run()
    assert not at.exception and not at.error
    buttons = at.get("download_button")
    assert len(buttons) == 1 and "Download skops bundle (.zip" in buttons[0].proto.label
    page = text(at)
    assert [t.label for t in at.tabs] == ["Model card", "Score a new CSV"]
    for part in ("Study `page-exp`", "#### Input schema", "`x2 [cm]`", "How to load it"):
        assert part in page
    assert [m.label for m in at.metric] == ["CV ROC AUC", "Test ROC AUC", "Defaults (CV)"]

    # The bytes behind the button come from the same function; they hold a loadable bundle.
    choice = at.selectbox(key=state.study_widget(state.W_EXPORT_TRIAL, name)).value
    assert choice.startswith("trial:")
    trial = int(choice.removeprefix("trial:"))
    data, card = study_download(name, trial, "skops")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert {"model.skops", "card.json", "card.md", "train.py"} <= set(zf.namelist())
    assert load_bundle_bytes(data).card["model"]["trial"] == trial == card["model"]["trial"]

    at.selectbox(key=state.W_EXPORT_FORMAT).set_value("joblib").run()
    assert not at.exception
    assert "runs code stored in it" in text(at)
    assert not at.get("download_button")  # a new format needs a new build

    at.selectbox(key=state.W_EXPORT_FORMAT).set_value("onnx").run()
    at.button(key=state.W_EXPORT_BUILD).click().run()
    assert not at.exception and not at.error
    assert "ONNX check: max |difference|" in text(at)


@pytest.mark.slow
def test_a_kept_ensemble_is_offered_and_exports(tmp_path: Path) -> None:
    from knobs import ensembles

    name = finished_study(tmp_path)
    report = ensembles.build_ensemble([name], "voting", top=2)
    at = open_export(name)
    options = at.selectbox(key=state.study_widget(state.W_EXPORT_TRIAL, name)).options
    assert any("voting ensemble of" in o for o in options)
    picker = state.study_widget(state.W_EXPORT_TRIAL, name)
    at.selectbox(key=picker).set_value(f"ensemble:{report.id}").run()
    at.button(key=state.W_EXPORT_BUILD).click().run()
    assert not at.exception and not at.error
    assert "**voting ensemble of 2 trials** · skops" in text(at)
    assert "best single trial (CV)" in text(at)
    assert len(at.get("download_button")) == 1


def test_the_searchs_final_ensemble_is_offered_first_and_said_delivered(tmp_path: Path) -> None:
    """A search that ended with a greedy ensemble: the live view and `knobs export` delivered
    it, while the Export page preselected the best trial and listed the ensemble last."""
    from knobs import ensembles
    from knobs.study.keys import FINAL

    name = finished_study(tmp_path)
    report = ensembles.build_ensemble([name], "greedy", top=2)
    ensembles.save(report.to_dict())
    FINAL.set(knobs.Search.open(name).study, {"kind": "ensemble", "ensemble_id": report.id})
    at = open_export(name)
    picker = at.selectbox(key=state.study_widget(state.W_EXPORT_TRIAL, name))
    assert picker.value == f"ensemble:{report.id}"
    assert "delivered: the search's final model" in picker.options[0]
