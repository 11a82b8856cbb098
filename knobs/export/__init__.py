"""Export a fitted model safely (skops, XGBoost's format, ONNX, or joblib on request), with a
model card and a standalone ``train.py``, and load such a bundle back without pickle.

``export_model(plan, ModelSource(...), fmt, out)`` takes any fitted scikit-learn estimator, so a
tuned trial and an ensemble export the same way; ``export_study`` refits a study's trial first.

Modules, one job each: ``_source`` (what to export: a trial or a kept ensemble), ``_formats``
(the formats, one row each: files, writer, reader, card text, label), ``_trust`` (skops with an
exact allow-list), ``_onnx`` (the ONNX graph), ``_write`` (a bundle to a folder or zip),
``_card`` (card.json and card.md), ``_trainpy`` (train.py), ``_load`` (a bundle back, no
pickle), ``cli`` (``knobs export`` and ``knobs predict``).
"""

from __future__ import annotations

from knobs.export._card import render_markdown
from knobs.export._formats import (
    CARD_JSON,
    CARD_MD,
    DEFAULT_FORMAT,
    FORMATS,
    JOBLIB_WARNING,
    MODEL_FILES,
    TRAIN_PY,
    Format,
    get_format,
)
from knobs.export._load import LoadedModel, load_bundle, load_bundle_bytes
from knobs.export._onnx import blocking_step
from knobs.export._source import ModelSource, source_from_ensemble, source_from_study
from knobs.export._trust import TRUSTED_MODULES
from knobs.export._write import (
    ExportResult,
    bundle_bytes,
    export_ensemble,
    export_model,
    export_study,
    final_of,
    write_bundle,
)

__all__ = [
    "CARD_JSON",
    "CARD_MD",
    "DEFAULT_FORMAT",
    "FORMATS",
    "JOBLIB_WARNING",
    "MODEL_FILES",
    "TRAIN_PY",
    "TRUSTED_MODULES",
    "ExportResult",
    "Format",
    "LoadedModel",
    "ModelSource",
    "blocking_step",
    "bundle_bytes",
    "export_ensemble",
    "export_model",
    "export_study",
    "final_of",
    "get_format",
    "load_bundle",
    "load_bundle_bytes",
    "render_markdown",
    "source_from_ensemble",
    "source_from_study",
    "write_bundle",
]
