"""``train.py``: a standalone script that rebuilds the exported model from the original CSV.

It imports only pinned libraries (numpy, pandas, scipy, scikit-learn, and xgboost when used),
never ``knobs``. What it needs of Knobs (the value cleaning, the four small transformers, the
target reading and the stratified split) is copied into it from Knobs' own source with
:func:`inspect.getsource` at export time, so the script runs the same code the search ran rather
than a second implementation that could drift. The model itself is written out as constructor
calls rendered from ``get_params`` of the fitted pipeline: any scikit-learn estimator (a single
model, a pipeline, an ensemble of pipelines) renders, as long as every class comes from a pinned
library, from Knobs' preprocessing module or from Knobs' ensemble classes.

Ensembles: voting is scikit-learn's own class, fitted on the training split like any estimator.
Greedy selection and stacking are Knobs' classes, copied into the script like the transformers,
and they learn on out-of-fold (OOF) predictions that Knobs kept from the search, which the CSV
alone cannot reproduce bit for bit. So the script carries what was learned from them, exactly as
the exported estimator used it: greedy's weights as constants (only the members they keep are
refitted, as in ``fit``), and for stacking the OOF predictions themselves (compressed, float64),
so that the meta-learner is fitted on the very inputs the exported one was fitted on.
"""

from __future__ import annotations

import ast
import base64
import importlib
import inspect
import io
import math
import pprint
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from knobs.data import _clean, _prepare, _preprocess, _target
from knobs.errors import ExportError

_GREEDY = ("GreedyEnsembleClassifier", "GreedyEnsembleRegressor")
_STACKING = ("StackingEnsembleClassifier", "StackingEnsembleRegressor")
_EMBEDDED_CLASSES = {
    "knobs.data._preprocess": ("KindCoercer", "DateParts", "TextTfidf", "TargetEncoding"),
    "knobs.ensembles": _GREEDY + _STACKING,
}
#: Parameters of Knobs' ensemble classes left out of train.py: ``cv`` (the study's folds as index
#: arrays, as long as the table) only matters when ``fit`` gets no OOF predictions, and the
#: script always gives it them (stacking) or the weights learned from them (greedy).
_SKIPPED_PARAMS = {"knobs.ensembles": frozenset({"cv"})}
_LIBRARIES = ("sklearn", "xgboost", "numpy", "scipy")


class _Renderer:
    """Python source for an unfitted copy of an estimator, and the imports it needs."""

    def __init__(self) -> None:
        self.imports: set[str] = set()
        self.embedded: set[str] = set()

    def estimator(self, est: Any) -> str:
        cls = type(est)
        module = cls.__module__
        if module in _EMBEDDED_CLASSES and cls.__name__ in _EMBEDDED_CLASSES[module]:
            self.embedded.add(cls.__name__)  # defined in the script itself
        elif module.split(".")[0] in _LIBRARIES:
            self.imports.add(f"from {_public_module(cls)} import {cls.__name__}")
        else:
            raise ExportError(
                f"train.py cannot rebuild `{module}.{cls.__name__}`: it is neither a class of "
                f"the pinned libraries ({', '.join(_LIBRARIES)}) nor one of Knobs' "
                "preprocessing steps. Export the model file itself (skops) instead."
            )
        defaults = _defaults(cls)
        skipped = _SKIPPED_PARAMS.get(module, frozenset())
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
{ensemble_record}

def build_model():
    """The exported {what}, unfitted."""
    return {model_code}


{fit_model}


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
    model = fit_model(X, y)
    print(f"fitted on {{len(y)}} rows")
    if args.predict:
        predictions(model, features(read_csv(args.predict))).to_csv(args.out, index=False)
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

#: Replaces ``_Greedy._fit`` in the script (the rest of the class is copied verbatim).
_GREEDY_FIT = '''\
class _Greedy(_OOFEnsemble):
    def _fit(self, X: Any, y: Any, oof: Sequence | None) -> _Greedy:
        """Written by the exporter in place of Knobs' greedy selection on its stored
        out-of-fold predictions: the weights that selection chose are ENSEMBLE["weights"]. As in
        Knobs, only the members they keep are refitted, on the whole training split."""
        members = _check_members(self.estimators)
        y = self._check_Xy(X, y)
        if is_classifier(self):
            self.classes_ = np.unique(y)
        self.weights_ = np.asarray(ENSEMBLE["weights"], dtype=np.float64)
        if len(self.weights_) != len(members):
            raise ValueError(
                f"ENSEMBLE['weights'] has {len(self.weights_)} entries for {len(members)} members."
            )
        self.members_ = np.flatnonzero(self.weights_)
        self.estimators_ = [clone(members[i][1]).fit(X, y) for i in self.members_]
        return self
'''

#: What the copied ensemble classes import, beyond the script's own header.
_ENSEMBLE_IMPORTS = (
    ("typing", "Any"),
    ("sklearn.base", "ClassifierMixin"),
    ("sklearn.base", "RegressorMixin"),
    ("sklearn.base", "clone"),
    ("sklearn.base", "is_classifier"),
    ("sklearn.model_selection", "check_cv"),
    ("sklearn.model_selection", "cross_val_predict"),
    ("sklearn.utils.multiclass", "check_classification_targets"),
    ("sklearn.utils.validation", "validate_data"),
)
_STACKING_IMPORTS = (
    ("sklearn.linear_model", "LogisticRegression"),
    ("sklearn.linear_model", "RidgeCV"),
    ("sklearn.utils.validation", "check_array"),
)


def _segments(module: Any, names: tuple[str, ...]) -> dict[str, str]:
    """Top-level definitions of ``module`` by name, as written in its file.

    Read with :mod:`ast` rather than ``inspect.getsource(cls)``: the ensemble classes set
    ``__module__`` to the public package, where ``inspect`` would look for them in vain.
    """
    source = inspect.getsource(module)
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name in names:
            found[node.name] = ast.get_source_segment(source, node) or ""
            if node.name == "_Greedy":
                blend = next(n for n in node.body if getattr(n, "name", "") == "_blend")
                found["_Greedy._blend"] = ast.get_source_segment(source, blend, padded=True) or ""
    missing = [n for n in names if n not in found]
    if missing:  # pragma: no cover - a rename in knobs.ensembles that this file missed
        raise ExportError(f"train.py cannot copy {missing} from `{module.__name__}`.")
    return found


def _ensemble_sources(embedded: set[str]) -> str:
    """Knobs' ensemble classes the model uses, copied from ``knobs.ensembles._estimators``."""
    from knobs.ensembles import _estimators

    greedy = bool(embedded & set(_GREEDY))
    stacking = bool(embedded & set(_STACKING))
    if not (greedy or stacking):
        return ""
    names: tuple[str, ...] = ("_check_members", "_OOFEnsemble")
    if greedy:
        names += ("_Greedy", *_GREEDY)
    if stacking:
        names += ("meta_features", "_Stacking", *_STACKING)
    seg = _segments(_estimators, names)
    parts = [
        "# --- knobs.ensembles._estimators: the ensemble classes (verbatim, but for "
        "_Greedy._fit) ---",
        seg["_check_members"],
        seg["_OOFEnsemble"],
    ]
    if greedy:
        parts.append(_GREEDY_FIT + "\n" + seg["_Greedy._blend"])
        parts += [seg[n] for n in _GREEDY]
    if stacking:
        parts += [seg[n] for n in ("meta_features", "_Stacking", *_STACKING)]
    return "\n\n\n".join(parts) + "\n"


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


def _import_lines(imports: set[str], extra: Sequence[tuple[str, str]]) -> str:
    """``from M import A, B`` lines, one per module, sorted."""
    by_module: dict[str, set[str]] = {}
    for line in imports:
        _, module, _, name = line.split()
        by_module.setdefault(module, set()).add(name)
    for module, name in extra:
        by_module.setdefault(module, set()).add(name)
    return "\n".join(
        f"from {m} import {', '.join(sorted(names, key=lambda n: (n[0].islower(), n)))}"
        for m, names in sorted(by_module.items())
    )


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
    ens_sources = _ensemble_sources(renderer.embedded)
    if ens_sources and ensemble is None:
        raise ExportError(
            f"train.py cannot rebuild `{type(pipeline).__name__}` without what it learned on "
            "out-of-fold predictions; export the ensemble with `knobs export --ensemble ID`."
        )
    oof = ensemble.get("oof") if ensemble else None
    extra: list[tuple[str, str]] = list(_ENSEMBLE_IMPORTS) if ens_sources else []
    if renderer.embedded & set(_STACKING):
        extra += _STACKING_IMPORTS
    reading = ", ".join(f"{k} {settings[k]!r}" for k in ("delimiter", "decimal", "encoding"))
    header = _HEADER.format(
        source=settings.get("source") or "DATA.csv",
        reading=reading,
        seed=settings["seed"],
        test_size=settings["test_size"],
        knobs_version=knobs_version,
        model_imports=_import_lines(renderer.imports, extra),
    )
    if oof is not None:  # the script calls base64.b64decode and io.BytesIO by module
        header = header.replace("import argparse\n", "import argparse\nimport base64\nimport io\n")
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
        settings=settings_text,
        ensemble_record=record,
        what="ensemble" if ensemble is not None else "pipeline",
        model_code=model_code,
        fit_model=_FIT_STACKING if oof is not None else _FIT_PLAIN,
        constants=constants,
    )
    sources = _sources() + ("\n\n" + ens_sources if ens_sources else "")
    return header + "\n" + sources + body


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
