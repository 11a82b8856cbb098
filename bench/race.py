"""Race grid, random and TPE on the bundled samples and print the results tables.

``python bench/race.py`` (a few minutes on 2 cores): 20 trials, 3 seeds, HistGradientBoosting,
3-fold CV, in a throwaway KNOBS_HOME. ``--trials``, ``--seeds``, ``--models``, ``--strategies`` and
``--workers`` change that; ``--out DIR`` keeps each race's JSON, CSV and HTML report.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = {"churn": "churn", "houses": "price"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/race.py")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--models", default="hist_gb")
    p.add_argument("--strategies", default="grid,random,bayes")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--cv", type=int, default=3)
    p.add_argument("--samples", default="churn,houses")
    p.add_argument("--out", default=None, help="folder for the JSON, CSV and HTML reports")
    args = p.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="knobs-race-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, KNOBS_HOME=str(out / "home"))
    for name in args.samples.split(","):
        target = SAMPLES[name]
        data = ROOT / "knobs" / "samples" / f"{name}.csv"
        cmd = [
            sys.executable, "-m", "knobs.cli", "race", str(data), "--target", target,
            "--strategies", args.strategies, "--trials", str(args.trials),
            "--seeds", str(args.seeds), "--models", args.models, "--cv", str(args.cv),
            "--json", str(out / f"{name}.json"), "--csv", str(out / f"{name}.csv"),
            "--html", str(out / f"{name}.html"), "--quiet",
        ]  # fmt: skip
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        print(f"\n== {name}.csv, target {target}: {' '.join(cmd[3:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(cmd, env=env, cwd=ROOT)
        print(f"({time.perf_counter() - started:.0f} s, exit {code}; reports in {out})", flush=True)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
