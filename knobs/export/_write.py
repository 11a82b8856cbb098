"""Writing a bundle: the model file(s) in the chosen format, card.json, card.md, train.py and
requirements.txt, to a folder or a zip.

The format's row (:data:`knobs.export._formats.FORMATS`) writes the model and says what the card
tells about it; this module only orders the steps, so every format gets the same card and script.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from knobs import portable
from knobs.errors import ExportError
from knobs.export import _card, _trainpy
from knobs.export._formats import (
    BUNDLE_FILES,
    CARD_JSON,
    CARD_MD,
    DEFAULT_FORMAT,
    REQUIREMENTS,
    TRAIN_PY,
    get_format,
)
from knobs.export._source import ModelSource, source_from_ensemble, source_from_study
from knobs.study import StudyPlan, library_versions

if TYPE_CHECKING:
    import pandas as pd

_EXPORT_LIBS = (
    "skops", "onnx", "onnxruntime", "skl2onnx", "onnxmltools", "scipy", "joblib", "pyarrow",
    "python-calamine",
)  # fmt: skip


@dataclass(frozen=True)
class ExportResult:
    path: Path
    card: dict[str, Any]
    warnings: tuple[str, ...]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    found = library_versions()
    for name in _EXPORT_LIBS:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _reading(plan: StudyPlan, data: str | Path | None) -> dict[str, str]:
    """How the original CSV was read (delimiter, decimal, encoding), for train.py: as the study
    recorded it (a `;`-separated table with decimal commas was written up as `,` and `.`, and
    its train.py failed), else read again from ``data``, else a plain CSV's."""
    if data is None:
        return {"delimiter": ",", "decimal": ".", "encoding": "utf-8", **plan.reading}
    from knobs.data import read_table

    return read_table(data).reading


def _write_train_py(
    plan: StudyPlan,
    source: ModelSource,
    directory: Path,
    train: tuple[Any, Any],
    reading: dict[str, str],
    knobs_version: str,
) -> dict[str, Any]:
    """train.py and its requirements.txt, or why there is none (said on the card)."""
    est = source.estimator
    settings = {
        "source": plan.source,
        "target": plan.target,
        "task": plan.task,
        "classes": list(plan.classes),
        "columns": {
            c.name: c.safe_name for c in plan.columns if c.used and "target" not in c.flags
        },
        "seed": plan.config.seed,
        "test_size": plan.config.test_size,
        # train.py reads one CSV: with a test table of the user's own, all of it was training.
        "fit_on": "all" if plan.test_source else source.fit_on,
        "n_fit": source.fit_rows or plan.n_train,
        # ID-like columns: --predict keeps the first one present, as `knobs predict` does
        "id_columns": [c.name for c in plan.columns if "id_like" in c.flags],
        "text_columns": _codes_with_zeros(plan, train[0]),
        **reading,
    }
    if plan.sample:  # the search's training rows were a sample of the training split
        settings["sample"] = plan.sample
    if plan.config.time_column:  # the test split is the latest rows by this date column
        dated = next(c for c in plan.columns if c.name == plan.config.time_column)
        settings.update(time_column=dated.name, time_formats=list(dated.formats))
    try:
        ensemble = None
        if source.kind == "ensemble":
            definition = {"id": source.extra.get("ensemble_id"), **source.params}
            ensemble = _trainpy.ensemble_record(est, definition, source.oof, *train)
        script = _trainpy.render_train_py(est, settings, knobs_version, ensemble)
        (directory / TRAIN_PY).write_text(script, encoding="utf-8")
        (directory / REQUIREMENTS).write_text(
            _trainpy.train_requirements(est, _versions(), reading.get("format", "csv")),
            encoding="utf-8",
        )
    except ExportError as exc:
        return {"available": False, "reason": str(exc)}
    note = source.extra.get("train_py_note")  # what train.py does not reproduce (fine-tuning)
    return {"available": True, "reason": "", **({"note": str(note)} if note else {})}


def _codes_with_zeros(plan: StudyPlan, X: pd.DataFrame) -> list[str]:
    """The category columns holding codes written with leading zeros (`02134`), which Knobs'
    ingest read as text: train.py reads them as text too. Read as numbers, `0123` and `123`
    became one category in train.py's model and two in Knobs'."""
    found = []
    for c in plan.columns:
        if c.used and c.kind == "categorical" and c.safe_name in X:
            written = portable.as_strings(X[c.safe_name]).dropna()
            if written.str.fullmatch(portable.ZERO_LED).any():
                found.append(c.name)
    return found


def write_bundle(
    plan: StudyPlan,
    source: ModelSource,
    fmt: str,
    directory: Path,
    *,
    study: str = "",
    baseline_score: float | None = None,
    data: str | Path | None = None,
) -> ExportResult:
    """Write the model file(s), card.json, card.md, train.py and requirements.txt to a folder."""
    row = get_format(fmt)
    directory.mkdir(parents=True, exist_ok=True)
    X_train, y_train = plan.load_split("train")
    written = row.dump(source.estimator, directory, plan.task, X_train)
    knobs_version = plan.versions.get("knobs") or _versions().get("knobs", "?")
    reading = _reading(plan, data)
    train_py = _write_train_py(plan, source, directory, (X_train, y_train), reading, knobs_version)
    # The card's categories are those of the rows the model learned from: a model refitted on
    # every row warned of "categories it never saw" for values of the rows the test split held.
    X_fit = plan.load_split("all")[0] if source.fit_on == "all" else X_train
    card = _card.build_card(
        plan, source, row, written, X_train=X_fit, study=study, baseline_score=baseline_score,
        reading=reading, train_py=train_py, knobs_version=knobs_version, versions=_versions(),
    )  # fmt: skip
    files = [p for p in sorted(directory.iterdir()) if p.name in BUNDLE_FILES]
    card["files"] = [
        {"name": p.name, "bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files
    ]
    (directory / CARD_JSON).write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")
    (directory / CARD_MD).write_text(_card.render_markdown(card), encoding="utf-8")
    return ExportResult(path=directory, card=card, warnings=tuple(card["warnings"]))


def _zip_folder(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(directory.iterdir()):
            zf.write(p, arcname=p.name)
    return buffer.getvalue()


def export_model(
    plan: StudyPlan,
    source: ModelSource,
    fmt: str = DEFAULT_FORMAT,
    out: str | Path | None = None,
    *,
    study: str = "",
    baseline_score: float | None = None,
    data: str | Path | None = None,
) -> ExportResult:
    """Export to ``out``: a folder, or a zip when ``out`` ends in ``.zip``.

    An existing non-empty folder or an existing zip is refused rather than overwritten in part.
    """
    if out is None:
        raise ExportError("Say where to export: --out FOLDER or --out FILE.zip.")
    out = Path(out)
    options: dict[str, Any] = {"study": study, "baseline_score": baseline_score, "data": data}
    if out.suffix.lower() == ".zip":
        if out.exists():
            raise ExportError(f"`{out}` already exists; choose another name or delete it first.")
        with tempfile.TemporaryDirectory(prefix="knobs-export-") as tmp:
            result = write_bundle(plan, source, fmt, Path(tmp), **options)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(_zip_folder(Path(tmp)))
        return ExportResult(path=out, card=result.card, warnings=result.warnings)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(
            f"`{out}` already exists and is not an empty folder; choose another --out or delete "
            "it first."
        )
    return write_bundle(plan, source, fmt, out, **options)


def bundle_bytes(
    plan: StudyPlan,
    source: ModelSource,
    fmt: str = DEFAULT_FORMAT,
    *,
    study: str = "",
    baseline_score: float | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """The bundle as zip bytes (for a download button) and its card."""
    with tempfile.TemporaryDirectory(prefix="knobs-export-") as tmp:
        result = write_bundle(
            plan, source, fmt, Path(tmp), study=study, baseline_score=baseline_score
        )
        return _zip_folder(Path(tmp)), result.card


def final_of(study: str, storage: str | None = None) -> dict | None:
    """The final model a search ended with (``knobs.study.keys.FINAL``), if it chose one."""
    from knobs.study import load_study
    from knobs.study.keys import FINAL

    return FINAL.get(load_study(study, storage))


def export_study(
    study: str,
    fmt: str = DEFAULT_FORMAT,
    out: str | Path | None = None,
    *,
    trial: int | None = None,
    storage: str | None = None,
    data: str | Path | None = None,
) -> ExportResult:
    """``knobs export``: refit the chosen trial and export it. Without ``trial``, the model the
    search ended with: its final greedy ensemble when one was chosen (see ``knobs tune``'s
    ``final``), else its best trial."""
    fmt = get_format(fmt).name  # an unknown format is refused before the refit
    if trial is None:
        final = final_of(study, storage)
        if final and final.get("kind") == "ensemble" and final.get("ensemble_id"):
            return export_ensemble(final["ensemble_id"], fmt, out, storage=storage, data=data)
    plan, source, baseline = source_from_study(study, trial, storage)
    return export_model(plan, source, fmt, out, study=study, baseline_score=baseline, data=data)


def export_ensemble(
    ensemble_id: str,
    fmt: str = DEFAULT_FORMAT,
    out: str | Path | None = None,
    *,
    storage: str | None = None,
    data: str | Path | None = None,
) -> ExportResult:
    """``knobs export --ensemble ID``: refit the kept ensemble and export it."""
    fmt = get_format(fmt).name
    plan, source, best_single = source_from_ensemble(ensemble_id, storage)
    studies = source.extra.get("studies") or [""]
    return export_model(
        plan, source, fmt, out, study=str(studies[0]), baseline_score=best_single, data=data
    )
