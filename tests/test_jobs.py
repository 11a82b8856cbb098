"""Searches in real worker processes: exact budgets, crashes, stops and resumes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

import knobs
from knobs.api import Search
from knobs.config import SearchConfig
from knobs.models import Param
from knobs.study.keys import INTERRUPTED, RETRY_OF, WORKER
from tests.conftest import make_table

pytestmark = pytest.mark.slow

# Forests with many trees make trials slow enough (~0.5 s) to be killed mid-flight.
SLOW_FOREST = {
    "random_forest": (
        Param("n_estimators", "int", 150, 200),
        Param("max_depth", "int", 4, 8),
    )
}


#: Trials that ran and ended: the budget counts both (a pruner may stop some after a fold).
ENDED = (TrialState.COMPLETE, TrialState.PRUNED)


def _wait_for(predicate, timeout=60.0, poll=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(poll)
    raise AssertionError("condition not met in time")


def test_tune_returns_best_baseline_test_score_and_a_fitted_pipeline(binary_table):
    result = knobs.tune(
        binary_table, target="label", models="logistic", strategy="random",
        n_trials=6, cv=3, workers=2, seed=3,
    )  # fmt: skip
    assert result.n_trials == 6
    # A pruned trial counts toward the budget too: every trial of the budget ran and ended.
    assert result.trials.state.isin(["COMPLETE", "PRUNED"]).sum() == 6
    first = result.trials.sort_values("number").iloc[0]
    assert first.baseline and first.params == {}
    assert result.baseline_score == pytest.approx(first.value)
    assert result.best_score >= result.baseline_score
    assert 0.5 < result.test_score <= 1.0
    pred = result.best_pipeline.predict(result.plan.load_split("test")[0])
    assert set(pred) <= {0, 1}
    report = result.to_dict()
    for key in (
        "study", "strategy", "models", "task", "metric", "direction", "best_score",
        "best_params", "best_model", "baseline_score", "test_score", "n_trials", "wall_s", "trials",
    ):  # fmt: skip
        assert key in report
    assert set(report["trials"][0]) >= {"number", "state", "value", "params", "model", "duration_s"}


@pytest.mark.parametrize(
    ("strategy", "sampler"), [("grid", "tpe"), ("random", "tpe"), ("bayes", "tpe"), ("bayes", "gp")]
)
def test_every_strategy_runs_to_its_budget(strategy, sampler, regression_table):
    result = knobs.tune(
        regression_table, target="label", models="linear", strategy=strategy, sampler=sampler,
        n_trials=7, cv=3, workers=1,
    )  # fmt: skip
    assert result.plan.task == "regression"
    # Ridge's grid has 5 points; with its defaults trial a grid search is capped at 6.
    assert result.n_trials == (6 if strategy == "grid" else 7)
    assert result.best_score > 0.5


def test_grid_over_two_models_visits_every_point_once(multiclass_table):
    space = {
        "knn": (Param("n_neighbors", "int", 1, 30, grid=(3, 9)),
                Param("weights", "categorical", choices=("uniform", "distance"), grid=("uniform",)),
                Param("p", "categorical", choices=(1, 2), grid=(2,))),
        "logistic": (Param("C", "float", 0.01, 10, log=True, grid=(0.1, 1.0, 5.0)),
                     Param("class_weight", "categorical", choices=(None, "balanced"), grid=(None,))),
    }  # fmt: skip
    result = knobs.tune(
        multiclass_table, target="label", models="knn,logistic", strategy="grid",
        n_trials=100, cv=3, workers=2, space=space,
    )  # fmt: skip
    # 2 baselines + 2 knn points + 3 logistic points: the grid caps the budget.
    assert result.n_trials == 7
    tuned = result.trials[~result.trials.baseline]
    points = {(r.model, tuple(sorted(r.params.items()))) for r in tuned.itertuples()}
    assert len(points) == 5


def test_three_workers_times_ten_trials_is_exactly_thirty(binary_table):
    cfg = SearchConfig(target="label", models=("logistic",), strategy="random", n_trials=30, cv=2)
    search = Search.create(binary_table, cfg)
    search.start(workers=3)
    search.wait()
    trials = search.trials()
    assert sum(t.state in ENDED for t in trials) == 30
    assert len(trials) == 30
    pids = {WORKER.get(t)["pid"] for t in trials}
    assert len(pids) == 3, "all three workers took trials"


def test_a_failing_trial_fails_alone_with_its_reason(binary_table):
    # More neighbours than rows in a fold: scikit-learn raises in every tuned trial.
    space = {"knn": (Param("n_neighbors", "int", 400, 500),
                     Param("weights", "categorical", choices=("distance",)))}  # fmt: skip
    result = knobs.tune(
        binary_table, target="label", models="knn", strategy="random", n_trials=4, cv=2,
        workers=1, space=space,
    )  # fmt: skip
    assert result.n_trials == 4
    failed = result.trials[result.trials.state == "FAIL"]
    assert len(failed) == 3
    assert all("n_neighbors" in r for r in failed.fail_reason)
    assert result.trials.iloc[0].state == "COMPLETE"  # the defaults baseline still scored


def test_sigkill_a_worker_then_resume_loses_nothing_and_meets_the_budget_exactly():
    table = make_table("binary", n=600)
    cfg = SearchConfig(target="label", models=("random_forest",), strategy="random",
                       n_trials=14, cv=3, space=SLOW_FOREST)  # fmt: skip
    search = Search.create(table, cfg)
    search.start(workers=2)

    # Kill one worker in the middle of a trial: the other reaps its trial and goes on.
    def running():
        return [t for t in search.trials()
                if t.state == TrialState.RUNNING and WORKER.has(t)]  # fmt: skip

    _wait_for(lambda: running())
    os.kill(WORKER.get(running()[0])["pid"], signal.SIGKILL)
    _wait_for(lambda: sum(t.state == TrialState.COMPLETE for t in search.trials()) >= 3)
    # Then kill the whole run in the middle of a trial.
    from knobs.study import live_workers

    _wait_for(lambda: running())
    for pid in live_workers(search.name):
        os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: not search.is_running())
    before = {t.number: t.value for t in search.trials() if t.state == TrialState.COMPLETE}

    resumed = knobs.tune(study=search.name, resume=True, workers=2)
    after = {t.number: t for t in search.trials()}
    for number, value in before.items():  # no completed trial lost or changed
        assert after[number].state == TrialState.COMPLETE and after[number].value == value
    ended = [t for t in after.values() if t.state in ENDED]
    assert len(ended) == 14 == resumed.n_trials
    orphans = [t for t in after.values() if INTERRUPTED.get(t)]
    assert len(orphans) >= 2
    assert all(t.state == TrialState.FAIL for t in orphans)
    retried = {RETRY_OF.get(t) for t in after.values()}
    assert {t.number for t in orphans} <= retried, "every orphaned trial was retried"
    assert not any(t.state == TrialState.RUNNING for t in after.values())


def test_stop_ends_the_workers_and_resume_finishes_the_budget():
    table = make_table("binary", n=600)
    cfg = SearchConfig(target="label", models=("random_forest",), strategy="random",
                       n_trials=40, cv=3, space=SLOW_FOREST)  # fmt: skip
    search = Search.create(table, cfg)
    search.start(workers=2)
    _wait_for(lambda: sum(t.state == TrialState.COMPLETE for t in search.trials()) >= 2)
    t0 = time.monotonic()
    search.stop()
    assert not search.is_running()
    assert time.monotonic() - t0 < 6
    status = search.status()
    assert status.state == "stopped"
    assert status.done < 40
    assert not any(t.state == TrialState.RUNNING for t in search.trials())
    search.start(workers=2, n_trials=12)
    search.wait()
    assert search.status().state == "finished"
    assert search.status().done == 12


def test_a_resumed_time_budget_gets_what_its_earlier_run_left():
    """A 30 s search stopped at 14 s and resumed ran 25 s more (the whole budget again), and the
    live view counted the wait between the two runs as search time."""
    table = make_table("binary", n=600)
    cfg = SearchConfig(target="label", models=("random_forest",), strategy="random",
                       timeout=8.0, cv=3, space=SLOW_FOREST)  # fmt: skip
    search = Search.create(table, cfg)
    search.start(workers=2)
    assert search.deadline is not None and search.deadline - time.time() <= 8.0
    _wait_for(lambda: sum(t.state == TrialState.COMPLETE for t in search.trials()) >= 2)
    search.stop()
    used = search.status().elapsed_s
    assert 0.5 < used < 8.0
    time.sleep(1.5)  # the wait before a resume is not search time
    assert search.status().elapsed_s == pytest.approx(used, abs=0.3)

    resumed = Search.open(search.name)
    before = time.time()
    resumed.start(workers=2)
    assert resumed.deadline == pytest.approx(before + 8.0 - used, abs=0.5)
    status = resumed.status()
    assert status.eta_s is not None and status.eta_s <= 8.0 - used + 0.5
    resumed.wait()
    assert used < resumed.status().elapsed_s <= 8.0 + 0.5  # the two runs within the budget
    time.sleep(max(0.0, resumed.deadline - time.time()) + 0.1)
    assert resumed.status().state == "finished"  # by its time, with trials of its 50 left
    with pytest.raises(knobs.StudyError, match=r"has used its time budget .* --timeout S.*--trials"):
        resumed.start(workers=2)
    resumed.start(workers=1, timeout=3.0)  # a new time budget counts from now
    assert resumed.deadline == pytest.approx(time.time() + 3.0, abs=0.5)
    resumed.wait()
    more = resumed.status().done + 2  # a larger trial budget is a new budget: the time too
    resumed.start(workers=1, n_trials=more)
    assert resumed.deadline == pytest.approx(time.time() + 8.0, abs=0.5)
    resumed.stop()


def test_resume_refuses_a_different_table(binary_table, regression_table):
    result = knobs.tune(
        binary_table, target="label", models="logistic", n_trials=2, cv=2, workers=1
    )
    other = make_table("binary", n=200, seed=9)
    with pytest.raises(knobs.StudyError, match="fingerprint"):
        knobs.tune(other, target="label", study=result.study, resume=True)


def test_studies_lists_what_was_run(binary_table):
    result = knobs.tune(
        binary_table, target="label", models="logistic", n_trials=2, cv=2, workers=1
    )
    rows = knobs.studies()
    assert [r["study"] for r in rows] == [result.study]
    assert rows[0]["strategy"] == "bayes" and rows[0]["best_value"] == pytest.approx(
        result.best_score
    )


@pytest.mark.parametrize("model", sorted(knobs.REGISTRY))
def test_grid_search_runs_for_every_model(model, binary_table, regression_table):
    """Parameters without grid values keep their defaults under grid search (they used to fail
    every trial: GridSampler refuses a parameter outside its grid)."""
    spec = knobs.REGISTRY[model]
    table = binary_table if "binary" in spec.tasks else regression_table
    result = knobs.tune(
        table, target="label", models=model, strategy="grid", n_trials=3, cv=2, workers=1
    )
    assert (result.trials.state == "COMPLETE").sum() == 3, result.trials.fail_reason.tolist()
    tuned = result.trials[~result.trials.baseline].iloc[0]
    assert set(tuned.params) == {p.name for p in spec.params if p.grid}


def test_workers_are_forks_of_a_one_thread_process_and_new_interpreters_otherwise(
    tmp_path, monkeypatch
) -> None:
    """A fork starts its first trial with pandas, scikit-learn and Optuna already loaded (a new
    interpreter spent 2 s importing them: the first trial began 3.9 s into a 14 s budget). A
    process running other threads (the Streamlit server, a notebook kernel), a database storage
    or ``KNOBS_SPAWN_WORKERS`` gets new interpreters, as before."""
    import subprocess
    import sys
    import threading

    from knobs.study._runner import forks_workers

    journal = str(tmp_path / "k.journal")
    one_thread = subprocess.run(
        [sys.executable, "-c", "from knobs.study._runner import forks_workers as f; "
         f"print(f({journal!r}), f('postgresql://u@h/db'))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert one_thread.stdout.split() == ["True", "False"]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert not forks_workers(journal)
    finally:
        stop.set()
        other.join()
    monkeypatch.setenv("KNOBS_SPAWN_WORKERS", "1")
    assert not forks_workers(journal)


_TWO_SEARCHES = """
import json, sys
import knobs
from tests.conftest import make_table

make_table("binary").to_csv(sys.argv[1], index=False)
from knobs.study._runner import forks_workers
ways = []
for i in range(2):
    ways.append(forks_workers(sys.argv[2]))
    knobs.tune(sys.argv[1], "label", models="hist_gb", n_trials=2, cv=2,
               workers=1, study=f"twice-{i}", ensemble=False)
print(json.dumps(ways))
"""


def test_a_script_that_tunes_twice_does_not_hang_in_its_second_search(tmp_path) -> None:
    """The first search's refit ran OpenMP in the script's own process; the second search
    forked its worker past OpenMP's thread team, and the worker's first fit waited on that
    team's lock forever (a script tuning two tables in a loop hung, as did the suite's export
    test after the export journey). A process with native threads started since Knobs loaded
    now starts new interpreters."""
    import json
    import subprocess
    import sys

    env = dict(os.environ, KNOBS_HOME=str(tmp_path))
    env.pop("KNOBS_SPAWN_WORKERS", None)
    out = subprocess.run(
        [sys.executable, "-c", _TWO_SEARCHES, str(tmp_path / "t.csv"), str(tmp_path / "j.log")],
        capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1],
        timeout=150,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, False]


#: Run in a fresh interpreter (one thread, as the CLI): the suite's own process may run threads
#: other tests left (a Dask client's), and then rightly spawns.
_ONE_SEARCH = """
import io, json, os, sys
from knobs.api import Search
from knobs.config import SearchConfig
from knobs.study import live_workers, study_dir
from knobs.study._runner import Forked
from knobs.study.keys import WORKER
from tests.conftest import make_table

cfg = SearchConfig(target="label", models=("logistic",), strategy="random", n_trials=6, cv=3)
search = Search.create(make_table("binary"), cfg)
real_stderr, sys.stderr = sys.stderr, io.StringIO()  # not file 2, as pytest's capture makes it
search.start(workers=2)
sys.stderr = real_stderr
forked = [isinstance(p, Forked) for p in search._procs]
search.wait()
zombies = 0
for p in search._procs:
    try:
        os.waitpid(p.pid, os.WNOHANG)
        zombies += 1
    except ChildProcessError:  # already collected
        pass
logs = sorted(study_dir(search.name).glob("worker-1-*.log"))
print(json.dumps({
    "forked": forked, "done": search.status().done,
    "trial_pids": sorted({WORKER.get(t)["pid"] for t in search.trials()}),
    "proc_pids": sorted(p.pid for p in search._procs), "me": os.getpid(),
    "codes": [p.poll() for p in search._procs], "live": live_workers(search.name),
    "zombies": zombies, "logs": ["evaluated" in log.read_text() for log in logs],
}))
"""


@pytest.mark.parametrize("spawned", [False, True])
def test_forked_and_spawned_workers_run_the_same_search_and_leave_no_process(
    spawned: bool, tmp_path
) -> None:
    """Both ways of starting workers meet the budget exactly, log to the study's worker logs
    (a forked worker once wrote to its parent's captured stderr instead), record themselves
    on their trials and are collected when they end (no zombie)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, KNOBS_HOME=str(tmp_path))
    env.pop("KNOBS_SPAWN_WORKERS", None)
    if spawned:
        env["KNOBS_SPAWN_WORKERS"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", _ONE_SEARCH], capture_output=True, text=True, env=env,
        cwd=Path(__file__).resolve().parents[1], timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["forked"] == [not spawned] * 2
    assert got["done"] == 6
    # Every trial ran in one of the workers (one may take all six before the other starts).
    assert set(got["trial_pids"]) <= set(got["proc_pids"]) and got["me"] not in got["proc_pids"]
    assert got["codes"] == [0, 0] and got["live"] == [] and got["zombies"] == 0
    assert got["logs"] == [True, True]


def test_a_spawned_process_is_collected_when_it_exits_while_its_handle_is_kept(tmp_path):
    """The dashboard keeps its searches' handles in the session: every finished worker stayed a
    zombie until that session's live view polled it again (six after half an hour of use)."""
    from knobs.study._runner import spawn

    proc = spawn("json.tool", ["--help"], tmp_path / "child.log")  # exits at once
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{proc.pid}").exists():
        time.sleep(0.05)
    assert not Path(f"/proc/{proc.pid}").exists(), "the exited child is left as a zombie"
    assert proc.returncode == 0  # the handle still reads its exit


def test_a_search_started_to_be_finished_chooses_and_scores_its_final_model_by_itself():
    """A search started from the dashboard never chose its final model nor scored the test
    split: only `knobs tune` and the API did that, after waiting for their workers, and the live
    view ended on "Finished" with no final model and no test score. `finish=True` starts a
    process that does it once the workers are gone; a stopped search is not finished."""
    from knobs.study import _runner as runner
    from knobs.study.keys import FINAL, TEST_SCORE

    table = make_table("binary", n=300)
    cfg = SearchConfig(target="label", models=("logistic", "random_forest"), n_trials=6, cv=3)
    search = Search.create(table, cfg)
    search.start(workers=2, finish=True)
    states = set()

    def ended() -> bool:
        states.add(search.status().state)
        return not search.is_running() and not runner.finishing(search.name)

    _wait_for(ended, timeout=120)
    assert search.status().state == "finished"
    assert "finishing" in states or TEST_SCORE.get(search.study)  # it may end between looks
    final, test = FINAL.get(search.study), TEST_SCORE.get(search.study)
    assert final["kind"] in ("single", "ensemble") and final["why"]
    assert 0.0 <= test["value"] <= 1.0
    assert test["fit"] is None  # the dashboard keeps no model: Export fits what it exports

    stopped = Search.create(table, SearchConfig(target="label", models=("random_forest",),
                                                strategy="random", n_trials=40, cv=3,
                                                space=SLOW_FOREST))  # fmt: skip
    stopped.start(workers=2, finish=True)
    _wait_for(lambda: sum(t.state == TrialState.COMPLETE for t in stopped.trials()) >= 1)
    stopped.stop()
    _wait_for(lambda: not runner.finishing(stopped.name), timeout=30)
    assert TEST_SCORE.get(stopped.study) is None and FINAL.get(stopped.study) is None


def test_a_search_that_met_its_trial_budget_early_reads_the_time_it_took():
    """A 30-trial search done in 20 s of its 30 s read "Elapsed 00:20" as it ended and "Elapsed
    00:30" when reopened later: a run that ended on its own counted to its deadline, whatever
    ended it."""
    table = make_table("binary", n=200)
    cfg = SearchConfig(target="label", models=("logistic",), strategy="random", n_trials=3,
                       timeout=30.0, cv=2)  # fmt: skip
    search = Search.create(table, cfg)
    search.start(workers=1)
    search.wait(poll_s=0.1)
    took = search.status().elapsed_s
    assert took < 15
    time.sleep(1.0)
    assert Search.open(search.name).status().elapsed_s == pytest.approx(took, abs=0.5)
