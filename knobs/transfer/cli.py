"""``knobs finetune``: a thin adapter over :func:`knobs.transfer.finetune` (its parser is added
to the main CLI by ``add_finetune_parser``). ``knobs tune --warm-start`` lives with ``tune``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from knobs.formatting import fmt_score


def add_finetune_parser(sub: Any) -> None:
    p = sub.add_parser(
        "finetune",
        help="continue training an exported model on new rows (preprocessing kept) and compare "
        "it with the model as is and one trained from scratch",
    )
    p.add_argument("model", help="the folder or .zip that `knobs export` wrote (skops or xgboost)")
    p.add_argument("data", help="CSV of new labelled rows, with the columns the model uses")
    p.add_argument("--out", required=True, help="folder to create, or a path ending in .zip")
    p.add_argument("--json", dest="json_path", default=None, help="write the report here")
    p.add_argument(
        "--holdout", type=float, default=0.25,
        help="share of the new rows held out to compare the three models (default 0.25)",
    )  # fmt: skip
    p.add_argument(
        "--extra", type=int, default=None,
        help="most rounds, trees or epochs to add (default: about as many as the model has)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0)


def cmd_finetune(args: argparse.Namespace) -> int:
    import os

    from knobs.errors import DataError
    from knobs.transfer import finetune

    if not os.path.exists(args.data):
        raise DataError(f"No such file: {args.data}")
    result = finetune(
        args.model, args.data, out=args.out, holdout=args.holdout, seed=args.seed,
        extra=args.extra, name=args.data,
    )  # fmt: skip
    report = result.to_dict()
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, default=str)
    for w in result.warnings:
        print(f"knobs: warning: {w}", file=sys.stderr)
    s, rows = result.scores, result.rows
    print(
        f"fine-tuned {result.family} on {rows['tuned_on']} new rows; {result.metric} on "
        f"{rows['held_out']} held-out new rows: old as is {fmt_score(s['old'])}, fine-tuned "
        f"{fmt_score(s['finetuned'])} ({result.seconds['finetuned']:.1f} s), from scratch "
        f"{fmt_score(s['scratch'])} ({result.seconds['scratch']:.1f} s); best: {result.best_words()}"
    )
    if result.advice:
        print(f"note: {result.advice}")
    print(f"how: {result.meaning}")
    if result.details:
        print("details: " + ", ".join(f"{k} {v}" for k, v in result.details.items()))
    print(f"wrote the fine-tuned model to {result.out}")
    return 0
