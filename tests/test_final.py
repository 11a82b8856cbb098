"""The model a search ends with: its best trial, or a greedy ensemble that beats the fold noise."""

from __future__ import annotations

import numpy as np
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
    assert "fold-to-fold 95% margin" in final["why"] or "no margin can be told" in final["why"]
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
    if "beats the" in choice.why:
        assert "overrun the time budget" in choice.why


@pytest.mark.parametrize(
    ("gains", "chosen", "words"),
    [
        ([0.03, -0.004, 0.022, 0.002, 0.008], True, "a likely gain"),  # houses: +0.0116 vs ±0.0142
        ([0.012, 0.011, 0.013, 0.012, 0.010], True, "beats the margin"),
        ([0.03, -0.02, 0.01, -0.01, 0.0], False, "does not beat the fold noise"),
        ([-0.02, -0.03, -0.025, -0.02, -0.03], False, "is a loss"),
        # a lower score inside the margin is said as one, not as "does not beat the fold noise"
        ([0.004, -0.006, 0.001, -0.004, 0.0], False, "scores lower: no better (a loss within the 95%"),
        ([0.01], False, "cannot be told"),
        # "+0.0000 ... does not beat the fold noise of its gain (±0.0000)": the blend is the best
        ([0.0, 0.0, 0.0, 0.0, 0.0], False, "adds nothing: greedy selection kept the best single"),
    ],
)
def test_an_ensemble_is_delivered_when_its_gain_beats_one_standard_error(gains, chosen,
                                                                          words) -> None:  # fmt: skip
    """The delivered model is a bet on the expected score: beyond one standard error of the
    paired fold gains the ensemble goes out, and the words say whether the 95% margin agrees."""
    import numpy as np

    from knobs.ensembles._final import earns_its_place

    delivered, how = earns_its_place(float(np.mean(gains)), gains)
    assert delivered is chosen and words in how


def test_the_final_ensemble_chooses_among_model_families_not_near_copies(study, monkeypatch) -> None:
    """A search's top five are often one family's near-copies (houses: five ridge penalties
    within 0.0003 R²), whose blend cannot beat its best; the pool takes each family's best first."""
    from knobs.ensembles import _final

    home, result = study
    monkeypatch.setenv("KNOBS_HOME", home)
    seen = []

    def spy(*args, **kwargs):
        pool = ensembles.candidates(*args, **kwargs)
        seen.append(pool)
        return pool

    monkeypatch.setattr(_final, "candidates", spy)
    ensembles.final_choice(result.study, top=3)  # the three best trials are logistic
    families = {t.params["model"] for t in load_study(result.study).trials if t.value is not None}
    assert families == {"logistic", "random_forest"}
    assert {c.model for c in seen[0].candidates} == families


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


def test_the_delivered_model_is_refitted_on_every_row_after_its_test_score(study) -> None:
    """``final_fit="all"`` (the default): the test score is the training-split fit's, then the
    model handed over is refitted on the training and test rows; the report says which."""
    from sklearn.base import clone


    home, result = study
    plan = result.plan
    fit = result.to_dict()["final_fit"]
    assert fit["on"] == "all" and fit["rows"] == plan.n_train + plan.n_test
    assert "after the test split scored it" in fit["why"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", home)
        X_all, y_all = plan.load_split("all")
        X_test, _ = plan.load_split("test")
        again = clone(result.best_pipeline)
        fit_kw = {}
        if hasattr(result.best_pipeline, "weights_"):
            fit_kw = {"weights": result.best_pipeline.weights_}
        again.fit(X_all, y_all, **fit_kw)
    np.testing.assert_allclose(
        result.best_pipeline.predict_proba(X_test), again.predict_proba(X_test)
    )


def test_final_fit_train_keeps_the_scored_model(tmp_path, monkeypatch) -> None:
    """``final_fit="train"``: the model handed over is the one the test split scored."""
    from knobs import study as results

    monkeypatch.setenv("KNOBS_HOME", str(tmp_path))
    result = knobs.tune(
        make_table("binary", n=200), "label", models="logistic", strategy="random",
        n_trials=2, cv=3, workers=1, pruner="none", ensemble=False, final_fit="train",
    )  # fmt: skip
    fit = result.to_dict()["final_fit"]
    assert fit["on"] == "train" and fit["rows"] == result.plan.n_train
    X_test, y_test = result.plan.load_split("test")
    assert result.plan.metric_obj().score(result.best_pipeline, X_test, y_test) == pytest.approx(
        result.test_score
    )
    assert results.fit_final(result.plan, result.best_pipeline)[1] == result.plan.n_train


def test_the_refit_on_every_row_gives_way_to_the_time_budget(study) -> None:
    """A refit on every row that the training-split fit's time says would overrun the deadline
    is not made: the scored model is handed over, and the report says why."""
    import time

    home, result = study
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KNOBS_HOME", home)
        search = knobs.Search.open(result.study)
        kept, fit = search._deliver(result.best_pipeline, 30.0, time.time() + 5.0)
        assert kept is result.best_pipeline and fit["on"] == "train"
        assert "would overrun the time budget" in fit["why"]
        _refitted, fit = search._deliver(result.best_pipeline, 0.01, time.time() + 60.0)
        assert fit["on"] == "all"


def test_a_search_of_one_finished_trial_says_so_not_that_predictions_were_not_kept() -> None:
    """A tiny table stopped on a perfect first trial, and the final model's words blamed large
    tables and Dask for the missing out-of-fold predictions."""
    import numpy as np
    import pandas as pd

    import knobs

    rng = np.random.default_rng(2)
    x = rng.normal(size=40)
    frame = pd.DataFrame({"x": x, "y": np.where(x > 0, "yes", "no")})
    result = knobs.tune(frame, "y", models="logistic", n_trials=5, cv=2, workers=1,
                        study="one-done")  # fmt: skip
    assert result.n_trials == 1 and result.perfect
    assert result.final["why"] == "No ensemble: 1 trial finished, and a blend needs two."
    assert result.verdict["words"].endswith("in 1 scored trial.")
