"""The model card: what a model is, how well it did, what it expects, and how to load it.

``card.json`` is the machine-readable one (``knobs predict`` reads the schema, the classes and the
trusted types from it); ``card.md`` says the same for people.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from knobs.data import _clean
from knobs.study import StudyPlan

#: Categories listed per column in the card; beyond this the list is cut (and says so).
MAX_CATEGORIES = 1000

#: How train.py rebuilds each ensemble kind: what it refits, and what it carries as learned.
_TRAIN_PY_ENSEMBLE = {
    "voting": (
        "For this voting ensemble it refits every member (each trial's pipeline with its "
        "parameters) and combines them with the weights above, written into the script."
    ),
    "greedy": (
        "For this greedy ensemble the weights Knobs' selection chose on the members' out-of-fold "
        "predictions are written into the script (`ENSEMBLE['weights']`); it refits the members "
        "they keep. The ensemble class is copied from Knobs' source."
    ),
    "stacking": (
        "For this stacking ensemble it refits every member and fits the meta-learner on the "
        "members' out-of-fold predictions from the search, which the script carries "
        "(`STACKING_OOF`): the CSV alone cannot recreate them. The ensemble class is copied from "
        "Knobs' source."
    ),
}


def input_schema(plan: StudyPlan, X_train: pd.DataFrame) -> list[dict[str, Any]]:
    """The columns a new table must have: user name, safe name, kind, allowed categories."""
    out: list[dict[str, Any]] = []
    for c in plan.columns:
        if not c.used or "target" in c.flags:
            continue
        entry: dict[str, Any] = {"name": c.name, "safe_name": c.safe_name, "kind": c.kind}
        if c.kind == "categorical" and c.safe_name in X_train:
            values = _clean.to_category(X_train[c.safe_name]).dropna().unique().tolist()
            cats = sorted(str(v) for v in values)
            entry["categories"] = cats[:MAX_CATEGORIES]
            entry["categories_truncated"] = len(cats) > MAX_CATEGORIES
        out.append(entry)
    return out


def load_snippet(fmt: str, model_class: str | None) -> str:
    if fmt == "skops":
        return (
            "import json\nimport skops.io as sio  # needs `knobs` installed, see below\n\n"
            'card = json.load(open("card.json"))\n'
            'model = sio.load("model.skops", trusted=card["trusted_types"])\n'
            "model.predict(X)  # X: a DataFrame with the columns' safe names"
        )
    if fmt == "xgboost":
        return (
            "import json\nimport skops.io as sio\nfrom sklearn.pipeline import Pipeline\n"
            f"from xgboost import {model_class}\n\n"
            'card = json.load(open("card.json"))\n'
            'prep = sio.load("preprocess.skops", trusted=card["trusted_types"])\n'
            f'booster = {model_class}()\nbooster.load_model("model.ubj")\n'
            'model = Pipeline([*prep.steps, ("model", booster)])'
        )
    if fmt == "onnx":
        return (
            "from knobs.export import load_bundle  # prepares the inputs the graph expects\n\n"
            'model = load_bundle(".")\nmodel.predict_table(frame)  # frame: user column names\n\n'
            '# Without Knobs: onnxruntime.InferenceSession("model.onnx"), one input per column\n'
            "# (card.json `onnx.inputs`): float32 [n, 1] for numeric/boolean, strings [n, 1]\n"
            '# for categorical with missing values as "__missing__".'
        )
    return (
        "import joblib  # WARNING: runs code stored in the file; only for files you made\n\n"
        'model = joblib.load("model.joblib")'
    )


def _score(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


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
        "",
        "## Scores",
        f"| {s['metric']} ({s['direction']}) | value |",
        "|---|---|",
        f"| cross-validation ({card['data']['folds']} folds, the trial's value) | {_score(s['cv'])} |",
        f"| held-out test split ({card['data']['n_test']} rows) | {_score(s['test'])} |",
        f"| {s.get('baseline_label', 'baseline (default parameters, CV)')} | "
        f"{_score(s['baseline'])} |",
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
        shown = "" if cats is None else ", ".join(f"`{c}`" for c in cats[:20])
        if cats is not None and (len(cats) > 20 or col.get("categories_truncated")):
            shown += ", … (all in card.json)"
        lines.append(f"| `{col['name']}` | {col['kind']} | {shown} |")
    d = card["data"]
    lines += [
        "",
        "Missing columns are refused. Unknown categories are accepted with a warning: the one-hot",
        "encoder gives them all zeros and the target encoder the overall mean. Values that cannot",
        "be read as the column's kind (text in a numeric column) become missing, with a warning;",
        "a column where none can be read is refused.",
        "",
        "## Training",
        f"- Training rows: {d['n_train']} (source `{d['source']}`, read with delimiter "
        f"`{d['reading']['delimiter']}`, decimal `{d['reading']['decimal']}`)",
        f"- Data fingerprint (sha256 of the cleaned table): `{d['fingerprint']}`",
        f"- Seed {d['seed']}, test share {d['test_size']}, {d['folds']}-fold CV",
        f"- Refit time on the full training split: {card['model']['fit_s']:.2f} s",
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
    t = card["train_py"]
    lines += ["## Rebuilding it: train.py", ""]
    if t["available"]:
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


def files_table(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entries, key=lambda e: e["name"])
