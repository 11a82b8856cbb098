"""Background searches: worker processes that share one study through its storage.

A search never runs in its caller's thread. ``launch`` starts ``python -m knobs.study.worker``
processes in their own session, so they outlive a closed browser tab, a restarted Streamlit
server or a CLI killed with ^C (which asks them to stop first). Everything they learn goes into
the study storage as it happens; callers only read it.

Budget accounting is exact across workers and resumes: a worker counts and claims its next trial
under one host-wide lock (``claim_lock``). A trial counts toward the budget once claimed,
unless it was interrupted (its worker was killed, or the user pressed stop): interrupted trials
are failed with a reason and their parameters are queued again, so no grid point and no budget is
lost to a crash.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from knobs.errors import ConfigError
from knobs.study._budget import time_cut_record
from knobs.study._storage import (
    claim_lock,
    is_journal_path,
    load_study,
    storage_url,
    study_dir,
)
from knobs.study.keys import (
    CARRIED_ON_RETRY,
    CLOCK,
    FAIL_REASON,
    INTERRUPTED,
    PRUNED,
    RETRY_OF,
    RUN,
    STOP,
    WORKER,
)

# --- worker identity and liveness ---------------------------------------------------------


def _proc_start_ticks(pid: int) -> int | None:
    """Process start time in clock ticks, so a recycled pid is not taken for our worker."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_started_at(pid: int | None = None) -> float | None:
    """When process ``pid`` (default: this one) started, as a ``time.time()``; None off Linux.

    A command's time budget counts from here, interpreter start-up and imports included.

    Counted back from now by the process's age (the system's uptime, in hundredths of a second,
    less its start in clock ticks since boot). The boot time `/proc/stat` gives is cut to whole
    seconds: added to the start ticks, it put the start up to a second early, so every budget
    lost that part of a second (0.99 s on this machine since its last boot: a 5 s search ran 4).
    """
    ticks = _proc_start_ticks(pid or os.getpid())
    try:
        with open("/proc/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    now = time.time()
    return None if ticks is None else now - (uptime - ticks / os.sysconf("SC_CLK_TCK"))


def worker_identity() -> dict[str, Any]:
    pid = os.getpid()
    found = {"host": socket.gethostname(), "pid": pid, "start": _proc_start_ticks(pid)}
    if os.environ.get("KNOBS_DASK_WORKER"):  # run by a Dask task (knobs.study._dask)
        found["dask"] = os.environ["KNOBS_DASK_WORKER"]
    return found


def worker_alive(identity: dict[str, Any] | None) -> bool | None:
    """True/False for a worker on this host; None when it runs elsewhere (cannot tell)."""
    if not identity:
        return False
    if identity.get("dask"):  # told by the scheduler's worker list, wherever it runs
        from knobs.study._dask import dask_worker_alive

        return dask_worker_alive(identity["dask"])
    if identity.get("host") != socket.gethostname():
        return None
    pid = int(identity.get("pid", -1))
    if pid <= 0 or not process_alive(pid):
        return False
    start = _proc_start_ticks(pid)
    return start is None or identity.get("start") is None or start == identity["start"]


def process_alive(pid: int) -> bool:
    """Is process ``pid`` of this host running (a zombie is dead for our purposes)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().decode(errors="replace").rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return True


# --- interrupted trials ------------------------------------------------------------------


def sweep_interrupted(study: optuna.Study, trials: Iterable[FrozenTrial] | None = None) -> int:
    """Fail RUNNING trials whose worker is gone, and queue every interrupted trial once more.

    Call it holding ``claim_lock``: a RUNNING trial without a worker record can then only come
    from a worker that died between creating the trial and recording itself.
    Returns how many trials were failed here.
    """
    failed = 0
    trials = list(trials if trials is not None else study.get_trials(deepcopy=False))
    storage = study._storage
    for t in trials:
        if t.state == TrialState.RUNNING and worker_alive(WORKER.get(t)) is False:
            _fail_interrupted(storage, t, "Its worker process died; the trial is retried.")
            failed += 1
    if failed:
        trials = study.get_trials(deepcopy=False)
    # A finished trial cannot be annotated, so "already retried" is read off the retries.
    retried = {RETRY_OF.get(t) for t in trials}
    for t in trials:
        if t.state == TrialState.FAIL and INTERRUPTED.get(t):
            if t.number in retried:
                continue
            attrs = RETRY_OF.attr(t.number)
            for key in CARRIED_ON_RETRY:
                if key.get(t):
                    attrs |= key.attr(key.get(t))
            study.enqueue_trial(dict(t.params), user_attrs=attrs, skip_if_exists=False)
    return failed


# --- launching and stopping ------------------------------------------------------------


def launch(
    study_name: str,
    storage: str | None,
    workers: int,
    *,
    deadline: float | None = None,
    threads: int | None = None,
) -> list[subprocess.Popen | Forked]:
    """Start ``workers`` detached worker processes on this host; return their handles (forks
    of this process where :func:`forks_workers` allows it).

    ``deadline`` (a ``time.time()``) is when the job must be done, refit included.

    Each worker's models get ``threads`` threads (default: the cores shared out among workers),
    and BLAS/OpenMP pools are capped to match, so workers do not oversubscribe the cores.
    """
    from knobs.config import default_workers

    url = storage_url(storage)
    run = begin_run(load_study(study_name, url))
    n_jobs = threads or max(1, default_workers() // workers)
    logs = study_dir(study_name)
    env = {
        var: str(n_jobs) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    procs = []
    for index in range(workers):
        args = [
            "--study", study_name, "--storage", url,
            "--index", str(index), "--run", str(run), "--n-jobs", str(n_jobs),
        ]  # fmt: skip
        if deadline is not None:
            args += ["--deadline", repr(deadline)]
        log_path = logs / f"worker-{run}-{index}.log"
        if forks_workers(url):
            procs.append(fork_worker(args, log_path, env))
        else:
            procs.append(spawn("knobs.study.worker", args, log_path, env))
    _record_pids(study_name, [p.pid for p in procs])
    return procs


class Forked:
    """A forked worker's handle, as much of ``subprocess.Popen`` as callers use."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """Collect the child if it has exited (no zombie left behind); its exit code or None."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # collected elsewhere
                self.returncode = 0
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _os_threads() -> int | None:
    """Threads of this process as the kernel counts them (native ones included), None where
    there is no /proc to ask."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


#: Threads this process had when Knobs loaded: the interpreter's, and those numpy's OpenBLAS
#: starts at import (it re-arms them in a forked child, so they are safe to fork past).
_THREADS_AT_LOAD = _os_threads()


def _no_new_native_threads() -> bool:
    """Whether no native thread started since Knobs loaded. A model fitted in this process
    (Knobs' own refit after a search, a user's fit in the same script) leaves OpenMP's thread
    team behind; a forked child's first OpenMP call then waits forever on that team's lock. A
    script that called ``knobs.tune`` twice hung in its second search, for good."""
    now = _os_threads()
    return now is None or _THREADS_AT_LOAD is None or now <= _THREADS_AT_LOAD


def forks_workers(url: str) -> bool:
    """Whether this process starts its workers by forking itself rather than a new interpreter.

    A new interpreter imports pandas, scikit-learn and Optuna again before its first trial: 2 s
    of every search on this 2-core machine (the first trial began 3.9 s into a 14 s budget),
    where a fork starts with them loaded. Only from a process that runs one thread (the CLI, a
    script, a race's process): a fork copies the calling thread alone, and a lock another
    thread held (a web server's, a notebook kernel's) would stay held forever in the child, so
    the Streamlit app and notebooks start interpreters as before; the same for native threads
    started since Knobs loaded (:func:`_no_new_native_threads`). Only for journal files: a
    database storage's pooled connections must not be shared with a child.
    """
    return (
        hasattr(os, "fork")
        and threading.active_count() == 1
        and _no_new_native_threads()
        and is_journal_path(url)
        and not os.environ.get("KNOBS_SPAWN_WORKERS")
    )


def fork_worker(args: list[str], log_path: Path, env: dict[str, str]) -> Forked:
    """Run ``python -m knobs.study.worker args`` as a fork of this process, detached as
    :func:`spawn` detaches (its own session, output to ``log_path``, stdin closed).

    The child never returns into its parent's code: whatever happens, it ends with ``os._exit``
    (no parent's ``atexit`` handler, no buffered output written twice)."""
    import knobs.study.worker as worker  # imported once here, before the fork, for every child

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return Forked(pid)
    code = 1
    try:
        os.setsid()
        with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
            os.dup2(devnull.fileno(), 0)
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
        # The parent's sys.stdout may not be file 1 (pytest's capture, a notebook's stream).
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the child
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.environ.update(env)
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        _forget_parent_state()
        code = worker.main(args)
    except BaseException:  # noqa: BLE001 - the child reports and exits, whatever it was
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _forget_parent_state() -> None:
    """What a forked worker must not share with its parent: the open storages (a journal
    replays its own log) and the parent's logging handlers and signal handlers."""
    import logging

    from knobs.study._storage import forget_open_storages

    forget_open_storages()
    logging.root.handlers.clear()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def begin_run(study: optuna.Study) -> int:
    """Number a new launch of a study's workers (a resume is a new run) and clear its stop flag;
    samplers seed from the run so a resume does not propose the same points again."""
    run = int(RUN.get(study)) + 1
    RUN.set(study, run)
    STOP.set(study, None)
    return run


def spawn(
    module: str, args: list[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start ``python -m module args`` detached from the caller, its output going to ``log_path``.

    Its own session, so it outlives a closed browser tab, a restarted Streamlit server or a CLI
    killed with ^C; and the very ``knobs`` its launcher runs, whatever is installed elsewhere.
    Searches and races both start their processes here.
    """
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    package_root = str(Path(__file__).resolve().parents[2])
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [package_root, full_env.get("PYTHONPATH")])
    )
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=full_env,
            close_fds=True,
        )
    # Collected the moment it exits, whoever holds the handle: a dashboard session keeps its
    # searches' handles, and each finished worker stayed a zombie until that session's live
    # view happened to poll it again (six after a half-hour of use).
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return proc


def _finisher_file(study_name: str, *, create: bool = False) -> Path:
    return study_dir(study_name, create=create) / "finisher.txt"


def start_finisher(study_name: str, storage: str | None, deadline: float | None) -> None:
    """Start the process that ends a search once its workers are gone (``knobs.study.finisher``);
    :func:`finishing` tells whether it is still at work."""
    args = ["--study", study_name, "--storage", storage_url(storage)]
    if deadline is not None:
        args += ["--deadline", repr(deadline)]
    proc = spawn("knobs.study.finisher", args, study_dir(study_name) / "finisher.log")
    _finisher_file(study_name, create=True).write_text(_identity_line(proc.pid) + "\n")


def finishing(study_name: str) -> bool:
    """Whether the study's finisher (:func:`start_finisher`) is still choosing its final model."""
    try:
        path = _finisher_file(study_name)
    except ConfigError:
        return False
    # The finisher reading its own study is not "still finishing" to itself.
    return any(i["pid"] != os.getpid() and worker_alive(i) for i in _identities(path))


def _identity_line(pid: int) -> str:
    """A process as the pid files record it: host, pid and start time (a recycled pid is not
    taken for it)."""
    return f"{socket.gethostname()} {pid} {_proc_start_ticks(pid) or 0}"


def _identities(path: Path) -> list[dict[str, Any]]:
    """The processes a pid file records (:func:`_identity_line`), as :func:`worker_alive` reads
    them; none when there is no file."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append({"host": parts[0], "pid": int(parts[1]), "start": int(parts[2]) or None})
    return out


def _pids_file(study_name: str, *, create: bool = False) -> Path:
    return study_dir(study_name, create=create) / "workers.txt"


def _record_pids(study_name: str, pids: list[int]) -> None:
    lines = [_identity_line(pid) for pid in pids]
    with open(_pids_file(study_name, create=True), "a") as f:
        f.write("\n".join(lines) + "\n")


def live_workers(study_name: str) -> list[int]:
    """Pids of this study's worker processes still running on this host."""
    try:
        path = _pids_file(study_name)
    except ConfigError:  # a study from another tool, named in a way Knobs never names one
        return []
    return [i["pid"] for i in _identities(path) if worker_alive(i)]


def request_stop(study_name: str, storage: str | None = None, *, grace_s: float = 5.0) -> int:
    """Stop a search for real: flag it in the storage, then signal this host's workers.

    The flag stops workers anywhere at their next claim; SIGTERM interrupts the trial a local
    worker is in (it is failed as interrupted and retried on resume); SIGKILL follows after
    ``grace_s`` for a worker stuck in native code. Returns the number of workers signalled.
    """
    study = load_study(study_name, storage)
    STOP.set(study, time.time())
    pids = live_workers(study_name)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and live_workers(study_name):
        time.sleep(0.1)
    for pid in live_workers(study_name):
        _signal(pid, signal.SIGKILL)
    return len(pids)


#: Seconds past a run's deadline a worker may take to see its time-budget signal before it is
#: killed: the signal lands only when the trial returns to Python, and liblinear held one 7.6 s
#: past the deadline of a 20 s search (the command took 28.6 s).
OVERDUE_S = 1.0


def end_overdue(study: optuna.Study, study_name: str) -> int:
    """Kill this host's workers of a study still running past its run's deadline, and fail the
    trials they were in as cut by the time budget (retried if the search resumes, as a trial
    the signal stopped is). Returns the number of workers killed."""
    deadline = (CLOCK.get(study) or {}).get("deadline")
    if deadline is None or time.time() < float(deadline) + OVERDUE_S:
        return 0
    pids = live_workers(study_name)
    for pid in pids:
        _signal(pid, signal.SIGKILL)
    if not pids:
        return 0
    gone = time.monotonic() + 2.0
    while time.monotonic() < gone and any(p in live_workers(study_name) for p in pids):
        time.sleep(0.05)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if (WORKER.get(t) or {}).get("pid") in pids:
            # cut by time, as a trial the signal stopped is: not a failure in any count
            scores = [float(v) for _, v in sorted(t.intermediate_values.items())]
            started = t.datetime_start.timestamp() if t.datetime_start else time.time()
            PRUNED.set_on_trial_id(study._storage, t._trial_id,
                                   time_cut_record(scores, time.time() - started))  # fmt: skip
            _fail_interrupted(
                study._storage, t,
                "Stopped by the time budget in the middle of a fold (its worker was stuck in "
                "native code past the deadline); retried if the search resumes.",
            )  # fmt: skip
    return len(pids)


def _fail_interrupted(storage: Any, trial: FrozenTrial, reason: str) -> None:
    """Fail a RUNNING trial whose worker is gone as interrupted, with why: a trial cannot be
    told by its own worker then, so its state and attributes are set in the storage."""
    INTERRUPTED.set_on_trial_id(storage, trial._trial_id, True)
    FAIL_REASON.set_on_trial_id(storage, trial._trial_id, reason)
    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def reap(procs: Iterable[subprocess.Popen | Forked]) -> None:
    """Collect exited children so they do not linger as zombies."""
    for p in procs:
        p.poll()


def prepare_resume(study: optuna.Study) -> int:
    """Fail what a killed run left RUNNING and queue it again; clear a stop request."""
    with claim_lock(study.study_name):
        failed = sweep_interrupted(study)
    STOP.set(study, None)
    return failed
