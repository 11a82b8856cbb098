"""Where explanations are kept, and the background job that computes one.

An explanation costs refits and thousands of predictions, so it is computed once per (study,
trial) or (study, ensemble) and kept as JSON beside the study (``study_dir(study)/explain/``):
every session, every rerun, the CLI and the model card read the same file. A trial's parameters
and the study's test split never change, and an ensemble id names one fixed definition, so a
stored explanation never goes stale.

The dashboard never computes one in its script thread: :func:`start_job` starts ``knobs
explain`` in its own process (``knobs.study.spawn``), and the page reads :func:`job_status` and
the stored file. A job file created exclusively guards against two sessions starting the same
job at once.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knobs.errors import ConfigError

#: Bumped when the stored layout changes; an older file is computed again.
EXPLAIN_VERSION = 1
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def result_key(trial: int | None = None, ensemble: str | None = None) -> str:
    """``trial-7`` or ``ensemble-<id>``: the file name of one model's explanation."""
    if (trial is None) == (ensemble is None):
        raise ConfigError(
            f"Explain one model: a trial number or an ensemble id, but got trial={trial!r}, "
            f"ensemble={ensemble!r}."
        )
    if ensemble is not None:
        if not _ID.match(str(ensemble)):
            raise ConfigError(
                f"An ensemble id is letters, digits, `-`, `_` and `.`, but got {ensemble!r}; "
                "copy it from `knobs ensemble` or the Ensembles page."
            )
        return f"ensemble-{ensemble}"
    return f"trial-{int(trial)}"  # type: ignore[arg-type]


def explain_dir(study: str, *, create: bool = False) -> Path:
    from knobs.study import study_dir

    path = study_dir(study, create=create) / "explain"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def result_path(study: str, key: str) -> Path:
    return explain_dir(study) / f"{key}.json"


def save(study: str, key: str, result: dict[str, Any]) -> Path:
    """Write atomically: a reader sees the old file or the whole new one, never half of it."""
    path = explain_dir(study, create=True) / f"{key}.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(result, allow_nan=False, default=_plain), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load(
    study: str, trial: int | None = None, ensemble: str | None = None
) -> dict[str, Any] | None:
    """The stored explanation of one model, or None when there is none (or an older layout)."""
    path = result_path(study, result_key(trial, ensemble))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if data.get("version") == EXPLAIN_VERSION else None


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


# --- the background job --------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """Where one model's explanation stands: ``none``, ``running``, ``done`` or ``failed``.

    ``message`` says why a job failed (the error line ``knobs explain`` logged); ``started`` is
    the ``time.time()`` the running job began.
    """

    state: str
    message: str = ""
    started: float | None = None


def _job_path(study: str, key: str) -> Path:
    return explain_dir(study) / f"{key}.job"


def _log_path(study: str, key: str) -> Path:
    return explain_dir(study) / f"{key}.log"


def _read_job(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return None


def _alive(job: dict[str, Any]) -> bool:
    from knobs.study import worker_alive

    if not job.get("pid"):  # created, its process not started yet: give it a few seconds
        return time.time() - float(job.get("created", 0)) < 30
    return worker_alive({"host": job.get("host"), "pid": job.get("pid")}) is not False


def job_status(study: str, trial: int | None = None, ensemble: str | None = None) -> Job:
    """The stored result wins; else a live job is running; else a dead job failed (and why)."""
    key = result_key(trial, ensemble)
    result = result_path(study, key)
    job_file = _job_path(study, key)
    job = _read_job(job_file) if job_file.exists() else None
    if job is not None and _alive(job):
        if not result.exists() or result.stat().st_mtime < float(job.get("created", 0)):
            return Job("running", started=float(job.get("created", 0)) or None)
    if load(study, trial, ensemble) is not None:
        return Job("done")
    if job is None:
        return Job("none")
    return Job("failed", message=_failure(study, key))


def _failure(study: str, key: str) -> str:
    """The last error line ``knobs explain`` wrote to its log, or a plain word if none."""
    try:
        lines = [ln.strip() for ln in _log_path(study, key).read_text().splitlines() if ln.strip()]
    except OSError:
        lines = []
    errors = [ln for ln in lines if ln.startswith("knobs: ")]
    if errors:
        return errors[-1].removeprefix("knobs: ").removeprefix("error: ")
    return lines[-1] if lines else "The explanation job ended without a result or a message."


def start_job(
    study: str,
    trial: int | None = None,
    ensemble: str | None = None,
    storage: str | None = None,
) -> Job:
    """Start ``knobs explain`` for one model in its own process, unless one runs already.

    Returns the job's state right after: ``running`` (started now or earlier by another
    session) or ``done`` when the explanation is already stored.
    """
    from knobs.study import spawn

    key = result_key(trial, ensemble)
    current = job_status(study, trial, ensemble)
    if current.state in ("running", "done"):
        return current
    folder = explain_dir(study, create=True)
    job_file = folder / f"{key}.job"
    job_file.unlink(missing_ok=True)  # a dead job's file: this start replaces it
    try:
        fd = os.open(job_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:  # another session won the race a moment ago
        return Job("running", started=time.time())
    created = time.time()
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps({"created": created}))
    args = ["explain", "--study", study, "--quiet"]
    args += ["--trial", str(trial)] if ensemble is None else ["--ensemble", str(ensemble)]
    if storage:
        args += ["--storage", storage]
    log = folder / f"{key}.log"
    log.write_text("")
    proc = spawn("knobs.cli", args, log)
    job = {"created": created, "host": socket.gethostname(), "pid": proc.pid}
    job_file.write_text(json.dumps(job), encoding="utf-8")
    return Job("running", started=created)


# --- what the model card says -------------------------------------------------------------------

#: Columns the model card lists.
CARD_TOP = 5


def card_summary(
    study: str, trial: int | None = None, ensemble: str | None = None, top: int = CARD_TOP
) -> dict[str, Any] | None:
    """The model card's "what drives it" part, when ``knobs explain`` stored this model's
    explanation; None otherwise (the card then says nothing about importances).

    ``{"top": [{column, mean, std}], "metric", "rows", "repeats", "fitted_on", "warning"}``:
    the ``top`` columns whose shuffling costs the most score (only those that cost any).
    """
    if (trial is None) == (ensemble is None):
        return None
    try:
        result = load(study, trial, ensemble)
    except ConfigError:
        return None
    if result is None:
        return None
    imp = result["importance"]
    return {
        "top": [
            {"column": c["column"], "mean": c["mean"], "std": c["std"]}
            for c in imp["columns"][:top]
            if c["mean"] > 0
        ],
        "metric": result["metric"],
        "rows": imp["rows"],
        "repeats": imp["repeats"],
        "fitted_on": result["fitted_on"],
        "warning": result.get("warning"),
    }
