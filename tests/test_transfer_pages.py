"""Transfer learning on the pages, through AppTest from the entry point: the Search page's
"Start from earlier studies" picker and the Export page's Fine-tune section."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import knobs
from components import state
from knobs.data import sample_path
from knobs.study.keys import WARM
from tests.conftest import make_table, pruned_study

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(ROOT)
    st.cache_data.clear()  # the Search page keeps its list of earlier studies for 15 s
    yield tmp_path / "home"
    for name in [s["study"] for s in knobs.studies()]:
        knobs.Search.open(name).stop()  # no worker outlives its test


def texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in (*at.markdown, *at.caption, *at.info, *at.warning))


def search_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("app_pages/search.py").run()
    assert not at.exception and not at.error
    return at


def churn_study() -> str:
    """A finished study on the churn sample the app opens with (same schema as the page's)."""
    from knobs.data import read_table

    return pruned_study(read_table(sample_path("churn")).frame, "churn", source="churn.csv")


def test_the_picker_lists_only_compatible_studies_and_counts_related_ones() -> None:
    at = search_page()
    assert "No finished study of the same task shares columns" in texts(at)
    compatible = churn_study()
    pruned_study(make_table("binary"), "label", source="other.csv")  # binary, no shared column
    houses = knobs.data.read_table(sample_path("houses")).frame
    target = "price" if "price" in houses.columns else houses.columns[-1]
    pruned_regression = knobs.SearchConfig(target=target, models=("linear",), n_trials=2)
    knobs.Search.create(houses, pruned_regression)  # a regression: never offered
    st.cache_data.clear()  # a user would wait the 15 s the page keeps its list
    at = search_page()
    (option,) = at.multiselect(key=state.W_WARM_START).options
    assert option.startswith(f"{compatible} · churn.csv · best roc_auc 0.8400 · this table")
    assert "**1 earlier study on tables like this one**" in texts(at)
    assert "1 on this very table" in texts(at)


@pytest.mark.slow
def test_starting_from_an_earlier_study_queues_its_best_config_and_says_so() -> None:
    source = churn_study()
    at = search_page()
    at.toggle(key=state.W_AUTO_MODELS).set_value(False).run()
    at.multiselect(key=state.W_MODELS).set_value(["logistic"]).run()
    at.multiselect(key=state.W_WARM_START).set_value([source]).run()
    at.number_input(key=state.W_TRIALS).set_value(3).run()
    at.number_input(key=state.W_FOLDS).set_value(2).run()
    at.number_input(key=state.W_WORKERS).set_value(1).run()
    at.button(key=state.W_START).click().run()
    assert not at.exception and not at.error
    name = at.session_state["knobs.study"]
    assert name != source
    search = knobs.Search.open(name)
    assert search.plan.config.warm_start == (source,)
    assert [WARM.get(t)["study"] for t in search.trials() if WARM.get(t)] == [source]
    search.stop()
    at.switch_page("app_pages/search.py").run()  # the current-search box repeats the notice
    assert not at.exception
    assert f"Warm start from `{source}`" in texts(at)


def _bundle_zip(tmp_path: Path) -> bytes:
    from knobs.export import export_study

    config = knobs.SearchConfig(target="label", models=("logistic",), n_trials=2, cv=2)
    search = knobs.Search.create(make_table("binary", n=200), config)
    import optuna

    dist = {"model": optuna.distributions.CategoricalDistribution(["logistic"])}
    search.study.add_trial(
        optuna.trial.create_trial(params={"model": "logistic"}, distributions=dist, value=0.8)
    )
    out = tmp_path / "bundle.zip"
    export_study(search.name, "skops", out)
    return out.read_bytes()


def _new_rows() -> bytes:
    frame = make_table("regression", n=240, seed=4)
    frame["label"] = np.where(frame["label"] - 3 * frame["x1"] > 9.0, "yes", "no")
    return frame.to_csv(index=False).encode()


def test_the_export_page_fine_tunes_an_uploaded_bundle(tmp_path: Path) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("app_pages/export.py").run()
    assert not at.exception
    assert "Fine-tune a saved model on new rows" in [s.value for s in at.subheader]
    at.file_uploader(key=state.W_FT_MODEL).set_value(
        ("bundle.zip", _bundle_zip(tmp_path), "application/zip")
    )
    at.file_uploader(key=state.W_FT_DATA).set_value(("new.csv", _new_rows(), "text/csv"))
    at.run()
    at.button(key=state.W_FT_RUN).click().run()
    assert not at.exception and not at.error
    labels = [m.label for m in at.metric]
    assert any(label.startswith("Fine-tuned") for label in labels)
    assert any(label.startswith("From scratch") for label in labels)
    assert "held-out new rows" in texts(at) and "tuned on 180 rows" in texts(at)
    assert "knobs.finetuned" in at.session_state  # the result survives reruns, not refits
    at.run()
    assert not at.exception and any(m.label.startswith("Fine-tuned") for m in at.metric)


def test_the_export_page_refuses_a_bundle_it_cannot_fine_tune(tmp_path: Path) -> None:
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("card.json", '{"format": "joblib", "model": {"family": "logistic"}}')
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("app_pages/export.py").run()
    at.file_uploader(key=state.W_FT_MODEL).set_value(
        ("b.zip", broken.getvalue(), "application/zip")
    )
    at.file_uploader(key=state.W_FT_DATA).set_value(("new.csv", _new_rows(), "text/csv"))
    at.run()
    at.button(key=state.W_FT_RUN).click().run()
    assert not at.exception
    assert any("never loads" in str(e.value) for e in at.error)
