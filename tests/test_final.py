"""The model a search ends with: its best trial, or a greedy ensemble that beats the fold noise."""

from __future__ import annotations

import pytest

import knobs
from knobs import ensembles
from knobs.export import export_study
from knobs.study import load_study
from knobs.study.keys import FINAL
from tests.conftest import make_table

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> str:
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", str(home))
        result = knobs.tune(
            make_table("binary", n=300), "label", models="logistic,random_forest",
            strategy="random", n_trials=8, cv=3, workers=1, pruner="none",
        )  # fmt: skip
    return str(home), result


def test_tune_reports_and_stores_the_final_choice(study) -> None:
    home, result = study
    final = result.final
    assert final["kind"] in ("single", "ensemble")
    assert "fold-to-fold noise" in final["why"]
    assert result.to_dict()["final"] == final
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", home)
        assert FINAL.get(load_study(result.study)) == final


def test_an_ensemble_that_cannot_refit_in_the_time_left_gives_way(study) -> None:
    home, result = study
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", home)
        choice, estimator = ensembles.final_choice(result.study, budget_s=0.0)
    assert choice.kind == "single" and estimator is None
    if "beats the noise" in choice.why:
        assert "overrun the time budget" in choice.why


def test_export_without_a_trial_exports_the_final_ensemble(study, tmp_path) -> None:
    home, result = study
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", home)
        report = ensembles.build_ensemble(result.study, "greedy", top=3)
        s = load_study(result.study)
        FINAL.set(s, {"kind": "ensemble", "why": "test", "ensemble_id": report.id})
        exported = export_study(result.study, "skops", tmp_path / "final")
    assert exported.card["model"]["family"].startswith("ensemble:")
    assert exported.card["study"] == result.study


def test_no_ensemble_keeps_the_best_single_trial(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path))
    result = knobs.tune(
        make_table("binary", n=200), "label", models="logistic", strategy="random",
        n_trials=3, cv=3, workers=1, ensemble=False,
    )  # fmt: skip
    assert result.final is None and result.to_dict()["final"] is None
