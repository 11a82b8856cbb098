"""Model pruning benchmark (issue 12, part 3): how much of a tuned model can go, and what it buys.

For each table (the bundled samples and two bundled scikit-learn sets by default; any name of
``bench/tables.py``), a real Knobs study is created (``Search.create``: split, profile, folds)
with one complete trial per model at fixed, sensible parameters (no search runs: this measures
the slimming, not the tuning), then ``knobs.slim.slim_report`` with ``auto`` choices: the
smallest column set and tree count within the noise margin of each curve's best. Printed: columns
and trees kept, CV and test score lost, model file bytes (skops) and predictions per second on
1,000 rows before and after.

    python bench/slim.py                                   # churn, houses, breast_cancer, diabetes
    python bench/slim.py --tables churn --models xgboost,random_forest --out slim.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

#: The trial each model gets: fixed parameters a user would not be ashamed of.
PARAMS: dict[str, dict[str, float | int]] = {
    "xgboost": {"n_estimators": 200, "max_depth": 4, "learning_rate": 0.1},
    "random_forest": {"n_estimators": 150, "min_samples_leaf": 2},
    "extra_trees": {"n_estimators": 150, "min_samples_leaf": 2},
    "logistic": {},
    "linear": {},
}
DEFAULT_TABLES = "churn,houses,breast_cancer,diabetes"


def make_study(frame, target: str, model: str, name: str, cv: int, seed: int) -> str:  # noqa: ANN001
    """A Knobs study of ``frame`` whose one complete trial is ``model`` at ``PARAMS``."""
    import optuna

    import knobs
    from knobs.models import get_model
    from knobs.study.keys import CV

    config = knobs.SearchConfig(target=target, models=(model,), strategy="random", n_trials=1,
                                cv=cv, workers=1, seed=seed)  # fmt: skip
    search = knobs.Search.create(frame, config, name=name, source=f"{name}.csv")
    spec = get_model(model, search.plan.task)
    params = PARAMS.get(spec.name, {})
    dist: dict = {"model": optuna.distributions.CategoricalDistribution([spec.name])}
    for key, value in params.items():
        dist[spec.key(key)] = (
            optuna.distributions.IntDistribution(1, 10_000)
            if isinstance(value, int)
            else optuna.distributions.FloatDistribution(1e-6, 1e6)
        )
    search.study.add_trial(optuna.trial.create_trial(
        params={"model": spec.name, **{spec.key(k): v for k, v in params.items()}},
        distributions=dist, value=0.0, user_attrs=CV.attr({"fold_scores": [0.0] * cv}),
    ))  # fmt: skip
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=DEFAULT_TABLES)
    parser.add_argument("--models", default="xgboost")
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=None, help="sample each table to this many")
    parser.add_argument("--out", default=None, help="every figure as JSON")
    args = parser.parse_args(argv)
    home = tempfile.mkdtemp(prefix="knobs-bench-slim-")
    os.environ["KNOBS_HOME"] = home
    import optuna
    import tables

    from knobs.formatting import fmt_score
    from knobs.slim import slim_report

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows_out = []
    header = (f"{'table':<14}{'rows':>6} {'model':<14}{'cols':>8}{'trees':>10}{'CV loss':>9}"
              f"{'test before':>12}{'after':>8}{'KB before':>10}{'after':>8}"
              f"{'pred/s before':>14}{'after':>9}{'s':>6}")  # fmt: skip
    print(f"metric: binary ROC AUC, multiclass accuracy, regression R2 (the task defaults); "
          f"{args.cv}-fold CV on the training split; KNOBS_HOME={home}")  # fmt: skip
    print(header)
    for table in [t for t in args.tables.split(",") if t]:
        frame, target, _task = tables.load(table)
        if args.rows and len(frame) > args.rows:
            frame = frame.sample(args.rows, random_state=args.seed).reset_index(drop=True)
        for model in [m for m in args.models.split(",") if m]:
            name = make_study(frame, target, model, f"slim-{table}-{model}".replace("_", "-"),
                              args.cv, args.seed)  # fmt: skip
            started = time.perf_counter()
            report, _ = slim_report(name)
            seconds = time.perf_counter() - started
            b, a = report["before"], report["after"]
            loss = b["cv"] - a["cv"] if report["direction"] == "maximize" else a["cv"] - b["cv"]
            trees = f"{a['trees']}/{b['trees']}" if b["trees"] else "-"
            print(f"{table:<14}{len(frame):>6} {model:<14}{a['columns']:>4}/{b['columns']:<3}"
                  f"{trees:>10}{fmt_score(loss):>9}{fmt_score(b['test']):>12}"
                  f"{fmt_score(a['test']):>8}{b['bytes'] / 1024:>10,.0f}{a['bytes'] / 1024:>8,.0f}"
                  f"{b['predictions_per_s']:>14,.0f}{a['predictions_per_s']:>9,.0f}"
                  f"{seconds:>6.0f}", flush=True)  # fmt: skip
            rows_out.append({"table": table, "rows": len(frame), "model": model,
                             "dropped": report["choice"]["dropped"], "seconds": seconds,
                             "before": b, "after": a, "metric": report["metric"]})  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(rows_out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
