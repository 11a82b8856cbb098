"""``knobs ensemble``: build an ensemble of the best trials of one or more studies.

Kept beside the ensembles package so ``knobs/cli.py`` only registers it. Exit codes follow the
CLI's: 0 ok, 2 bad input (unknown study, mixed tables, bad option), 1 internal error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

KIND_CHOICES = ("voting", "stacking", "greedy")


def add_ensemble_parser(sub: Any) -> None:
    p = sub.add_parser(
        "ensemble",
        help="voting, stacking or greedy ensemble of the best trials of studies",
        description="Combine the top-K complete trials of one or more studies made on the same "
        "table. Weights are learned on the trials' stored out-of-fold predictions; members are "
        "refitted once on the training split to score the held-out test split.",
    )
    p.add_argument("--study", action="append", required=True, help="study name (repeatable)")
    p.add_argument("--kind", choices=KIND_CHOICES, required=True)
    p.add_argument("--top", type=int, default=5, help="candidate trials (default 5)")
    p.add_argument("--diverse", action="store_true", help="prefer other families, low correlation")
    p.add_argument("--voting", choices=("soft", "hard"), default="soft", help="classifiers")
    p.add_argument("--weights", choices=("equal", "optimized"), default="optimized")
    p.add_argument("--meta", default=None, help="stacking meta-learner (a model name)")
    p.add_argument("--passthrough", action="store_true", help="stacking: also pass features")
    p.add_argument("--n-iter", type=int, default=50, help="greedy selection rounds")
    p.add_argument(
        "--no-recompute", action="store_true",
        help="leave out trials without stored out-of-fold predictions instead of recomputing",
    )  # fmt: skip
    p.add_argument("--no-keep", action="store_true", help="do not store the ensemble")
    p.add_argument("--storage", default=None)
    p.add_argument("--json", dest="json_path", default=None, help="write the report here")


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def cmd_ensemble(args: argparse.Namespace) -> int:
    from knobs.ensembles import build_ensemble

    report = build_ensemble(
        args.study, args.kind, args.top, diverse=args.diverse, voting=args.voting,
        weights=args.weights, meta=args.meta, passthrough=args.passthrough,
        n_iter=args.n_iter, recompute=not args.no_recompute, keep=not args.no_keep,
        storage=args.storage,
    )  # fmt: skip
    data = report.to_dict()
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, default=str)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"{report.kind} ensemble {report.id if not args.no_keep else '(not kept)'}: "
        f"CV {report.metric} {_f(report.cv_score)} vs best single "
        f"{_f(report.best_single_cv_score)}; test {_f(report.test_score)} vs "
        f"{_f(report.best_single_test_score)}"
    )
    t = report.timings
    print(
        f"time: {report.build_s:.1f} s = candidates {t.get('candidates_s', 0):.1f} s + combining "
        f"on out-of-fold predictions {t.get('combine_on_oof_s', 0):.1f} s + refitting members "
        f"{t.get('refit_members_s', 0):.1f} s + test {t.get('test_s', 0):.1f} s"
    )
    for m in report.members:
        w = "-" if m["weight"] is None else f"{m['weight']:.3f}"
        print(f"  {m['model']:<14} trial {m['trial']:<4} weight {w:<6} {m['study']}")
    print(report.verdict)
    return 0
