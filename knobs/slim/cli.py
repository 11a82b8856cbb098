"""``knobs slim``: measure a trial's feature and tree curves, pick sizes, export the slim model
(a normal bundle: ``knobs predict`` then needs only the kept columns). Parser added to the main
CLI by ``add_slim_parser``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from knobs.export._formats import DEFAULT_FORMAT, FORMATS
from knobs.formatting import fmt_score


def add_slim_parser(sub: Any) -> None:
    p = sub.add_parser(
        "slim",
        help="drop the least important columns and trees of a trial within noise, and export it",
        description="Feature curve (CV score as the least important columns are dropped) and, "
        "for XGBoost, forests and histogram boosting, tree curve (CV score of the first k "
        "trees), both with the study's folds; `auto` keeps the smallest size within noise of "
        "the best (the 95% verdict margin and one standard error). "
        "Exports the slim model as a bundle and reports file size and latency before and after.",
    )
    p.add_argument("--study", required=True, help="the study to slim a trial of")
    p.add_argument("--trial", type=int, default=None, help="trial number (default: the best)")
    p.add_argument("--columns", default="auto", help="auto (default), all, or how many to keep")
    p.add_argument("--trees", default="auto", help="auto (default), all, or how many to keep")
    p.add_argument("--out", required=True, help="folder to create, or a path ending in .zip")
    p.add_argument("--format", dest="fmt", choices=list(FORMATS), default=DEFAULT_FORMAT)
    p.add_argument("--json", dest="json_path", default=None, help="write the report here")
    p.add_argument("--data", default=None, help="the original CSV (optional), for train.py")
    p.add_argument("--storage", default=None)
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _curve_lines(curve: dict[str, Any], what: str) -> list[str]:
    lines = [f"  {what:>8}  CV score   ±noise   loss vs best"]
    for pt in curve["points"]:
        mark = " <- suggested" if pt["size"] == curve["suggested"] else ""
        mark += " (best)" if pt["size"] == curve["best"] else ""
        noise = "-" if pt["noise"] is None else fmt_score(pt["noise"])
        within = "" if pt["within_noise"] else "  beyond noise"
        lines.append(f"  {pt['size']:>8}  {fmt_score(pt['score']):>8}  {noise:>7}  "
                     f"{fmt_score(pt['loss']):>8}{within}{mark}")  # fmt: skip
    return lines


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The report in words, as ``knobs slim`` prints it."""
    b, a = report["before"], report["after"]
    lines = [f"trial {report['trial']} ({report['model']}), {report['metric']} by "
             f"{report['folds']}-fold CV on the training split"]  # fmt: skip
    lines += ["feature curve (least important columns dropped first):"]
    lines += _curve_lines(report["feature_curve"], "columns")
    if report.get("tree_curve"):
        lines += [f"tree curve (on the {report['tree_curve_columns']} kept columns):"]
        lines += _curve_lines(report["tree_curve"], "trees")
    dropped = report["choice"]["dropped"]
    lines.append(f"dropped {len(dropped)} column(s): {', '.join(dropped) or 'none'}")
    lines.append(
        f"{'':<10}{'columns':>8}{'trees':>7}{'CV':>9}{'test':>9}{'bytes':>12}{'pred/s':>12}"
    )
    for name, row in (("before", b), ("after", a)):
        lines.append(
            f"{name:<10}{row['columns']:>8}{row['trees'] if row['trees'] else '-':>7}"
            f"{fmt_score(row['cv']):>9}{fmt_score(row['test']):>9}{row['bytes']:>12,}"
            f"{row['predictions_per_s']:>12,.0f}"
        )
    return lines


def cmd_slim(args: argparse.Namespace) -> int:
    import sys

    from knobs.slim import export_slim, slim_report

    progress = None if args.quiet else (lambda m: print(f"slim: {m}", file=sys.stderr, flush=True))
    report, fitted = slim_report(
        args.study, args.trial, columns=args.columns, trees=args.trees, storage=args.storage,
        fmt=args.fmt, progress=progress,
    )  # fmt: skip
    result = export_slim(report, args.out, args.fmt, storage=args.storage, fitted=fitted,
                         data=args.data)  # fmt: skip
    for line in summary_lines(report):
        print(line)
    card = result.card
    print(f"exported {card['model']['label']} as {card['format']} to {result.path} "
          f"(test {fmt_score(card['scores']['test'])})")  # fmt: skip
    if args.json_path:
        out = {**report, "export": {"path": str(result.path), "format": card["format"],
                                    "slim": card["model"]["extra"]["slim"],
                                    "schema": [c["name"] for c in card["schema"]]}}  # fmt: skip
        Path(args.json_path).write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    return 0
