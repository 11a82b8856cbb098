"""``knobs export`` and ``knobs predict``: thin adapters over :mod:`knobs.export` and
:mod:`knobs.predict` (parsers added to the main CLI by ``add_export_parsers``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from knobs.export._formats import DEFAULT_FORMAT, FORMATS, cli_help
from knobs.formatting import fmt_score


def add_export_parsers(sub: Any) -> None:
    exp = sub.add_parser(
        "export",
        help="refit a study's best (or chosen) trial and export it with a model card and train.py",
    )
    exp.add_argument("--study", default=None, help="the study to export from")
    which = exp.add_mutually_exclusive_group()
    which.add_argument("--trial", type=int, default=None, help="trial number (default: the best)")
    which.add_argument("--ensemble", default=None, help="a kept ensemble's id (knobs ensemble)")
    exp.add_argument("--format", dest="fmt", choices=list(FORMATS), default=DEFAULT_FORMAT,
                     help=cli_help())  # fmt: skip
    exp.add_argument("--out", required=True, help="folder to create, or a path ending in .zip")
    exp.add_argument(
        "--data", default=None,
        help="the original CSV (optional): records how it was read (delimiter, decimal, "
        "encoding) for train.py",
    )  # fmt: skip
    exp.add_argument("--storage", default=None)

    pred = sub.add_parser("predict", help="predict a CSV with an exported model (never unpickles)")
    pred.add_argument("model", help="the folder or .zip that `knobs export` wrote")
    pred.add_argument("data", help="CSV with the columns the model was trained on")
    pred.add_argument("--out", required=True, help="where to write the predictions (CSV)")
    ident = pred.add_mutually_exclusive_group()
    ident.add_argument(
        "--id", dest="id_column", default=None, metavar="COL",
        help="column to keep beside the predictions so rows can be joined back (default: the "
        "ID-like column found at training, when the table has it)",
    )  # fmt: skip
    ident.add_argument("--no-id", dest="no_id", action="store_true", help="keep no ID column")


def cmd_export(args: argparse.Namespace) -> int:
    from knobs.errors import ExportError
    from knobs.export import export_ensemble, export_study

    warning = FORMATS[args.fmt].warning
    if warning:
        print(f"knobs: warning: {warning}", file=sys.stderr)
    if args.ensemble:
        result = export_ensemble(
            args.ensemble, args.fmt, args.out, storage=args.storage, data=args.data
        )
    elif args.study:
        result = export_study(
            args.study, args.fmt, args.out, trial=args.trial, storage=args.storage, data=args.data
        )
    else:
        raise ExportError("Say what to export: --study NAME [--trial N], or --ensemble ID.")
    card = result.card
    s = card["scores"]
    print(
        f"exported {card['model']['label']} of study {card.get('study') or args.study} as "
        f"{card['format']} to "
        f"{result.path} ({s['metric']}: CV {fmt_score(s['cv'])}, test {fmt_score(s['test'])})"
    )
    for f in card["files"]:
        print(f"  {f['name']:<18} {f['bytes']:>10,} bytes")
    if card.get("onnx"):
        o = card["onnx"]
        print(
            f"  ONNX vs fitted model: max |diff| {o['max_abs_diff']:.3g} on {o['rows']} rows "
            f"({o['compared']}, tolerance {o['tolerance']:.3g})"
        )
    if not card["train_py"]["available"]:
        print(f"  no train.py: {card['train_py']['reason']}")
    for w in result.warnings:
        print(f"knobs: warning: {w}", file=sys.stderr)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from knobs.predict import DETECTED, predict_table, write_predictions

    id_column = None if args.no_id else (args.id_column or DETECTED)
    prediction = predict_table(args.model, args.data, id_column=id_column)
    for w in prediction.warnings:
        print(f"knobs: warning: {w}", file=sys.stderr)
    out = write_predictions(prediction, args.out)
    with_id = f", keyed by `{prediction.key}`" if prediction.key else ""
    print(f"wrote {len(prediction.frame)} predictions to {out}{with_id}")
    return 0
