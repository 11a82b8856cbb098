"""Knobs' overhead over a bare Optuna loop, and the speed-up of 2 workers over 1.

    python bench/overhead.py [--trials 30] [--model hist_gb] [--data PATH --target COL]

Both sides run the same model, search space, sampler (random, seeded), folds, preprocessing and
trial count, each pinned to one thread per process; the bare loop is Optuna's ``study.optimize``
in memory calling scikit-learn's ``cross_val_score``. Knobs' time runs from ``Search.start`` to
the last worker's exit: process start-up, imports, storage writes, claims, everything but the
one-off data preparation and the final refit (neither has a counterpart in the bare loop).
Targets (issue 2): Knobs / bare <= 1.05; 2 workers vs 1 >= 1.8x on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bare_optuna(plan, replay, seed: int) -> float:
    """The loop a user would write by hand: optimize(cross_val_score(pipeline)).

    It replays the very configurations Knobs evaluated (``replay``: Knobs' trials), so both sides
    fit the same models and only the machinery around the fits differs.
    """
    import optuna
    from sklearn.model_selection import cross_val_score
    from threadpoolctl import threadpool_limits

    from knobs.study import pipeline_for
    from knobs.study.keys import BASELINE

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = plan.problem()
    (spec,) = problem.models.values()
    scorer = problem.metric.scorer

    def objective(trial):
        if trial.user_attrs.get("baseline"):
            params = {}
        else:
            params = {p.name: p.suggest(trial, spec.key(p.name)) for p in spec.params}
        pipe = pipeline_for(problem, spec, params, seed=plan.config.seed, n_jobs=1)
        return cross_val_score(pipe, problem.X, problem.y, cv=problem.folds, scoring=scorer).mean()

    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed)
    )
    for t in replay:
        params = {k: v for k, v in t.params.items() if k != "model"}
        study.enqueue_trial(params, user_attrs={"baseline": bool(BASELINE.get(t))})
    with threadpool_limits(1):
        started = time.perf_counter()
        study.optimize(objective, n_trials=len(replay))
        return time.perf_counter() - started


def knobs_search(
    data, target: str, model: str, n_trials: int, workers: int, seed: int, keep_oof=None
):
    from knobs.api import Search
    from knobs.config import SearchConfig

    cfg = SearchConfig(
        target=target, models=(model,), strategy="random", n_trials=n_trials, cv=5, seed=seed,
        keep_oof=keep_oof,
    )  # fmt: skip
    search = Search.create(data, cfg)
    started = time.perf_counter()
    search.started_at = time.time()
    search.start(workers=workers, threads=1)
    search.wait(poll_s=0.05)
    elapsed = time.perf_counter() - started
    done = search.status().done
    assert done == n_trials, f"expected {n_trials} trials, got {done}"
    return elapsed, search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--model", default="hist_gb")
    parser.add_argument("--data", default=None)
    parser.add_argument("--target", default="churn")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("KNOBS_HOME", tempfile.mkdtemp(prefix="knobs-bench-"))

    from knobs.data import sample_path

    data = args.data or str(sample_path("churn"))
    print(f"data {Path(data).name}, model {args.model}, {args.trials} trials, 5 folds, random")

    one, search = knobs_search(data, args.target, args.model, args.trials, 1, args.seed)
    bare = bare_optuna(search.plan, search.trials(), args.seed)
    lean, lean_search = knobs_search(
        data, args.target, args.model, args.trials, 1, args.seed, False
    )
    two, _ = knobs_search(data, args.target, args.model, args.trials, 2, args.seed)

    startup = first_trial_delay(lean_search)
    rows = [
        ("bare Optuna + cross_val_score, 1 process", bare, ""),
        ("Knobs, 1 worker (keeps OOF predictions)", one, f"{one / bare:.3f}x bare"),
        ("Knobs, 1 worker, keep_oof=False", lean, f"{lean / bare:.3f}x bare"),
        ("  of which worker start-up (imports, data)", startup, ""),
        ("  steady state, keep_oof=False", lean - startup, f"{(lean - startup) / bare:.3f}x bare"),
        ("Knobs, 2 workers (keeps OOF predictions)", two, f"{one / two:.2f}x faster than 1"),
    ]
    for label, seconds, note in rows:
        print(f"{label:<44}: {seconds:7.2f} s  {note}")
    print(
        f"per trial: bare {bare / args.trials * 1000:.0f} ms, Knobs {one / args.trials * 1000:.0f} ms"
    )


def first_trial_delay(search) -> float:
    """Seconds from the launch to the first trial's start: the worker's one-off start-up."""
    first = min(t.datetime_start for t in search.trials() if t.datetime_start is not None)
    return max(0.0, first.timestamp() - search.started_at)


if __name__ == "__main__":
    main()
