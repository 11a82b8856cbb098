"""Transfer learning, printed: cold vs warm search, and fine-tune vs old-as-is vs from scratch.

Each pair is an "old" and a "new" part of one table, split by time or by group, plus a shifted
synthetic pair:

- churn: customers who signed up before 2022 (old) and from 2022 (new);
- houses: houses sold before 2024 (old) and in 2024 or later (new);
- fair: Fair's affairs survey (statsmodels), women aged up to 27 (old) and from 32 (new);
- randhie: the RAND Health Insurance Experiment (statsmodels), doctor visits of people without
  an individual deductible (old, 6,000 of them) and with one (new, 5,250);
- shifted: a synthetic table whose target leans on another column in the new part.

(a) A search on the old part, then two searches of the same budget on the new part: cold, and
warm started from the old study. Printed: the trials and seconds the warm search needed to reach
the cold search's best CV score (and that as a share of the cold search's), the trials each
needed to come within the noise of it (the standard error of that best trial's folds: closer
scores cannot be told apart by the cross-validation, and the cold best after 40 trials is itself
a maximum over noisy scores), and both best scores at equal budget. (b) The old study's best
XGBoost trial exported, then fine-tuned on the new part: the old model as is, fine-tuned, and
trained from scratch on a held-out part of the new rows, with seconds.

    python bench/transfer.py --quick          # a smoke run, a few minutes on 2 cores
    python bench/transfer.py --trials 40      # the real run (two seeds per pair)

Run it on an idle machine: on a shared one the seconds are wrong (trial counts are not).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere, uninstalled

import tables  # noqa: E402  (bench/tables.py: the peer benchmark's tables, nothing downloaded)

import knobs  # noqa: E402
from knobs.data import sample_path  # noqa: E402
from knobs.export import export_study  # noqa: E402
from knobs.metrics import direction  # noqa: E402
from knobs.transfer import finetune  # noqa: E402


def pairs() -> dict[str, tuple[pd.DataFrame, pd.DataFrame, str]]:
    churn = pd.read_csv(sample_path("churn"))
    year = churn["signup_date"].str[:4].astype(int)
    houses = pd.read_csv(sample_path("houses"))
    sold = houses["sold_date"].str[-4:].astype(int)
    rng = np.random.default_rng(0)
    n = 1200
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                          "c": rng.choice(["x", "y", "z"], n)})  # fmt: skip
    new = np.arange(n) >= n // 2
    signal = frame["a"] + np.where(new, 1.5 * frame["b"], 0.3 * frame["b"]) + (frame["c"] == "x")
    frame["y"] = (signal + rng.normal(scale=0.5, size=n) > 0.5).map({True: "yes", False: "no"})
    fair, fair_target, _ = tables.fair()
    rand, rand_target, _ = tables.randhie()
    deductible = rand.pop("idp") == 1
    return {
        "churn (signup year)": (churn[year < 2022], churn[year >= 2022], "churn"),
        "houses (sale year)": (houses[sold < 2024], houses[sold >= 2024], "price"),
        "fair (age)": (fair[fair["age"] <= 27], fair[fair["age"] >= 32], fair_target),
        "randhie (deductible)": (
            rand[~deductible].sample(6000, random_state=0),
            rand[deductible],
            rand_target,
        ),
        "shifted (synthetic)": (frame[~new], frame[new], "y"),
    }


def noise_of_best(result: knobs.TuneResult, maximize: bool) -> float:
    """The standard error of the best trial's mean fold score (``knobs.metrics.fold_noise``):
    two scores closer than this cannot be told apart by the cross-validation itself."""
    from knobs.metrics import fold_noise
    from knobs.study import load_study
    from knobs.study.keys import CV

    done = result.trials[result.trials["state"] == "COMPLETE"]
    row = done.loc[done["value"].idxmax() if maximize else done["value"].idxmin()]
    best = load_study(result.study).trials[int(row["number"])]
    return fold_noise((CV.get(best) or {}).get("fold_scores", ())) or 0.0


def reach(trials: pd.DataFrame, goal: float, maximize: bool) -> tuple[int | None, float | None]:
    """Trials and seconds (from the first trial's start) until a CV score reached ``goal``."""
    done = trials[trials["state"] == "COMPLETE"].sort_values("number")
    if done.empty:
        return None, None
    hit = done[done["value"] >= goal - 1e-12] if maximize else done[done["value"] <= goal + 1e-12]
    if hit.empty:
        return None, None
    first = hit.iloc[0]
    n = int((trials["number"] <= first["number"]).sum())
    seconds = float(done[done["number"] <= first["number"]]["duration_s"].sum())
    return n, seconds


#: Trial counts at which the best-so-far scores of cold and warm searches are compared.
CHECKPOINTS = (3, 5, 10, 20)


def best_so_far(trials: pd.DataFrame, maximize: bool) -> list[float]:
    """The best CV score after each trial (in trial order; failed and pruned ones carry on the
    previous best)."""
    values = trials.sort_values("number").apply(
        lambda t: t["value"] if t["state"] == "COMPLETE" else np.nan, axis=1
    )
    filled = values.fillna(-np.inf if maximize else np.inf)
    best = filled.cummax() if maximize else filled.cummin()
    return best.replace([np.inf, -np.inf], np.nan).ffill().bfill().tolist()


def run(args: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix="knobs-bench-transfer-"))
    os.environ["KNOBS_HOME"] = str(home)
    common = dict(models=args.models, n_trials=args.trials, cv=3, workers=args.workers,
                  ensemble=False, refit=False)  # fmt: skip
    print(f"{'pair':<22} {'cold best':>10} {'warm best':>10} {'warm trials to cold best':>26} "
          f"{'seconds':>16} {'trials to within noise':>24}")  # fmt: skip
    fine_rows = []
    curves: dict[tuple[str, str], list[list[float]]] = {}
    chosen = {k: v for k, v in pairs().items() if not args.pairs or k.split()[0] in args.pairs}
    for label, (old, new, target) in chosen.items():
        old_res = knobs.tune(old, target, **common)
        for seed in range(args.seeds):  # split, folds and sampler: one run of each says little
            cold = knobs.tune(new, target, seed=seed, **common)
            warm = knobs.tune(new, target, warm_start=[old_res.study], seed=seed, **common)
            maximize = cold.plan.direction == "maximize"
            n_cold, s_cold = reach(cold.trials, cold.best_score, maximize)
            n_warm, s_warm = reach(warm.trials, cold.best_score, maximize)
            share = f"{n_warm}/{n_cold}" if n_warm else f"never/{n_cold}"
            secs = f"{s_warm:.0f}/{s_cold:.0f}" if s_warm is not None else f"-/{s_cold:.0f}"
            # Within the noise: the first score the cold search's best cannot be told from.
            noise = noise_of_best(cold, maximize)
            near = direction(cold.plan.direction).shifted(cold.best_score, noise)
            near_cold, _ = reach(cold.trials, near, maximize)
            near_warm, _ = reach(warm.trials, near, maximize)
            within = f"{near_warm or 'never'}/{near_cold} (±{noise:.4f})"
            print(f"{label + f' s{seed}':<22} {cold.best_score:>10.4f} {warm.best_score:>10.4f} "
                  f"{share:>26} {secs:>16} {within:>24}", flush=True)  # fmt: skip
            for kind, res in (("cold", cold), ("warm", warm)):
                curves.setdefault((label, kind), []).append(best_so_far(res.trials, maximize))
        xgb = old_res.trials[(old_res.trials["model"] == "xgboost")
                             & (old_res.trials["state"] == "COMPLETE")]  # fmt: skip
        if xgb.empty:
            continue
        best = xgb.sort_values("value", ascending=not maximize).iloc[0]
        bundle = home / f"{old_res.study}-xgb"
        export_study(old_res.study, "xgboost", bundle, trial=int(best["number"]))
        new_csv = home / f"{old_res.study}-new.csv"
        new.to_csv(new_csv, index=False)
        started = time.perf_counter()
        result = finetune(bundle, new_csv, name=new_csv.name)
        fine_rows.append((label, result, time.perf_counter() - started))
    marks = [k for k in CHECKPOINTS if k < args.trials] + [args.trials]
    print()
    print("best CV score after k trials, mean over the seeds (cold / warm): the early lead is what "
          "a warm start buys")  # fmt: skip
    print(f"{'pair':<22}" + "".join(f"{f'k={k}':>18}" for k in marks))
    for label in dict.fromkeys(lbl for lbl, _ in curves):
        cells = []
        for k in marks:
            c, w = (np.mean([c[min(k, len(c)) - 1] for c in curves[(label, kind)]])
                    for kind in ("cold", "warm"))  # fmt: skip
            cells.append(f"{c:.4f} / {w:.4f}")
        print(f"{label:<22}" + "".join(f"{cell:>18}" for cell in cells))
    print()
    print(f"{'pair':<22} {'metric':<8} {'old as is':>10} {'fine-tuned':>12} {'from scratch':>13} "
          f"{'s tune':>7} {'s scratch':>10}")  # fmt: skip
    for label, r, _ in fine_rows:
        s = r.scores
        print(f"{label:<22} {r.metric:<8} {s['old']:>10.4f} {s['finetuned']:>12.4f} "
              f"{s['scratch']:>13.4f} {r.seconds['finetuned']:>7.2f} {r.seconds['scratch']:>10.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--models", default="logistic,random_forest,xgboost")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--seeds", type=int, default=2, help="seeds (split, folds, sampler) of each cold/warm pair"
    )
    parser.add_argument("--quick", action="store_true", help="12 trials per search, one seed")
    parser.add_argument(
        "--pairs", type=lambda v: v.split(","), default=None,
        help="comma-separated first words of the pairs (churn,houses,fair,randhie,shifted)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.trials, args.seeds = 12, 1
    run(args)


if __name__ == "__main__":
    main()
