"""The ``knobs`` command: a thin layer over ``knobs.api``.

Exit codes: 0 success, 2 bad input or usage (one clear message, no traceback), 3 a search that
ran but delivered no model (why, and what to do, on stderr), 1 internal error.
Progress goes to stderr, results to stdout (and ``--json``), so the output pipes cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from knobs.config import FINAL_FITS, MIN_SEARCH_ROWS, TASKS
from knobs.devices import DEFAULT_DEVICE, DEVICES
from knobs.errors import KnobsError
from knobs.formatting import fmt_duration, fmt_score, plural
from knobs.models import model_names
from knobs.pipelines import TARGET_TRANSFORMS
from knobs.pruners import DEFAULT_PRUNER, PRUNERS
from knobs.strategies import CONFIG_STRATEGIES, SAMPLERS, strategy_label

#: Exit code of a search that ran but delivered no model (no trial finished); 1 is Knobs' bug.
NO_MODEL = 3


class Progress:
    """One line per change on stderr: trials done, best so far vs baseline, ETA."""

    def __init__(self, stream: Any = sys.stderr) -> None:
        self.stream = stream

    def __call__(self, st: Any) -> None:
        budget = "?" if st.budget is None else str(st.budget)
        self.stream.write(
            f"[{st.done}/{budget}] best {fmt_score(st.best_value)} "
            f"(defaults {fmt_score(st.baseline_value)}) | {st.running} running, "
            f"{st.failed} failed | {fmt_duration(st.elapsed_s)} elapsed, ETA {fmt_duration(st.eta_s)}\n"
        )
        self.stream.flush()


def _search_rows(value: str) -> int | None:
    """``--search-rows``: ``all`` is 0 (every training row), ``auto`` None (sized to the time
    budget), else a row count."""
    word = value.strip().lower()
    if word in ("all", "auto"):
        return 0 if word == "all" else None
    try:
        rows = int(value.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"give a row count, `all` or `auto`, not {value!r}"
        ) from None
    if rows < MIN_SEARCH_ROWS:
        raise argparse.ArgumentTypeError(
            f"at least {MIN_SEARCH_ROWS:,} rows (or `all`), not {rows:,}"
        )
    return rows


def _add_search_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="CSV file to learn from")
    p.add_argument("--target", default=None, help="column to predict (required unless --resume)")
    p.add_argument("--task", choices=TASKS, help="override the task inferred from the target")
    p.add_argument(
        "--models", default="auto",
        help="`auto` (default: the budget goes to the model families that lead for their cost), "
        f"`all`, or comma-separated short names ({', '.join(model_names())}; "
        "`knobs models` describes them)",
    )  # fmt: skip
    p.add_argument("--strategy", choices=CONFIG_STRATEGIES, default="bayes")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="Bayesian sampler")
    p.add_argument(
        "--pruner", choices=list(PRUNERS), default=DEFAULT_PRUNER,
        help=f"stop hopeless trials after a fold (default: {DEFAULT_PRUNER})",
    )  # fmt: skip
    p.add_argument(
        "--no-ensemble", dest="ensemble", action="store_false",
        help="end with the best single trial, never a greedy ensemble of the best trials",
    )  # fmt: skip
    p.add_argument(
        "--no-early-stopping", dest="early_stopping", action="store_false",
        help="let boosted models run every round (their round count is then tuned blindly)",
    )  # fmt: skip
    p.add_argument(
        "--search-pipeline", action="store_true",
        help="search the preprocessing too: categorical encoding, imputation, scaling and "
        "feature selection become `prep.*` parameters of each trial",
    )  # fmt: skip
    p.add_argument(
        "--target-transform", choices=TARGET_TRANSFORMS, default="auto",
        help="regression: what models learn; auto (default): where the target is above 0 in "
        "every row, trials also try its log and the cross-validation chooses",
    )  # fmt: skip
    p.add_argument(
        "--time-column", default=None, metavar="COL",
        help="split by time on this date column: the latest rows are the test split and the "
        "folds are consecutive periods (default: a random, stratified split)",
    )  # fmt: skip
    p.add_argument("--trials", type=int, default=None, help="trial budget (default 50)")
    p.add_argument("--timeout", type=float, default=None, help="time budget in seconds")
    p.add_argument(
        "--search-rows", type=_search_rows, default=None, metavar="N|all|auto",
        help="training rows trials are scored on (default: every row, unless the --timeout "
        "leaves time for too few trials on them: then a sample, said in the plan; the model "
        f"delivered is refitted on every row when time is left). At least {MIN_SEARCH_ROWS:,}",
    )  # fmt: skip
    p.add_argument(
        "--cv", type=int, default=None,
        help="cross-validation folds (default: 5, or 3 above 20,000 training rows)",
    )  # fmt: skip
    p.add_argument("--metric", default=None, help="e.g. roc_auc, accuracy, f1, log_loss, r2, rmse")
    p.add_argument("--test-size", type=float, default=0.2, help="held-out share (default 0.2)")
    p.add_argument(
        "--seed", type=int, default=0,
        help="fixes the test split, the folds and the samplers; several workers finish trials "
        "in an order that depends on timing, so a rerun may differ (`knobs tune --reproducible` "
        "repeats a search exactly)",
    )  # fmt: skip
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: cores)")
    p.add_argument("--exclude", default="", help="comma-separated columns to leave out")
    p.add_argument(
        "--warm-start", default="", metavar="STUDY[,STUDY...]",
        help="earlier studies (same task, shared columns) whose best configuration per model "
        "family is queued first and re-scored on this table; their old scores never count",
    )  # fmt: skip
    p.add_argument("--storage", default=None, help="Optuna storage URL or journal file path")
    p.add_argument("--json", dest="json_path", default=None, help="write the report here")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="knobs", description="Tune scikit-learn and XGBoost models on a CSV table."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    tune = sub.add_parser("tune", help="run (or resume) a search")
    _add_search_options(tune)
    tune.add_argument("--study", default=None, help="study name (default: generated)")
    tune.add_argument("--resume", action="store_true", help="continue the study named by --study")
    tune.add_argument("--quiet", action="store_true", help="no progress lines")
    tune.add_argument(
        "--final-fit", choices=list(FINAL_FITS), default="all",
        help="rows the delivered model is fitted on once the test split has scored it: "
        + "; ".join(f"{k}: {v}" for k, v in FINAL_FITS.items()) + " (default: all)",
    )  # fmt: skip
    tune.add_argument(
        "--reproducible", action="store_true",
        help="one worker process (its models use every core), so the same --seed and --trials "
        "give the same trials and scores; a --timeout still cuts at a time, not a trial",
    )  # fmt: skip
    tune.add_argument(
        "--device", choices=list(DEVICES), default=DEFAULT_DEVICE,
        help="where XGBoost trains: " + "; ".join(f"{k}: {v}" for k, v in DEVICES.items())
        + f" (default: {DEFAULT_DEVICE})",
    )  # fmt: skip
    tune.add_argument(
        "--dask", default=None, metavar="tcp://HOST:8786",
        help="run the trials as tasks on this Dask cluster (default: $KNOBS_DASK, else local "
        "processes): one per Dask worker, or --workers N, each with its worker's threads",
    )  # fmt: skip
    tune.add_argument(
        "--dry-run", action="store_true",
        help="print the plan (split, folds, models, budget, grid size) and a duration estimate; "
        "run and write nothing",
    )  # fmt: skip
    tune.add_argument(
        "--test-data", default=None, metavar="TEST.csv",
        help="a test table of your own (same columns and target): the search learns from all of "
        "DATA and the final model is scored on this instead of on --test-size of DATA",
    )  # fmt: skip
    tune.add_argument(
        "--space", default=None, metavar="FILE",
        help="a .json or .toml file changing parameter ranges, as the Search page's editor does: "
        "{model: {parameter: {low, high, log, choices, grid}}}",
    )  # fmt: skip

    ls = sub.add_parser("studies", help="list the studies in the storage")
    ls.add_argument("--storage", default=None)
    ls.add_argument("--json", dest="json_path", default=None)

    stop = sub.add_parser("stop", help="stop a running search")
    stop.add_argument("study")
    stop.add_argument("--storage", default=None)

    from knobs.delete_cli import add_delete_parser

    add_delete_parser(sub)

    from knobs.race.cli import add_race_parser

    add_race_parser(sub, _add_search_options)

    from knobs.ensembles.cli import add_ensemble_parser

    add_ensemble_parser(sub)

    from knobs.export.cli import add_export_parsers

    add_export_parsers(sub)

    from knobs.transfer.cli import add_finetune_parser

    add_finetune_parser(sub)

    from knobs.explain.cli import add_explain_parser

    add_explain_parser(sub)

    from knobs.slim.cli import add_slim_parser

    add_slim_parser(sub)

    models = sub.add_parser("models", help="list the models and their search spaces")
    models.add_argument("--task", choices=TASKS, default=None)
    return parser


def cmd_tune(args: argparse.Namespace) -> int:
    from knobs.api import tune
    from knobs.study import process_started_at

    if args.resume and not args.study:
        raise _usage("--resume needs --study NAME (the study to continue).")
    if not args.resume and not args.target:
        raise _usage("--target is required: the name of the column to predict.")
    data = args.data
    if not os.path.exists(data):
        if not args.resume:
            raise _usage(f"No such file: {data}")
        data = None  # resuming needs no table: the study keeps its own split
    options = dict(
        task=args.task,
        models=args.models,
        strategy=args.strategy,
        sampler=args.sampler,
        pruner=args.pruner,
        early_stopping=args.early_stopping,
        ensemble=args.ensemble,
        final_fit=args.final_fit,
        reproducible=args.reproducible,
        device=args.device,
        n_trials=args.trials,
        timeout=args.timeout,
        cv=args.cv,
        metric=args.metric,
        test_size=args.test_size,
        seed=args.seed,
        workers=args.workers,
        exclude=[c for c in args.exclude.split(",") if c.strip()],
        warm_start=[s for s in args.warm_start.split(",") if s.strip()],
        search_pipeline=args.search_pipeline,
        target_transform=args.target_transform,
        time_column=args.time_column,
        search_rows=args.search_rows,
    )
    if args.space:
        from knobs.spaces import read_space_file

        options["space"] = read_space_file(args.space)
    test_data = None
    if args.test_data:
        if args.resume:
            raise _usage("--test-data belongs to a new study; a resumed study keeps its own.")
        if not os.path.exists(args.test_data):
            raise _usage(f"No such test file: {args.test_data}")
        test_data = args.test_data
    if args.dry_run:
        return _dry_run(data, args, options, test_data)
    result = tune(
        data,
        args.target,
        **options,
        test_data=test_data,
        dask=args.dask,
        study=args.study,
        resume=args.resume,
        storage=args.storage,
        progress=None if args.quiet else Progress(),
        started_at=process_started_at(),
        on_start=None if args.quiet else _announce,
    )
    report = result.to_dict()
    if result.plan.config.warm_start:
        from knobs.transfer import study_warm_report

        report["warm_start"] = study_warm_report(result.study, result.storage)
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, default=str)
    if report.get("no_model"):
        print(f"study {report['study']}: no model, {plural(report['n_trials'], 'trial')} "
              f"finished in {report['wall_s']:.1f} s")
        print(f"knobs: no model: {report['no_model']}", file=sys.stderr)
        return NO_MODEL
    print(
        f"study {report['study']}: best {report['metric']} {fmt_score(report['best_score'])} "
        f"({report['best_model']}, trial {report['best_trial']}), defaults "
        f"{fmt_score(report['baseline_score'])}, test {fmt_score(report['test_score'])} "
        f"(the delivered model's: {_delivered_words(report)}), "
        f"{plural(report['n_trials'], 'trial')} in {report['wall_s']:.1f} s"
    )
    print(f"best params: {json.dumps(report['best_params'], default=str)}")
    if report.get("test_caveat"):
        print(f"note: {report['test_caveat']}")
    if report["verdict"]:
        print(f"verdict: {report['verdict']['words']}")
    if report.get("perfect"):
        print(f"stopped early: {report['perfect']}")
    if report.get("warm_start"):
        from knobs.transfer import warm_summary

        print("\n".join(warm_summary(report["warm_start"])))
    if report["final"]:
        print(f"final model: {report['final']['why']}")
    if report.get("chosen_trial"):
        print(f"single model: {report['chosen_trial']['why']}")
    if report["final_fit"]:
        print(f"delivered model: {report['final_fit']['why']}")
    if report["counts"].get("PRUNED"):
        print(
            f"pruned {plural(report['counts']['PRUNED'], 'trial')}, saving about "
            f"{report['saved_s']:.0f} s ({report['saved_share']:.0%} of the search)"
        )
    if report["counts"].get("TIME_CUT"):
        print(
            f"{plural(report['counts']['TIME_CUT'], 'trial')} stopped by the time budget before "
            "the last fold (not pruned: the time ran out; not counted as failures)"
        )
    return 0


def _delivered_words(report: dict[str, Any]) -> str:
    """Which model the test score is of: the best trial's CV sat beside another model's test
    score when an ensemble or a linear model within one standard error was delivered."""
    final = report.get("final") or {}
    if final.get("kind") == "ensemble":
        return "the final ensemble"
    chosen = report.get("chosen_trial") or {}
    if chosen.get("trial") is not None:
        return f"trial {chosen['trial']}, {chosen.get('model')}"
    return f"trial {report['best_trial']}"


def _dry_run(
    data: str | None, args: argparse.Namespace, options: dict[str, Any], test_data: str | None
) -> int:
    """``--dry-run``: what the search would do, and about how long it would take; nothing runs
    and nothing is written (the Search page's "Before you start")."""
    from knobs.api import preview

    if args.resume or data is None:
        raise _usage("--dry-run plans a new search: give the table and --target, not --resume.")
    from knobs.study import process_started_at

    seen = preview(
        data, args.target, test_data=test_data, started_at=process_started_at(), **options
    )
    print(_plan_line("dry run", seen.plan, seen.budget, seen.workers))
    if seen.plan.config.strategy == "grid":
        print(f"grid: {seen.plan.grid_size()} points + {len(seen.plan.models)} defaults trial(s)")
    est = seen.estimate
    if est is not None:
        print(f"estimate: {est.words()}; nothing was run")
        if est.too_short():
            print(f"warning: {est.too_short()}")
    for notice in seen.plan.notices:
        print(f"note: {notice}")
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as f:
            json.dump(seen.to_dict(), f, indent=2, default=str)
    return 0


def _announce(search: Any) -> None:
    """Say what is about to run, before the first trial: the task, the budget, the grid size."""
    plan = search.plan
    print(
        _plan_line(f"study {search.name}", plan, search.budget(), search.workers), file=sys.stderr
    )
    if info := search.dask_info():
        threads = ", ".join(f"{a} ({n} thread{'s' * (n != 1)})" for a, n in info["workers"].items())
        print(f"on the Dask cluster at {info['address']}: {threads}", file=sys.stderr)
    if plan.config.strategy == "grid":
        print(
            f"grid: {plan.grid_size()} points + {len(plan.models)} defaults trial(s); "
            f"running {search.budget()} of them",
            file=sys.stderr,
        )
    for notice in plan.notices:
        print(f"note: {notice}", file=sys.stderr)


def _plan_line(head: str, plan: Any, budget: int | None, workers: int) -> str:
    """One line that says what a search does: task, split, folds, models, strategy, budget."""
    cfg = plan.config
    strategy = strategy_label(cfg.strategy, cfg.sampler)
    models = "auto (" + ", ".join(plan.models) + ")" if plan.auto_models else ", ".join(plan.models)
    pruning = "no pruning" if cfg.pruner == "none" else f"{cfg.pruner} pruner"
    stopping = "early stopping" if cfg.early_stopping else "no early stopping"
    training = (
        f"{plan.n_train:,} searched of {plan.n_train + plan.n_extra:,} training"
        if plan.n_extra else f"{plan.n_train:,} training"
    )  # fmt: skip
    return (
        f"{head}: {plan.task} task, target `{plan.target}`, {training} / "
        f"{plan.n_test:,} test rows, {plan.folds}-fold CV on {plan.metric} ({plan.direction}), "
        f"models {models}, {strategy}, {pruning}, {stopping}, "
        f"{'no trial limit' if budget is None else f'budget {budget} trials'}"
        f"{f', timeout {cfg.timeout:g} s' if cfg.timeout else ''}, {workers} worker(s)"
    )


def cmd_studies(args: argparse.Namespace) -> int:
    from knobs.api import studies

    rows = studies(args.storage)
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2, default=str)
    if not rows:
        print("no studies yet: run `knobs tune DATA --target COL`")
        return 0
    for r in rows:
        state = "running" if r["running"] else ""
        print(
            f"{r['study']:<40} {r['strategy'] or '':<7} {r['metric'] or '':<10} "
            f"best {fmt_score(r['best_value']):<8} {r['n_trials']:>4} trials  {state}"
        )
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from knobs.api import Search

    n = Search.open(args.study, args.storage).stop()
    print(f"stopped {args.study} ({n} worker(s) signalled)")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from knobs.models import REGISTRY

    for spec in REGISTRY.values():
        if args.task and args.task not in spec.tasks:
            continue
        print(f"{spec.name} ({spec.label}; grid {spec.grid_size()} points)")
        for p in spec.params:
            grid = f" grid {list(p.grid)}" if p.grid else ""
            print(f"    {p.name:<20} {p.kind:<11} {p.describe_range()}{grid}")
    return 0


class _UsageError(KnobsError):
    pass


def _usage(message: str) -> _UsageError:
    return _UsageError(message)


COMMANDS = {
    "tune": cmd_tune,
    "studies": cmd_studies,
    "stop": cmd_stop,
    "models": cmd_models,
    "export": lambda args: __import__("knobs.export.cli", fromlist=["x"]).cmd_export(args),
    "predict": lambda args: __import__("knobs.export.cli", fromlist=["x"]).cmd_predict(args),
    "race": lambda args: __import__("knobs.race.cli", fromlist=["cmd_race"]).cmd_race(args),
    "finetune": lambda args: __import__("knobs.transfer.cli", fromlist=["x"]).cmd_finetune(args),
    "ensemble": lambda args: __import__(
        "knobs.ensembles.cli", fromlist=["cmd_ensemble"]
    ).cmd_ensemble(args),
    "delete": lambda args: __import__("knobs.delete_cli", fromlist=["x"]).cmd_delete(args),
    "explain": lambda args: __import__("knobs.explain.cli", fromlist=["x"]).cmd_explain(args),
    "slim": lambda args: __import__("knobs.slim.cli", fromlist=["x"]).cmd_slim(args),
}


def _check_report_path(path: str | None) -> None:
    """Refuse a ``--json`` path that cannot be written before the work, not after it: a search
    whose report went to a folder that did not exist ended, after its whole budget, in
    "internal error: FileNotFoundError" with no result printed."""
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise _usage(f"--json {path} is a folder; name a file to write the report to.")
    if not os.path.isdir(folder):
        found = folder
        while not os.path.exists(found) and os.path.dirname(found) != found:
            found = os.path.dirname(found)
        if os.path.exists(found) and not os.path.isdir(found):
            raise _usage(f"--json {path}: {found} is a file, not a folder; name a path in a "
                         "folder.")  # fmt: skip
        raise _usage(f"--json {path}: there is no folder {folder}. Create it first, or name "
                     "another path.")  # fmt: skip
    if not os.access(folder, os.W_OK):
        raise _usage(f"--json {path}: the folder {folder} cannot be written to; name another path.")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        _check_report_path(getattr(args, "json_path", None))
        return COMMANDS[args.command](args)
    except KnobsError as exc:
        print(f"knobs: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "knobs: interrupted; the search was stopped (resume it with --resume)", file=sys.stderr
        )
        return 130
    except Exception as exc:  # a bug in Knobs: short message, trace only on request
        print(f"knobs: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if os.environ.get("KNOBS_DEBUG"):
            traceback.print_exc()
        else:
            print("(set KNOBS_DEBUG=1 to see the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
