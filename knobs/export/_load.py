"""Loading a bundle back for prediction, never through pickle.

A bundle is read by exact file name only (a zip's other entries are ignored); the card names the
format, and that format's row (:data:`knobs.export._formats.FORMATS`) reads the model: skops with
the card's exact trusted-type list, XGBoost's own format, an ONNX graph. A format whose files run
code on load (joblib) is refused.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knobs.errors import ExportError
from knobs.export._formats import BUNDLE_FILES, CARD_JSON, FORMATS, get_format


@dataclass
class LoadedModel:
    """A bundle loaded for prediction: the card, and the model behind one ``predict`` call.

    ``estimator`` has ``predict`` (class codes or values), and ``predict_proba`` when the
    exported model has probabilities.
    """

    card: dict[str, Any]
    estimator: Any = None

    @property
    def task(self) -> str:
        return str(self.card["task"])

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    def predict_safe(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions (class codes or values) and class probabilities (None if unavailable)."""
        pred = np.asarray(self.estimator.predict(X))
        proba = None
        if self.task != "regression" and hasattr(self.estimator, "predict_proba"):
            proba = np.asarray(self.estimator.predict_proba(X))
        return pred, proba


def _safe_extract(archive: Path, target: Path) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise ExportError(f"`{archive}` is not a zip file; pass an exported bundle.") from None
    with zf:
        for info in zf.infolist():
            name = info.filename
            if name not in BUNDLE_FILES:
                continue  # only the files a bundle has, by exact name: no paths, no surprises
            target.joinpath(name).write_bytes(zf.read(info))


def load_bundle(path: str | Path, *, allow_joblib: bool = False) -> LoadedModel:
    """Load a bundle (folder, zip, or its card.json) without pickle.

    Formats that run code on load (joblib) are refused: ``allow_joblib`` exists for the user's
    own files and is never set by the CLI or the dashboard.
    """
    path = Path(path)
    if not path.exists():
        raise ExportError(f"`{path}` does not exist; pass the folder or .zip `knobs export` wrote.")
    if path.is_file() and path.suffix.lower() == ".zip":
        tmp = Path(tempfile.mkdtemp(prefix="knobs-bundle-"))
        try:
            _safe_extract(path, tmp)
            return _load_folder(tmp, allow_joblib=allow_joblib, shown=path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if path.is_file() and path.name == CARD_JSON:
        path = path.parent
    if not path.is_dir():
        raise ExportError(
            f"`{path}` is not an exported bundle: pass the folder or .zip that `knobs export` "
            "wrote (it holds card.json and the model file)."
        )
    return _load_folder(path, allow_joblib=allow_joblib, shown=path)


def _load_folder(directory: Path, *, allow_joblib: bool, shown: Path) -> LoadedModel:
    card_path = directory / CARD_JSON
    if not card_path.exists():
        raise ExportError(f"`{shown}` has no card.json; it is not a bundle `knobs export` wrote.")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ExportError(f"card.json in `{shown}` is not valid JSON ({exc}).") from None
    row = get_format(card.get("format", ""))
    if row.runs_code and not allow_joblib:
        safe = ", ".join(name for name, r in FORMATS.items() if not r.runs_code)
        raise ExportError(
            f"`{shown}` holds a {row.name} (pickle) model, which runs code when loaded; Knobs "
            f"never loads one. Export the model as {safe} to predict with Knobs."
        )
    return LoadedModel(card=card, estimator=row.load(directory, card))


def load_bundle_bytes(data: bytes) -> LoadedModel:
    """Load a zipped bundle held in memory (the dashboard's own download) without pickle."""
    with tempfile.TemporaryDirectory(prefix="knobs-bundle-") as tmp:
        path = Path(tmp) / "bundle.zip"
        path.write_bytes(data)
        return load_bundle(path)
