"""``knobs ensemble``: build an ensemble of the best trials of one or more studies.

Kept beside the ensembles package so ``knobs/cli.py`` only registers it. Exit codes follow the
CLI's: 0 ok, 2 bad input (unknown study, mixed tables, bad option), 1 internal error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from knobs.ensembles import KINDS, VOTINGS, WEIGHTINGS, Options
from knobs.formatting import fmt_score

#: The defaults the options object declares (one home: ``knobs.ensembles.Options``).
_DEFAULTS = Options(KINDS[0])


def add_ensemble_parser(sub: Any) -> None:
    p = sub.add_parser(
        "ensemble",
        help="voting, stacking or greedy ensemble of the best trials of studies",
        description="Combine the top-K complete trials of one or more studies made on the same "
        "table. Weights are learned on the trials' stored out-of-fold predictions; members are "
        "refitted once on the training split to score the held-out test split.",
    )
    d = _DEFAULTS
    p.add_argument("--study", action="append", required=True, help="study name (repeatable)")
    p.add_argument("--kind", choices=KINDS, required=True)
    p.add_argument("--top", type=int, default=d.top, help=f"candidate trials (default {d.top})")
    p.add_argument("--diverse", action="store_true", help="prefer other families, low correlation")
    p.add_argument("--voting", choices=VOTINGS, default=d.voting, help="classifiers")
    p.add_argument("--weights", choices=WEIGHTINGS, default=d.weights)
    p.add_argument("--meta", default=d.meta, help="stacking meta-learner (a model name)")
    p.add_argument("--passthrough", action="store_true", help="stacking: also pass features")
    p.add_argument("--n-iter", type=int, default=d.n_iter, help="greedy selection rounds")
    p.add_argument(
        "--no-recompute", action="store_true",
        help="leave out trials without stored out-of-fold predictions instead of recomputing",
    )  # fmt: skip
    p.add_argument("--no-keep", action="store_true", help="do not store the ensemble")
    p.add_argument("--storage", default=None)
    p.add_argument("--json", dest="json_path", default=None, help="write the report here")


def options_from_args(args: argparse.Namespace) -> Options:
    """The command line's choices as the one options object the API takes."""
    return Options(
        kind=args.kind, top=args.top, diverse=args.diverse, recompute=not args.no_recompute,
        voting=args.voting, weights=args.weights, meta=args.meta, passthrough=args.passthrough,
        n_iter=args.n_iter,
    )  # fmt: skip


def cmd_ensemble(args: argparse.Namespace) -> int:
    from knobs.ensembles import build_ensemble

    options = options_from_args(args)
    report = build_ensemble(args.study, options, keep=not args.no_keep, storage=args.storage)
    data = report.to_dict()
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, default=str)
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"{report.kind} ensemble {report.id if not args.no_keep else '(not kept)'}: "
        f"CV {report.metric} {fmt_score(report.cv_score)} vs best single "
        f"{fmt_score(report.best_single_cv_score)}; test {fmt_score(report.test_score)} vs "
        f"{fmt_score(report.best_single_test_score)}"
    )
    t = report.timings
    print(
        f"time: {report.build_s:.1f} s = candidates {t.get('candidates_s', 0):.1f} s + combining "
        f"on out-of-fold predictions {t.get('combine_on_oof_s', 0):.1f} s + refitting members "
        f"{t.get('refit_members_s', 0):.1f} s + test {t.get('test_s', 0):.1f} s"
    )
    for m in report.members:
        w = fmt_score(m["weight"], 3)
        print(f"  {m['model']:<14} trial {m['trial']:<4} weight {w:<6} {m['study']}")
    print(report.verdict)
    return 0
