"""The embedded storage under many processes, and after a writer dies mid-append."""

from __future__ import annotations

import multiprocessing as mp

import optuna
import pytest

from knobs.study import open_storage, storage_url
from knobs.study._storage import RepairingJournalFileBackend


def _optimize(path: str, name: str, n: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name=name, storage=open_storage(path))
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=n)


@pytest.mark.slow
def test_three_processes_share_one_journal_without_losing_a_trial(tmp_path):
    path = str(tmp_path / "s.journal")
    optuna.create_study(study_name="mp", storage=open_storage(path))
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_optimize, args=(path, "mp", 10)) for _ in range(3)]
    for p in procs:
        p.start()
    # A reader polls while the writers append, as the dashboard does.
    reader = optuna.load_study(study_name="mp", storage=open_storage(path))
    while any(p.is_alive() for p in procs):
        reader.get_trials(deepcopy=False)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    fresh = optuna.storages.JournalStorage(RepairingJournalFileBackend(path))
    trials = optuna.load_study(study_name="mp", storage=fresh).get_trials()
    assert len(trials) == 30
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({t.number for t in trials}) == 30


def test_a_torn_append_is_cut_and_the_log_stays_readable(tmp_path):
    path = tmp_path / "torn.journal"
    storage = optuna.storages.JournalStorage(RepairingJournalFileBackend(str(path)))
    study = optuna.create_study(study_name="t", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    # A writer killed halfway through a line: half a JSON record, no newline.
    with open(path, "ab") as f:
        f.write(b'{"op_code":5,"worker_id":"dead","trial_id":3,"sta')
    storage2 = optuna.storages.JournalStorage(RepairingJournalFileBackend(str(path)))
    study2 = optuna.load_study(study_name="t", storage=storage2)
    study2.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    storage3 = optuna.storages.JournalStorage(RepairingJournalFileBackend(str(path)))
    trials = optuna.load_study(study_name="t", storage=storage3).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 5
    assert path.read_bytes().endswith(b"\n")


def test_plain_optuna_backend_would_break_on_the_same_torn_write(tmp_path):
    """Guards the reason for RepairingJournalFileBackend: without the cut, the log is lost."""
    path = tmp_path / "plain.journal"
    backend = optuna.storages.journal.JournalFileBackend(str(path))
    study = optuna.create_study(study_name="t", storage=optuna.storages.JournalStorage(backend))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    with open(path, "ab") as f:
        f.write(b'{"op_code":5,"worker_id":"dead"')
    backend2 = optuna.storages.journal.JournalFileBackend(str(path))
    s2 = optuna.load_study(study_name="t", storage=optuna.storages.JournalStorage(backend2))
    with pytest.raises(Exception):  # noqa: B017 - whatever Optuna raises, the log is broken
        s2.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
        optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def test_default_storage_lives_under_knobs_home(knobs_home):
    assert storage_url(None) == str(knobs_home / "knobs.journal")


def test_unknown_url_scheme_is_a_config_error():
    from knobs.errors import ConfigError

    with pytest.raises(ConfigError, match="neither a journal file path"):
        open_storage("redis://localhost/0")


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x" * 121, "a..b"])
def test_study_names_that_are_not_safe_folder_names_are_refused(name):
    from knobs.errors import ConfigError
    from knobs.study import study_dir

    with pytest.raises(ConfigError, match="not allowed"):
        study_dir(name)


def test_a_signal_that_raises_never_leaves_the_journal_lock_taken(tmp_path) -> None:
    """Workers turn SIGALRM (time budget) and SIGTERM (stop) into exceptions inside a trial,
    which writes to the journal: raised while the lock is held, such an exception used to leak
    the lock and deadlock every worker (seen with two workers on a 40 s budget). The handler now
    waits for the lock's release. numpy is imported first: its thread pools are why blocking the
    signal in the main thread alone was not enough."""
    import fcntl
    import os
    import signal

    from knobs.study._storage import FlockLock, deferred_while_locked

    class Boom(Exception):
        pass

    def raise_boom(signum, frame):  # noqa: ANN001 - a signal handler
        raise Boom()

    def free() -> bool:
        fd = os.open(str(tmp_path / "j.flock"), os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True
        except BlockingIOError:
            return False
        finally:
            os.close(fd)

    previous = signal.signal(signal.SIGALRM, deferred_while_locked(raise_boom))
    try:
        lock = FlockLock(str(tmp_path / "j"))
        lock.acquire()
        os.kill(os.getpid(), signal.SIGALRM)  # arrives while the lock is held: deferred
        assert not free()
        with pytest.raises(Boom):
            lock.release()  # delivered once the lock is released
        assert free()
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_the_studies_list_counts_trials_as_the_live_view_does(knobs_home) -> None:
    """A finished study read "13 trials done" on the live view and "15 trials" in the Studies
    list: the list also counted a queued start that never ran and a trial a stop interrupted."""
    import knobs
    from knobs.study.keys import INTERRUPTED
    from tests.conftest import make_table

    config = knobs.SearchConfig(target="label", models=("logistic",), n_trials=10, cv=2)
    search = knobs.Search.create(make_table("binary", n=120), config)
    assert any(t.state.name == "WAITING" for t in search.trials())  # its queued defaults
    study = search.study
    for _ in range(2):
        study.add_trial(optuna.trial.create_trial(value=0.8, params={}, distributions={}))
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.FAIL, params={}, distributions={},
        user_attrs=INTERRUPTED.attr(True),
    ))  # fmt: skip
    (row,) = [r for r in knobs.studies() if r["study"] == search.name]
    assert row["n_trials"] == search.status().done == 2
