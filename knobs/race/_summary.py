"""From a race's studies to its curves, results table, paired tests and verdict in words.

``run_curve`` reads one study; everything after it (``summarize``) is pure, over ``RunCurve``s, so
tests feed it synthetic curves with known answers.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from knobs.metrics import RULE, Direction, call, margin, margin_words
from knobs.study import counts_toward_budget, load_study
from knobs.study.keys import BASELINE, CV, INTERRUPTED

from . import _stats as S
from ._race import Race, contestant_label


@dataclass(frozen=True)
class RunCurve:
    """One run's finished trials in completion order, as the race charts and statistics see it."""

    contestant: str
    seed_index: int
    study: str
    values: tuple[float | None, ...]  # score of the k-th finished trial (None: failed/pruned)
    elapsed: tuple[float, ...]  # the run's own seconds at that trial's end
    baseline: float | None  # best default-parameters score of this run
    best_fold_scores: tuple[float, ...] = ()
    test_score: float | None = None
    running: bool = False
    n_baseline: int = 0  # defaults trials (they run first: one worker per run)

    def best_so_far(self, direction: str) -> list[float | None]:
        return S.best_so_far(self.values, direction)

    def best(self, direction: str) -> float | None:
        b = self.best_so_far(direction)
        return b[-1] if b else None


def finished_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Trials that spent budget and ended (interrupted ones are retried, so they do not count)."""
    out = [
        t
        for t in trials
        if t.state.is_finished()
        and counts_toward_budget(t)
        and not INTERRUPTED.get(t)
        and t.datetime_complete is not None
    ]
    return sorted(out, key=lambda t: (t.datetime_complete, t.number))


def curve_from_trials(
    trials: Sequence[FrozenTrial],
    direction: str,
    *,
    contestant: str,
    seed_index: int,
    study: str,
    test_score: float | None = None,
    running: bool = False,
) -> RunCurve:
    done = finished_trials(trials)
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    t0 = min(starts).timestamp() if starts else 0.0
    values: list[float | None] = []
    elapsed: list[float] = []
    best_t: FrozenTrial | None = None
    baseline: float | None = None
    n_baseline = sum(1 for t in done if BASELINE.get(t))
    for t in done:
        ok = t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)
        v = float(t.value) if ok else None
        values.append(v)
        elapsed.append(max(0.0, t.datetime_complete.timestamp() - t0))
        if v is None:
            continue
        if best_t is None or S.better(direction, v, best_t.value):
            best_t = t
        if BASELINE.get(t) and (
            baseline is None or S.better(direction, v, baseline)
        ):
            baseline = v
    folds = (
        tuple((CV.get(best_t) or {}).get("fold_scores", ())) if best_t else ()
    )
    return RunCurve(
        contestant, seed_index, study, tuple(values), tuple(elapsed), baseline,
        tuple(float(s) for s in folds), test_score, running, n_baseline,
    )  # fmt: skip


def race_curves(race: Race) -> list[RunCurve]:
    """Every run that has started, read from its study (cheap enough for a live panel)."""
    out = []
    for run in race.runs:
        if run.started is None:  # queued, or stopped before it ran
            continue
        study = load_study(run.study, race.storage)
        out.append(
            curve_from_trials(
                study.get_trials(deepcopy=False),
                race.direction,
                contestant=run.contestant,
                seed_index=run.seed_index,
                study=run.study,
                test_score=run.test_score,
                running=run.state == "running",
            )
        )
    return out


@dataclass(frozen=True)
class Aggregate:
    contestant: str
    label: str
    runs: int
    mean_best: float | None
    std_best: float | None
    mean_test: float | None
    std_test: float | None
    trials_to_target: float | None  # median over seeds (None: most seeds never reached it)
    seconds_to_target: float | None
    reached: int  # runs that reached the target
    rank: int | None = None
    per_seed_trials: tuple[int | None, ...] = ()
    per_seed_seconds: tuple[float | None, ...] = ()
    failed: int = 0  # finished trials without a score (failed or pruned), over all seeds
    trials: int = 0  # finished trials over all seeds


@dataclass(frozen=True)
class Comparison:
    other: str
    cv: S.PairedTest
    test: S.PairedTest


@dataclass(frozen=True)
class RaceSummary:
    direction: str
    metric: str
    contestants: tuple[str, ...]
    curves: tuple[RunCurve, ...]
    baseline: float | None
    noise: float | None  # CV noise: std of the best trial's fold scores / sqrt(folds)
    best: float | None  # best score seen in the race
    target: float | None
    target_fraction: float
    aggregates: tuple[Aggregate, ...]
    winner: str | None
    comparisons: tuple[Comparison, ...]
    verdict: str
    complete: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    def aggregate(self, contestant: str) -> Aggregate:
        return next(a for a in self.aggregates if a.contestant == contestant)

    def runs_of(self, contestant: str) -> list[RunCurve]:
        return sorted(
            (c for c in self.curves if c.contestant == contestant), key=lambda c: c.seed_index
        )


def _fmt(v: float | None, digits: int = 4) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def summarize(
    curves: Sequence[RunCurve],
    direction: str,
    contestants: Sequence[str],
    *,
    metric: str = "score",
    target_fraction: float = 0.99,
    complete: bool = True,
) -> RaceSummary:
    """The race's results: aggregates per contestant, ranks, paired tests and a verdict."""
    bests = [(c, c.best(direction)) for c in curves]
    scored = [(c, b) for c, b in bests if b is not None]
    baselines = [c.baseline for c in curves if c.baseline is not None]
    baseline = None
    if baselines:
        baseline = Direction(direction).best(baselines)
    race_best = None
    noise = None
    if scored:
        top_curve, race_best = scored[0]
        for c, b in scored[1:]:
            if S.better(direction, b, race_best):
                top_curve, race_best = c, b
        noise = S.cv_noise(top_curve.best_fold_scores)
    target = (
        S.target_score(race_best, baseline, direction, target_fraction)
        if race_best is not None
        else None
    )
    aggs: list[Aggregate] = []
    for name in contestants:
        runs = sorted((c for c in curves if c.contestant == name), key=lambda c: c.seed_index)
        mean_best, std_best = S.mean_sd([c.best(direction) for c in runs])
        mean_test, std_test = S.mean_sd([c.test_score for c in runs])
        reach = [
            S.first_reach(c.best_so_far(direction), c.elapsed, target, direction)
            if target is not None
            else (None, None)
            for c in runs
        ]
        aggs.append(
            Aggregate(
                contestant=name,
                label=contestant_label(name),
                runs=len(runs),
                mean_best=mean_best,
                std_best=std_best,
                mean_test=mean_test,
                std_test=std_test,
                trials_to_target=S.median_reach([r[0] for r in reach]),
                seconds_to_target=S.median_reach([r[1] for r in reach]),
                reached=sum(r[0] is not None for r in reach),
                per_seed_trials=tuple(r[0] for r in reach),
                per_seed_seconds=tuple(r[1] for r in reach),
                failed=sum(v is None for c in runs for v in c.values),
                trials=sum(len(c.values) for c in runs),
            )
        )
    rank = S.ranks([a.mean_best for a in aggs], direction)
    aggs = [
        Aggregate(**{**a.__dict__, "rank": r})  # frozen: rebuild with the rank
        for a, r in zip(aggs, rank, strict=True)
    ]
    ranked = sorted((a for a in aggs if a.rank is not None), key=standing)
    winner = ranked[0].contestant if ranked else None
    comparisons: list[Comparison] = []
    if winner is not None:
        w_runs = {c.seed_index: c for c in curves if c.contestant == winner}
        for a in ranked[1:]:
            o_runs = {c.seed_index: c for c in curves if c.contestant == a.contestant}
            seeds = sorted(set(w_runs) & set(o_runs))
            cv = S.paired_test(
                [w_runs[s].best(direction) for s in seeds],
                [o_runs[s].best(direction) for s in seeds],
                direction,
            )
            test = S.paired_test(
                [w_runs[s].test_score for s in seeds],
                [o_runs[s].test_score for s in seeds],
                direction,
            )
            comparisons.append(Comparison(a.contestant, cv, test))
    summary = RaceSummary(
        direction=direction,
        metric=metric,
        contestants=tuple(contestants),
        curves=tuple(curves),
        baseline=baseline,
        noise=noise,
        best=race_best,
        target=target,
        target_fraction=target_fraction,
        aggregates=tuple(aggs),
        winner=winner,
        comparisons=tuple(comparisons),
        verdict="",
        complete=complete,
    )
    return RaceSummary(**{**summary.__dict__, "verdict": verdict(summary)})


def standing(a: Aggregate) -> tuple[bool, int, bool, float, float]:
    """Where a contestant stands: by rank, then, among equal ranks, by the trials and seconds it
    needed to reach the target (a three-way tie at 1.0000 led with Grid at 8 trials, beside
    Random's 6)."""
    return (a.rank is None, a.rank or 0, a.trials_to_target is None, a.trials_to_target or 0.0,
            a.seconds_to_target or 0.0)  # fmt: skip


def _race_margin_words(floor: float, folds: int) -> str:
    """The race's margin, told apart from a search's verdict: it stands on the best score's own
    folds, not on the best and the defaults paired fold by fold, so it is wider (±0.0604 in a
    race beside ±0.0012 from `knobs tune` on one table, both worded "95% margin")."""
    return f"{margin_words(floor, folds)} of the best score alone, unpaired with the defaults'"


def _reach_words(a: Aggregate) -> str:
    if a.trials_to_target is None:
        return f"{a.label} did not reach it in most seeds ({a.reached}/{a.runs})"
    return f"{a.label} needed {a.trials_to_target:g}"


def verdict(s: RaceSummary) -> str:
    """The race in plain words: who reached the target first, and whether the lead is real."""
    if s.winner is None or s.target is None:
        return "No run has a scored trial yet."
    w = s.aggregate(s.winner)
    parts: list[str] = []
    if w.trials_to_target is not None:
        others = [_reach_words(s.aggregate(c.other)) for c in s.comparisons]
        trials = "trial" if w.trials_to_target == 1 else "trials"  # "in 1 trials"
        lead = f"{w.label} reached {s.target:.4g} in {w.trials_to_target:g} {trials} (median)"
        parts.append(lead + (", " + ", ".join(others) if others else "") + ".")
    else:
        parts.append(f"{w.label} has the best mean CV {s.metric}, {_fmt(w.mean_best)}.")
    folds = max((len(c.best_fold_scores) for c in s.curves), default=0)
    floor = None if s.noise is None else margin(s.noise, folds)
    if s.baseline is not None and w.mean_best is not None:
        g = S.gain(s.direction, w.mean_best, s.baseline)
        if floor is None:
            parts.append(f"Tuning gained {g:+.4f} over the defaults ({s.baseline:.4f}).")
        elif call(g, floor) == "gain":
            parts.append(
                f"Tuning gained {g:+.4f} over the defaults ({s.baseline:.4f}), beyond the CV "
                f"noise ({_race_margin_words(floor, folds)})."
            )
        else:
            parts.append(
                f"Tuning gained {g:+.4f} over the defaults ({s.baseline:.4f}), within the CV "
                f"noise ({_race_margin_words(floor, folds)}): tuning is not worth it here."
            )
    for c in s.comparisons:
        o = s.aggregate(c.other)
        if c.cv.n and c.cv.mean_gain == 0 and c.cv.ci_low == 0 == c.cv.ci_high:
            parts.append(f"{o.label} found the same best score on every seed: a tie.")
            continue
        cv_words = _test_words(c.cv, floor)
        test_words = _test_words(c.test, None)
        parts.append(
            f"vs {o.label}: CV {_gain_str(c.cv)} ({cv_words}); test split "
            f"{_gain_str(c.test)} ({test_words})."
        )
    for a in s.aggregates:
        tuned = a.trials - sum(c.n_baseline for c in s.runs_of(a.contestant))
        if tuned > 0 and a.failed >= tuned:
            parts.append(
                f"Every tuned {a.label} trial failed: its ranking means nothing; the studies' "
                "trials say why."
            )
        elif a.failed:
            parts.append(f"{a.label}: {a.failed} of {a.trials} trials failed.")
    if "gp" in s.contestants and gp_sees_no_space():
        parts.append(
            "Note: this version's GP sampler infers its search space from every trial, and the "
            "defaults trials hold only `model`, so GP samples at random: its runs equal random "
            "search's of the same seed."
        )
    low = [c for c in s.comparisons if c.cv.low_power]
    if low:
        n = low[0].cv.n
        parts.append(
            f"With {n} seed{'s' if n != 1 else ''} a paired test has low power (at least "
            f"{S.MIN_SEEDS_WILCOXON} seeds are needed for a Wilcoxon test): treat the ranking "
            "as a hint."
        )
    if not s.complete:
        parts.append("The race is still running; these numbers will change.")
    return " ".join(parts)


@functools.cache
def gp_sees_no_space() -> bool:
    """Whether ``make_sampler("bayes", "gp")`` is Optuna's GPSampler unchanged, whose
    intersection search space is emptied by the defaults trials (checked, not assumed, so the
    note disappears once the core sampler learns to skip them)."""
    import optuna

    from knobs.strategies import make_sampler

    try:
        sampler = make_sampler("bayes", "gp", seed=0)
    except Exception:  # noqa: BLE001 - no torch: nothing to say about GP here
        return False
    return (
        type(sampler).infer_relative_search_space
        is optuna.samplers.GPSampler.infer_relative_search_space
    )


def _gain_str(t: S.PairedTest) -> str:
    return "n/a" if t.mean_gain is None else f"{t.mean_gain:+.4f}"


def _test_words(t: S.PairedTest, floor: float | None) -> str:
    """A lead over seeds is real when the paired test says so *and* it clears the CV noise
    margin of the one rule (``knobs.ensembles.RULE``): consistent but tiny leads are not."""
    if t.method == "none":
        return "not enough paired seeds"
    p = f"{t.method} p={t.p_value:.2g}"
    if t.significant and (floor is None or call(t.mean_gain or 0.0, floor) == "gain"):
        return f"a real lead, {p}"
    if t.significant:
        return f"consistent but within the CV noise margin, {p}"
    return f"within noise, {p}"


# --- exports -----------------------------------------------------------------------------------

TABLE_COLUMNS = [
    "rank", "contestant", "runs", "mean_best_cv", "sd_best_cv", "mean_test", "sd_test",
    "trials_to_target", "seconds_to_target", "reached_target", "p_vs_winner_cv", "p_vs_winner_test",
    "failed_trials",
]  # fmt: skip


def results_rows(s: RaceSummary) -> list[dict[str, Any]]:
    """The results table, one row per contestant, best rank first."""
    tests = {c.other: c for c in s.comparisons}
    rows = []
    for a in sorted(s.aggregates, key=standing):
        c = tests.get(a.contestant)
        rows.append(
            {
                "rank": a.rank,
                "contestant": a.label,
                "runs": a.runs,
                "mean_best_cv": a.mean_best,
                "sd_best_cv": a.std_best,
                "mean_test": a.mean_test,
                "sd_test": a.std_test,
                "trials_to_target": a.trials_to_target,
                "seconds_to_target": a.seconds_to_target,
                "reached_target": f"{a.reached}/{a.runs}",
                "p_vs_winner_cv": c.cv.p_value if c else None,
                "p_vs_winner_test": c.test.p_value if c else None,
                "failed_trials": f"{a.failed}/{a.trials}",
            }
        )
    return rows


def results_csv(s: RaceSummary) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=TABLE_COLUMNS)
    writer.writeheader()
    for row in results_rows(s):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def _num(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), 6)


def report(race: Race, s: RaceSummary) -> dict[str, Any]:
    """The JSON report of ``knobs race --json``."""
    strategies: dict[str, Any] = {}
    for a in s.aggregates:
        runs = []
        info = {r.study: r for r in race.runs}
        for c in s.runs_of(a.contestant):
            runs.append(
                {
                    "study": c.study,
                    "seed": c.seed_index,
                    "sampler_seed": info[c.study].sampler_seed if c.study in info else None,
                    "best_so_far": [_num(b) for b in c.best_so_far(s.direction)],
                    "elapsed_s": [round(e, 3) for e in c.elapsed],
                    "best_score": _num(c.best(s.direction)),
                    "test_score": _num(c.test_score),
                    "baseline_score": _num(c.baseline),
                    "trials_to_target": a.per_seed_trials[c.seed_index]
                    if c.seed_index < len(a.per_seed_trials)
                    else None,
                }
            )
        strategies[a.contestant] = {
            "label": a.label,
            "runs": runs,
            "aggregate": {
                "mean_best": _num(a.mean_best),
                "std_best": _num(a.std_best),
                "mean_test": _num(a.mean_test),
                "std_test": _num(a.std_test),
                "trials_to_target": a.trials_to_target,
                "seconds_to_target": _num(a.seconds_to_target),
                "reached_target": a.reached,
                "failed_trials": a.failed,
                "trials": a.trials,
            },
        }
    tests = {c.other: c for c in s.comparisons}
    ranking = [
        {
            "rank": a.rank,
            "strategy": a.contestant,
            "mean_best": _num(a.mean_best),
            "mean_test": _num(a.mean_test),
            "vs_winner": None
            if a.contestant not in tests
            else {
                "cv": tests[a.contestant].cv.to_dict(),
                "test": tests[a.contestant].test.to_dict(),
            },
        }
        for a in sorted(s.aggregates, key=standing)
    ]
    spec = race.spec
    return {
        "race": race.id,
        "state": race.state,
        "source": spec.source,
        "target": spec.config.target,
        "task": race.task,
        "metric": race.metric,
        "direction": race.direction,
        "fingerprint": race.fingerprint,
        "models": list(spec.config.models),
        "trials": spec.config.n_trials,
        "timeout_s": spec.config.timeout,
        "seeds": spec.seeds,
        "workers": spec.slots,
        "threads_per_worker": spec.n_threads,
        "baseline_score": _num(s.baseline),
        "cv_noise": _num(s.noise),
        "cv_noise_definition": "std of the fold scores of the race's best trial / sqrt(folds)",
        "verdict_rule": RULE,
        "target_score": _num(s.target),
        "target_definition": f"within {1 - s.target_fraction:.0%} of the best score seen in the "
        f"race (by magnitude, on the worse side); when the defaults already reach that, "
        f"{s.target_fraction:.0%} of the way from the defaults score to the best",
        "strategies": strategies,
        "ranking": ranking,
        "winner": s.winner,
        "verdict": s.verdict,
        "pruning": "not raced: Knobs has no pruning yet",
    }


def summary_of(race: Race, *, target_fraction: float = 0.99) -> RaceSummary:
    """The race's summary as it stands now (while running too)."""
    return summarize(
        race_curves(race),
        race.direction,
        race.spec.contestants,
        metric=race.metric,
        target_fraction=target_fraction,
        complete=race.state in ("finished", "stopped"),
    )
