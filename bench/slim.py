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
    python bench/slim.py --tables "" --explain-rows 10000,100000   # only the explanation times

Then the explanation times (``--explain-rows``): permutation importance and SHAP values of a
model fitted on a generated mixed-type table, computed on 10,000 and 100,000 held-out rows as
``knobs explain`` does (its row caps included: importance on at most 5,000 rows x 5 shuffles,
SHAP on 2,000 and about 20 s), and SHAP on every row without the caps (measured for XGBoost,
extrapolated from the capped rows for the shap library's slower TreeSHAP), to show what the caps
save.
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
    parser.add_argument("--explain-rows", default="10000,100000",
                        help="held-out rows to explain, comma-separated ('' to skip)")
    parser.add_argument("--explain-models", default="xgboost,random_forest,hist_gb")
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
    sizes = [int(n) for n in args.explain_rows.split(",") if n]
    if sizes:
        rows_out += explain_timings(sizes, args.explain_models.split(","), args.seed)
    if args.out:
        Path(args.out).write_text(json.dumps(rows_out, indent=2, default=str))
    return 0


def generated(n: int, seed: int):  # noqa: ANN201 - a DataFrame
    """A mixed-type binary table: numbers with gaps, a category, a date, noise."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(8)})
    frame.loc[rng.random(n) < 0.05, "x1"] = np.nan
    frame["region"] = rng.choice([f"r{i}" for i in range(12)], n)
    frame["since"] = (pd.Timestamp("2020-01-01")
                      + pd.to_timedelta(rng.integers(0, 1500, n), "D")).strftime("%Y-%m-%d")  # fmt: skip
    signal = (2 * frame["x0"] - frame["x1"].fillna(0) + 0.5 * frame["x2"] * frame["x3"]
              + (frame["region"] < "r4") + rng.normal(scale=0.8, size=n))  # fmt: skip
    frame["label"] = np.where(signal > 0.3, "yes", "no")
    return frame


def explain_timings(sizes: list[int], models: list[str], seed: int) -> list[dict]:
    """Seconds of ``knobs explain``'s two parts on ``sizes`` held-out rows, per model family."""
    import numpy as np

    import knobs
    from knobs.data import prepare
    from knobs.explain import explain_model
    from knobs.explain._shap import tree_shap
    from knobs.study import pipeline_for

    train = generated(20_000, seed)
    config = knobs.SearchConfig(target="label", models=tuple(models), strategy="random",
                                n_trials=1, cv=3, workers=1, seed=seed)  # fmt: skip
    plan = knobs.Search.create(train, config, source="generated.csv").plan
    X, y = plan.load_split("train")
    print()
    print(f"explanation seconds (model fitted on {len(X):,} rows; importance capped at 5,000 "
          "rows x 5 shuffles, SHAP at 2,000 rows and ~20 s, as `knobs explain` does)")
    print(f"{'model':<14}{'rows':>9}{'importance s':>14}{'rows used':>10}{'SHAP s':>9}"
          f"{'rows used':>10}{'SHAP s, every row':>19}")  # fmt: skip
    out = []
    for model in [m for m in models if m]:
        params = PARAMS.get(model, {"max_iter": 200} if model == "hist_gb" else {})
        pipeline = pipeline_for(plan, model, params, n_jobs=-1).fit(X, y)
        for n in sizes:
            held = prepare(generated(n, seed + n), "label")  # as Search.create reads a table
            Xh, yh = held.X, held.y
            parts = explain_model(pipeline, plan, Xh, yh, family=model, seed=seed)
            s = parts["seconds"]
            shap_rows = parts["shap"]["rows"] if parts["shap"] else 0
            if model == "xgboost":
                started = time.perf_counter()
                tree_shap(pipeline, Xh, yh, plan.columns, np.arange(n), labels=plan.classes)
                full, shown = time.perf_counter() - started, ""
            else:  # the shap library's TreeSHAP: hours on every row; extrapolated
                full, shown = s["shap"] / max(1, shap_rows) * n, " est."
            print(f"{model:<14}{n:>9,}{s['importance']:>14.1f}{parts['importance']['rows']:>10,}"
                  f"{s['shap']:>9.1f}{shap_rows:>10,}{full:>14.1f}{shown:<5}", flush=True)  # fmt: skip
            out.append({"explain": model, "rows": n, "seconds": s, "shap_every_row_s": full,
                        "importance_rows": parts["importance"]["rows"], "shap_rows": shap_rows})  # fmt: skip
    return out


if __name__ == "__main__":
    sys.exit(main())
