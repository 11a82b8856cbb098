"""The model card: what a model is, how well it did, what it expects, and how to load it.

``card.json`` is the machine-readable one (``knobs predict`` reads the schema, the classes and the
trusted types from it); ``card.md`` says the same for people.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from knobs.formatting import fmt_score
from knobs.pipelines import target_of
from knobs.portable import to_category
from knobs.study import StudyPlan

if TYPE_CHECKING:
    from knobs.export._formats import Format, Written
    from knobs.export._source import ModelSource

CARD_VERSION = 1

#: Categories listed per column in card.json, which ``knobs predict`` checks new rows against;
#: beyond this the list is cut (and says so) and unseen values go unchecked. At 1,000 a zip code
#: column of 1,807 values took all-`99999` rows without a word; 20,000 short codes are ~0.3 MB.
MAX_CATEGORIES = 20_000
#: Categories shown per column in the card's Markdown table (card.json holds them all).
SHOWN_CATEGORIES = 20

#: How train.py rebuilds each ensemble kind: what it refits, and what it carries as learned.
_TRAIN_PY_ENSEMBLE = {
    "voting": (
        "For this voting ensemble it refits every member (each trial's pipeline with its "
        "parameters) and combines them with the weights above, written into the script."
    ),
    "greedy": (
        "For this greedy ensemble the weights Knobs' selection chose on the members' out-of-fold "
        "predictions are written into the script (`ENSEMBLE['weights']`); it refits the members "
        "they keep. The ensemble classes come from `knobs.portable`, which the script carries whole."
    ),
    "stacking": (
        "For this stacking ensemble it refits every member and fits the meta-learner on the "
        "members' out-of-fold predictions from the search, which the script carries "
        "(`STACKING_OOF`): the CSV alone cannot recreate them. The ensemble classes come from "
        "`knobs.portable`, which the script carries whole."
    ),
}


def _cell(text: object) -> str:
    """``text`` as code inside one Markdown table cell: a line break or a `|` in a category
    ("line one\\nline two") ended the row mid-cell and broke the rest of the table."""
    flat = " ".join(str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "`" + flat.replace("|", "\\|").replace("`", "'") + "`"


def input_schema(plan: StudyPlan, X_train: pd.DataFrame) -> list[dict[str, Any]]:
    """The columns a new table must have: user name, safe name, kind, allowed categories."""
    out: list[dict[str, Any]] = []
    for c in plan.columns:
        if not c.used or "target" in c.flags:
            continue
        entry: dict[str, Any] = {"name": c.name, "safe_name": c.safe_name, "kind": c.kind}
        if c.formats:
            entry["formats"] = list(c.formats)
        if c.kind == "numeric" and c.safe_name in X_train:
            seen = pd.to_numeric(X_train[c.safe_name], errors="coerce").dropna()
            if len(seen):  # what predict warns beyond (`knobs.predict.FAR_OUTSIDE`)
                entry["range"] = [float(seen.min()), float(seen.max())]
        if c.kind == "categorical" and c.safe_name in X_train:
            values = to_category(X_train[c.safe_name]).dropna().unique().tolist()
            cats = sorted(str(v) for v in values)
            entry["categories"] = cats[:MAX_CATEGORIES]
            entry["categories_truncated"] = len(cats) > MAX_CATEGORIES
        out.append(entry)
    return out


def predict_card(plan: StudyPlan, X_train: pd.DataFrame) -> dict[str, Any]:
    """What predicting needs of a card (task, target, classes, the input schema, the ID-like
    columns that key predictions): an exported card holds it, and a search's result uses it
    to predict in the table's own labels without an export."""
    return {
        "task": plan.task,
        "target": plan.target,
        "classes": list(plan.classes),
        "schema": input_schema(plan, X_train),
        # ID-like columns the profile left out: `knobs predict` keeps the first one present
        "id_columns": [c.name for c in plan.columns if "id_like" in c.flags],
    }


def _fitted_on(card: Mapping[str, Any]) -> str:
    """Which rows the exported model was fitted on, in words (old cards: the training split)."""
    d = card["data"]
    if d.get("test_source"):
        return (
            f"every row of the training table ({d['n_fit']:,}); the test table "
            f"`{d['test_source']}` ({d['n_test']:,} rows) only scored it"
        )
    searched = (
        f"the {d['n_train']:,} training rows searched (a sample of {d['n_train'] + d['n_extra']:,})"
        if d.get("n_extra") else "the training split alone"
    )  # fmt: skip
    if d.get("fit_on") == "all":
        return (
            f"all {d['n_fit']:,} labelled rows (the training and test splits), refitted after the "
            f"test split scored the same model fitted on {searched}"
        )
    if d.get("n_extra"):
        return searched
    return f"the training split ({d.get('n_fit', d['n_train']):,} rows)"


def _test_model(card: Mapping[str, Any]) -> str:
    if card["data"].get("fit_on") == "all":
        return "scored before the refit on every row"
    return "never seen in training"


def _slim_lines(card: Mapping[str, Any]) -> list[str]:
    """A slimmed model's size and latency before and after (``knobs slim``); none otherwise."""
    slim = (card["model"].get("extra") or {}).get("slim")
    if not slim:
        return []
    f = fmt_score
    lines = ["## Slimmed (knobs slim)", "",
             "| | columns | trees | CV | test | model file bytes | predictions/s |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name in ("before", "after"):
        r = slim[name]
        lines.append(f"| {name} | {r['columns']} | {r['trees'] or '-'} | {f(r['cv'])} | "
                     f"{f(r['test'])} | {r['bytes']:,} | {r['predictions_per_s']:,.0f} |")  # fmt: skip
    dropped = ", ".join(f"`{c}`" for c in slim.get("dropped", [])) or "none"
    lines += ["", f"Dropped columns: {dropped}. Measured on {slim.get('measured_on', '')}.", ""]
    if slim.get("trees_how"):
        lines += [f"Trees: {slim['trees_how']}.", ""]
    return lines


def render_markdown(card: Mapping[str, Any]) -> str:
    """card.md from card.json's content."""
    lines = [
        f"# Model card: {card['model']['label']}",
        "",
        f"Study `{card['study']}`, exported {card['exported']} as **{card['format']}**.",
        "",
    ]
    for w in card.get("warnings", []):
        lines += [f"> **Warning:** {w}", ""]
    s = card["scores"]
    lines += [
        "## What it predicts",
        f"- Task: {card['task']}; target `{card['target']}`"
        + (f"; classes {', '.join(f'`{c}`' for c in card['classes'])}" if card["classes"] else ""),
        f"- Model: {card['model']['family']} ({card['model']['kind']})",
        *(
            [f"- It learned log(`{card['target']}`) and predicts exp of it: on the target's own "
             "scale (scikit-learn's `TransformedTargetRegressor`)"]
            if card["model"].get("target_transform") == "log" else []
        ),  # fmt: skip
        "",
        "## Scores",
        f"| {s['metric']} ({s['direction']}) | value |",
        "|---|---|",
        f"| cross-validation ({card['data']['folds']} folds, the trial's value) | {fmt_score(s['cv'])} |",
        f"| held-out test split ({card['data']['n_test']:,} rows; {_test_model(card)}) | "
        f"{fmt_score(s['test'])} |",
        f"| {s.get('baseline_label', 'baseline (default parameters, CV)')} | "
        f"{fmt_score(s['baseline'])} |",
        "",
        "## Parameters",
        "```json",
        json.dumps(card["model"]["params"], indent=2, default=str),
        "```",
        "",
        "## Input schema",
        "| column | kind | allowed categories |",
        "|---|---|---|",
    ]
    for col in card["schema"]:
        cats = col.get("categories")
        shown = "" if cats is None else ", ".join(_cell(c) for c in cats[:SHOWN_CATEGORIES])
        if cats is not None and (len(cats) > SHOWN_CATEGORIES or col.get("categories_truncated")):
            shown += ", … (all in card.json)"
        lines.append(f"| {_cell(col['name'])} | {col['kind']} | {shown} |")
    d = card["data"]
    lines += [
        "",
        "Missing columns are refused. Unknown categories are accepted with a warning: the one-hot",
        "encoder gives them all zeros and the target encoder the overall mean. Values that cannot",
        "be read as the column's kind (text in a numeric column) become missing, with a warning;",
        "a column where none can be read is refused.",
        "",
        "## Training",
        f"- Training rows: {d['n_train'] + d.get('n_extra', 0):,}"
        + (f", of which {d['n_train']:,} searched" if d.get("n_extra") else "")
        + f" (source `{d['source']}`, {_read_as(d['reading'])})",
        f"- Data fingerprint (sha256 of the cleaned table): `{d['fingerprint']}`",
        f"- Seed {d['seed']}, test share {d['test_size']}, {d['folds']}-fold CV",
        f"- Fitted on: {_fitted_on(card)}",
        f"- Fit time: {card['model']['fit_s']:.2f} s",
        "",
        "## Library versions",
        "| library | at export | at search |",
        "|---|---|---|",
    ]
    trained = card["versions"].get("search", {})
    for name, v in card["versions"]["export"].items():
        lines.append(f"| {name} | {v} | {trained.get(name, '-')} |")
    lines += ["", "## Files", "| file | bytes | sha256 |", "|---|---|---|"]
    for f in card["files"]:
        lines.append(f"| `{f['name']}` | {f['bytes']} | `{f['sha256'][:16]}…` |")
    lines += ["", "## How to load it", "", card["loading"]["note"], "", "```python",
              card["loading"]["snippet"], "```", "",
              "Or with Knobs: `knobs predict THIS_FOLDER_OR_ZIP new.csv --out predictions.csv`.",
              ""]  # fmt: skip
    if card.get("onnx"):
        o = card["onnx"]
        lines += [
            "## ONNX check",
            f"ONNX computes in float32. On {o['rows']} training rows the graph's {o['compared']} "
            f"differ from the fitted model by at most {o['max_abs_diff']:.3g} (tolerance "
            f"{o['tolerance']:.3g})"
            + (f"; predicted labels agree on {100 * o['label_agreement']:.2f}% of rows"
               if o.get("label_agreement") is not None else "") + ".",
            "",
        ]  # fmt: skip
    lines += _slim_lines(card)
    lines += _explanation_lines(card)
    t = card["train_py"]
    lines += ["## Rebuilding it: train.py", ""]
    if t["available"] and t.get("note"):  # a model train.py cannot rebuild exactly (fine-tuned)
        lines.append(t["note"])
    elif t["available"]:
        lines += [
            "`train.py` rebuilds this model from the original CSV with only the libraries in "
            "`requirements.txt` (no Knobs): `pip install -r requirements.txt && python train.py "
            f"{d['source']} --predict new.csv --out predictions.csv`. It reads the CSV, the "
            "target and the split as Knobs did and fits the same pipeline; the fitted model "
            "predicts what this export predicts (checked by Knobs' tests).",
        ]
        kind = card["model"]["params"].get("kind") if card["model"]["kind"] == "ensemble" else None
        if kind in _TRAIN_PY_ENSEMBLE:
            lines += ["", _TRAIN_PY_ENSEMBLE[kind]]
    else:
        lines.append(f"Not available: {t['reason']}")
    return "\n".join(lines) + "\n"


def _read_as(reading: Mapping[str, str]) -> str:
    """How the source file was read, in the card's words."""
    form = reading.get("format", "csv")
    if form == "workbook":
        said = f"read as sheet `{reading.get('sheet', '')}` of a workbook"
    elif form != "csv":
        said = f"read as a {dict(jsonl='JSON lines', json='JSON').get(form, form.title())} file"
    else:
        said = f"read with delimiter `{reading['delimiter']}`, decimal `{reading['decimal']}`"
    skipped = int(reading.get("skip_lines", 0))
    return said + (f", {skipped} line{'s' * (skipped > 1)} above the header skipped" if skipped else "")


def build_card(
    plan: StudyPlan,
    source: ModelSource,
    row: Format,
    written: Written,
    *,
    X_train: pd.DataFrame,
    study: str,
    baseline_score: float | None,
    reading: Mapping[str, str],
    train_py: Mapping[str, Any],
    knobs_version: str,
    versions: Mapping[str, str],
) -> dict[str, Any]:
    """card.json's content, but for ``files`` (the writer adds them once every file is there)."""
    est = source.estimator
    needed = predict_card(plan, X_train)
    return {
        "card_version": CARD_VERSION,
        "study": study,
        "exported": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "format": row.name,
        "task": needed["task"],
        "target": needed["target"],
        "classes": needed["classes"],
        "model": {
            "label": source.label,
            "kind": source.kind,
            "family": source.family,
            "trial": source.trial,
            "params": dict(source.params),
            "fit_s": source.fit_s,
            "estimator": type(est).__name__,
            # "log": the model learned log(target); the file predicts exp of it, on the target's
            # own scale (scikit-learn's TransformedTargetRegressor)
            "target_transform": target_of(est),
            "xgboost_class": written.model_class,
            **({"extra": dict(source.extra)} if source.extra else {}),
        },
        "scores": {
            "metric": plan.metric,
            "direction": plan.direction,
            "cv": source.cv_score,
            "test": source.test_score,
            "baseline": baseline_score,
            "baseline_label": source.extra.get("baseline_label")  # e.g. a fine-tuned model's parent
            or (
                "best single trial (CV)"
                if source.kind == "ensemble"
                else "baseline (default parameters, CV)"
            ),
        },
        "schema": needed["schema"],
        "id_columns": needed["id_columns"],
        "data": {
            "source": plan.source,
            "n_train": plan.n_train,
            "n_test": plan.n_test,
            "n_extra": plan.n_extra,
            "fingerprint": plan.fingerprint,
            "seed": plan.config.seed,
            "test_size": plan.config.test_size,
            "folds": plan.folds,
            "reading": dict(reading),
            "fit_on": source.fit_on,
            "n_fit": source.fit_rows or plan.n_train,
            "test_source": plan.test_source or None,
        },
        "versions": {"export": dict(versions), "search": dict(plan.versions)},
        "trusted_types": list(written.trusted),
        "requires_knobs": bool(written.knobs_modules),
        "onnx": dict(written.onnx) if written.onnx is not None else None,
        "train_py": dict(train_py),
        "warnings": [row.warning] if row.warning else [],
        "explanation": _explanation(study, source),
        "loading": {
            "snippet": row.snippet(written),
            "note": row.note(written, knobs_version, bool(train_py["available"])),
        },
    }


def _explanation(study: str, source: ModelSource) -> dict[str, Any] | None:
    """The top permutation importances, when ``knobs explain`` has stored this model's
    explanation (``knobs.explain.card_summary``); None otherwise."""
    from knobs.explain import card_summary

    ensemble = source.extra.get("ensemble_id") if source.kind == "ensemble" else None
    trial = source.trial if ensemble is None else None
    return card_summary(study, trial, ensemble)


def _explanation_lines(card: Mapping[str, Any]) -> list[str]:
    """card.md's "What drives its predictions" part (nothing when no explanation is stored)."""
    e = card.get("explanation")
    if not e or not e.get("top"):
        return []
    lines = [
        "## What drives its predictions",
        f"Permutation importance of the model fitted on {e['fitted_on']}: how much "
        f"{e['metric']} is lost when one column is shuffled ({e['repeats']} repeats on "
        f"{e['rows']} rows). `knobs explain` has the rest, and SHAP values for tree models.",
        "",
        f"| column | {e['metric']} lost | spread (std) |",
        "|---|---|---|",
    ]
    lines += [f"| `{c['column']}` | {c['mean']:.4f} | {c['std']:.4f} |" for c in e["top"]]
    if e.get("warning"):
        lines += ["", f"> **Caution:** {e['warning']}"]
    return [*lines, ""]
