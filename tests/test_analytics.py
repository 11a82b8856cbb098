"""Study analytics: trial selection, the per-worker timeline, and every Optuna plot we call.

Trials are built by hand the way Knobs stores them (a defaults trial holding only ``model``,
prefixed parameters of two model families, failed and pruned trials, worker identities), so the
answers are known.
"""

from __future__ import annotations

import datetime as dt
import time

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from knobs import visualization as V
from knobs.errors import ConfigError
from knobs.study.keys import BASELINE, WORKER

T0 = dt.datetime(2026, 1, 1, 12, 0, 0)
MODELS = CategoricalDistribution(["xgboost", "logistic"])
XGB = {"xgboost.max_depth": IntDistribution(2, 10), "xgboost.eta": FloatDistribution(0.01, 0.3)}
LOG = {"logistic.C": FloatDistribution(1e-3, 1e3, log=True)}


def _trial(number, model, params, value, *, state=TrialState.COMPLETE, baseline=False, pid=1,
           start=0.0, dur=1.0, steps=None):  # fmt: skip
    dists = {"model": MODELS, **{k: (XGB | LOG)[k] for k in params}}
    attrs = WORKER.attr({"host": "h", "pid": pid})
    if baseline:
        attrs |= BASELINE.attr(True)
    t = optuna.trial.create_trial(
        params={"model": model, **params},
        distributions=dists,
        value=value if state == TrialState.COMPLETE else None,
        state=state,
        user_attrs=attrs,
        intermediate_values=steps or {},
    )
    t.number = number
    t.datetime_start = T0 + dt.timedelta(seconds=start)
    t.datetime_complete = t.datetime_start + dt.timedelta(seconds=dur)
    return t


@pytest.fixture
def trials():
    out = [
        _trial(0, "xgboost", {}, 0.70, baseline=True, pid=1, start=0),
        _trial(1, "logistic", {}, 0.65, baseline=True, pid=2, start=0),
    ]
    rng = __import__("random").Random(0)
    for i in range(2, 14):
        md, eta = rng.randint(2, 10), rng.uniform(0.01, 0.3)
        out.append(
            _trial(i, "xgboost", {"xgboost.max_depth": md, "xgboost.eta": eta},
                   0.6 + 0.02 * md + eta / 10, pid=1 + i % 2, start=i, steps={0: 0.5, 1: 0.6})
        )  # fmt: skip
    out.append(_trial(14, "logistic", {"logistic.C": 1.0}, 0.66, pid=2, start=14))
    out.append(_trial(15, "logistic", {"logistic.C": 10.0}, 0.67, pid=2, start=15))
    out.append(_trial(16, "xgboost", {"xgboost.max_depth": 3}, None, state=TrialState.FAIL))
    out.append(_trial(17, "xgboost", {"xgboost.max_depth": 4}, None, state=TrialState.PRUNED))
    return out


def _every_state(trials, model):
    """What the Analytics page feeds the parameter plots: one model, every state, unprefixed."""
    return V.tuned_trials(trials, model, scored_only=False)


def test_select_by_state_baseline_and_model(trials) -> None:
    assert len(V.select(trials, V.Selection())) == 17  # failed off by default, pruned on
    assert len(V.select(trials, V.Selection(failed=True))) == 18
    assert len(V.select(trials, V.Selection(pruned=False))) == 16
    no_base = V.select(trials, V.Selection(baseline=False))
    assert all(not BASELINE.get(t) for t in no_base) and len(no_base) == 15
    xgb = V.select(trials, V.Selection(model="xgboost", baseline=False))
    assert {t.params["model"] for t in xgb} == {"xgboost"} and len(xgb) == 13


def test_unprefixed_keeps_one_models_space(trials) -> None:
    tuned = _every_state(trials, "xgboost")
    assert len(tuned) == 14  # 12 complete + failed + pruned, defaults left out
    assert set(tuned[0].params) == {"max_depth", "eta"}
    assert V.params_varied_in_complete(tuned) == ["eta", "max_depth"]
    assert V.tuned_counts(trials) == {"xgboost": 12, "logistic": 2}


def test_the_live_view_gets_scored_trials_only(trials) -> None:
    scored = V.tuned_trials(trials, "xgboost")
    assert len(scored) == 12 and {t.state for t in scored} == {TrialState.COMPLETE}
    assert V.tuned_counts(trials, minimum=3) == {"xgboost": 12}


def test_a_parameter_moved_only_by_a_failed_trial_did_not_vary() -> None:
    same = [_trial(i, "logistic", {"logistic.C": 1.0}, 0.6, start=i) for i in range(3)]
    odd = _trial(3, "logistic", {"logistic.C": 5.0}, None, state=TrialState.FAIL)
    tuned = _every_state([*same, odd], "logistic")
    assert len(tuned) == 4 and V.params_varied_in_complete(tuned) == []
    with pytest.raises(ConfigError, match="several values"):
        V.importance_figure(tuned, "maximize")


def test_worker_timeline_rows_per_process(trials) -> None:
    bars = V.worker_timeline(trials)
    assert {b.worker for b in bars} == {"h:1", "h:2"}
    first = next(b for b in bars if b.number == 3)
    assert (first.start_s, first.end_s, first.state) == (3.0, 4.0, "COMPLETE")
    assert any(b.state == "FAIL" for b in bars)
    fig = V.worker_timeline_figure(bars)
    assert {t.name for t in fig.data} >= {"complete", "fail", "pruned"}
    assert V.worker_timeline([]) == []


def test_every_optuna_plot_builds(trials) -> None:
    chosen = V.select(trials, V.Selection(failed=True))
    tuned = _every_state(trials, "xgboost")
    figs = {
        "history": V.optimization_history_figure(chosen, "maximize", "AUC"),
        "edf": V.edf_figure(chosen, "maximize"),
        "timeline": V.timeline_figure(chosen, "maximize"),
        "fanova": V.importance_figure(tuned, "maximize", method="fanova"),
        "ped": V.importance_figure(tuned, "maximize", method="ped_anova"),
        "parallel": V.parallel_figure(tuned, "maximize"),
        "slice": V.slice_figure(tuned, "maximize"),
        "contour": V.contour_figure(tuned, "maximize", "eta", "max_depth"),
        "intermediate": V.intermediate_figure(chosen, "maximize"),
    }
    for key, fig in figs.items():
        assert fig.data, key
    # max_depth drives the synthetic score (0.02 per step vs eta/10): fANOVA must say so
    bars = figs["fanova"].data[0]
    ranked = dict(zip(bars.y, bars.x, strict=True))
    assert ranked["max_depth"] > ranked["eta"]
    assert V.has_intermediate(chosen)


def test_bad_requests_get_clear_errors(trials) -> None:
    tuned = _every_state(trials, "xgboost")
    with pytest.raises(ConfigError, match="two different parameters"):
        V.contour_figure(tuned, "maximize", "eta", "eta")
    with pytest.raises(ConfigError, match="`gamma` did not vary"):
        V.contour_figure(tuned, "maximize", "eta", "gamma")
    with pytest.raises(ConfigError, match="must be one of"):
        V.importance_figure(tuned, "maximize", method="shap")
    with pytest.raises(ConfigError, match="several values"):
        V.importance_figure(_every_state(trials, "logistic")[:1], "maximize")


# --- the page --------------------------------------------------------------------------------


@pytest.mark.slow
def test_analytics_refreshes_while_its_study_runs() -> None:
    """Issue 14, 2.6: the page had no timer, so a running study's charts stood still."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    import knobs
    from bench.ui_scale import build_study
    from components import state

    build_study("an-running", 30)
    search = knobs.Search.open("an-running")
    search.start(workers=1, n_trials=search.budget() + 400)
    try:
        at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"),
                               default_timeout=60)  # fmt: skip
        at.query_params[state.QUERY_STUDY] = "an-running"
        at.run()
        at.switch_page("app_pages/analytics.py").run()
        assert not at.exception and not at.error
        captions = "\n".join(str(c.value) for c in at.caption)
        assert "The search is running: these charts refresh every 1 s." in captions
        assert at.selectbox(key=state.W_AN_STUDY).value == "an-running"
        shown = next(str(c.value) for c in at.caption if "trials shown" in str(c.value))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # what the timer does in a browser
            time.sleep(1.0)
            at.run()
            assert not at.exception
            now = next(str(c.value) for c in at.caption if "trials shown" in str(c.value))
            if now != shown:
                break
        assert now != shown, "no new trial reached the page"
    finally:
        search.stop()
    at.run()
    assert not at.exception
    assert "refresh every" not in "\n".join(str(c.value) for c in at.caption)
