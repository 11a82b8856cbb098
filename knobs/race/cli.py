"""``knobs race``: the strategy race from the command line (a thin layer over ``knobs.race``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from knobs.errors import ConfigError

HELP = "race search strategies on one table, with seeds and a paired test"


def add_race_parser(
    sub: Any, add_search_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Register ``race`` with the same options as ``tune`` plus the race's own."""
    p = sub.add_parser("race", help=HELP)
    add_search_options(p)
    for action in p._actions:  # one strategy per run makes no sense here: --strategies instead
        if action.dest in ("strategy", "sampler"):
            action.help = argparse.SUPPRESS
        elif action.dest == "trials":
            action.help = "trial budget of each run, defaults trial included (default 20)"
        elif action.dest == "timeout":
            action.help = "time budget of each run in seconds, from its own start"
        elif action.dest == "workers":
            action.help = "runs at once, one worker process each (default: cores)"
    p.add_argument(
        "--strategies",
        default="grid,random,bayes",
        help="comma-separated contestants: grid, random, bayes (= tpe), gp, cmaes, qmc, each "
        "optionally with a pruner (`tpe+median`) and `+warm` to start from --warm-start's "
        "studies (`tpe,tpe+warm` races cold against warm) (default grid,random,bayes)",
    )
    p.add_argument("--seeds", type=int, default=3, help="runs per strategy (default 3)")
    p.add_argument(
        "--threads", type=int, default=None, help="threads per worker, the same for every run"
    )
    p.add_argument("--csv", dest="csv_path", default=None, help="write the results table here")
    p.add_argument("--html", dest="html_path", default=None, help="write the HTML report here")
    p.add_argument(
        "--target-fraction",
        type=float,
        default=0.99,
        help="share of the gap from the defaults to the race's best counted as reaching the "
        "target (default 0.99)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _progress(stream: Any = sys.stderr) -> Callable[[Any], None]:
    seen: dict[str, str] = {}

    def report(race: Any) -> None:
        for run in race.runs:
            if seen.get(run.study) != run.state:
                seen[run.study] = run.state
                if run.state in ("running", "done", "stopped"):
                    stream.write(f"[{race.done}/{len(race.runs)}] {run.state:<8} {run.study}\n")
        stream.flush()

    return report


def cmd_race(args: argparse.Namespace) -> int:
    from knobs import race as R
    from knobs import visualization as V
    from knobs.config import SearchConfig, parse_models
    from knobs.data import prepare, read_table
    from knobs.pruners import DEFAULT_PRUNER

    if args.strategy != "bayes" or args.sampler != "tpe":
        raise ConfigError("`knobs race` takes `--strategies a,b,c`, not `--strategy`/`--sampler`.")
    if args.pruner != DEFAULT_PRUNER:
        raise ConfigError(
            "`knobs race` names each contestant's pruner in `--strategies` (`tpe+median,tpe`: a "
            "bare strategy runs without pruning), not `--pruner`."
        )
    if not args.target:
        raise ConfigError("--target is required: the name of the column to predict.")
    if not os.path.exists(args.data):
        raise ConfigError(f"No such file: {args.data}")
    config = SearchConfig(
        target=args.target,
        task=args.task,
        models=parse_models(args.models),
        n_trials=20 if args.trials is None and args.timeout is None else args.trials,
        timeout=args.timeout,
        cv=args.cv,
        metric=args.metric,
        test_size=args.test_size,
        seed=args.seed,
        exclude=tuple(c.strip() for c in args.exclude.split(",") if c.strip()),
        early_stopping=args.early_stopping,
        search_pipeline=args.search_pipeline,
        warm_start=tuple(s.strip() for s in args.warm_start.split(",") if s.strip()),
        time_column=args.time_column,
        search_rows=args.search_rows,
        # taken with tune's other options, and ignored until now
        ensemble=args.ensemble,
        target_transform=args.target_transform,
    )
    spec = R.RaceSpec(
        config=config,
        contestants=R.parse_contestants(args.strategies),
        seeds=args.seeds,
        workers=args.workers,
        threads=args.threads,
        source=Path(args.data).name,
    )
    dataset = prepare(
        read_table(args.data), config.target, task=config.task, exclude=config.exclude,
        by_time=config.time_column,
    )
    race = R.create_race(dataset, spec, storage=args.storage)
    if not args.quiet:
        print(
            f"race {race.id}: {', '.join(spec.contestants)} x {spec.seeds} seeds = {spec.n_runs} "
            f"runs, {config.n_trials or '∞'} trials each"
            f"{f', {config.timeout:g} s each' if config.timeout else ''}; {spec.slots} at once, "
            f"{spec.n_threads} thread(s) per worker; {race.metric} ({race.direction})",
            file=sys.stderr,
        )
    race = R.run_race(race.id, progress=None if args.quiet else _progress())
    summary = R.summary_of(race, target_fraction=args.target_fraction)
    report = R.report(race, summary)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    if args.csv_path:
        Path(args.csv_path).write_text(R.results_csv(summary), encoding="utf-8")
    if args.html_path:
        title = f"Strategy race on {spec.source} ({race.metric})"
        Path(args.html_path).write_text(
            V.race_report_html(summary, title=title), encoding="utf-8"
        )
    print(format_table(summary))
    print(summary.verdict)
    return 0 if summary.winner is not None else 1


def format_table(summary: Any) -> str:
    """The results table as plain text, for the terminal and the benchmark."""
    from knobs.race import results_rows

    def f(v: Any, d: int = 4) -> str:
        if v is None:
            return "-"
        return f"{v:.{d}f}" if isinstance(v, float) else str(v)

    lines = [
        f"{'rank':>4}  {'strategy':<13} {'best CV (mean ± sd)':<21} {'test (mean ± sd)':<21} "
        f"{'trials→target':>13} {'s→target':>9} {'reached':>7} {'p(CV)':>6} {'p(test)':>7}"
    ]
    for r in results_rows(summary):
        cv = f"{f(r['mean_best_cv'])} ± {f(r['sd_best_cv'])}"
        test = f"{f(r['mean_test'])} ± {f(r['sd_test'])}"
        lines.append(
            f"{f(r['rank']):>4}  {r['contestant']:<13} {cv:<21} {test:<21} "
            f"{f(r['trials_to_target'], 1):>13} {f(r['seconds_to_target'], 1):>9} "
            f"{r['reached_target']:>7} {f(r['p_vs_winner_cv'], 2):>6} "
            f"{f(r['p_vs_winner_test'], 2):>7}"
        )
    return "\n".join(lines)
