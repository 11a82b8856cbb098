"""Export a fitted model as a bundle (folder or zip) and load one back without pickle.

The exporter takes any fitted scikit-learn estimator plus a :class:`ModelSource` saying what it
is (a tuned trial today, an ensemble tomorrow): nothing here depends on how the model was made.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import shutil
import tempfile
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from knobs.errors import ExportError
from knobs.export import _card, _formats, _onnx, _trainpy
from knobs.study import StudyPlan, library_versions
from knobs.study.keys import BASELINE

CARD_JSON = "card.json"
CARD_MD = "card.md"
TRAIN_PY = "train.py"
REQUIREMENTS = "requirements.txt"
CARD_VERSION = 1
_EXPORT_LIBS = ("skops", "onnx", "onnxruntime", "skl2onnx", "onnxmltools", "scipy", "joblib")
_BUNDLE_FILES = frozenset(
    {CARD_JSON, CARD_MD, TRAIN_PY, REQUIREMENTS, _formats.PREP_FILE, *_formats.MODEL_FILES.values()}
)


@dataclass(frozen=True)
class ModelSource:
    """A fitted estimator and what its card says about it.

    ``estimator`` takes the table with safe column names (``plan.load_split``) and follows the
    scikit-learn API; ``kind`` is ``"trial"`` or ``"ensemble"`` (any label works);
    ``params`` are shown in the card as given.
    """

    estimator: Any
    label: str
    kind: str
    family: str
    params: Mapping[str, Any]
    cv_score: float | None
    test_score: float | None
    fit_s: float
    trial: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: An ensemble's out-of-fold predictions that ``estimator.fit`` was given (one array per
    #: member): a stacking meta-learner is fitted on them, and train.py must fit it on the same.
    oof: tuple[np.ndarray, ...] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    card: dict[str, Any]
    warnings: tuple[str, ...]


def source_from_study(
    study: str, trial: int | None = None, storage: str | None = None
) -> tuple[StudyPlan, ModelSource, float | None]:
    """Refit a study's best (or chosen) trial on the whole training split, and score its test."""
    from optuna.trial import TrialState

    from knobs import study as results
    from knobs.study import Search

    search = Search.open(study, storage)
    trials = search.trials()
    plan = search.plan
    if trial is None:
        chosen = results.best_trial(trials, plan.direction)
        if chosen is None:
            raise ExportError(
                f"Study `{study}` has no completed trial yet, so there is nothing to export. Let "
                "the search finish a trial first."
            )
    else:
        by_number = {t.number: t for t in trials}
        if trial not in by_number:
            raise ExportError(
                f"Study `{study}` has no trial {trial} (trials 0 to {len(trials) - 1}). Pick one "
                "from `knobs studies` or the dashboard."
            )
        chosen = by_number[trial]
        if chosen.state != TrialState.COMPLETE or chosen not in results.complete([chosen]):
            raise ExportError(
                f"Trial {trial} of study `{study}` is {chosen.state.name}, not COMPLETE with a "
                "score; export a completed trial."
            )
    started = time.perf_counter()
    pipeline = results.refit(plan, chosen)
    fit_s = time.perf_counter() - started
    model, params = results.model_params(chosen)
    baseline = results.baseline_trial(trials, plan.direction)
    is_baseline = bool(BASELINE.get(chosen))
    source = ModelSource(
        estimator=pipeline,
        label=f"trial {chosen.number} ({model}{', defaults' if is_baseline else ''})",
        kind="trial",
        family=str(model),
        params={} if is_baseline else params,
        cv_score=chosen.value,
        test_score=results.test_score(plan, pipeline),
        fit_s=fit_s,
        trial=chosen.number,
    )
    return plan, source, baseline.value if baseline else None


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


def _reading(data: str | Path | None) -> dict[str, str]:
    """How the original CSV was read (delimiter, decimal, encoding), for train.py."""
    if data is None:
        return {"delimiter": ",", "decimal": ".", "encoding": "utf-8"}
    from knobs.data import read_table

    table = read_table(data)
    encoding = table.encoding.lower()
    return {"delimiter": table.delimiter, "decimal": table.decimal, "encoding": encoding}


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
    fmt = _formats.check_format(fmt)
    directory.mkdir(parents=True, exist_ok=True)
    est = source.estimator
    X_train, y_train = plan.load_split("train")
    warnings: list[str] = []
    trusted: list[str] = []
    model_class: str | None = None
    onnx_info: dict[str, Any] | None = None
    if fmt == "skops":
        trusted = _formats.dump_skops(est, directory / _formats.MODEL_FILES["skops"])
    elif fmt == "xgboost":
        trusted, model_class = _formats.dump_xgboost(est, directory)
    elif fmt == "onnx":
        data_bytes, schema, check = _onnx.to_onnx(est, plan.task, X_train)
        (directory / _formats.MODEL_FILES["onnx"]).write_bytes(data_bytes)
        onnx_info = {
            "inputs": schema,
            "opset": _onnx.OPSET,
            "rows": check.rows,
            "max_abs_diff": check.max_abs_diff,
            "tolerance": check.tolerance,
            "compared": check.compared,
            "label_agreement": check.label_agreement,
        }
    else:
        _formats.dump_joblib(est, directory / _formats.MODEL_FILES["joblib"])
        warnings.append(_formats.JOBLIB_WARNING)

    knobs_version = plan.versions.get("knobs") or _versions().get("knobs", "?")
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
        "n_train": plan.n_train,
        **_reading(data),
    }
    try:
        ensemble = None
        if source.kind == "ensemble":
            definition = {"id": source.extra.get("ensemble_id"), **source.params}
            ensemble = _trainpy.ensemble_record(est, definition, source.oof, X_train, y_train)
        script = _trainpy.render_train_py(est, settings, knobs_version, ensemble)
        (directory / TRAIN_PY).write_text(script, encoding="utf-8")
        (directory / REQUIREMENTS).write_text(
            _trainpy.train_requirements(est, _versions()), encoding="utf-8"
        )
        train_py = {"available": True, "reason": ""}
    except ExportError as exc:
        train_py = {"available": False, "reason": str(exc)}

    needs_knobs = any(t.startswith("knobs.") for t in trusted)
    if fmt in ("skops", "xgboost"):
        modules = sorted({t.rsplit(".", 1)[0] for t in trusted if t.startswith("knobs.")})
        rebuild = (
            "rebuild the model without Knobs with `train.py`"
            if train_py["available"]
            else "Knobs is needed to use it"
        )
        note = (
            f"The skops file refers to Knobs' own classes ({', '.join(f'`{m}`' for m in modules)})"
            f": install `knobs=={knobs_version}` to load it, or {rebuild}. It loads without "
            "pickle, trusting exactly the types listed in card.json `trusted_types`."
            if needs_knobs
            else "It loads without pickle, trusting exactly the types in card.json `trusted_types`."
        )
    elif fmt == "onnx":
        note = (
            "The graph runs with onnxruntime alone; its inputs are the columns after Knobs' "
            "cleaning (see the snippet). `knobs predict` does that cleaning for you."
        )
    else:
        note = _formats.JOBLIB_WARNING
    card: dict[str, Any] = {
        "card_version": CARD_VERSION,
        "study": study,
        "exported": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "format": fmt,
        "task": plan.task,
        "target": plan.target,
        "classes": list(plan.classes),
        "model": {
            "label": source.label,
            "kind": source.kind,
            "family": source.family,
            "trial": source.trial,
            "params": dict(source.params),
            "fit_s": source.fit_s,
            "estimator": type(est).__name__,
            "xgboost_class": model_class,
            **({"extra": dict(source.extra)} if source.extra else {}),
        },
        "scores": {
            "metric": plan.metric,
            "direction": plan.direction,
            "cv": source.cv_score,
            "test": source.test_score,
            "baseline": baseline_score,
            "baseline_label": (
                "best single trial (CV)"
                if source.kind == "ensemble"
                else "baseline (default parameters, CV)"
            ),
        },
        "schema": _card.input_schema(plan, X_train),
        "data": {
            "source": plan.source,
            "n_train": plan.n_train,
            "n_test": plan.n_test,
            "fingerprint": plan.fingerprint,
            "seed": plan.config.seed,
            "test_size": plan.config.test_size,
            "folds": plan.folds,
            "reading": {k: settings[k] for k in ("delimiter", "decimal", "encoding")},
        },
        "versions": {"export": _versions(), "search": dict(plan.versions)},
        "trusted_types": trusted,
        "requires_knobs": needs_knobs,
        "onnx": onnx_info,
        "train_py": train_py,
        "warnings": warnings,
        "loading": {"snippet": _card.load_snippet(fmt, model_class), "note": note},
    }
    files = [p for p in sorted(directory.iterdir()) if p.name in _BUNDLE_FILES]
    card["files"] = [
        {"name": p.name, "bytes": p.stat().st_size, "sha256": _sha256(p)} for p in files
    ]
    (directory / CARD_JSON).write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")
    (directory / CARD_MD).write_text(_card.render_markdown(card), encoding="utf-8")
    return ExportResult(path=directory, card=card, warnings=tuple(warnings))


def _zip_folder(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(directory.iterdir()):
            zf.write(p, arcname=p.name)
    return buffer.getvalue()


def export_model(
    plan: StudyPlan,
    source: ModelSource,
    fmt: str = "skops",
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
    if out.suffix.lower() == ".zip":
        if out.exists():
            raise ExportError(f"`{out}` already exists; choose another name or delete it first.")
        with tempfile.TemporaryDirectory(prefix="knobs-export-") as tmp:
            result = write_bundle(
                plan, source, fmt, Path(tmp), study=study, baseline_score=baseline_score, data=data
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(_zip_folder(Path(tmp)))
        return ExportResult(path=out, card=result.card, warnings=result.warnings)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(
            f"`{out}` already exists and is not an empty folder; choose another --out or delete "
            "it first."
        )
    return write_bundle(
        plan, source, fmt, out, study=study, baseline_score=baseline_score, data=data
    )


def bundle_bytes(
    plan: StudyPlan,
    source: ModelSource,
    fmt: str = "skops",
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


def export_study(
    study: str,
    fmt: str = "skops",
    out: str | Path | None = None,
    *,
    trial: int | None = None,
    storage: str | None = None,
    data: str | Path | None = None,
) -> ExportResult:
    """``knobs export``: refit the chosen trial and export it."""
    fmt = _formats.check_format(fmt)
    plan, source, baseline = source_from_study(study, trial, storage)
    return export_model(plan, source, fmt, out, study=study, baseline_score=baseline, data=data)


# --- loading ---------------------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A bundle loaded for prediction: the card, and the model behind one ``predict`` call."""

    card: dict[str, Any]
    estimator: Any = None
    onnx: bytes | None = None

    @property
    def task(self) -> str:
        return str(self.card["task"])

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    def predict_safe(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions (class codes or values) and class probabilities (None if unavailable)."""
        if self.onnx is not None:
            out = _onnx.run_onnx(self.onnx, self.card["onnx"]["inputs"], X)
            if self.task == "regression":
                return out["value"].astype(np.float64), None
            # A model without predict_proba (an SVC) has scores, not probabilities, there.
            has_proba = self.card["onnx"].get("compared") == "probabilities"
            proba = out["proba"].astype(np.float64) if has_proba else None
            return out["label"].astype(np.int64), proba
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
            if name not in _BUNDLE_FILES:
                continue  # only the files a bundle has, by exact name: no paths, no surprises
            target.joinpath(name).write_bytes(zf.read(info))


def load_bundle(path: str | Path, *, allow_joblib: bool = False) -> LoadedModel:
    """Load a bundle (folder, zip, or its card.json) without pickle.

    joblib bundles are refused: they would run code on load (``allow_joblib`` exists for the
    user's own files and is never set by the CLI or the dashboard).
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
    fmt = _formats.check_format(card.get("format", ""))
    trusted = card.get("trusted_types", [])
    if fmt == "skops":
        est = _formats.load_skops(directory / _formats.MODEL_FILES["skops"], trusted)
        return LoadedModel(card=card, estimator=est)
    if fmt == "xgboost":
        est = _formats.load_xgboost(directory, trusted, str(card["model"].get("xgboost_class")))
        return LoadedModel(card=card, estimator=est)
    if fmt == "onnx":
        return LoadedModel(card=card, onnx=(directory / _formats.MODEL_FILES["onnx"]).read_bytes())
    if not allow_joblib:
        raise ExportError(
            f"`{shown}` holds a joblib (pickle) model, which runs code when loaded; Knobs never "
            "loads one. Export the model as skops, xgboost or onnx to predict with Knobs."
        )
    import joblib  # pragma: no cover - the user's explicit choice for their own file

    return LoadedModel(card=card, estimator=joblib.load(directory / _formats.MODEL_FILES["joblib"]))


def load_bundle_bytes(data: bytes) -> LoadedModel:
    """Load a zipped bundle held in memory (the dashboard's own download) without pickle."""
    with tempfile.TemporaryDirectory(prefix="knobs-bundle-") as tmp:
        path = Path(tmp) / "bundle.zip"
        path.write_bytes(data)
        return load_bundle(path)


def study_download(
    study: str,
    trial: int | None = None,
    fmt: str = "skops",
    storage: str | None = None,
    *,
    ensemble: str | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """What the Export page offers: refit the trial (or the kept ensemble), export, and return
    the zip bytes and the card."""
    fmt = _formats.check_format(fmt)
    if ensemble is not None:
        plan, source, baseline = source_from_ensemble(ensemble, storage)
    else:
        plan, source, baseline = source_from_study(study, trial, storage)
    return bundle_bytes(plan, source, fmt, study=study, baseline_score=baseline)


def ensemble_choices(study: str, storage: str | None = None) -> list[dict[str, Any]]:
    """The ensembles kept in ``study`` (``knobs ensemble``): id, kind, CV score, member count."""
    from knobs import ensembles

    return [
        {
            "id": e["id"],
            "kind": e.get("kind"),
            "value": e.get("cv_score"),
            "members": len(e.get("members", [])),
        }
        for e in ensembles.list_ensembles(study, storage)
    ]


def trial_choices(study: str, storage: str | None = None) -> list[dict[str, Any]]:
    """Completed trials, best first: number, model, score, whether it is a defaults trial."""
    from knobs import study as results
    from knobs.study import Search

    search = Search.open(study, storage)
    done = results.complete(search.trials())
    reverse = search.plan.direction == "maximize"
    done.sort(key=lambda t: t.value, reverse=reverse)
    return [
        {
            "number": t.number,
            "model": results.model_params(t)[0],
            "value": t.value,
            "baseline": bool(BASELINE.get(t)),
        }
        for t in done
    ]


def source_from_ensemble(
    ensemble_id: str, storage: str | None = None
) -> tuple[StudyPlan, ModelSource, float | None]:
    """A kept ensemble (``knobs.ensembles``) refit on the training split, ready to export.

    The baseline shown on its card is the best single trial's CV score: what the ensemble has
    to beat.
    """
    from knobs import ensembles
    from knobs import study as results
    from knobs.study import Search

    estimator, meta = ensembles.fitted_ensemble(ensemble_id, storage)
    plan = Search.open(meta["study"], storage).plan
    oof = None
    if meta.get("kind") == "stacking":
        # The same pool `fitted_ensemble` fitted the meta-learner on (stored OOF predictions,
        # read again from disk): train.py carries them, since the CSV cannot recreate them.
        only = [(c["study"], int(c["trial"])) for c in meta["candidates"]]
        pool = ensembles.candidates(meta["studies"], max(2, len(only)), storage=storage, only=only)
        oof = tuple(pool.oof)
    members = [
        {k: m.get(k) for k in ("study", "trial", "model", "weight")}
        for m in meta.get("members", [])
    ]
    source = ModelSource(
        estimator=estimator,
        label=str(meta.get("label") or f"ensemble {ensemble_id}"),
        kind="ensemble",
        family=str(meta.get("family") or "ensemble"),
        params={"kind": meta.get("kind"), "options": meta.get("options", {}), "members": members},
        cv_score=meta.get("cv_score"),
        test_score=results.test_score(plan, estimator),
        fit_s=float(meta.get("fit_s") or 0.0),
        extra={"ensemble_id": ensemble_id, "studies": meta.get("studies", [])},
        oof=oof,
    )
    return plan, source, meta.get("best_single_cv_score")


def export_ensemble(
    ensemble_id: str,
    fmt: str = "skops",
    out: str | Path | None = None,
    *,
    storage: str | None = None,
    data: str | Path | None = None,
) -> ExportResult:
    """``knobs export --ensemble ID``: refit the kept ensemble and export it."""
    fmt = _formats.check_format(fmt)
    plan, source, best_single = source_from_ensemble(ensemble_id, storage)
    study = str(source.extra.get("studies", [""])[0] if source.extra.get("studies") else "")
    return export_model(plan, source, fmt, out, study=study, baseline_score=best_single, data=data)
