"""``train.py``: a standalone script that rebuilds the exported model from the original CSV.

It imports only pinned libraries (numpy, pandas, scipy, scikit-learn, and xgboost when used),
never ``knobs``. What it needs of Knobs (the value cleaning, the transformers, the target
reading, the seeded split and the ensemble classes) is :mod:`knobs.portable`, a module written
to be self-contained; its file is copied whole into the script at export time, so the script
runs the very code the search ran rather than a second implementation that could drift. The model
itself is written out as constructor calls rendered from ``get_params`` of the fitted estimator:
any scikit-learn estimator (a single model, a pipeline, an ensemble of pipelines) renders, as long
as every class comes from a pinned library or from ``knobs.portable``.

Ensembles: voting is scikit-learn's own class, fitted on the training split like any estimator.
Greedy selection and stacking are ``knobs.portable`` classes, and they learn on out-of-fold (OOF)
predictions that Knobs kept from the search, which the CSV alone cannot reproduce bit for bit. So
the script carries what was learned from them, exactly as the exported estimator used it:
greedy's weights as constants (``fit(X, y, weights=...)`` refits only the members they keep),
and for stacking the OOF predictions themselves (compressed, float64), so that the meta-learner is
fitted on the very inputs the exported one was fitted on.
"""

from __future__ import annotations

import base64
import importlib
import inspect
import io
import math
import pprint
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from knobs import portable
from knobs.errors import ExportError

_GREEDY = ("GreedyEnsembleClassifier", "GreedyEnsembleRegressor")
_STACKING = ("StackingEnsembleClassifier", "StackingEnsembleRegressor")
#: Parameters of the ensemble classes left out of train.py: ``cv`` (the study's folds as index
#: arrays, as long as the table) only matters when ``fit`` gets no OOF predictions, and the
#: script always gives it them (stacking) or the weights learned from them (greedy).
_SKIPPED_PARAMS = {name: frozenset({"cv"}) for name in _GREEDY + _STACKING}
_LIBRARIES = ("sklearn", "xgboost", "numpy", "scipy")


class _Renderer:
    """Python source for an unfitted copy of an estimator, and the imports it needs."""

    def __init__(self) -> None:
        self.imports: set[str] = set()
        self.embedded: set[str] = set()

    def estimator(self, est: Any) -> str:
        cls = type(est)
        module = cls.__module__
        # Defined in knobs.portable (not merely imported there, as LogisticRegression is).
        embedded = module == portable.__name__ and getattr(portable, cls.__name__, None) is cls
        if embedded:
            self.embedded.add(cls.__name__)  # defined in the script: it carries knobs.portable
        elif module.split(".")[0] in _LIBRARIES:
            self.imports.add(f"from {_public_module(cls)} import {cls.__name__}")
        else:
            raise ExportError(
                f"train.py cannot rebuild `{module}.{cls.__name__}`: it is neither a class of "
                f"the pinned libraries ({', '.join(_LIBRARIES)}) nor one of Knobs' portable "
                "classes (`knobs.portable`). Export the model file itself (skops) instead."
            )
        defaults = _defaults(cls)
        skipped = _SKIPPED_PARAMS.get(cls.__name__, frozenset()) if embedded else frozenset()
        args = []
        for key, value in sorted(est.get_params(deep=False).items()):
            if key in skipped or (key in defaults and _same(defaults[key], value)):
                continue
            args.append(f"{key}={self.value(value)}")
        return f"{cls.__name__}({', '.join(args)})"

    def value(self, v: Any) -> str:
        if hasattr(v, "get_params") and not isinstance(v, type):
            return self.estimator(v)
        if v is None or isinstance(v, bool | str):
            return repr(v)
        if isinstance(v, int | np.integer):
            return repr(int(v))
        if isinstance(v, float | np.floating):
            f = float(v)
            return repr(f) if math.isfinite(f) else f'float("{f}")'
        if isinstance(v, tuple):
            inner = ", ".join(self.value(x) for x in v)
            return f"({inner},)" if len(v) == 1 else f"({inner})"
        if isinstance(v, list):
            return "[" + ", ".join(self.value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{self.value(k)}: {self.value(x)}" for k, x in v.items()) + "}"
        if isinstance(v, np.ndarray):
            return f"np.asarray({self.value(v.tolist())})"
        if isinstance(v, type) and v.__module__ == "numpy":
            return f"np.{v.__name__}"
        if isinstance(v, np.ufunc) and getattr(np, v.__name__, None) is v:
            # A target learned as its log: TransformedTargetRegressor(func=np.log, ...).
            return f"np.{v.__name__}"
        if inspect.isfunction(v) and v.__module__.split(".")[0] in _LIBRARIES:
            # A pinned library's function as a parameter (SelectPercentile's score_func).
            self.imports.add(f"from {_public_module(v)} import {v.__name__}")
            return v.__name__
        raise ExportError(
            f"train.py cannot write the parameter value {v!r} ({type(v).__name__}) as code. "
            "Export the model file itself (skops) instead."
        )


def _public_module(cls: type) -> str:
    """``sklearn.ensemble`` rather than ``sklearn.ensemble._forest`` when the class is there."""
    parts = cls.__module__.split(".")
    for n in range(1, len(parts) + 1):
        name = ".".join(parts[:n])
        if any(p.startswith("_") for p in parts[:n]):
            break
        try:
            if getattr(importlib.import_module(name), cls.__name__, None) is cls:
                return name
        except ImportError:  # pragma: no cover
            continue
    return cls.__module__


def _defaults(cls: type) -> dict[str, Any]:
    sig = inspect.signature(cls.__init__)
    return {
        k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty
    }


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    try:
        return bool(a == b)
    except Exception:  # arrays and such: write them out
        return False


def portable_source() -> str:
    """``knobs/portable.py`` as it is on disk: what train.py carries, byte for byte."""
    return Path(portable.__file__).read_text(encoding="utf-8")


_HEADER = """\
# train.py: rebuild the model exported by Knobs from the original CSV, without Knobs.
#
#     pip install -r requirements.txt
#     python train.py {source} [--predict NEW.csv --out PRED.csv] [--save model.skops]
#
# It reads the CSV the way Knobs did ({reading}),
# drops rows without a target, encodes the target with the recorded classes, makes the same
# train/test split (seed {seed}, test share {test_size}), and fits the same preprocessing and
# model (build_model() below) on {fit_rows}. Generated by `knobs export` from Knobs
# {knobs_version}; edit freely.
#
# Part 1 is Knobs' module `knobs.portable`, copied whole: the value cleaning, the target reading,
# the split, the transformers and the ensemble classes, the very code the search ran.
# Part 2 is the exported model and the command line.

# ==== Part 1: knobs/portable.py (Knobs {knobs_version}), copied whole ====
"""

_MAIN = '''

# ==== Part 2: the exported model ====

import argparse
import io
import sys

import numpy as np
import pandas as pd
{model_imports}

# --- what was exported ---
SETTINGS = {settings}
{ensemble_record}

def build_model():
    """The exported {what}, unfitted."""
    return {model_code}


{fit_model}


def as_csv_text(path: str) -> str | None:
    """A workbook's sheet, a Parquet, Feather or JSON file as CSV text, as Knobs reads them
    (a file's ending says which); None for a delimited text file."""
    ending = path.lower().rsplit(".", 1)[-1]
    if ending in ("xlsx", "xlsm", "xls", "ods"):  # needs python-calamine
        sheets = pd.read_excel(path, sheet_name=None, header=None, engine="calamine")
        title = SETTINGS.get("sheet")
        return sheet_as_csv(sheets[title if title in sheets else fullest_sheet(sheets)])
    if ending in ("parquet", "feather", "arrow"):  # needs pyarrow
        reader = pd.read_parquet if ending == "parquet" else pd.read_feather
        return reader(path).to_csv(index=False, date_format=CSV_DATES)
    if ending in ("json", "jsonl", "ndjson"):
        import json

        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            records = json.loads(text)
        except ValueError:  # JSON lines: one object per line
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        if isinstance(records, dict):  # an object of columns
            records = pd.DataFrame(records).to_dict("records")
        return records_frame(records)[0].to_csv(index=False)
    return None


def read_table(path: str) -> pd.DataFrame:
    """The table as Knobs read it: the lines above the header it skipped in the training file
    skipped here too where the header is below them, columns named by Knobs' rule
    (``column_names``: `value_2` for a repeated name, `column_N` for an empty one)."""
    skipped = int(SETTINGS.get("skip_lines", 0))
    for skip in dict.fromkeys((skipped, 0)):
        try:
            frame = read_from(path, skip)
        except pd.errors.ParserError:  # a title line read as the header
            continue
        if set(SETTINGS["columns"]) <= set(frame.columns):
            return frame
    return read_from(path, 0)


def read_from(path: str, skip_lines: int) -> pd.DataFrame:
    text = as_csv_text(path)
    options = dict(skiprows=skip_lines)
    if text is None:
        source, sep = path, SETTINGS["delimiter"]
        options.update(decimal=SETTINGS["decimal"], encoding=SETTINGS["encoding"])
    else:
        source, sep = io.StringIO(text), ","
    header = pd.read_csv(source, sep=sep, header=None, nrows=1, dtype=str,
                         keep_default_na=False, **options).iloc[0].tolist()
    if text is not None:
        source = io.StringIO(text)
    # IDs and codes written with leading zeros (`02134`) stay text, as Knobs read them
    as_text = SETTINGS.get("id_columns", []) + SETTINGS.get("text_columns", [])
    frame = pd.read_csv(source, sep=sep, index_col=False, skip_blank_lines=True,
                        low_memory=False, dtype=dict.fromkeys(as_text, str), **options)
    names = column_names(header)
    frame.columns = names if len(names) == frame.shape[1] else [str(c) for c in frame.columns]
    return frame


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The used columns, under the safe names the pipeline knows."""
    missing = [c for c in SETTINGS["columns"] if c not in frame.columns]
    if missing:
        raise TableError(f"The CSV lacks column(s) {{missing}} that the model uses.")
    X = frame[list(SETTINGS["columns"])].rename(columns=SETTINGS["columns"])
    return X.reset_index(drop=True)


def training_split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    target = SETTINGS["target"]
    info = analyse_target(frame[target], target)
    frame = frame.loc[info.present]
    info = analyse_target(frame[target], target)
    if SETTINGS["task"] == "regression":
        y = info.numbers[info.present].astype("float64")
    else:
        lookup = {{c: i for i, c in enumerate(SETTINGS["classes"])}}
        labels = info.labels[info.present].astype(str)
        unknown = sorted(set(labels) - set(lookup))
        if unknown:
            raise TableError(f"Target `{{target}}` has classes {{unknown}} unknown to the model.")
        y = labels.map(lookup).astype("int64")
    y = y.reset_index(drop=True).rename(target)
    X = features(frame)
    if SETTINGS["fit_on"] == "all":  # Knobs refitted the model on every labelled row
        return X, y
    order = None
    if SETTINGS.get("time_column"):  # the test rows were the latest by this date column
        dates = to_datetime(frame[SETTINGS["time_column"]], SETTINGS["time_formats"] or None)
        order = time_order(dates)
    train_idx, _test_idx = split_indices(
        y.to_numpy(), SETTINGS["task"], SETTINGS["test_size"], SETTINGS["seed"],
        SETTINGS["classes"], order,
    )
    if SETTINGS.get("sample"):  # Knobs searched, and fitted, a sample of the training part
        kept = sample_indices(
            y.to_numpy()[train_idx], SETTINGS["task"], SETTINGS["sample"], SETTINGS["seed"],
            SETTINGS["classes"],
        )
        train_idx = train_idx[kept]
    return X.iloc[train_idx].reset_index(drop=True), y.iloc[train_idx].reset_index(drop=True)


def predictions(model, X: pd.DataFrame) -> pd.DataFrame:
    if SETTINGS["task"] == "regression":
        return pd.DataFrame({{"prediction": model.predict(X)}})
    classes = np.asarray(SETTINGS["classes"], dtype=object)
    out = pd.DataFrame({{"prediction": classes[np.asarray(model.predict(X), dtype=int)]}})
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        for i, c in enumerate(SETTINGS["classes"]):
            out[f"probability_{{c}}"] = proba[:, i]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Rebuild the model exported by Knobs from the original CSV, without Knobs."
    )
    parser.add_argument("csv", help="the CSV the model was trained on")
    parser.add_argument("--predict", help="a CSV to predict with the rebuilt model")
    parser.add_argument("--out", default="predictions.csv", help="where --predict writes")
    parser.add_argument("--save", help="save the fitted model here with skops")
    args = parser.parse_args(argv)
    X, y = training_split(read_table(args.csv))
    if len(y) != SETTINGS["n_fit"]:
        print(f"warning: {{len(y)}} rows to fit on, the export had {{SETTINGS['n_fit']}}: is "
              "this the same CSV?", file=sys.stderr)
    model = fit_model(X, y)
    print(f"fitted on {{len(y)}} rows")
    if args.predict:
        new = read_table(args.predict)
        out = predictions(model, features(new))
        key = next((c for c in SETTINGS.get("id_columns", []) if c in new.columns), None)
        if key is not None:  # the rows keyed by their ID, as `knobs predict` keys them
            out.insert(0, key, new[key].to_numpy())
        out.to_csv(args.out, index=False)
        print(f"wrote {{args.out}}")
    if args.save:
        import skops.io as sio

        sio.dump(model, args.save)
        print(f"saved {{args.save}}")
    return 0
{constants}

if __name__ == "__main__":
    sys.exit(main())
'''

_FIT_PLAIN = '''\
def fit_model(X: pd.DataFrame, y: pd.Series):
    """The exported model fitted on the training split, as Knobs fitted it."""
    return build_model().fit(X, y)
'''

_FIT_GREEDY = '''\
def fit_model(X: pd.DataFrame, y: pd.Series):
    """The members refitted on the training split and blended with the weights Knobs' greedy
    selection chose on their out-of-fold predictions (ENSEMBLE["weights"]); as in Knobs, only
    the members those weights keep are refitted."""
    return build_model().fit(X, y, weights=ENSEMBLE["weights"])
'''

_FIT_STACKING = '''\
def fit_model(X: pd.DataFrame, y: pd.Series):
    """Members refitted on the training split; the meta-learner fitted on the members'
    out-of-fold predictions that Knobs kept from the search (STACKING_OOF, below), exactly the
    inputs the exported meta-learner was fitted on."""
    return build_model().fit(X, y, oof=stacking_oof())


def stacking_oof() -> list[np.ndarray]:
    """One array per member of build_model(), in its order; rows are the training split's."""
    raw = base64.b64decode("".join(STACKING_OOF.split()))
    with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
        return [arrays[f"m{i}"] for i in range(len(arrays.files))]
'''


def ensemble_record(
    estimator: Any,
    definition: Mapping[str, Any],
    oof: Sequence[np.ndarray] | None,
    X: Any,
    y: Any,
) -> dict[str, Any]:
    """What train.py records of an ensemble: its definition (kind, options, members as on the
    card), greedy's learned weights, and for stacking the OOF predictions its meta-learner was
    fitted on, checked here against the fitted estimator.

    ``oof`` must be the arrays the exported estimator was fitted with (one per member, training
    rows in ``X`` order). Refitting the meta-learner on them must give the exported one's
    predictions; if not (the stored predictions changed since the fit), train.py could not
    rebuild this model, and saying so beats a script that quietly predicts otherwise.
    """
    from sklearn.base import clone

    record: dict[str, Any] = {
        "id": definition.get("id"),
        "kind": definition.get("kind"),
        "options": dict(definition.get("options") or {}),
        "members": [dict(m) for m in definition.get("members") or []],
    }
    name = type(estimator).__name__
    if name in _GREEDY:
        record["weights"] = [float(w) for w in estimator.weights_]
        return {"record": record, "oof": None}
    if name not in _STACKING:
        return {"record": record, "oof": None}
    if oof is None or len(oof) != len(estimator.estimators):
        raise ExportError(
            "train.py needs the out-of-fold predictions this stacking ensemble's meta-learner "
            f"was fitted on (one array per member, {len(estimator.estimators)}), but got "
            f"{'none' if oof is None else len(oof)}. Export it with `knobs export --ensemble ID`."
        )
    arrays = [np.asarray(a, dtype=np.float64) for a in oof]
    meta = estimator._stack(arrays, X, fit=False)  # the passthrough step as fitted by `fit`
    final = estimator.final_estimator
    final = clone(final if final is not None else estimator._default_final())
    refit = final.fit(meta, np.asarray(y))
    method = "predict_proba" if hasattr(refit, "predict_proba") else "predict"
    if not np.array_equal(
        getattr(refit, method)(meta), getattr(estimator.final_estimator_, method)(meta)
    ):
        raise ExportError(
            "train.py cannot rebuild this stacking ensemble: its members' stored out-of-fold "
            "predictions no longer give the meta-learner it was fitted with (were trials "
            "re-run?). Rebuild the ensemble (`knobs ensemble`) and export it again, or use the "
            "exported model file itself."
        )
    return {"record": record, "oof": arrays}


def _oof_blob(arrays: Sequence[np.ndarray]) -> str:
    """OOF predictions as base64 of a compressed ``.npz`` (float64: bit-exact, unlike text)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{f"m{i}": a for i, a in enumerate(arrays)})
    text = base64.b64encode(buffer.getvalue()).decode("ascii")
    return "\n".join(textwrap.wrap(text, 96))


def render_train_py(
    pipeline: Any,
    settings: Mapping[str, Any],
    knobs_version: str,
    ensemble: Mapping[str, Any] | None = None,
) -> str:
    """The script's text; ``settings`` holds target, task, classes, columns, split and reading.

    ``ensemble`` is :func:`ensemble_record`'s answer when ``pipeline`` is an ensemble; a greedy
    or stacking ensemble cannot be written without it (its weights, its OOF predictions).
    """
    renderer = _Renderer()
    model_code = renderer.estimator(pipeline)
    learned = renderer.embedded & {*_GREEDY, *_STACKING}
    if learned and ensemble is None:
        raise ExportError(
            f"train.py cannot rebuild `{type(pipeline).__name__}` without what it learned on "
            "out-of-fold predictions; export the ensemble with `knobs export --ensemble ID`."
        )
    oof = ensemble.get("oof") if ensemble else None
    imports = sorted(renderer.imports)
    if oof is not None:  # the script calls base64.b64decode and io.BytesIO by module
        imports = ["import base64", *imports]
    fit_model = _FIT_PLAIN
    if oof is not None:
        fit_model = _FIT_STACKING
    elif ensemble is not None and "weights" in ensemble["record"]:
        fit_model = _FIT_GREEDY
    reading = ", ".join(f"{k} {settings[k]!r}" for k in ("delimiter", "decimal", "encoding"))
    header = _HEADER.format(
        source=settings.get("source") or "DATA.csv",
        reading=reading,
        seed=settings["seed"],
        test_size=settings["test_size"],
        fit_rows="every labelled row, as Knobs delivered it"
        if settings["fit_on"] == "all"
        else "the training part",
        knobs_version=knobs_version,
    )
    settings_text = pprint.pformat(dict(settings), sort_dicts=False, width=96)
    record = ""
    if ensemble is not None:
        text = pprint.pformat(dict(ensemble["record"]), sort_dicts=False, width=96)
        record = (
            "\n# The ensemble's definition in Knobs (members as on the model card"
            + ("; weights: what greedy selection learned, in build_model()'s member order"
               if "weights" in ensemble["record"] else "")
            + ")\nENSEMBLE = " + text + "\n"
        )  # fmt: skip
    constants = ""
    if oof is not None:
        constants = (
            "\n\n# The members' out-of-fold predictions on the training split, kept by Knobs during "
            "the\n# search: base64 of a compressed .npz of float64 arrays m0, m1, ...\n"
            f'STACKING_OOF = """\n{_oof_blob(oof)}\n"""\n'
        )
    body = _MAIN.format(
        model_imports="\n".join(imports),
        settings=settings_text,
        ensemble_record=record,
        what="ensemble" if ensemble is not None else "pipeline",
        model_code=model_code,
        fit_model=fit_model,
        constants=constants,
    )
    return header + portable_source() + body


#: What pandas needs to read a source file of each kind (``RawTable.form``) that is not CSV.
_READERS = {"workbook": "python-calamine", "parquet": "pyarrow", "feather": "pyarrow"}


def train_requirements(
    pipeline: Any, versions: Mapping[str, str], source_format: str = "csv"
) -> str:
    """Pinned requirements of train.py: only what it imports (skops for ``--save``), and the
    reader of its source file when that is a workbook or a Parquet/Feather file."""
    names = ["numpy", "pandas", "scipy", "scikit-learn", "skops"]
    if "xgboost" in render_imports(pipeline):
        names.append("xgboost")
    if source_format in _READERS:
        names.append(_READERS[source_format])
    lines = []
    for n in names:
        v = versions.get(n) or (versions.get("xgboost-cpu") if n == "xgboost" else None)
        lines.append(f"{n}=={v}" if v else n)
    return "\n".join(lines) + "\n"


def render_imports(pipeline: Any) -> str:
    renderer = _Renderer()
    renderer.estimator(pipeline)
    return "\n".join(sorted(renderer.imports))
