"""Warm start from earlier studies: compatibility, what is queued and marked, the budget, resume."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from optuna.trial import TrialState

import knobs
from knobs.config import SearchConfig
from knobs.errors import ConfigError, StudyError
from knobs.models import Param
from knobs.study import Search, list_studies
from knobs.study.keys import BASELINE, START, WARM
from knobs.transfer import (
    compatible_studies,
    group_by_schema,
    plan_warm_start,
    related_studies,
    schema_of,
    study_warm_report,
)
from tests.conftest import make_table, pruned_study


def _waiting(search: Search) -> list:
    return search.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))


@pytest.fixture()
def source() -> str:
    """A finished logistic study on the binary table: its best trial is trial 1 (C=1.0, 0.84)."""
    return pruned_study(make_table("binary"), "label")


def _config(source: str, **changes) -> SearchConfig:
    base = dict(target="label", models=("logistic",), n_trials=6, cv=3, workers=1,
                warm_start=(source,))  # fmt: skip
    return SearchConfig(**{**base, **changes})


def test_a_compatible_study_queues_its_best_config_marked_after_the_defaults(source):
    new = make_table("binary", seed=1)
    search = Search.create(new, _config(source, models=("logistic", "xgboost")))
    waiting = _waiting(search)
    warm = [t for t in waiting if WARM.get(t)]
    assert len(warm) == 1
    (t,) = warm
    assert WARM.get(t) == {"study": source, "trial": 1, "old_value": 0.84}
    assert t.system_attrs["fixed_params"] == {
        "model": "logistic",
        "logistic.C": 1.0,
    }
    # Right after the defaults trials (the bar to beat), before the known-good starts.
    defaults = [u for u in waiting if BASELINE.get(u)]
    starts = [u for u in waiting if START.get(u)]
    assert defaults and max(u.number for u in defaults) < t.number
    assert starts and t.number < min(u.number for u in starts)
    # Nothing of the old study's scores is in the new one.
    assert all(u.value is None for u in search.trials())
    notice = search.plan.notices[-1]
    assert "raise the budget" not in notice  # 6 trials: the defaults, then the warm trial
    assert notice.startswith(f"Warm start from `{source}`")
    assert f"logistic (trial 1 of `{source}`)" in notice and "Old scores do not count" in notice


def test_what_does_not_carry_over_is_said_in_the_notice(source):
    # xgboost only: the old study's logistic family is absent from the new search.
    search = Search.create(make_table("binary", seed=1), _config(source, models=("xgboost",)))
    assert not [t for t in _waiting(search) if WARM.get(t)]
    assert "this search does not try logistic" in search.plan.notices[-1]
    # A budget the defaults trial uses up: the notice says the warm trial will not run.
    small = Search.create(make_table("binary", seed=1), _config(source, n_trials=1))
    assert (
        "so none of the 1 warm trial(s) will run: raise the budget to at least 2"
        in (small.plan.notices[-1])
    )
    # A narrowed range: the old C=1.0 lies outside, so C is sampled afresh (and said so).
    narrow = {"logistic": (Param("C", "float", 1e-3, 0.5, log=True),)}
    search = Search.create(make_table("binary", seed=1), _config(source, space=narrow))
    (t,) = [t for t in _waiting(search) if WARM.get(t)]
    assert t.system_attrs["fixed_params"] == {"model": "logistic"}
    assert "`logistic.C`=1.0 outside [0.001, 0.5, log]" in search.plan.notices[-1]
    # Dropped and added columns are named.
    changed = make_table("binary", seed=1).drop(columns=["count"])
    changed["rooms"] = [i % 5 for i in range(len(changed))]
    notice = Search.create(changed, _config(source)).plan.notices[-1]
    assert "columns dropped since: `count`" in notice and "columns added since: `rooms`" in notice


#: The logistic family's known-good start (``ModelSpec.starts``) as a study's point.
LOGISTIC_START = {"model": "logistic", "logistic.C": 0.1, "logistic.class_weight": None}


def _score_start_in(study: str, value: float) -> None:
    """Add the logistic known-good start to ``study``, scored ``value``."""
    import optuna

    dists = {
        "model": optuna.distributions.CategoricalDistribution(["logistic"]),
        "logistic.C": optuna.distributions.FloatDistribution(1e-3, 1e3, log=True),
        "logistic.class_weight": optuna.distributions.CategoricalDistribution([None, "balanced"]),
    }
    Search.open(study).study.add_trial(
        optuna.trial.create_trial(params=LOGISTIC_START, distributions=dists, value=value)
    )


def test_a_warm_config_that_is_also_a_known_good_start_is_queued_once(source):
    # The old study's best is the logistic known-good start itself (C=0.1, no class weight).
    _score_start_in(source, 0.9)
    params = LOGISTIC_START
    search = Search.create(make_table("binary", seed=1), _config(source))
    # Queued once: as the warm trial (right after the defaults), the same start is not repeated.
    assert [t.system_attrs["fixed_params"] for t in _waiting(search) if WARM.get(t)] == [params]
    assert not [t for t in _waiting(search) if START.get(t)]
    # ... and the notice does not call it a start "not tried again": it is tried, as the warm trial.
    assert "not tried again" not in search.plan.notices[-1]


@pytest.mark.parametrize(
    ("table", "target", "message"),
    [
        (make_table("regression"), "label", "it learned a binary task and this table is a regression"),
        (make_table("multiclass"), "label", "it learned a binary task and this table is a multiclass"),
        (make_table("binary").rename(columns=lambda c: f"new_{c}" if c != "label" else c), "label",
         "shares no column"),
    ],
)  # fmt: skip
def test_an_incompatible_study_is_refused_with_the_reason_and_leaves_nothing(
    source, table, target, message
):
    before = {r["study"] for r in list_studies()}
    with pytest.raises(StudyError, match=message):
        Search.create(table, _config(source, target=target, models=("auto",)))
    assert {r["study"] for r in list_studies()} == before


def test_an_unknown_or_self_source_is_refused():
    with pytest.raises(StudyError, match="no such study"):
        Search.create(make_table("binary"), _config("nope"))
    with pytest.raises(StudyError, match="cannot warm start from itself"):
        Search.create(make_table("binary"), _config("me"), name="me")
    assert list_studies() == []


def test_warm_start_is_validated_and_old_stored_configs_still_load():
    with pytest.raises(ConfigError, match="applies to a new study"):
        knobs.tune(study="any", resume=True, warm_start=["old"])
    assert SearchConfig(target="y", warm_start="a, b").warm_start == ("a", "b")
    with pytest.raises(ConfigError, match="names a study twice"):
        SearchConfig(target="y", warm_start=("a", "a"))
    config = SearchConfig(target="y", warm_start=("a",))
    assert SearchConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    old = config.to_dict()
    del old["warm_start"]
    assert SearchConfig.from_dict(old).warm_start == ()


def test_the_picker_offers_only_compatible_studies_and_related_ones_share_the_schema(source):
    binary = knobs.data.prepare(make_table("binary", seed=2), "label")
    regression = knobs.data.prepare(make_table("regression"), "label")
    rows = compatible_studies(binary)
    assert [r["study"] for r in rows] == [source] and rows[0]["differences"] == []
    assert compatible_studies(regression) == []
    related = related_studies(binary)
    assert [r["study"] for r in related] == [source] and not related[0]["same_data"]
    assert related_studies(knobs.data.prepare(make_table("binary"), "label"))[0]["same_data"]
    assert related_studies(regression) == []
    other = knobs.data.prepare(make_table("binary").drop(columns=["count"]), "label")
    assert related_studies(other) == [] and [r["study"] for r in compatible_studies(other)]
    assert list(group_by_schema()) == [schema_of(binary).key]


def test_best_per_family_picks_by_the_source_direction(source):
    src = Search.open(source)
    plan = Search.create(make_table("binary", seed=3), _config(source, warm_start=())).plan
    warm = plan_warm_start(plan, [(source, src.plan, src.trials(), _compat(plan, src.plan))])
    assert [(c.model, c.trial, c.old_value) for c in warm.carried] == [("logistic", 1, 0.84)]


def _compat(new, old):
    from knobs.transfer import compare

    return compare(schema_of(new), schema_of(old), "src")


@pytest.mark.slow
def test_warm_search_runs_the_queued_trial_counts_only_new_trials_and_resumes(source, tmp_path):
    csv = tmp_path / "new.csv"
    make_table("binary", seed=1).to_csv(csv, index=False)
    report = tmp_path / "r.json"
    run = subprocess.run(
        [sys.executable, "-m", "knobs.cli", "tune", str(csv), "--target", "label", "--models",
         "logistic", "--trials", "4", "--cv", "3", "--workers", "1", "--study", "warm",
         "--warm-start", source, "--no-ensemble", "--json", str(report)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert f"note: Warm start from `{source}`" in run.stderr
    # The source's 3 scored tuned trials are TPE's prior too (its defaults trial is not).
    assert (
        f"warm start from {source}: 1 trial(s) queued, 3 earlier trial(s) as the sampler's prior"
        in run.stdout
    )
    data = json.loads(report.read_text())
    assert data["warm_start"]["prior_trials"] == 3
    assert data["n_trials"] == 4  # the budget counts this study's trials only
    (row,) = data["warm_start"]["trials"]
    assert row["source_study"] == source and row["source_trial"] == 1 and row["state"] == "COMPLETE"
    assert row["value"] is not None and row["old_value"] == 0.84
    assert any(n.startswith("Warm start from") for n in data["notices"])
    # Old scores never became this study's: every complete trial was scored here.
    search = Search.open("warm")
    assert len(search.trials()) == 4 and all(
        t.state == TrialState.COMPLETE for t in search.trials()
    )
    # Resume to a larger budget: the warm-started study continues like any other.
    result = knobs.tune(study="warm", resume=True, n_trials=6, workers=1, refit=False)
    assert result.n_trials == 6
    assert len(study_warm_report("warm")["trials"]) == 1


def test_known_good_starts_the_source_already_scored_are_not_tried_again(source):
    # The old study scored the logistic known-good start (C=0.1, no class weight) below its best.
    _score_start_in(source, 0.5)
    start = LOGISTIC_START
    cold = Search.create(make_table("binary", seed=1), _config(source, warm_start=()))
    assert [t.system_attrs["fixed_params"] for t in _waiting(cold) if START.get(t)] == [start]
    warm = Search.create(make_table("binary", seed=1), _config(source))
    waiting = _waiting(warm)
    assert not [t for t in waiting if START.get(t)]
    assert [t.system_attrs["fixed_params"]["logistic.C"] for t in waiting if WARM.get(t)] == [1.0]
    assert "1 known-good starting point(s) not tried again" in warm.plan.notices[-1]
    # A start the source never tried (XGBoost's) is still queued.
    both = Search.create(
        make_table("binary", seed=1), _config(source, models=("logistic", "xgboost"))
    )
    assert {t.system_attrs["fixed_params"]["model"] for t in _waiting(both) if START.get(t)} == {
        "xgboost"
    }
