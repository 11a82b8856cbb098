"""`--storage postgresql://...`: the same search, exact budget and resume on a real server.

scripts/test.sh (and so CI) starts a throwaway PostgreSQL and sets KNOBS_TEST_POSTGRES.
"""

from __future__ import annotations

import os
import uuid

import pytest
from optuna.trial import TrialState

import knobs
from knobs.api import Search

URL = os.environ.get("KNOBS_TEST_POSTGRES")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not URL, reason="KNOBS_TEST_POSTGRES not set (scripts/test.sh sets it)"),
]


#: Trials that ran and ended: the budget counts both (a pruner may stop some after a fold).
ENDED = (TrialState.COMPLETE, TrialState.PRUNED)


def test_two_workers_on_postgres_meet_the_budget_and_resume(binary_table):
    name = f"pg-{uuid.uuid4().hex[:8]}"
    result = knobs.tune(
        binary_table, target="label", models="logistic", strategy="random",
        n_trials=8, cv=2, workers=2, study=name, storage=URL,
    )  # fmt: skip
    assert result.n_trials == 8
    search = Search.open(name, URL)
    assert sum(t.state in ENDED for t in search.trials()) == 8
    assert name in {r["study"] for r in knobs.studies(URL)}
    again = knobs.tune(study=name, resume=True, n_trials=11, storage=URL, workers=2)
    assert again.n_trials == 11
    assert sum(t.state in ENDED for t in search.trials()) == 11
    search.delete()
    assert name not in {r["study"] for r in knobs.studies(URL)}
