"""The export formats, one row each: how a model is written and read, and what is said about it.

A row holds everything that differs between formats: the files it writes, its writer and its
reader, the card's how-to-load snippet and note, a warning said on export, and the label the
Export page and the CLI show. Bundle writing, loading, the card, the page and ``knobs export
--format`` all read ``FORMATS``; adding a format is adding a row. No format is read through
pickle: skops trusts an exact list of types (:mod:`knobs.export._trust`), XGBoost has its own
format, ONNX is a graph, and joblib (a pickle) is written on request but never loaded by Knobs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from knobs.errors import ExportError
from knobs.export import _onnx
from knobs.export._trust import dump_skops, load_skops
from knobs.pipelines import target_of

CARD_JSON = "card.json"
CARD_MD = "card.md"
TRAIN_PY = "train.py"
REQUIREMENTS = "requirements.txt"
#: The preprocessing of an XGBoost bundle, beside the booster.
PREP_FILE = "preprocess.skops"
SKOPS_FILE, UBJ_FILE, ONNX_FILE, JOBLIB_FILE = (
    "model.skops",
    "model.ubj",
    "model.onnx",
    "model.joblib",
)


@dataclass(frozen=True)
class Written:
    """What a format's writer reports for the card."""

    trusted: tuple[str, ...] = ()  # the exact non-default types its skops file(s) need
    model_class: str | None = None  # XGBoost's estimator class, rebuilt by name on load
    onnx: Mapping[str, Any] | None = None  # the graph's inputs and how it compared

    @property
    def knobs_modules(self) -> list[str]:
        """The Knobs modules the trusted types come from (``knobs.portable``)."""
        return sorted({t.rsplit(".", 1)[0] for t in self.trusted if t.startswith("knobs.")})


#: ``dump(estimator, folder, task, X_train)``: write the model file(s) into the folder.
Dump = Callable[[Any, Path, str, pd.DataFrame], Written]
#: ``load(folder, card)``: a fitted object with ``predict`` (and ``predict_proba`` if it has one).
Load = Callable[[Path, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class Format:
    """One export format. ``files[0]`` is its model file."""

    name: str
    label: str  # the Export page's option
    help: str  # the CLI's words for it
    files: tuple[str, ...]
    dump: Dump
    load: Load
    #: ``snippet(written)``: Python that loads the model, as the card shows it.
    snippet: Callable[[Written], str]
    #: ``note(written, knobs_version, train_py_available)``: the card's words above the snippet.
    note: Callable[[Written, str, bool], str]
    warning: str = ""  # said on export: on the card, by the CLI and on the page
    runs_code: bool = False  # loading it runs code stored in it: Knobs never loads it


# --- skops -----------------------------------------------------------------------------------


def _dump_skops(estimator: Any, directory: Path, task: str, X: pd.DataFrame) -> Written:
    return Written(trusted=tuple(dump_skops(estimator, directory / SKOPS_FILE)))


def _load_skops(directory: Path, card: Mapping[str, Any]) -> Any:
    return load_skops(directory / SKOPS_FILE, card.get("trusted_types", []))


def _skops_snippet(written: Written) -> str:
    return (
        "import json\nimport skops.io as sio  # needs `knobs` installed, see below\n\n"
        'card = json.load(open("card.json"))\n'
        'model = sio.load("model.skops", trusted=card["trusted_types"])\n'
        "model.predict(X)  # X: a DataFrame with the columns' safe names"
    )


def _skops_note(written: Written, knobs_version: str, train_py: bool) -> str:
    if not written.knobs_modules:
        return "It loads without pickle, trusting exactly the types in card.json `trusted_types`."
    rebuild = (
        "rebuild the model without Knobs with `train.py`"
        if train_py
        else "Knobs is needed to use it"
    )
    modules = ", ".join(f"`{m}`" for m in written.knobs_modules)
    return (
        f"The skops file refers to Knobs' own classes ({modules}): install "
        f"`knobs=={knobs_version}` to load it, or {rebuild}. It loads without pickle, trusting "
        "exactly the types listed in card.json `trusted_types`."
    )


# --- XGBoost's own format ----------------------------------------------------------------------

_XGB_CLASSES = ("XGBClassifier", "XGBRegressor")


def is_xgboost_pipeline(estimator: Any) -> bool:
    from sklearn.pipeline import Pipeline

    if not isinstance(estimator, Pipeline) or len(estimator.steps) < 2:
        return False
    try:
        from xgboost import XGBModel
    except ImportError:  # pragma: no cover - xgboost is pinned
        return False
    return isinstance(estimator.steps[-1][1], XGBModel)


def _dump_xgboost(estimator: Any, directory: Path, task: str, X: pd.DataFrame) -> Written:
    """The booster with ``save_model`` (.ubj) and the preprocessing as a skops file beside it."""
    if target_of(estimator) == "log":
        raise ExportError(
            "This model learned the log of its target: the XGBoost format holds the booster and "
            "its preprocessing, not the exp that maps its predictions back to the target's "
            "scale. Use --format skops (or onnx)."
        )
    if not is_xgboost_pipeline(estimator):
        final = type(getattr(estimator, "steps", [[None, estimator]])[-1][1]).__name__
        raise ExportError(
            f"The XGBoost format holds XGBoost models only, but this model ends in `{final}`. "
            "Use --format skops (or onnx)."
        )
    model = estimator.steps[-1][1]
    types = dump_skops(estimator[:-1], directory / PREP_FILE)
    model.save_model(directory / UBJ_FILE)
    return Written(trusted=tuple(types), model_class=type(model).__name__)


def _load_xgboost(directory: Path, card: Mapping[str, Any]) -> Any:
    import xgboost
    from sklearn.pipeline import Pipeline

    model_class = str(card["model"].get("xgboost_class"))
    if model_class not in _XGB_CLASSES:
        raise ExportError(
            f"The card names XGBoost class `{model_class}`; expected "
            f"{' or '.join(_XGB_CLASSES)}. Export the model again."
        )
    prep = load_skops(directory / PREP_FILE, card.get("trusted_types", []))
    model = getattr(xgboost, model_class)()
    model.load_model(directory / UBJ_FILE)
    return Pipeline([*prep.steps, ("model", model)])


def _xgboost_snippet(written: Written) -> str:
    return (
        "import json\nimport skops.io as sio\nfrom sklearn.pipeline import Pipeline\n"
        f"from xgboost import {written.model_class}\n\n"
        'card = json.load(open("card.json"))\n'
        'prep = sio.load("preprocess.skops", trusted=card["trusted_types"])\n'
        f'booster = {written.model_class}()\nbooster.load_model("model.ubj")\n'
        'model = Pipeline([*prep.steps, ("model", booster)])'
    )


# --- ONNX ------------------------------------------------------------------------------------


def _dump_onnx(estimator: Any, directory: Path, task: str, X: pd.DataFrame) -> Written:
    data, schema, check = _onnx.to_onnx(estimator, task, X)
    (directory / ONNX_FILE).write_bytes(data)
    info = {
        "inputs": schema, "opset": _onnx.OPSET, "rows": check.rows,
        "max_abs_diff": check.max_abs_diff, "tolerance": check.tolerance,
        "compared": check.compared, "label_agreement": check.label_agreement,
    }  # fmt: skip
    return Written(onnx=info)


def _load_onnx(directory: Path, card: Mapping[str, Any]) -> Any:
    info = card["onnx"]
    # A model without predict_proba (an SVC) has scores, not probabilities, in its graph.
    return _onnx.OnnxModel(
        (directory / ONNX_FILE).read_bytes(), info["inputs"], str(card["task"]),
        has_proba=info.get("compared") == "probabilities",
    )  # fmt: skip


def _onnx_snippet(written: Written) -> str:
    return (
        "from knobs.export import load_bundle  # prepares the inputs the graph expects\n"
        "from knobs.predict import predict_frame\n\n"
        'model = load_bundle(".")\npredict_frame(model, frame).frame  # frame: user column names\n\n'
        '# Without Knobs: onnxruntime.InferenceSession("model.onnx"), one input per column\n'
        "# (card.json `onnx.inputs`): float32 [n, 1] for numeric/boolean, strings [n, 1]\n"
        '# for categorical with missing values as "__missing__"'
        + (
            ",\n# and for each date column five float32 [n, 1] parts: `<column>__year`,\n"
            "# `__month`, `__day`, `__weekday` (Monday = 0) and `__hour`, NaN when missing."
            if _onnx_dates(written)
            else "."
        )
    )


def _onnx_dates(written: Written) -> list[str]:
    """The date columns whose parts the graph takes as inputs (``onnx.inputs``)."""
    return sorted(_onnx.date_columns((written.onnx or {}).get("inputs", {})))


def _onnx_note(written: Written, knobs_version: str, train_py: bool) -> str:
    note = (
        "The graph runs with onnxruntime alone; its inputs are the columns after Knobs' "
        "cleaning (see the snippet). `knobs predict` does that cleaning for you."
    )
    dates = _onnx_dates(written)
    if dates:
        note += (
            " Date columns (" + ", ".join(f"`{d}`" for d in dates) + ") enter the graph as "
            "precomputed parts, because no ONNX operator reads dates written as text: Knobs "
            "reads each date with `knobs.portable.to_datetime` (zoned dates in UTC) and gives "
            "its year, month, day, weekday (Monday = 0) and hour as float32, NaN when missing; "
            "pandas' `.dt.year`, `.dt.month`, `.dt.day`, `.dt.day_of_week` and `.dt.hour` give "
            "the same numbers."
        )
    return note


# --- joblib (explicit request only) ------------------------------------------------------------

JOBLIB_WARNING = (
    "joblib files are pickles: loading one runs code stored in it. Load it only if you trust "
    "whoever made it, and never load one you received from someone else; prefer skops."
)


def _dump_joblib(estimator: Any, directory: Path, task: str, X: pd.DataFrame) -> Written:
    import joblib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        joblib.dump(estimator, directory / JOBLIB_FILE)
    return Written()


def _load_joblib(directory: Path, card: Mapping[str, Any]) -> Any:  # pragma: no cover
    import joblib  # only ever called with the user's explicit allow_joblib, for their own file

    return joblib.load(directory / JOBLIB_FILE)


def _joblib_note(written: Written, knobs_version: str, train_py: bool) -> str:
    return JOBLIB_WARNING


def _joblib_snippet(written: Written) -> str:
    return (
        "import joblib  # WARNING: runs code stored in the file; only for files you made\n\n"
        'model = joblib.load("model.joblib")'
    )


# --- the registry ----------------------------------------------------------------------------

_ROWS = (
    Format(
        name="skops", label="skops (safe, default)", help="skops (default, no pickle)",
        files=(SKOPS_FILE,), dump=_dump_skops, load=_load_skops, snippet=_skops_snippet,
        note=_skops_note,
    ),
    Format(
        name="xgboost", label="XGBoost format (.ubj)", help="xgboost (XGBoost models)",
        files=(UBJ_FILE, PREP_FILE), dump=_dump_xgboost, load=_load_xgboost,
        snippet=_xgboost_snippet, note=_skops_note,
    ),
    Format(
        name="onnx", label="ONNX (float32)", help="onnx (float32, checked against the model)",
        files=(ONNX_FILE,), dump=_dump_onnx, load=_load_onnx, snippet=_onnx_snippet,
        note=_onnx_note,
    ),
    Format(
        name="joblib", label="joblib (unsafe pickle)",
        help="joblib (a pickle: runs code on load, only on explicit request)",
        files=(JOBLIB_FILE,), dump=_dump_joblib, load=_load_joblib, snippet=_joblib_snippet,
        note=_joblib_note, warning=JOBLIB_WARNING, runs_code=True,
    ),
)  # fmt: skip

#: Every format by name, the default first.
FORMATS: dict[str, Format] = {row.name: row for row in _ROWS}
DEFAULT_FORMAT = "skops"
#: Each format's model file (its first file).
MODEL_FILES: dict[str, str] = {row.name: row.files[0] for row in _ROWS}
#: The only files a bundle holds: everything else in a zip is ignored on load.
BUNDLE_FILES: frozenset[str] = frozenset(
    {CARD_JSON, CARD_MD, TRAIN_PY, REQUIREMENTS, *(f for row in _ROWS for f in row.files)}
)


def get_format(fmt: str) -> Format:
    """The row called ``fmt`` (any case, spaces ignored); ExportError naming the choices."""
    row = FORMATS.get(str(fmt).strip().lower())
    if row is None:
        raise ExportError(
            f"Unknown export format `{fmt}`; use one of {', '.join(FORMATS)} "
            f"(default {DEFAULT_FORMAT})."
        )
    return row


def cli_help() -> str:
    """What ``knobs export --format`` says of each choice."""
    return ", ".join(row.help for row in _ROWS)
