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


def test_a_fit_is_scaled_to_the_table_slower_than_its_rows(monkeypatch):
    """A 60,000-row search read "about 07:13, ~28.7 s per trial" and ran 38 trials in 54 s: the
    probe's 1,500-row fit was scaled linearly, where forests and boosting grow slower than rows."""
    import knobs.study._estimate as est

    ds = prepare(make_table("binary", n=15_000), "label")
    ticks = iter([100.0, 101.0])  # the probe's fit takes 1 s on its 1,500 rows
    monkeypatch.setattr(est.time, "perf_counter", lambda: next(ticks))
    seconds = probe_fit_seconds(ds, REGISTRY["logistic"])
    assert seconds == pytest.approx(10**0.8)  # 6.3 s for 10x the rows, not 10 s


def test_a_time_limit_that_ends_the_search_says_how_many_trials_fit():
    """The Search page read "about 00:30 (30 trials of ~12.0 s each on 2 workers)" for a
    55,000-row table and a 30 s limit: five trials fit, and two families never ran one."""
    capped = estimate([12.0 / 4 / 0.8 * 5 / 5] * 5, trials=30, minutes=0.5, folds=5,
                      test_size=0.2, workers=2)  # fmt: skip
    words = capped.words()
    assert words.startswith("about 00:30, the time limit: about ")
    assert f"about {capped.fitting} trials of the 30 asked fit" in words
    assert capped.fitting < 10 and "some families may get none" in words
    roomy = estimate([0.1], trials=10, minutes=5, folds=5, test_size=0.2, workers=2)
    assert roomy.fitting is None and roomy.words().startswith("about ")
    assert "(10 trials of ~" in roomy.words()
    timed = estimate([0.1], trials=None, minutes=1, folds=5, test_size=0.2, workers=2)
    assert "the time limit: about" in timed.words() and "asked" not in timed.words()


def test_a_time_limit_no_trial_fits_in_is_warned_of():
    """A 147 MB table was offered Start at "about 0 trials fit, at ~305.0 s each", and the
    search ended with no model; the estimate now says so, and how long would do."""
    slow = estimate([100.0], trials=None, minutes=0.5, folds=3, test_size=0.2, workers=2)
    assert slow.fitting == 0
    words = slow.too_short()
    assert words is not None and words.startswith("No trial may fit in this time limit: one takes")
    assert "ends with no model" in words
    quick = estimate([0.1], trials=None, minutes=0.5, folds=3, test_size=0.2, workers=2)
    assert quick.too_short() is None
    assert estimate([100.0], trials=5, minutes=None, folds=3, test_size=0.2,
                    workers=2).too_short() is None  # fmt: skip


def test_the_probe_fits_on_one_thread_as_each_worker_does(monkeypatch):
    """A dry run on a busy 2-core machine timed HistGradientBoosting's probe at 19.6 s (its
    OpenMP threads fighting the load; one thread fits it in 0.8 s) and said no trial would fit
    in a 15 s budget that then ran 28. The probe now fits as the workers do, on one thread."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import knobs.study._estimate as est

    seen: list[int] = []

    class Recorder:
        def fit(self, X, y):  # noqa: ANN001, ANN202
            seen.extend(p["num_threads"] for p in threadpool_info()
                        if p["user_api"] == "openmp")  # fmt: skip
            return self

    monkeypatch.setattr(est, "pipeline_for", lambda *a, **k: Recorder())
    ds = prepare(make_table("binary", n=300), "label")
    with threadpool_limits(limits=2):  # the suite runs on one thread; a user's process does not
        assert probe_fit_seconds(ds, REGISTRY["hist_gb"]) is not None
    assert seen and set(seen) == {1}
