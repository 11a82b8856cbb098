"""Where studies live: an embedded journal file under ``KNOBS_HOME`` by default, any Optuna URL else.

Why a journal file and not SQLite: several worker processes append trials while the dashboard
reads, and SQLite's single-writer lock has crashed exactly that setup (Optuna's FAQ advises
against it). Optuna's ``JournalFileBackend`` appends one JSON line per operation under a file
lock, which many processes on one host can share.

One weakness remains in it: a writer killed in the middle of an append leaves a line without its
newline, and the next append glues onto it, which makes the whole log unreadable. We close that
hole: before each append, under the same lock, a torn tail is cut back to the last full line (it
was never acknowledged to anyone, since its writer died before the append returned).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import BaseJournalFileLock, get_lock_file

from knobs.errors import ConfigError

JOURNAL_NAME = "knobs.journal"


def knobs_home() -> Path:
    """The folder that holds studies, their data splits and worker logs (``$KNOBS_HOME``)."""
    home = Path(os.environ.get("KNOBS_HOME") or "~/.knobs").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def default_storage_url() -> str:
    return str(knobs_home() / JOURNAL_NAME)


_STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,119}")


def check_study_name(study_name: str) -> str:
    """Study names become folder names: letters, digits, ``.``, ``_`` and ``-`` only."""
    if not _STUDY_NAME.fullmatch(study_name) or ".." in study_name:
        raise ConfigError(
            f"Study name {study_name!r} is not allowed: use 1-120 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit (for example `churn-tpe-1`)."
        )
    return study_name


def study_dir(study_name: str, *, create: bool = True) -> Path:
    """A study's own folder: its data split, worker logs and claim lock."""
    path = knobs_home() / "studies" / check_study_name(study_name)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


class _LockDepth(threading.local):
    """How deep this thread is in the journal lock, and the signal handlers held back meanwhile."""

    depth = 0
    held_back: list[Callable[[], None]]

    def __init__(self) -> None:
        self.held_back = []


_LOCK = _LockDepth()


def deferred_while_locked(handler: Callable[[int, Any], None]) -> Callable[[int, Any], None]:
    """Wrap a signal handler that may raise so that it waits for the journal lock's release.

    Workers turn SIGTERM and the time budget's SIGALRM into exceptions inside a trial, and a
    trial writes to the journal (fold reports, attributes). An exception raised while the lock is
    held (even between taking it and recording it) would leak the lock and deadlock every
    writer, this process included. Python runs signal handlers in the main thread, which is the
    one that takes the lock, so the handler is simply postponed to the release.
    """

    def wrapped(signum: int, frame: Any) -> None:
        if _LOCK.depth:
            _LOCK.held_back.append(lambda: handler(signum, None))
            return
        handler(signum, frame)

    return wrapped


class FlockLock(BaseJournalFileLock):
    """A kernel file lock: released by the OS when its holder dies, so a killed worker never
    leaves the others waiting out Optuna's 30 s stale-lock grace period. Local disks only (as is
    the default storage); shared file systems across hosts should use a database URL instead.
    Signal handlers wrapped by :func:`deferred_while_locked` run after ``release``."""

    def __init__(self, path: str) -> None:
        self._path = path + ".flock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        _LOCK.depth += 1
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            self._leave()
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        finally:
            self._leave()

    @staticmethod
    def _leave() -> None:
        _LOCK.depth -= 1
        if _LOCK.depth == 0 and _LOCK.held_back:
            pending, _LOCK.held_back = _LOCK.held_back, []
            for handler in pending:
                handler()  # may raise: now the lock is free


class RepairingJournalFileBackend(JournalFileBackend):
    """``JournalFileBackend`` that survives a writer killed mid-append (see the module doc)."""

    def __init__(self, file_path: str) -> None:
        super().__init__(file_path, lock_obj=FlockLock(file_path))

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        payload = (
            "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        ).encode()
        with get_lock_file(self._lock):
            with open(self._file_path, "r+b") as f:
                _cut_torn_tail(f)
                f.seek(0, os.SEEK_END)
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())


def _cut_torn_tail(f: Any) -> None:
    """Truncate an unterminated last line, left by a writer that died mid-append."""
    size = f.seek(0, os.SEEK_END)
    if size == 0:
        return
    f.seek(size - 1)
    if f.read(1) == b"\n":
        return
    # Walk back to the previous newline, a block at a time.
    pos = size
    while pos > 0:
        step = min(65536, pos)
        f.seek(pos - step)
        block = f.read(step)
        idx = block.rfind(b"\n")
        if idx >= 0:
            f.truncate(pos - step + idx + 1)
            return
        pos -= step
    f.truncate(0)


def is_journal_path(url: str) -> bool:
    return "://" not in url


@lru_cache(maxsize=16)
def _open(url: str) -> BaseStorage:
    if url.startswith("dask://"):
        from knobs.study._dask import open_dask_storage

        return open_dask_storage(url)
    if is_journal_path(url):
        path = Path(url).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(RepairingJournalFileBackend(str(path)))
    if url.startswith(("postgresql", "mysql")):
        return RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    if url.startswith("sqlite"):
        return RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
    raise ConfigError(
        f"Storage `{url}` is neither a journal file path nor an Optuna database URL "
        "(sqlite:///file.db, postgresql://user@host/db, mysql://...)."
    )


def forget_open_storages() -> None:
    """Drop this process's open storages (a forked worker opens its own)."""
    _open.cache_clear()


def open_storage(url: str | None = None) -> BaseStorage:
    """The storage at ``url`` (default: the journal under ``KNOBS_HOME``), one object per process.

    Reusing one object matters for journals: each object replays the log once, then reads only
    what was appended since.
    """
    resolved = storage_url(url)
    try:
        return _open(resolved)
    except ConfigError:
        raise
    except Exception as exc:  # sqlalchemy/driver errors: say which storage, keep the cause
        raise ConfigError(f"Cannot open storage `{resolved}`: {exc}") from exc


def storage_url(url: str | None) -> str:
    if url is None or not str(url).strip():
        return default_storage_url()
    url = str(url)
    return str(Path(url).expanduser().resolve()) if is_journal_path(url) else url


@contextlib.contextmanager
def claim_lock(study_name: str) -> Iterator[None]:
    """An exclusive lock that workers on this host hold while they count and claim a trial.

    Counting the budget and creating the next trial must be one atomic step, or two workers seeing
    "29 of 30 done" both start a 30th. The journal's own lock only covers single appends.
    """
    path = study_dir(study_name) / "claim.lock"
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def load_study(study_name: str, url: str | None = None, sampler: Any = None) -> optuna.Study:
    from knobs.errors import StudyError

    storage = open_storage(url)
    try:
        return optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
    except KeyError as exc:
        names = [s.study_name for s in storage.get_all_studies()]
        hint = f" Studies there: {', '.join(names[-10:])}." if names else " It holds no study yet."
        raise StudyError(f"No study named `{study_name}` in `{storage_url(url)}`.{hint}") from exc
