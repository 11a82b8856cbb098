"""The strategy race: statistics on synthetic curves with known answers, then real races.

The pure parts (best-so-far, bands, time grids, targets, paired tests, ranks, the verdict) are
checked on hand-made curves whose answers are worked out in the comments. The real parts create
studies on a tiny table and run a race end to end (marked slow: they spawn worker processes).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from knobs import race as R
from knobs import visualization as V
from knobs.config import SearchConfig
from knobs.data import prepare
from knobs.errors import ConfigError
from knobs.race import stats as S
from knobs.strategies import STRATEGIES, make_sampler
from knobs.study import load_study
from knobs.study.keys import BASELINE
from tests.conftest import make_table

# --- best so far, bands, time grid ----------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "direction", "expected"),
    [
        ([0.5, None, 0.7, 0.6, 0.9], "maximize", [0.5, 0.5, 0.7, 0.7, 0.9]),
        ([None, None, 3.0, 4.0, 2.0], "minimize", [None, None, 3.0, 3.0, 2.0]),
        ([-0.4, -0.5, -0.3], "maximize", [-0.4, -0.4, -0.3]),
        ([1.0, math.nan, 0.5], "minimize", [1.0, 1.0, 0.5]),
        ([], "maximize", []),
    ],
)
def test_best_so_far(values, direction, expected) -> None:
    assert S.best_so_far(values, direction) == expected


def test_band_minmax_and_iqr_over_seeds() -> None:
    curves = [[1.0, 2.0, 3.0], [3.0, 4.0], [2.0, 6.0, 5.0]]
    b = S.by_trial(curves)
    assert b.x == (1.0, 2.0, 3.0)
    assert b.median == (2.0, 4.0, 4.0)  # the short run stops contributing after trial 2
    assert b.lo == (1.0, 2.0, 3.0)
    assert b.hi == (3.0, 6.0, 5.0)
    assert b.n == (3, 3, 2)
    q = S.band([[0.0], [1.0], [2.0], [3.0], [4.0]], [1], kind="iqr")
    assert (q.lo[0], q.median[0], q.hi[0]) == (1.0, 2.0, 3.0)
    with pytest.raises(ValueError, match="kind"):
        S.band(curves, [1], kind="sd")


def test_step_curve_on_a_time_grid_keeps_the_last_best() -> None:
    best = [0.5, 0.7, 0.9]
    elapsed = [1.0, 2.5, 4.0]
    grid = [0.0, 1.0, 2.0, 3.0, 4.0, 10.0]
    # nothing before the first trial ends; a run's best stands after its last trial
    assert S.at_times(best, elapsed, grid) == [None, 0.5, 0.5, 0.7, 0.9, 0.9]
    b = S.by_time([(best, elapsed), ([0.6, 0.8], [2.0, 3.0])], grid)
    assert b.median[2] == pytest.approx((0.5 + 0.6) / 2)
    assert b.hi[5] == 0.9 and b.lo[5] == 0.8
    assert S.time_grid(10, 6) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


# --- target and time to target ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("best", "baseline", "direction", "fraction", "target"),
    [
        (0.90, 0.80, "maximize", 0.99, 0.891),  # within 1% of the best
        (2.0, 3.0, "minimize", 0.99, 2.02),  # RMSE: just above the best, not 99% of it
        (-0.40, -0.60, "maximize", 0.99, -0.404),  # negative scores (neg log loss)
        (-2.0, None, "maximize", 0.99, -2.02),
        (2.0, None, "minimize", 0.99, 2.02),
        (0.90, 0.895, "maximize", 0.99, 0.89995),  # defaults within 1%: 99% of their gap
        (2.0, 2.01, "minimize", 0.5, 2.005),
        (0.80, 0.85, "maximize", 0.99, 0.792),  # tuning never beat the defaults
    ],
)
def test_target_score(best, baseline, direction, fraction, target) -> None:
    assert S.target_score(best, baseline, direction, fraction) == pytest.approx(target)


def test_first_reach_and_median_counting_misses_as_slow() -> None:
    best = [0.5, 0.5, 0.8, 0.9]
    assert S.first_reach(best, [1, 2, 3, 4], 0.8, "maximize") == (3, 3.0)
    assert S.first_reach(best, [1, 2, 3, 4], 0.95, "maximize") == (None, None)
    assert S.first_reach([5.0, 3.0, 2.0], [1, 2, 3], 3.0, "minimize") == (2, 2.0)
    assert S.median_reach([4, None, 10]) == 10.0  # the miss sorts last: median of (4, 10, inf)
    assert S.median_reach([4, None, None]) is None  # most seeds never reached it
    assert S.median_reach([]) is None


def test_cv_noise_is_the_standard_error_over_folds() -> None:
    assert S.cv_noise([0.8, 0.9, 1.0]) == pytest.approx(0.1 / math.sqrt(3))
    assert S.cv_noise([0.8]) is None


# --- paired tests -------------------------------------------------------------------------------


def test_three_seeds_can_never_be_significant() -> None:
    t = S.paired_test([0.9, 0.91, 0.92], [0.8, 0.8, 0.8], "maximize")
    assert t.method == "permutation" and t.n == 3
    assert t.p_value == pytest.approx(2 / 8)  # all-positive is 1 of 8 sign patterns, two-sided
    assert t.mean_gain == pytest.approx(0.11)
    assert not t.significant and t.low_power
    assert t.ci_low == pytest.approx(0.10) and t.ci_high == pytest.approx(0.12)


def test_wilcoxon_from_six_seeds_known_p() -> None:
    winner = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    other = [w - d for w, d in zip(winner, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], strict=True)]
    t = S.paired_test(winner, other, "maximize")
    assert t.method == "wilcoxon" and not t.low_power
    assert t.p_value == pytest.approx(2 / 2**8)  # exact: only the all-positive ranking
    assert t.significant


def test_minimize_gain_sign_and_no_difference() -> None:
    t = S.paired_test([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [2.0] * 6, "minimize")
    assert t.mean_gain == pytest.approx(1.0) and t.significant
    same = S.paired_test([0.5] * 6, [0.5] * 6, "maximize")
    assert same.p_value == 1.0 and not same.significant
    mixed = S.paired_test([0.9, 0.7, 0.9, 0.7], [0.8, 0.8, 0.8, 0.8], "maximize")
    assert mixed.p_value == 1.0  # gains +0.1, -0.1, +0.1, -0.1: mean exactly zero
    assert S.paired_test([0.9], [0.8], "maximize").method == "none"
    assert S.paired_test([0.9, None, 0.8], [0.8, 0.7, None], "maximize").n == 1


def test_ranks_share_ties_and_follow_direction() -> None:
    assert S.ranks([0.8, 0.9, None, 0.8], "maximize") == [2, 1, None, 2]
    assert S.ranks([3.0, 1.0, 2.0], "minimize") == [3, 1, 2]


# --- summary and verdict on synthetic runs --------------------------------------------------------


def _curve(c: str, seed: int, values: list[float | None], *, test: float, fold=(0.84, 0.86)):
    return R.RunCurve(
        contestant=c,
        seed_index=seed,
        study=f"{c}-{seed}",
        values=tuple(values),
        elapsed=tuple(float(i + 1) for i in range(len(values))),
        baseline=values[0],
        best_fold_scores=tuple(fold),
        test_score=test,
        n_baseline=1,
    )


def synthetic_race() -> list[R.RunCurve]:
    """TPE climbs to 0.85 by trial 3 every seed; random creeps to 0.84 by trial 6 or never."""
    tpe = [
        _curve("tpe", 0, [0.80, 0.83, 0.85, 0.85, 0.85, 0.85], test=0.83),
        _curve("tpe", 1, [0.80, 0.82, 0.85, 0.85, 0.85, 0.85], test=0.84),
        _curve("tpe", 2, [0.80, 0.84, 0.85, 0.85, 0.85, 0.85], test=0.83),
    ]
    random = [
        _curve("random", 0, [0.80, 0.81, None, 0.82, 0.83, 0.84], test=0.83),
        _curve("random", 1, [0.80, 0.80, 0.81, 0.81, 0.82, 0.84], test=0.82),
        _curve("random", 2, [0.80, 0.81, 0.82, 0.83, 0.84, 0.845], test=0.84),
    ]
    return tpe + random


def test_summary_table_and_verdict_on_known_curves() -> None:
    s = R.summarize(synthetic_race(), "maximize", ("random", "tpe"), metric="roc_auc")
    assert s.best == 0.85 and s.baseline == 0.80
    assert s.target == pytest.approx(0.85 * 0.99)  # 0.8415
    assert s.noise == pytest.approx(np.std([0.84, 0.86], ddof=1) / math.sqrt(2))
    tpe, rnd = s.aggregate("tpe"), s.aggregate("random")
    assert s.winner == "tpe" and tpe.rank == 1 and rnd.rank == 2
    assert tpe.mean_best == pytest.approx(0.85) and tpe.std_best == 0.0
    assert rnd.mean_best == pytest.approx((0.84 + 0.84 + 0.845) / 3)
    assert tpe.per_seed_trials == (3, 3, 3) and tpe.trials_to_target == 3
    assert rnd.per_seed_trials == (None, None, 6) and rnd.trials_to_target is None
    assert tpe.seconds_to_target == 3.0
    assert rnd.failed == 1 and rnd.trials == 18
    (cmp,) = s.comparisons
    assert cmp.other == "random" and cmp.cv.method == "permutation"
    assert cmp.cv.mean_gain == pytest.approx(0.85 - rnd.mean_best)
    assert "TPE reached 0.8415 in 3 trials" in s.verdict
    assert "Random did not reach it in most seeds (1/3)" in s.verdict
    assert "Random: 1 of 18 trials failed" in s.verdict
    assert "low power" in s.verdict
    # told apart from a search's paired verdict (±0.0604 beside ±0.0012, both "95% margin")
    assert "from 2 folds of the best score alone, unpaired with the defaults')" in s.verdict
    rows = R.results_rows(s)
    assert [r["contestant"] for r in rows] == ["TPE", "Random"]
    csv_text = R.results_csv(s)
    assert csv_text.splitlines()[0].startswith("rank,contestant,runs,mean_best_cv")
    assert len(csv_text.splitlines()) == 3


def test_verdict_says_when_tuning_is_within_noise() -> None:
    flat = [
        _curve(c, i, [0.80, 0.801, 0.80], test=0.8, fold=(0.70, 0.90))
        for c in ("random", "tpe")
        for i in range(3)
    ]
    s = R.summarize(flat, "maximize", ("random", "tpe"))
    assert "within the CV noise" in s.verdict and "not worth it" in s.verdict
    assert "TPE found the same best score on every seed: a tie." in s.verdict


def test_a_tie_on_the_best_score_is_led_by_the_contestant_that_reached_it_first() -> None:
    """Three strategies tied at 1.0000 on every seed: the verdict led with Grid "in 8 trials",
    beside Random's 6, because the tie kept the listing's order."""
    slow = [_curve("grid", i, [0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 1.0], test=1.0)
            for i in range(3)]  # fmt: skip
    fast = [_curve("random", i, [0.9, 0.95, 0.95, 0.95, 0.95, 1.0, 1.0, 1.0], test=1.0)
            for i in range(3)]  # fmt: skip
    s = R.summarize(slow + fast, "maximize", ("grid", "random"))
    assert s.aggregate("grid").rank == s.aggregate("random").rank == 1
    assert s.winner == "random"
    assert s.verdict.startswith("Random reached 0.99 in 6 trials (median), Grid needed 8.")
    assert [r["contestant"] for r in R.results_rows(s)] == ["Random", "Grid"]


def test_charts_draw_baseline_noise_and_both_contestants() -> None:
    s = R.summarize(synthetic_race(), "maximize", ("random", "tpe"), metric="roc_auc")
    figs = V.race_figures(s)
    for key, fig in figs.items():
        shapes = fig.layout.shapes
        assert any(sh.type == "rect" for sh in shapes), key  # CV noise band
        assert any(sh.type == "line" and sh.y0 == 0.80 for sh in shapes), key  # defaults line
    names = {t.name for t in figs["by_trial"].data}
    assert {"TPE", "Random"} <= names
    med = V.race_curves_by_trial(s).bands["random"].median
    assert med[-1] == 0.84  # median of 0.84, 0.84, 0.845
    dist = V.race_score_distribution(s)
    assert len(dist["random"]) == 14  # 3 x 5 tuned trials, one failed
    html = V.race_report_html(s, title="race")
    assert "TPE reached" in html and "<table>" in html and "plotly" in html.lower()


def test_report_prints_the_defaults_and_the_noise() -> None:
    s = R.summarize(synthetic_race(), "maximize", ("random", "tpe"), metric="roc_auc")
    html = V.race_report_html(s, title="race")
    assert "{_cell(s." not in html  # once printed as a literal (an f-string without its f)
    noise = f"{s.noise:.4f}"  # std of (0.84, 0.86) / sqrt(2) = 0.0100
    assert f"Defaults: 0.8000; CV noise: ±{noise}" in html
    assert f"Target: {s.target:.4f}" in html


def test_race_charts_use_the_strategy_registry() -> None:
    s = R.summarize(synthetic_race(), "maximize", ("random", "tpe"), metric="roc_auc")
    fig = V.race_figures(s)["by_trial"]
    medians = {t.name: t.line.color for t in fig.data if t.legendgroup and t.showlegend is None}
    assert medians == {"Random": STRATEGIES["random"].colour, "TPE": STRATEGIES["tpe"].colour}
    best = V.race_figures(s)["best"]
    assert [t.x[0] for t in best.data if t.name in ("TPE", "Random")] == ["TPE", "Random"]


# --- contestants and schedule ------------------------------------------------------------------


def test_contestants_parse_with_aliases_and_clear_errors() -> None:
    assert R.parse_contestants("grid, random,bayes") == ("grid", "random", "tpe")
    assert R.parse_contestants(["cma-es", "sobol", "gp"]) == ("cmaes", "qmc", "gp")
    with pytest.raises(ConfigError, match="Unknown contestant `annealing`"):
        R.parse_contestants("random,annealing")
    # A pruner is not a strategy: it joins one (`random+hyperband`), which the message says.
    with pytest.raises(ConfigError, match="with a pruner: `tpe\\+median`"):
        R.parse_contestants("random,hyperband")
    assert R.parse_contestants("tpe,bayes+median,random+hyperband,tpe+none") == (
        "tpe", "tpe+median", "random+hyperband",
    )  # fmt: skip
    with pytest.raises(ConfigError, match="Unknown pruner `magic`"):
        R.parse_contestants("tpe,tpe+magic")
    with pytest.raises(ConfigError, match="at least two"):
        R.parse_contestants("random")


def test_pruned_contestants_race_with_their_pruner_and_plain_ones_without() -> None:
    spec = R.RaceSpec(SearchConfig(target="y"), ("tpe", "tpe+wilcoxon"), seeds=1)
    plain, pruned = (spec.run_config(c, 0) for c in spec.contestants)
    assert (plain.strategy, plain.pruner) == ("bayes", "none")
    assert (pruned.strategy, pruned.sampler, pruned.pruner) == ("bayes", "tpe", "wilcoxon")
    assert R.contestant_label("random+hyperband") == "Random + Hyperband"


def test_schedule_interleaves_so_no_strategy_always_starts_first() -> None:
    order = R.schedule(("grid", "random", "tpe"), 3)
    assert len(order) == 9 and len(set(order)) == 9
    firsts = [order[i * 3][0] for i in range(3)]
    assert sorted(firsts) == ["grid", "random", "tpe"]
    lasts = [order[i * 3 + 2][0] for i in range(3)]
    assert sorted(lasts) == ["grid", "random", "tpe"]


@pytest.mark.parametrize("strategy", ["cmaes", "qmc"])
def test_new_samplers_are_seeded(strategy) -> None:
    a = make_sampler(strategy, seed=3)
    b = make_sampler(strategy, seed=3)
    assert type(a) is type(b)
    if strategy == "cmaes":
        assert a._independent_sampler is not None and not a._warn_independent_sampling


# --- real races -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset():
    return prepare(make_table("binary", n=160), "label")


def test_create_race_shares_split_and_folds(dataset) -> None:
    config = SearchConfig(target="label", models=("logistic",), n_trials=4, cv=3, seed=5)
    spec = R.RaceSpec(config, contestants=("random", "qmc"), seeds=2, workers=2)
    race = R.create_race(dataset, spec)
    assert len(race.runs) == 4 and race.fingerprint == dataset.fingerprint
    plans = [R._race.Search.open(r.study).plan for r in race.runs]
    assert {p.fingerprint for p in plans} == {dataset.fingerprint}
    assert {p.config.seed for p in plans} == {5}
    assert sorted({p.config.sampler_seed for p in plans}) == [5001, 5002]
    y0 = plans[0].load_split("test")[1]
    for p in plans[1:]:
        pd.testing.assert_series_equal(p.load_split("test")[1], y0)
    folds = [[f[1].tolist() for f in p.problem().folds] for p in plans]
    assert all(f == folds[0] for f in folds)
    again = R.load_race(race.id)
    assert again.spec == race.spec and again.runs == race.runs


def test_a_race_split_by_time_gives_every_run_the_latest_rows_as_test(tmp_path) -> None:
    """`knobs race --time-column` was accepted (the race shares tune's options) and ignored: the
    runs split at random. Every run now holds out the latest rows, by the race's config; so were
    `--no-ensemble` and `--target-transform`."""
    from knobs.cli import main

    rng = np.random.default_rng(2)
    days = pd.date_range("2023-01-01", periods=160, freq="D")
    frame = pd.DataFrame({"day": days.strftime("%Y-%m-%d"), "x": rng.normal(size=160),
                          "y": np.arange(160) * 0.2 + rng.normal(size=160)})  # fmt: skip
    data = tmp_path / "daily.csv"
    frame.to_csv(data, index=False)
    report = tmp_path / "race.json"
    code = main(["race", str(data), "--target", "y", "--models", "linear", "--trials", "2",
                 "--cv", "2", "--seeds", "1", "--strategies", "random,qmc", "--time-column", "day",
                 "--no-ensemble", "--target-transform", "none",
                 "--workers", "1", "--json", str(report), "--quiet"])  # fmt: skip
    assert code == 0
    strategies = json.loads(report.read_text())["strategies"]
    for contestant in strategies.values():
        plan = R._race.Search.open(contestant["runs"][0]["study"]).plan
        assert plan.config.time_column == "day"
        assert plan.load_split("test")[0]["day"].min() == pd.Timestamp("2023-05-09")
        # two more of tune's options the race took and ignored
        assert not plan.config.ensemble and plan.config.target_transform == "none"


@pytest.mark.slow
def test_race_cli_end_to_end(tmp_path) -> None:
    from knobs.cli import main

    data = tmp_path / "t.csv"
    make_table("binary", n=160).to_csv(data, index=False)
    out = tmp_path / "race.json"
    code = main(
        [
            "race", str(data), "--target", "label", "--strategies", "random,bayes,cmaes",
            "--trials", "5", "--seeds", "2", "--models", "logistic", "--cv", "3",
            "--workers", "2", "--json", str(out), "--csv", str(tmp_path / "r.csv"),
            "--html", str(tmp_path / "r.html"), "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    assert set(report["strategies"]) == {"random", "tpe", "cmaes"}
    for strat in report["strategies"].values():
        assert len(strat["runs"]) == 2
        for run in strat["runs"]:
            assert len(run["best_so_far"]) == 5 and len(run["elapsed_s"]) == 5
            assert run["elapsed_s"] == sorted(run["elapsed_s"])
            assert run["test_score"] is not None and run["best_score"] is not None
            trials = load_study(run["study"]).trials
            assert BASELINE.get(trials[0])
        assert strat["aggregate"]["mean_best"] is not None
    # the defaults trial is identical in every run: same split, same folds
    firsts = {r["best_so_far"][0] for s in report["strategies"].values() for r in s["runs"]}
    assert len(firsts) == 1
    assert [r["rank"] for r in report["ranking"]][0] == 1
    assert report["verdict"] and report["ranking"][1]["vs_winner"]["cv"]["method"] == "permutation"
    assert (tmp_path / "r.csv").read_text().startswith("rank,")
    assert "<html>" in (tmp_path / "r.html").read_text()[:200]


def _knobs_shaped_study(sampler) -> list[float]:  # noqa: ANN001
    """A defaults trial holding only `model`, then tuned trials with prefixed parameters."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial({"model": "m"}, user_attrs=BASELINE.attr(True))

    def objective(t) -> float:  # noqa: ANN001
        t.suggest_categorical("model", ["m"])
        if BASELINE.get(t):
            return 0.0
        x, y = t.suggest_float("m.x", -5, 5), t.suggest_float("m.y", -5, 5)
        return -((x - 1) ** 2) - (y + 2) ** 2

    study.optimize(objective, n_trials=14)
    return [t.params.get("m.x", 0.0) for t in study.trials]


@pytest.mark.parametrize("strategy", ["cmaes", "qmc", "gp"])
def test_samplers_see_the_space_despite_the_defaults_trial(strategy) -> None:
    """CMA-ES and QMC must not collapse to random search because trial 0 holds only `model`;
    for GP the race's note must say exactly whether it does."""
    from knobs.race._summary import gp_sees_no_space

    random_xs = _knobs_shaped_study(make_sampler("random", seed=1))
    if strategy == "gp":
        xs = _knobs_shaped_study(make_sampler("bayes", "gp", seed=1))
        assert (xs == random_xs) == gp_sees_no_space()
    else:
        xs = _knobs_shaped_study(make_sampler(strategy, seed=1))
        assert xs[2:] != random_xs[2:]


@pytest.mark.slow
def test_background_race_stops_on_request(dataset) -> None:
    import time

    from knobs import study as jobs

    config = SearchConfig(target="label", models=("logistic",), n_trials=200, cv=2)
    spec = R.RaceSpec(config, contestants=("random", "tpe"), seeds=1, workers=1)
    race = R.create_race(dataset, spec)
    proc = R.launch_race(race.id)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = R.load_race(race.id)
            if any(r.state == "running" for r in now.runs) and R.race_curves(now)[0].values:
                break
            time.sleep(0.3)
        assert R.load_race(race.id).pid == proc.pid and R.load_race(race.id).active
        R.request_stop(race.id)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = R.load_race(race.id)
    assert done.state == "stopped" and not done.active
    assert [r.state for r in done.runs] == ["stopped", "stopped"]  # one cut short, one never ran
    assert not any(jobs.live_workers(r.study) for r in done.runs)
    assert len(R.race_curves(done)) == 1  # the run that never started has no curve


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strategies", "random"], "at least two contestants"),
        (["--strategies", "random,tpe+magic"], "Unknown pruner `magic`"),
        (["--strategies", "random,tpe", "--pruner", "sh"], "names each contestant's pruner"),
        (["--strategy", "grid"], "takes `--strategies a,b,c`"),
        (["--seeds", "0"], "`seeds` must be between 1 and 50"),
    ],
)
def test_race_cli_refuses_bad_options(tmp_path, capsys, extra, message) -> None:
    from knobs.cli import main

    data = tmp_path / "t.csv"
    make_table("binary", n=60).to_csv(data, index=False)
    assert main(["race", str(data), "--target", "label", *extra]) == 2
    assert message in capsys.readouterr().err
    assert main(["race", str(tmp_path / "missing.csv"), "--target", "label"]) == 2


def test_a_target_reached_in_one_trial_is_said_in_the_singular() -> None:
    """"reached 0.99 in 1 trials (median)" from a re-check of a race."""
    runs = [_curve("random", i, [1.0, 1.0, 1.0], test=1.0) for i in range(3)]
    s = R.summarize(runs, "maximize", ("random",))
    assert "in 1 trial (median)" in s.verdict
