from __future__ import annotations

import pytest

from knobs.data import prepare
from knobs.models import REGISTRY
from knobs.study import estimate, probe_fit_seconds
from tests.conftest import make_table


def test_probe_times_a_real_fit():
    ds = prepare(make_table("binary", n=300), "label")
    seconds = probe_fit_seconds(ds, REGISTRY["logistic"])
    assert seconds is not None and 0 < seconds < 30


def test_estimate_scales_with_trials_and_workers():
    one = estimate([1.0], trials=20, minutes=None, folds=5, test_size=0.2, workers=1)
    two = estimate([1.0], trials=20, minutes=None, folds=5, test_size=0.2, workers=2)
    assert one.seconds > two.seconds > 0
    assert one.per_trial_s == pytest.approx(two.per_trial_s)
    capped = estimate([1.0], trials=1000, minutes=1, folds=5, test_size=0.2, workers=1)
    assert capped.seconds == pytest.approx(60)
    assert estimate([None], trials=5, minutes=None, folds=5, test_size=0.2, workers=1) is None
