"""The Ensemble page through AppTest, from ``app.py``, on real studies made with the public API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import knobs
from components import ensemble as ui
from knobs import ensembles
from knobs.data import sample_path

ROOT = Path(__file__).resolve().parents[1]


def _study(sample: str, target: str, models: tuple[str, ...], rows: int, trials: int) -> str:
    frame = pd.read_csv(sample_path(sample)).head(rows)
    config = knobs.SearchConfig(
        target=target, models=models, strategy="random", n_trials=trials, cv=3, workers=1
    )
    search = knobs.Search.create(frame, config, source=f"{sample}.csv")
    search.start()
    search.wait(poll_s=0.2)
    return search.name


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("ens-page-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", str(home))
        yield {
            "home": str(home),
            "churn": _study("churn", "churn", ("logistic", "random_forest"), 400, 6),
            "houses": _study("houses", "price", ("linear",), 200, 2),
        }


@pytest.fixture(autouse=True)
def knobs_home(made: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Overrides conftest's: every test here reads the module's studies."""
    monkeypatch.setenv("KNOBS_HOME", made["home"])
    monkeypatch.chdir(ROOT)
    return made["home"]


def page(study: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    if study:
        at.query_params["study"] = study
    at.run()
    return at.switch_page("app_pages/ensemble.py").run()


def texts(elements) -> str:  # noqa: ANN001 - an AppTest ElementList
    return "\n".join(str(e.value) for e in elements)


def test_candidates_heatmap_build_and_keep(made: dict[str, str]) -> None:
    at = page(made["churn"])
    assert not at.exception
    assert not at.error, texts(at.error)
    assert at.multiselect(key=ui.W_STUDIES).value == [made["churn"]]
    assert at.number_input(key=ui.W_TOP).value == 5
    assert len(at.dataframe) >= 1  # the candidates
    assert at.get("plotly_chart"), "the correlation heatmap is drawn"
    at.number_input(key=ui.W_TOP).set_value(3).run()
    at.radio(key=ui.W_KIND).set_value("greedy").run()
    at.button(key=ui.W_BUILD).click().run()
    assert not at.exception
    assert not at.error, texts(at.error)
    labels = [m.label for m in at.metric]
    assert "Ensemble CV ROC AUC" in labels and "Best single test ROC AUC" in labels
    verdict = texts(at.success) + texts(at.warning)
    assert "The ensemble helps" in verdict or "does not help" in verdict or "Mixed" in verdict
    assert len(at.get("plotly_chart")) == 2  # heatmap + ensemble vs members
    assert ensembles.list_ensembles(made["churn"]) == []  # nothing kept before asked
    at.button(key=ui.W_KEEP).click().run()
    assert not at.exception
    kept = ensembles.list_ensembles(made["churn"])
    assert len(kept) == 1 and kept[0]["kind"] == "greedy"
    assert f"Kept as `{kept[0]['id']}`" in texts(at.success)


def test_voting_and_stacking_options_show_per_kind(made: dict[str, str]) -> None:
    at = page(made["churn"])
    at.radio(key=ui.W_KIND).set_value("voting").run()
    assert at.radio(key=ui.W_VOTING).value == "soft"
    at.radio(key=ui.W_VOTING).set_value("hard").run()
    at.button(key=ui.W_BUILD).click().run()
    assert not at.exception
    assert "Hard voting predicts labels only" in texts(at.error)  # ROC AUC needs scores
    at.radio(key=ui.W_KIND).set_value("stacking").run()
    assert at.selectbox(key=ui.W_META).value == "logistic"
    at.button(key=ui.W_BUILD).click().run()
    assert not at.exception and not at.error
    assert any(m.label.startswith("Ensemble CV") for m in at.metric)


def test_mixing_tables_is_refused_on_the_page(made: dict[str, str]) -> None:
    at = page(made["churn"])
    at.multiselect(key=ui.W_STUDIES).set_value([made["churn"], made["houses"]]).run()
    assert not at.exception
    message = texts(at.error)
    assert "different tables" in message
    assert made["churn"] in message and made["houses"] in message
