"""Writing and reading one fitted model in each export format, never through pickle.

skops stores a model as a zip of JSON and arrays; loading it only builds types it is told to
trust. The exact list of non-default types a file needs is recorded at export time (in the card)
and audited on every load: a file needing anything else is refused, naming the type. On top of
that list, every recorded type must come from a library we ship models with (``TRUSTED_MODULES``),
so editing the card beside a tampered file does not widen the trust either.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from knobs.errors import ExportError, UntrustedModelError

FORMATS: tuple[str, ...] = ("skops", "xgboost", "onnx", "joblib")
#: The only modules whose types an exported skops file may need (beyond skops' defaults).
TRUSTED_MODULES: tuple[str, ...] = (
    "sklearn.", "numpy.", "scipy.", "xgboost.", "knobs.data._preprocess.", "knobs.ensembles.",
)  # fmt: skip
MODEL_FILES = {
    "skops": "model.skops",
    "xgboost": "model.ubj",
    "onnx": "model.onnx",
    "joblib": "model.joblib",
}
PREP_FILE = "preprocess.skops"


def check_format(fmt: str) -> str:
    key = str(fmt).strip().lower()
    if key not in FORMATS:
        raise ExportError(
            f"Unknown export format `{fmt}`; use one of {', '.join(FORMATS)} (default skops)."
        )
    return key


# --- skops -----------------------------------------------------------------------------------


def dump_skops(estimator: Any, path: Path) -> list[str]:
    """Write ``estimator`` with skops; return the exact non-default types the file needs."""
    import skops.io as sio

    # schema.json (the object graph as JSON) dominates and compresses ~10x.
    sio.dump(estimator, path, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    types = sorted(sio.get_untrusted_types(file=path))
    _check_modules(types, path)
    return types


def _check_modules(types: Sequence[str], path: Path) -> None:
    bad = [t for t in types if not t.startswith(TRUSTED_MODULES)]
    if bad:
        raise UntrustedModelError(
            f"`{path.name}` needs type(s) {', '.join(f'`{t}`' for t in bad)}, which come from "
            f"outside the libraries Knobs trusts ({', '.join(m.rstrip('.') for m in TRUSTED_MODULES)})."
            " Such a file is refused: export a model built only from those libraries."
        )


def load_skops(path: Path, trusted: Sequence[str]) -> Any:
    """Load a skops file trusting exactly ``trusted``; anything else in the file is refused."""
    import skops.io as sio

    trusted = list(trusted)
    _check_modules(trusted, path)
    try:
        needed = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a corrupt zip or JSON: say which file
        raise ExportError(
            f"`{path.name}` is not a readable skops file ({type(exc).__name__}: {exc}). "
            "Export the model again."
        ) from None
    unknown = sorted(set(needed) - set(trusted))
    if unknown:
        raise UntrustedModelError(
            f"`{path.name}` holds type(s) not in the trusted list recorded in its card: "
            f"{', '.join(f'`{t}`' for t in unknown)}. The file was changed or does not belong "
            "to this card; it is not loaded. Export the model again from Knobs."
        )
    return sio.load(path, trusted=trusted)


# --- XGBoost's own format ----------------------------------------------------------------------


def is_xgboost_pipeline(estimator: Any) -> bool:
    from sklearn.pipeline import Pipeline

    if not isinstance(estimator, Pipeline) or len(estimator.steps) < 2:
        return False
    try:
        from xgboost import XGBModel
    except ImportError:  # pragma: no cover - xgboost is pinned
        return False
    return isinstance(estimator.steps[-1][1], XGBModel)


def dump_xgboost(estimator: Any, directory: Path) -> tuple[list[str], str]:
    """The booster with ``save_model`` (.ubj) and the preprocessing as a skops file beside it."""
    if not is_xgboost_pipeline(estimator):
        final = type(getattr(estimator, "steps", [[None, estimator]])[-1][1]).__name__
        raise ExportError(
            f"The XGBoost format holds XGBoost models only, but this model ends in `{final}`. "
            "Use --format skops (or onnx)."
        )
    prep = estimator[:-1]
    model = estimator.steps[-1][1]
    types = dump_skops(prep, directory / PREP_FILE)
    model.save_model(directory / MODEL_FILES["xgboost"])
    return types, type(model).__name__


def load_xgboost(directory: Path, trusted: Sequence[str], model_class: str) -> Any:
    from sklearn.pipeline import Pipeline
    from xgboost import XGBClassifier, XGBRegressor

    classes = {"XGBClassifier": XGBClassifier, "XGBRegressor": XGBRegressor}
    if model_class not in classes:
        raise ExportError(
            f"The card names XGBoost class `{model_class}`; expected XGBClassifier or "
            "XGBRegressor. Export the model again."
        )
    prep = load_skops(directory / PREP_FILE, trusted)
    model = classes[model_class]()
    model.load_model(directory / MODEL_FILES["xgboost"])
    return Pipeline([*prep.steps, ("model", model)])


# --- joblib (explicit request only) ------------------------------------------------------------

JOBLIB_WARNING = (
    "joblib files are pickles: loading one runs code stored in it. Load it only if you trust "
    "whoever made it, and never load one you received from someone else; prefer skops."
)


def dump_joblib(estimator: Any, path: Path) -> None:
    import joblib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        joblib.dump(estimator, path)
