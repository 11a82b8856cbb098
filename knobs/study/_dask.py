"""A search's workers on a Dask cluster: the same trial loop as a local worker, run by Dask tasks.

Why it is built this way:

- Nothing is assumed shared but the scheduler. The training split is scattered once to every
  Dask worker (not shipped per trial); each task writes it to its worker's own scratch folder.
  The study storage is either a database every worker reaches (``--storage postgresql://...``)
  or the default journal file kept on the scheduler's side through Optuna's ``DaskStorage``
  (the launcher and the dashboard go on reading the same file directly).
- The count-and-claim that is a host ``flock`` locally is a Dask ``Lock`` held on the scheduler
  (``distributed.Lock``): one lock service for every host, and it is the scheduler that must be
  up anyway. A database advisory lock would tie the claim to one storage kind.
- Each task runs the local worker (``python -m knobs.study.worker``) as a child process, because
  signals (the time budget's mid-fold cut, SIGTERM on stop) only reach a process's main thread,
  never a Dask task's thread. The child dies with its Dask worker (``PR_SET_PDEATHSIG``), and the
  task stops it when the study is asked to stop: Stop cancels for real.
- A worker that dies is told by Dask's own worker list, not by pids: a RUNNING trial whose Dask
  worker is gone from the scheduler is failed as interrupted and queued again at the next claim
  (``knobs.study._runner.sweep_interrupted``), and Dask reruns the lost task elsewhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from knobs.errors import ConfigError

#: The environment variable that names a default scheduler (``knobs tune --dask`` wins over it).
DASK_ENV = "KNOBS_DASK"
#: Storage URLs of the journal kept on the scheduler's side: ``dask://NAME``.
DASK_SCHEME = "dask://"
#: How often a task looks for a stop request while its worker process runs.
POLL_S = 0.5


def dask_address(given: str | None = None) -> str | None:
    """The scheduler to use: ``given``, else ``$KNOBS_DASK``, else None (local processes).
    ``given=""`` asks for local processes even when ``$KNOBS_DASK`` names a scheduler."""
    address = (os.environ.get(DASK_ENV, "") if given is None else given).strip()
    return address or None


@lru_cache(maxsize=4)
def client_for(address: str) -> Any:
    """One client per scheduler and process (a dashboard polls status every second)."""
    from distributed import Client

    try:
        return Client(address, timeout=15, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"Cannot reach the Dask scheduler at `{address}` ({type(exc).__name__}). Start one "
            "(`dask scheduler`) and workers (`dask worker ADDRESS`), or check the address."
        ) from None


def cluster_threads(client: Any) -> dict[str, int]:
    """Dask worker address -> its threads, as the scheduler knows them now."""
    return {
        a: int(w["nthreads"]) for a, w in client.scheduler_info(n_workers=-1)["workers"].items()
    }


def check_cuda(address: str) -> None:
    """``--device cuda`` on a cluster: every Dask worker's XGBoost must see a CUDA device."""
    from knobs.devices import GPU_HINT, cuda_available

    seen = client_for(address).run(cuda_available)
    lacking = sorted(a for a, ok in seen.items() if not ok)
    if lacking:
        raise ConfigError(
            f"--device cuda: XGBoost sees no CUDA device on Dask worker(s) {', '.join(lacking)}; "
            f"{GPU_HINT}."
        )


def storage_spec(client: Any, url: str) -> str:
    """The storage URL Dask workers use: a database URL as is; a journal file kept on the
    scheduler's side (registered there once, under a name derived from its path)."""
    from knobs.study._storage import is_journal_path

    if not is_journal_path(url):
        return url
    name = "knobs-" + hashlib.sha256(url.encode()).hexdigest()[:16]

    def register(dask_scheduler: Any, path: str, name: str) -> None:
        # Knobs' own journal backend: its kernel lock is the one the launcher and the dashboard
        # take on the same file (Optuna's default lock is another file: appends would interleave).
        import optuna
        from optuna_integration.dask.dask import _OptunaSchedulerExtension

        from knobs.study._storage import RepairingJournalFileBackend

        ext = dask_scheduler.extensions.get("optuna") or _OptunaSchedulerExtension(dask_scheduler)
        if name not in ext.storages:
            ext.storages[name] = optuna.storages.JournalStorage(RepairingJournalFileBackend(path))

    client.run_on_scheduler(register, path=url, name=name)
    return DASK_SCHEME + name


def open_dask_storage(url: str) -> Any:
    """``dask://NAME``: the journal on the scheduler's side, through this process's client."""
    import warnings

    from distributed import get_client
    from optuna_integration import DaskStorage

    try:
        client = get_client()  # a task's worker client, or this process's default client
    except ValueError:
        raise ConfigError(
            f"Storage `{url}` lives on a Dask scheduler, but this process is connected to none."
        ) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DaskStorage is marked experimental
        return DaskStorage(name=url[len(DASK_SCHEME) :], client=client, register=False)


@contextlib.contextmanager
def dask_claim_lock(study_name: str) -> Iterator[None]:
    """The cluster-wide claim: a ``distributed.Lock`` on the scheduler (see the module doc)."""
    from distributed import Lock

    lock = Lock(f"knobs-claim-{study_name}")  # on this process's default client's scheduler
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def dask_worker_alive(address: str) -> bool | None:
    """Whether the Dask worker at ``address`` is still on the scheduler's list (None when this
    process is connected to no scheduler, so cannot tell)."""
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        return None
    return address in client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.workers))


# --- launching ---------------------------------------------------------------------------


def launch_on_dask(
    study_name: str,
    url: str,
    address: str,
    *,
    run: int,
    workers: int | None = None,
    threads: int | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Submit the search's worker loops as Dask tasks (one per Dask worker, or ``workers``) and
    return what is stored on the study to follow and stop them (``knobs.study.keys.DASK``).

    The tasks are fire-and-forget: they run to the end of the search whether or not the
    launching process (a CLI, a dashboard session) stays connected.
    """
    from distributed import fire_and_forget

    from knobs.study._plan import read_plan
    from knobs.study._storage import load_study

    client = client_for(address)
    threads_of = cluster_threads(client)
    if not threads_of:
        raise ConfigError(f"The Dask scheduler at `{address}` has no workers; start some first.")
    spec = storage_spec(client, url)
    plan = read_plan(load_study(study_name, url))
    split = client.scatter(list(plan.load_split("train")), broadcast=True)
    n = workers or len(threads_of)
    keys = [f"knobs-{study_name}-{run}-{i}" for i in range(n)]
    futures = [
        client.submit(
            run_worker_task,
            study_name,
            spec,
            address,
            split,
            index=i,
            run=run,
            threads=threads,
            deadline=deadline,
            key=key,
            pure=False,
            retries=2,
        )  # fmt: skip
        for i, key in enumerate(keys)
    ]
    fire_and_forget(futures)
    info = {"address": address, "run": run, "keys": keys, "storage": spec, "workers": threads_of}
    # The submission reaches the scheduler on the client's own connection; a question about the
    # tasks may arrive on another one first and find none (then a `tune` waiting for them ends
    # before they start: CI saw a 20-trial search return with 0 trials). Return once it knows.
    seen_by = time.monotonic() + SEEN_S
    while len(_task_states(info)) < len(keys) and time.monotonic() < seen_by:
        time.sleep(0.05)
    return info


#: Seconds to wait for the scheduler to know a search's submitted tasks.
SEEN_S = 30.0


QUEUED = ("waiting", "queued", "no-worker")
"""Scheduler states of a task that has not started on a worker yet."""


def _task_states(info: dict[str, Any]) -> dict[str, str]:
    keys = set(info.get("keys") or ())

    def states(dask_scheduler: Any, keys: set) -> dict[str, str]:
        return {k: ts.state for k, ts in dask_scheduler.tasks.items() if k in keys}

    try:
        return client_for(info["address"]).run_on_scheduler(states, keys=keys)
    except (OSError, ConfigError, TimeoutError):
        return {}


def running_tasks(info: dict[str, Any] | None) -> int:
    """How many of a Dask search's tasks are queued or running on the scheduler now."""
    if not info:
        return 0
    return sum(1 for s in _task_states(info).values() if s in (*QUEUED, "processing"))


def cancel_tasks(info: dict[str, Any] | None) -> None:
    """Cancel a Dask search's tasks that have not started.

    Running ones are left to stop themselves when they see the study's stop flag (their worker
    process is sent SIGTERM and its trial is marked for retry): cancelling them would only make
    the scheduler forget them while their process kept computing, so nobody could wait for it
    and a trial could still complete after ``stop`` returned."""
    if not info:
        return
    from distributed import Future

    queued = [k for k, s in _task_states(info).items() if s in QUEUED]
    if not queued:
        return
    with contextlib.suppress(OSError, ConfigError, TimeoutError):
        client = client_for(info["address"])
        client.cancel([Future(k, client) for k in queued], force=True)


# --- on the Dask worker --------------------------------------------------------------------


def run_worker_task(
    study_name: str,
    storage: str,
    address: str,
    split: list[Any],
    *,
    index: int,
    run: int,
    threads: int | None,
    deadline: float | None,
) -> dict[str, Any]:
    """A Dask task: the local worker loop as a child process on this Dask worker, given the
    scattered split in a scratch folder of its own; stops it when the study is asked to stop."""
    from distributed import get_worker

    from knobs.study._plan import TARGET_COLUMN

    worker = get_worker()
    n_jobs = threads or worker.state.nthreads
    scratch = Path(tempfile.mkdtemp(prefix=f"knobs-{study_name}-", dir=worker.local_directory))
    X, y = split
    frame = X.copy()
    frame[TARGET_COLUMN] = y.to_numpy()
    frame.to_parquet(scratch / "train.parquet", index=False)
    args = [
        sys.executable, "-m", "knobs.study.worker", "--study", study_name, "--storage", storage,
        "--index", str(index), "--run", str(run), "--n-jobs", str(n_jobs), "--dask", address,
        "--data-dir", str(scratch),
    ]  # fmt: skip
    if deadline is not None:
        args += ["--deadline", repr(deadline)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", KNOBS_DASK_WORKER=worker.address)
    env.update({v: str(n_jobs) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    with open(scratch / "worker.log", "ab") as log:
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
    stopping = False
    while proc.poll() is None:
        time.sleep(POLL_S)
        if not stopping and _stop_requested(study_name, storage):
            stopping = True
            proc.send_signal(signal.SIGTERM)
    return {"worker": worker.address, "threads": n_jobs, "exit": proc.returncode}


def _stop_requested(study_name: str, storage: str) -> bool:
    from knobs.study._storage import load_study
    from knobs.study.keys import STOP

    try:
        return bool(STOP.get(load_study(study_name, storage)))
    except Exception:  # noqa: BLE001 - a storage hiccup must not kill the trial loop
        return False


def _die_with_parent() -> None:
    """In the child, before exec: be killed when the Dask worker that started it dies (Linux),
    so a SIGKILLed worker leaves no orphan computing a trial nobody will record."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
