"""Export a fitted model safely (skops, XGBoost's format, ONNX, or joblib on request), with a
model card and a standalone ``train.py``, and load such a bundle back without pickle.

``export_model(plan, ModelSource(...), fmt, out)`` takes any fitted scikit-learn estimator, so a
tuned trial and an ensemble export the same way; ``export_study`` refits a study's trial first.
"""

from __future__ import annotations

from knobs.export._bundle import (
    CARD_JSON,
    CARD_MD,
    TRAIN_PY,
    ExportResult,
    LoadedModel,
    ModelSource,
    bundle_bytes,
    ensemble_choices,
    export_ensemble,
    export_model,
    export_study,
    load_bundle,
    load_bundle_bytes,
    source_from_ensemble,
    source_from_study,
    study_download,
    trial_choices,
    write_bundle,
)
from knobs.export._formats import FORMATS, JOBLIB_WARNING, MODEL_FILES, TRUSTED_MODULES
from knobs.export._onnx import blocking_step

__all__ = [
    "CARD_JSON",
    "CARD_MD",
    "FORMATS",
    "JOBLIB_WARNING",
    "MODEL_FILES",
    "TRAIN_PY",
    "TRUSTED_MODULES",
    "ExportResult",
    "LoadedModel",
    "ModelSource",
    "blocking_step",
    "bundle_bytes",
    "ensemble_choices",
    "export_ensemble",
    "export_model",
    "export_study",
    "load_bundle",
    "load_bundle_bytes",
    "source_from_ensemble",
    "source_from_study",
    "study_download",
    "trial_choices",
    "write_bundle",
]
