"""A search on a real Dask cluster (loopback): a scheduler and two workers started here, each in a
folder of its own with another ``KNOBS_HOME``, so they can use nothing of the launcher's but the
scheduler. Exact budget on both workers, a worker SIGKILLed mid-trial, stop, PostgreSQL, and the
live view following it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from optuna.trial import TrialState

import knobs
from knobs.study import load_study
from knobs.study.keys import DASK, INTERRUPTED, RETRY_OF, WORKER
from tests.conftest import make_table

pytestmark = pytest.mark.slow
REPO = str(Path(__file__).resolve().parents[1])
ENDED = (TrialState.COMPLETE, TrialState.PRUNED)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], folder: Path) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, KNOBS_HOME=str(folder / "home"), PYTHONPATH=REPO)
    return subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]],
        cwd=folder, env=env, stdout=open(folder / "log", "ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


class Cluster:
    """A scheduler and workers on loopback; workers can be killed and added."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        port = self.address.rsplit(":", 1)[1]
        self.scheduler = _start(
            ["scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], root / "sched"
        )
        self.workers: dict[str, subprocess.Popen] = {}

    def add_worker(self, name: str) -> str:
        address = f"tcp://127.0.0.1:{_free_port()}"
        port = address.rsplit(":", 1)[1]
        self.workers[address] = _start(
            ["worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
             "--worker-port", port, "--local-directory", str(self.root / name / "scratch")],
            self.root / name,
        )  # fmt: skip
        return address

    def wait_for(self, n: int, timeout: float = 90.0) -> None:
        from knobs.study._dask import client_for, cluster_threads

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if len(cluster_threads(client_for(self.address))) >= n:
                    return
            except Exception:  # noqa: BLE001 - the scheduler is still starting
                client_for.cache_clear()
            time.sleep(0.5)
        raise TimeoutError(f"{n} Dask workers did not come up; see {self.root}/*/log")

    def stop(self) -> None:
        for p in [*self.workers.values(), self.scheduler]:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in [*self.workers.values(), self.scheduler]:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    found = Cluster(tmp_path_factory.mktemp("dask"))
    try:  # stopped whatever happens, so no scheduler or worker outlives the tests
        found.add_worker("w1")
        found.add_worker("w2")
        found.wait_for(2)
        yield found
    finally:
        from knobs.study._dask import client_for

        client_for.cache_clear()
        found.stop()


def _ran_on(trials) -> set[str]:
    return {(WORKER.get(t) or {}).get("dask") for t in trials if t.state in ENDED}


def test_a_dask_search_meets_its_budget_on_both_workers(cluster, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path / "launcher"))
    result = knobs.tune(
        make_table("binary", n=200), "label", models="logistic", strategy="random",
        n_trials=20, cv=3, dask=cluster.address, ensemble=False,
    )  # fmt: skip
    trials = load_study(result.study).trials
    assert sum(t.state in ENDED for t in trials) == 20
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert _ran_on(trials) == set(cluster.workers)  # both workers ran trials
    report = result.to_dict()
    assert {t["worker"] for t in report["trials"]} == set(cluster.workers)
    assert report["dask"]["address"] == cluster.address
    assert report["dask"]["address"] == cluster.address
    info = DASK.get(load_study(result.study))
    assert set(info["workers"]) == set(cluster.workers)
    assert set(info["workers"].values()) == {1}  # each task had its worker's one thread


def test_a_killed_worker_loses_no_trial_and_its_trial_is_retried(
    cluster, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path / "launcher"))
    spare = cluster.add_worker("w3")
    cluster.wait_for(3)
    search = knobs.Search.create(
        make_table("binary", n=1500),
        knobs.SearchConfig(target="label", models=("random_forest",), strategy="random",
                           n_trials=12, cv=3, ensemble=False, pruner="none"),
    )  # fmt: skip
    search.start(dask=cluster.address)
    victim = None
    deadline = time.monotonic() + 180
    while victim is None and time.monotonic() < deadline:
        for t in search.trials():
            where = (WORKER.get(t) or {}).get("dask")
            if t.state == TrialState.RUNNING and where == spare:
                victim = where
        time.sleep(0.1)
    assert victim, "no trial ran on the spare worker"
    cluster.workers[victim].send_signal(signal.SIGKILL)
    search.wait(poll_s=0.5)
    trials = load_study(search.name).trials
    assert sum(t.state in ENDED for t in trials) == 12  # the budget, exactly
    lost = [t for t in trials if INTERRUPTED.get(t)]
    assert lost and all(t.state == TrialState.FAIL for t in lost)
    retried = {RETRY_OF.get(t) for t in trials if t.state in ENDED}
    assert {t.number for t in lost} <= retried


def _worker_processes(study: str) -> list[int]:
    """This machine's trial loops started by Dask tasks for ``study`` (their command lines)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"knobs.study.worker" in argv and b"--dask" in argv and study.encode() in argv:
            found.append(int(proc.name))
    return found


def test_stop_cancels_the_tasks(cluster, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path / "launcher"))
    search = knobs.Search.create(
        make_table("binary", n=1500),
        knobs.SearchConfig(target="label", models=("random_forest",), strategy="random",
                           n_trials=200, cv=3, ensemble=False, pruner="none"),
    )  # fmt: skip
    search.start(dask=cluster.address)
    assert search.is_running()  # the scheduler knows the tasks as soon as start returns
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and search.status().done < 2:
        time.sleep(0.2)
    search.stop()
    assert not search.is_running()
    assert not _worker_processes(search.name)  # stop waited for them, not just for the scheduler
    done = search.status().done
    time.sleep(3)
    assert search.status().done == done < 200  # nothing runs on after the stop
    assert not [t for t in search.trials() if t.state == TrialState.RUNNING]


@pytest.mark.skipif(not os.environ.get("KNOBS_TEST_POSTGRES"), reason="KNOBS_TEST_POSTGRES not set")
def test_a_dask_search_over_postgres(cluster, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KNOBS_HOME", str(tmp_path / "launcher"))
    url = os.environ["KNOBS_TEST_POSTGRES"]
    result = knobs.tune(
        make_table("binary", n=200), "label", models="logistic", strategy="random",
        n_trials=8, cv=3, dask=cluster.address, storage=url, ensemble=False,
        study=f"dask-pg-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    trials = load_study(result.study, url).trials
    assert sum(t.state in ENDED for t in trials) == 8
    assert DASK.get(load_study(result.study, url))["storage"] == url  # no journal relay


def test_the_live_view_follows_a_dask_search(cluster, tmp_path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("KNOBS_HOME", str(tmp_path / "launcher"))
    search = knobs.Search.create(
        make_table("binary", n=200),
        knobs.SearchConfig(target="label", models=("logistic",), strategy="random",
                           n_trials=10, cv=3, ensemble=False),
    )  # fmt: skip
    search.start(dask=cluster.address)
    at = AppTest.from_file(str(Path(REPO) / "app.py"), default_timeout=60)
    at.query_params["study"] = search.name
    at.run()
    at.switch_page("app_pages/live.py").run()
    seen_running = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception
        status = search.status()
        seen_running |= status.state == "running"
        if status.state == "finished":
            break
        time.sleep(0.5)
    at.run()
    assert not at.exception
    assert seen_running
    assert at.get("progress")[0].proto.text == "Finished: 10 of 10 trials done"
