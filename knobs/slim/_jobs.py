"""Slimming a trial in the background, once, for every session: a detached process writes the
report beside the study (``study_dir(name)/slim/trial-N.json``); pages only read it.

The run's marker file (``trial-N.running.json``) holds the worker's identity, so a killed worker
reads as failed instead of running forever; a failure leaves ``trial-N.error.txt`` with the
reason shown to the user. Starting twice while one runs does nothing.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knobs.study import spawn, study_dir, worker_alive

SLIM_DIR = "slim"


@dataclass(frozen=True)
class SlimJob:
    """Where a trial's slimming stands: ``"none"``, ``"running"``, ``"done"`` or ``"failed"``."""

    state: str
    report: dict[str, Any] | None = None
    error: str = ""


def _paths(study: str, trial: int) -> tuple[Path, Path, Path]:
    folder = study_dir(study) / SLIM_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"trial-{int(trial)}"
    return folder / f"{stem}.json", folder / f"{stem}.running.json", folder / f"{stem}.error.txt"


def write_json_atomic(path: Path, data: Any) -> None:
    """Readers never see half a file: write beside it, then rename over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def job_status(study: str, trial: int) -> SlimJob:
    """The slimming of ``trial``: its report when done, else whether a worker is on it."""
    done, running, error = _paths(study, trial)
    if done.exists():
        return SlimJob("done", json.loads(done.read_text(encoding="utf-8")))
    if running.exists():
        ident = json.loads(running.read_text(encoding="utf-8") or "{}")
        if worker_alive(ident) is not False:
            return SlimJob("running")
        if not error.exists():
            return SlimJob("failed", error="The slimming process ended without a result "
                                           "(it was killed?); start it again.")  # fmt: skip
    if error.exists():
        return SlimJob("failed", error=error.read_text(encoding="utf-8"))
    return SlimJob("none")


def start_job(study: str, trial: int, storage: str | None = None) -> SlimJob:
    """Start slimming ``trial`` in a detached process, unless it is done or running."""
    current = job_status(study, trial)
    if current.state in ("done", "running"):
        return current
    _, running, error = _paths(study, trial)
    error.unlink(missing_ok=True)
    args = ["--study", study, "--trial", str(int(trial))]
    if storage:
        args += ["--storage", storage]
    proc = spawn("knobs.slim.worker", args, running.with_name(f"trial-{int(trial)}.log"),
                 {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})  # fmt: skip
    # The worker writes its full identity as it starts; until then its pid marks the run.
    write_json_atomic(running, {"host": socket.gethostname(), "pid": proc.pid, "start": None})
    return SlimJob("running")


def run_job(study: str, trial: int, storage: str | None = None) -> Path:
    """The worker's body: slim the trial, write the report (or the reason it failed)."""
    from knobs.errors import KnobsError
    from knobs.slim._slim import slim_report

    done, running, error = _paths(study, trial)
    from knobs.study import worker_identity

    write_json_atomic(running, worker_identity())
    try:
        report, _ = slim_report(study, trial, storage=storage)
        write_json_atomic(done, report)
    except KnobsError as exc:
        error.write_text(str(exc), encoding="utf-8")
    except Exception as exc:  # a bug: the page shows it rather than waiting forever
        error.write_text(f"Internal error while slimming: {type(exc).__name__}: {exc}",
                         encoding="utf-8")  # fmt: skip
        raise
    finally:
        running.unlink(missing_ok=True)
    return done
