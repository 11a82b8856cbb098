"""``train.py``: a standalone script that rebuilds the exported model from the original CSV.

It imports only pinned libraries (numpy, pandas, scipy, scikit-learn, and xgboost when used),
never ``knobs``. What it needs of Knobs (the value cleaning, the four small transformers, the
target reading and the stratified split) is copied into it from Knobs' own source with
:func:`inspect.getsource` at export time, so the script runs the same code the search ran rather
than a second implementation that could drift. The model itself is written out as constructor
calls rendered from ``get_params`` of the fitted pipeline: any scikit-learn estimator (a single
model, a pipeline, an ensemble of pipelines) renders, as long as every class comes from a pinned
library or from Knobs' preprocessing module.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pprint
from collections.abc import Mapping
from typing import Any

import numpy as np

from knobs.data import _clean, _prepare, _preprocess, _target
from knobs.errors import ExportError

_EMBEDDED_CLASSES = {
    "knobs.data._preprocess": ("KindCoercer", "DateParts", "TextTfidf", "TargetEncoding"),
}
_LIBRARIES = ("sklearn", "xgboost", "numpy", "scipy")


class _Renderer:
    """Python source for an unfitted copy of an estimator, and the imports it needs."""

    def __init__(self) -> None:
        self.imports: set[str] = set()

    def estimator(self, est: Any) -> str:
        cls = type(est)
        module = cls.__module__
        if module in _EMBEDDED_CLASSES and cls.__name__ in _EMBEDDED_CLASSES[module]:
            pass  # defined in the script itself
        elif module.split(".")[0] in _LIBRARIES:
            self.imports.add(f"from {_public_module(cls)} import {cls.__name__}")
        else:
            raise ExportError(
                f"train.py cannot rebuild `{module}.{cls.__name__}`: it is neither a class of "
                f"the pinned libraries ({', '.join(_LIBRARIES)}) nor one of Knobs' "
                "preprocessing steps. Export the model file itself (skops) instead."
            )
        defaults = _defaults(cls)
        args = []
        for key, value in sorted(est.get_params(deep=False).items()):
            if key in defaults and _same(defaults[key], value):
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


def _module_body(module: Any) -> str:
    """A module's source without its docstring and ``from __future__`` line."""
    source = inspect.getsource(module)
    lines = source.splitlines()
    out = [ln for ln in lines if not ln.startswith("from __future__")]
    text = "\n".join(out)
    doc = module.__doc__
    if doc:
        text = text.replace(f'"""{doc}"""', "", 1)
    return text.strip() + "\n"


def _sources() -> str:
    """The pieces of Knobs the script runs, copied verbatim."""
    parts = [
        "# --- knobs.data._clean (verbatim) ---",
        _module_body(_clean),
        "# --- knobs.data._preprocess: the transformers (verbatim) ---",
        f"MISSING = {_preprocess.MISSING!r}",
        f"DATE_PARTS = {_preprocess.DATE_PARTS!r}",
        _clean_ns(),
    ]
    for obj in (
        _preprocess._as_frame, _preprocess._ColumnsMixin, _preprocess.KindCoercer,
        _preprocess.DateParts, _preprocess.TextTfidf, _preprocess.TargetEncoding,
    ):  # fmt: skip
        parts.append(inspect.getsource(obj))
    parts.append("# --- knobs.data._target: reading the target (verbatim) ---")
    parts.append(f"MAX_CLASSES_FOR_NUMBERS = {_target.MAX_CLASSES_FOR_NUMBERS!r}")
    for obj in (_target.TargetInfo, _target.analyse_target, _target._bool_labels):
        parts.append(inspect.getsource(obj))
    parts.append("# --- knobs.data._prepare: the stratified train/test split (verbatim) ---")
    parts.append(inspect.getsource(_prepare._stratified))
    return "\n\n".join(parts)


def _clean_ns() -> str:
    names = ("to_category", "to_float", "to_datetime", "as_strings", "parse_numbers",
             "canonical_str", "bool_pair")  # fmt: skip
    inner = ", ".join(f"{n}={n}" for n in names)
    return f"_clean = types.SimpleNamespace({inner})\n"


_HEADER = '''\
"""Rebuild the model exported by Knobs from the original CSV, without Knobs.

    pip install -r requirements.txt
    python train.py {source} [--predict NEW.csv --out PRED.csv] [--save model.skops]

It reads the CSV the way Knobs did ({reading}), drops rows without a target, encodes the target
with the recorded classes, makes the same train/test split (seed {seed}, test share {test_size}),
and fits the same preprocessing and model (parameters below) on the training part. The cleaning,
the transformers, the target reading and the split are copied from Knobs {knobs_version}.
Generated by `knobs export`; edit freely.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import types
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import TargetEncoder
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted
{model_imports}

Task = Literal["binary", "multiclass", "regression"]


class DataError(ValueError):
    """A problem with the table, said in words."""

'''

_MAIN = '''

# --- what was exported ---
SETTINGS = {settings}


def build_model():
    """The exported pipeline, unfitted."""
    return {model_code}


def read_csv(path: str) -> pd.DataFrame:
    frame = pd.read_csv(
        path, sep=SETTINGS["delimiter"], decimal=SETTINGS["decimal"],
        encoding=SETTINGS["encoding"], index_col=False, skip_blank_lines=True, low_memory=False,
    )
    frame.columns = [str(c) for c in frame.columns]
    return frame


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The used columns, under the safe names the pipeline knows."""
    missing = [c for c in SETTINGS["columns"] if c not in frame.columns]
    if missing:
        raise DataError(f"The CSV lacks column(s) {{missing}} that the model uses.")
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
            raise DataError(f"Target `{{target}}` has classes {{unknown}} unknown to the model.")
        y = labels.map(lookup).astype("int64")
    y = y.reset_index(drop=True).rename(target)
    X = features(frame)
    n = len(y)
    n_test = math.ceil(SETTINGS["test_size"] * n)
    rng = np.random.default_rng(SETTINGS["seed"])
    if SETTINGS["task"] == "regression":
        order = rng.permutation(n)
        train_idx = order[n_test:]
    else:
        ds = types.SimpleNamespace(classes=tuple(SETTINGS["classes"]))
        _test_idx, train_idx = _stratified(y.to_numpy(), n_test, rng, ds, SETTINGS["test_size"])
    train_idx = np.sort(train_idx)
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", help="the CSV the model was trained on")
    parser.add_argument("--predict", help="a CSV to predict with the rebuilt model")
    parser.add_argument("--out", default="predictions.csv", help="where --predict writes")
    parser.add_argument("--save", help="save the fitted model here with skops")
    args = parser.parse_args(argv)
    X, y = training_split(read_csv(args.csv))
    if len(y) != SETTINGS["n_train"]:
        print(f"warning: {{len(y)}} training rows, the export had {{SETTINGS['n_train']}}: is "
              "this the same CSV?", file=sys.stderr)
    model = build_model().fit(X, y)
    print(f"fitted on {{len(y)}} rows")
    if args.predict:
        predictions(model, features(read_csv(args.predict))).to_csv(args.out, index=False)
        print(f"wrote {{args.out}}")
    if args.save:
        import skops.io as sio

        sio.dump(model, args.save)
        print(f"saved {{args.save}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def render_train_py(pipeline: Any, settings: Mapping[str, Any], knobs_version: str) -> str:
    """The script's text; ``settings`` holds target, task, classes, columns, split and reading."""
    renderer = _Renderer()
    model_code = renderer.estimator(pipeline)
    reading = ", ".join(f"{k} {settings[k]!r}" for k in ("delimiter", "decimal", "encoding"))
    header = _HEADER.format(
        source=settings.get("source") or "DATA.csv",
        reading=reading,
        seed=settings["seed"],
        test_size=settings["test_size"],
        knobs_version=knobs_version,
        model_imports="\n".join(sorted(renderer.imports)),
    )
    settings_text = pprint.pformat(dict(settings), sort_dicts=False, width=96)
    body = _MAIN.format(settings=settings_text, model_code=model_code)
    return header + "\n" + _sources() + body


def train_requirements(pipeline: Any, versions: Mapping[str, str]) -> str:
    """Pinned requirements of train.py: only what it imports (skops for ``--save``)."""
    names = ["numpy", "pandas", "scipy", "scikit-learn", "skops"]
    if "xgboost" in render_imports(pipeline):
        names.append("xgboost")
    lines = []
    for n in names:
        v = versions.get(n) or (versions.get("xgboost-cpu") if n == "xgboost" else None)
        lines.append(f"{n}=={v}" if v else n)
    return "\n".join(lines) + "\n"


def render_imports(pipeline: Any) -> str:
    renderer = _Renderer()
    renderer.estimator(pipeline)
    return "\n".join(sorted(renderer.imports))
