"""``knobs explain``: a thin adapter over :mod:`knobs.explain` (its parser is added to the main
CLI by ``add_explain_parser``).

An explanation is computed once and stored beside the study; a second call prints the stored
one unless ``--recompute`` asks for a fresh one. The dashboard starts this same command in its
own process (``knobs.explain.start_job``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from knobs.formatting import fmt_score


def add_explain_parser(sub: Any) -> None:
    from knobs.explain._importance import DEFAULT_REPEATS, MAX_IMPORTANCE_ROWS
    from knobs.explain._shap import MAX_SHAP_ROWS

    p = sub.add_parser(
        "explain",
        help="which columns a model relies on (permutation importance on the test split) and "
        "why it predicts what it does (SHAP values, tree models)",
    )  # fmt: skip
    p.add_argument("--study", default=None, help="the study (optional with --ensemble)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--trial", type=int, default=None, help="trial number (default: the best)")
    which.add_argument("--ensemble", default=None, help="a kept ensemble's id (knobs ensemble)")
    p.add_argument("--json", dest="json_path", default=None, help="write the explanation here")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                   help=f"shuffles per column (default {DEFAULT_REPEATS})")  # fmt: skip
    p.add_argument(
        "--rows", type=int, default=MAX_IMPORTANCE_ROWS,
        help=f"test rows scored per shuffle at most (default {MAX_IMPORTANCE_ROWS:,}; a bigger "
        "test split is subsampled)",
    )  # fmt: skip
    p.add_argument("--shap-rows", type=int, default=MAX_SHAP_ROWS,
                   help=f"rows given SHAP values at most (default {MAX_SHAP_ROWS:,})")  # fmt: skip
    p.add_argument(
        "--recompute", action="store_true",
        help="compute again even when an explanation is stored (--repeats, --rows and "
        "--shap-rows change a stored one only with this)",
    )  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="print only the stored file's path")
    p.add_argument("--storage", default=None)


def cmd_explain(args: argparse.Namespace) -> int:
    from knobs.errors import ConfigError
    from knobs.explain._build import explain, home_and_trial
    from knobs.explain._store import load, result_key, result_path

    if not args.study and not args.ensemble:
        raise ConfigError("Say what to explain: --study NAME [--trial N], or --ensemble ID.")
    home, trial = home_and_trial(args.study, args.trial, args.ensemble, args.storage)
    result = None if args.recompute else load(home, trial, args.ensemble)
    stored = result is not None
    if result is None:
        result = explain(
            home, trial, args.ensemble, args.storage, repeats=args.repeats,
            importance_rows=args.rows, shap_rows=args.shap_rows,
        )  # fmt: skip
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    path = result_path(home, result_key(trial, args.ensemble))
    if args.quiet:
        print(path)
        return 0
    for line in summary_lines(result, stored=stored):
        print(line)
    print(f"stored: {path}")
    if result.get("warning"):
        print(f"knobs: warning: {result['warning']}", file=sys.stderr)
    return 0


def summary_lines(result: dict[str, Any], *, stored: bool = False, top: int = 10) -> list[str]:
    """What ``knobs explain`` prints: the importances with their spread, SHAP's summary, notes."""
    imp = result["importance"]
    secs = sum(result.get("seconds", {}).values())
    lines = [
        f"{'stored explanation of' if stored else 'explained'} {result['label']} of study "
        f"{result['study']} on {imp['rows']:,} of {result['n_test']:,} test rows "
        f"({result['metric']} {fmt_score(imp['score'])}, {imp['repeats']} repeats"
        f"{'' if stored else f', {secs:.1f} s'})",
        f"permutation importance ({result['metric']} lost when the column is shuffled):",
    ]
    width = max((len(c["column"]) for c in imp["columns"][:top]), default=0)
    for c in imp["columns"][:top]:
        lines.append(f"  {c['column']:<{width}}  {c['mean']:+.4f} ± {c['std']:.4f}")
    if len(imp["columns"]) > top:
        lines.append(f"  … {len(imp['columns']) - top} more columns (all in --json)")
    shap = result.get("shap")
    if shap:
        order = sorted(zip(shap["columns"], shap["mean_abs"][0], strict=True), key=lambda p: -p[1])
        what = f" (class `{shap['classes'][0]}`)" if shap["classes"] else ""
        lines.append(
            f"SHAP, mean |value| on {shap['rows']:,} rows{what}: "
            + ", ".join(f"{c} {v:.3g}" for c, v in order[:top])
        )
    elif result.get("shap_note"):
        lines.append(f"SHAP: {result['shap_note']}")
    lines += [f"note: {n}" for n in result.get("notices", [])]
    return lines
