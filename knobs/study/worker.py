"""The worker process: claim a trial, score it, tell the storage; repeat until the budget is met.

Run as ``python -m knobs.study.worker --study NAME --storage URL --index I --run R``
(``knobs.study.launch`` does it). A trial that raises, returns NaN or runs out of memory fails alone with its reason; the
worker goes on. SIGTERM interrupts the trial in progress (recorded as interrupted, retried on
resume) and ends the worker.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import socket
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from knobs.devices import resolve_device
from knobs.pruners import build_pruner
from knobs.strategies import make_sampler
from knobs.study._budget import never_ran, spent, study_budget, time_cut_record
from knobs.study._families import next_family, quick_family
from knobs.study._objective import TrialFailed, evaluate
from knobs.study._pipeline import Problem
from knobs.study._plan import StudyPlan, read_plan
from knobs.study._reader import perfect_trial
from knobs.study._runner import sweep_interrupted, worker_identity
from knobs.study._storage import claim_lock, deferred_while_locked, load_study
from knobs.study._timing import (
    CHOOSE_S,
    choose_seconds,
    ensemble_fits,
    expected_trial_s,
    final_refits,
    pace_trials,
    refit_reserve,
)
from knobs.study.keys import (
    CLOCK,
    EARLY_CHOICE,
    FAIL_REASON,
    INTERRUPTED,
    PRIOR,
    PRUNED,
    STOP,
    WORKER,
)

log = logging.getLogger("knobs.study.worker")


class Interrupted(BaseException):
    """Raised inside a trial by SIGTERM. A BaseException, so models' ``except Exception`` blocks
    cannot swallow it."""


class OutOfTime(Interrupted):
    """Raised inside a trial when the time budget's cut arrives in the middle of a fold."""


class _Signals:
    """Turns SIGTERM into ``Interrupted`` only while a trial computes; elsewhere (storage writes)
    it just sets a flag, so an append to the journal is never cut in half by us."""

    def __init__(self) -> None:
        self.stop = False
        self.in_trial = False

    def install(self) -> None:
        # Held back while this process holds the journal lock (see deferred_while_locked).
        signal.signal(signal.SIGTERM, deferred_while_locked(self._handle))
        signal.signal(signal.SIGINT, deferred_while_locked(self._handle))
        signal.signal(signal.SIGALRM, deferred_while_locked(self._out_of_time))

    def _handle(self, signum: int, frame: Any) -> None:
        self.stop = True
        if self.in_trial:
            self.in_trial = False
            raise Interrupted()

    def _out_of_time(self, signum: int, frame: Any) -> None:
        self.stop = True
        if self.in_trial:
            self.in_trial = False
            raise OutOfTime()

    @staticmethod
    def alarm_at(when: float | None) -> None:
        """Deliver SIGALRM at time ``when`` (None: never)."""
        delay = 0.0 if when is None else max(0.01, when - time.time())
        signal.setitimer(signal.ITIMER_REAL, delay)


class GridPicker:
    """Grid search over several models: one GridSampler per model, walked one model at a time.

    Optuna's GridSampler tags each trial with its search space, so per-model grids can share one
    study without seeing each other's points as visited.
    """

    def __init__(self, plan: StudyPlan, seed: int) -> None:
        self.samplers = [
            (plan.grid_size_for(spec), make_sampler("grid", grid=plan.grid_for(spec), seed=seed))
            for spec in plan.specs().values()
        ]

    def next_sampler(
        self, trials: list[optuna.trial.FrozenTrial]
    ) -> optuna.samplers.BaseSampler | None:
        for size, sampler in self.samplers:
            taken = {
                t.system_attrs["grid_id"]
                for t in trials
                if "grid_id" in t.system_attrs
                and t.state != TrialState.WAITING
                and sampler._same_search_space(t.system_attrs["search_space"])
            }
            if len(taken) < size:
                return sampler
        return None


def claim(
    study: optuna.Study,
    plan: StudyPlan,
    *,
    deadline: float | None,
    grid: GridPicker | None,
    lock: Callable[[str], AbstractContextManager[None]] = claim_lock,
    identity: dict[str, Any] | None = None,
    storage: str | None = None,
    run: int = 0,
) -> tuple[optuna.Trial | None, float | None]:
    """The next trial for this worker and the time it must end by, or ``(None, None)`` when the
    search is over (budget, time, stop).

    The cut is ``deadline`` less the time the end of the search will need (:func:`_cut`), read
    from the same trials the budget is counted on. ``storage`` (the study's URL) and ``run``
    let the final ensemble be judged early (without them the ensemble's time is kept back).
    """
    with lock(study.study_name):
        if STOP.get(study):
            return None, None
        if sweep_interrupted(study):
            log.warning("failed trials whose worker died; they are queued again")
        trials = study.get_trials(deepcopy=False)
        budget = study_budget(study, plan)
        if budget is not None and spent(trials) >= budget:
            return None, None
        if perfect_trial(trials, plan.metric_obj()) is not None:
            return None, None
        cut = None if deadline is None else _cut(study, plan, trials, deadline, run)
        state, queued = _pick(study, plan, trials, grid, cut)
        if state == "late" and deadline is not None:
            if _judged_early(study, plan, trials, storage, run):
                # The time kept back for an ensemble is the search's again: all of it when none
                # earned its place, what its members' refits do not need when one did.
                cut = _cut(study, plan, trials, deadline, run)
                state, queued = _pick(study, plan, trials, grid, cut)
        if state != "go":
            return None, None
        trial = study.ask() if queued is None else _claim_queued(study, queued)
        if trial is None:  # another process took it between the read and the claim
            trial = study.ask()
        WORKER.set(trial, identity or worker_identity())
        return trial, cut


def _pick(
    study: optuna.Study,
    plan: StudyPlan,
    trials: list[FrozenTrial],
    grid: GridPicker | None,
    cut: float | None,
) -> tuple[str, FrozenTrial | None]:
    """``("go", the queued trial, or None to ask the sampler)`` for the next trial that can end
    before ``cut``; ``("late", None)`` when none can (or every family of ``--models auto`` that
    could has converged: a later cut may let a slower one run); ``("done", None)`` when a grid
    is walked."""

    since = float((CLOCK.get(study) or {}).get("started") or 0.0)

    def fits(family: str | None) -> bool:
        """Whether a trial of ``family`` (None: unknown yet) can end before the cut, at
        the pace of that family's trials so far, unless its sampled sizes have been too big
        for the cut this run (:func:`_too_big_now`)."""
        if cut is None:
            return True
        if _too_big_now(trials, family, since):
            return False
        expected = expected_trial_s(trials, model=family) or 0.0
        return time.time() + expected < cut

    pace = _pace(plan, trials)

    def queued_fits(queued: FrozenTrial) -> bool:
        """The same for a queued trial, whose settings are known: scaled by its size."""
        fixed = queued.system_attrs.get("fixed_params", {})
        expected = pace(_family_of(queued), fixed) or 0.0
        return cut is None or time.time() + expected < cut

    waiting = sorted((t for t in trials if t.state == TrialState.WAITING), key=lambda t: t.number)
    # The first queued trial that can end before the cut; a slower family's queued start
    # stays queued (a resume runs it) rather than ending the search with time left for the
    # quicker ones behind it.
    queued = next((t for t in waiting if queued_fits(t)), None)
    if queued is not None:
        return "go", queued
    if grid is not None and not waiting:
        sampler = grid.next_sampler(trials)
        if sampler is None:
            return "done", None
        if not fits(None):
            return "late", None
        study.sampler = sampler
        return "go", None
    if plan.auto_models and grid is None:
        family = next_family(study, plan.models, plan.goal)
        if not fits(family):
            family = quick_family(study, plan.models, plan.goal, fits)
        if family is None:
            return "late", None  # leave the time to the refit
        study.enqueue_trial({"model": family})
        return "go", study.get_trials(deepcopy=False, states=(TrialState.WAITING,))[-1]
    if waiting or not fits(None):
        return "late", None  # it could not finish before the cut: leave the time to the refit
    return "go", None


#: Trials of one family (of any, when the sampler picks the family) stopped before their first
#: fold in a run after which that family is not asked for again in the run.
TOO_BIG_STOPS = 3


def _too_big_now(trials: list[FrozenTrial], family: str | None, since: float) -> bool:
    """Whether the run that started at ``since`` already stopped ``TOO_BIG_STOPS`` trials of
    ``family`` (None: any) before their first fold (``never_ran``: their sampled sizes could not
    end by the cut). The claim judges a family by its pace, a trial by its sampled size; near
    the cut the two disagreed again and again: a search asked the sampler for 20 random forests
    in a row, each stopped in 0.02 s. One stop does not end a family: a smaller sample may fit."""
    stopped = [
        t
        for t in trials
        if never_ran(t)
        and t.datetime_start is not None
        and t.datetime_start.timestamp() >= since
        and (family is None or t.params.get("model") == family)
    ]
    return len(stopped) >= TOO_BIG_STOPS


def _reserve(
    plan: StudyPlan,
    trials: list[FrozenTrial],
    *,
    ensemble: bool,
    members: list[FrozenTrial] | None = None,
) -> float:
    return refit_reserve(
        trials, plan.folds, plan.direction, ensemble=ensemble, refits=final_refits(plan),
        budget_s=plan.config.timeout, members=members, choose_s=choose_seconds(plan),
    )  # fmt: skip


def _chosen_members(
    study: optuna.Study, trials: list[FrozenTrial], early: Any
) -> list[FrozenTrial] | None:
    """The trials an early "ensemble" verdict blends, when this study holds them all; None
    otherwise (the likely members are then guessed from the families)."""
    pairs = early.members() if early is not None else []
    by_number = {t.number: t for t in trials}
    if not pairs or any(name != study.study_name or n not in by_number for name, n in pairs):
        return None
    return [by_number[n] for _, n in pairs]


def _cut(
    study: optuna.Study, plan: StudyPlan, trials: list[FrozenTrial], deadline: float, run: int
) -> float:
    """When the last trial must end: ``deadline`` less the end of the search (the final
    model's refits; with a final ensemble, its likely members' refits and the choice).

    A final ensemble needs its members refitted, so its time is kept back (up to a fifth of the
    budget) while no one knows whether one will be chosen: until the ensemble is judged early
    (:func:`_judged_early`): then nothing when none earns its place, and the chosen members'
    refits when one does. Without kept out-of-fold predictions (a
    table too large to keep them, workers on Dask) no ensemble can be chosen, and none is
    waited for.
    """
    single_cut = deadline - _reserve(plan, trials, ensemble=False)
    if not plan.config.ensemble:
        return single_cut
    from knobs.ensembles import early_verdict

    early = early_verdict(study, run)
    if early is not None and early.kind == "single":
        return single_cut  # judged early and final: nothing left to choose
    if not plan.keeps_oof():
        return single_cut - CHOOSE_S  # the end finds no ensemble to build, after looking
    if not ensemble_fits(plan):
        return single_cut  # its choice alone would take more than its share: the end does not look
    # Judged early for an ensemble: its own members' refits are kept back, not the four best
    # families' (houses: 2.5 s of a 16.3 s budget were left when the 2-member blend refitted
    # in 0.26 s; the end keeps a choice's time in case a later trial changes the candidates).
    members = _chosen_members(study, trials, early)
    return deadline - _reserve(plan, trials, ensemble=True, members=members)


def _judged_early(
    study: optuna.Study,
    plan: StudyPlan,
    trials: list[FrozenTrial],
    storage: str | None,
    run: int,
) -> bool:
    """Judge the final ensemble on the trials so far, when the search would otherwise end at
    the time kept back for it; True when judged now, so the cut moves: to the single model's
    when none earns its place, to what the chosen members' refits need when one does.

    One worker judges (:func:`knobs.ensembles.early_choice`, under the claim lock: seconds on
    stored predictions), once a run, and stores the verdict (``EARLY_CHOICE``) for the others
    and for the end of the search, which takes a "single" verdict as its final choice.
    ``storage`` None (no URL to read the predictions with): nothing is judged.
    """
    from knobs.ensembles import early_choice, early_verdict

    if not ensemble_fits(plan) or storage is None:
        return False
    if early_verdict(study, run) is not None:
        return False  # judged already: its cut is the one in force

    done = sum(t.state == TrialState.COMPLETE for t in trials)
    choice = early_choice(study.study_name, storage=storage, done=done)
    EARLY_CHOICE.set(study, choice.to_dict() | {"run": run, "trials": done})
    log.info("final ensemble judged early (%d trials): %s", done, choice.why)
    return True


def _size_ratio(
    plan: StudyPlan, trials: list[FrozenTrial], family: str | None, given: Mapping[str, Any]
) -> float:
    """How many times bigger a configuration of ``family`` (its parameters ``given``, as Optuna
    names them) is than the trials its family's pace comes from, by the parameter its fit time
    grows with (``ModelSpec.size``; 1 where there is none).

    A 300-tree random forest start queued after the defaults' 100 trees took three times their
    12 s on a 60,000-row table: judged by their pace it started 30 s before the cut, and was
    killed there 20 s later, in its first fold.
    """
    spec = plan.specs().get(family) if family else None
    if spec is None or spec.size is None or spec.key(spec.size) not in given:
        return 1.0
    key = spec.key(spec.size)
    default = spec.build(plan.task, {}, 0, 1).get_params().get(spec.size)
    pool = pace_trials(trials, family)  # the trials its pace comes from
    if any(t.params.get("model") != family for t in pool):
        return 1.0  # none of its own yet: the pace is every family's, not a size to scale
    sizes = [t.params.get(key, default) for t in pool]
    sizes = [float(v) for v in sizes if isinstance(v, int | float) and v > 0]
    if not sizes:
        return 1.0
    return float(given[key]) / statistics.median(sizes)


def _pace(
    plan: StudyPlan, trials: list[FrozenTrial]
) -> Callable[[str, Mapping[str, Any]], float | None]:
    """Seconds a trial of a family with given parameters is expected to take, from ``trials``:
    the family's pace scaled by the configuration's size (``Problem.pace``)."""

    def expected(family: str | None, given: Mapping[str, Any]) -> float | None:
        seconds = expected_trial_s(trials, model=family)
        return None if seconds is None else seconds * _size_ratio(plan, trials, family, given)

    return expected


def _family_of(trial: FrozenTrial) -> str | None:
    """The model family a queued trial is fixed to, if any."""
    return trial.system_attrs.get("fixed_params", {}).get("model")


def _claim_queued(study: optuna.Study, queued: FrozenTrial) -> optuna.Trial | None:
    """``study.ask()`` for one chosen queued trial rather than the first: Optuna's own pop
    (``Study._pop_waiting_trial_id``: mark it RUNNING, then open it), by id. None when another
    process claimed it first."""
    study._thread_local.cached_all_trials = None  # as ask() does: the sampler reads fresh trials
    if not study._storage.set_trial_state_values(queued._trial_id, state=TrialState.RUNNING):
        return None
    return optuna.Trial(study, queued._trial_id)


def run_trial(
    study: optuna.Study,
    trial: optuna.Trial,
    problem: Problem,
    sig: _Signals,
    *,
    seed: int,
    n_jobs: int,
) -> None:
    reason: str | None = None
    started = time.perf_counter()
    try:
        if sig.stop:
            raise Interrupted()
        sig.in_trial = True
        value = evaluate(trial, problem, seed=seed, n_jobs=n_jobs)
        sig.in_trial = False
        study.tell(trial, value)
        return
    except optuna.TrialPruned:
        sig.in_trial = False
        study.tell(trial, state=TrialState.PRUNED)
        return
    except OutOfTime:
        sig.in_trial = False
        INTERRUPTED.set(trial, True)
        # cut by time, as one stopped between folds is: counted so, never as a failure
        scores = [float(v) for _, v in sorted(trial.storage.get_trial(
            trial._trial_id).intermediate_values.items())]  # fmt: skip
        PRUNED.set(trial, time_cut_record(scores, time.perf_counter() - started))
        reason = "Stopped by the time budget in the middle of a fold; a resumed search runs it again."
    except Interrupted:
        sig.in_trial = False
        INTERRUPTED.set(trial, True)
        reason = "Stopped before it finished; it is retried when the search resumes."
    except TrialFailed as exc:
        sig.in_trial = False
        reason = str(exc)
    except MemoryError:
        sig.in_trial = False
        reason = "Ran out of memory; try fewer rows, a smaller model or fewer workers."
    except Exception as exc:  # any model error fails this trial only
        sig.in_trial = False
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        log.debug("trial %d failed:\n%s", trial.number, traceback.format_exc())
    FAIL_REASON.set(trial, reason)
    study.tell(trial, state=TrialState.FAIL)


def work(
    study_name: str,
    storage: str,
    *,
    index: int = 0,
    run: int = 1,
    n_jobs: int = 1,
    deadline: float | None = None,
    dask: str | None = None,
    data_dir: str | None = None,
) -> int:
    """Evaluate trials until the search is over; returns how many this worker evaluated.

    ``dask`` (a scheduler address) and ``data_dir`` (the split a Dask task wrote): a worker run
    by a Dask task (``knobs.study._dask``) claims under the cluster's lock and reads the split
    from its own host, never the launcher's files (so it keeps no out-of-fold predictions)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n_jobs)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    sig = _Signals()
    sig.install()
    lock: Callable[[str], AbstractContextManager[None]] = claim_lock
    if dask:
        from distributed import Client

        from knobs.study._dask import dask_claim_lock

        Client(dask, timeout=30)  # this process's default client: storage, lock, liveness
        lock = dask_claim_lock
    study = load_study(study_name, storage)
    plan = read_plan(study)
    if data_dir:  # a Dask task's split: no out-of-fold predictions kept, so no final ensemble
        config = dataclasses.replace(plan.config, keep_oof=False)
        plan = dataclasses.replace(plan, data_dir=data_dir, config=config)
    # Random and Bayesian samplers get a seed distinct per worker and per resume (or they would
    # propose the same points again); grid samplers share the study's seed (see make_sampler).
    base = plan.config.seed if plan.config.sampler_seed is None else plan.config.sampler_seed
    seed = base + 7919 * run + index
    grid = GridPicker(plan, base) if plan.config.strategy == "grid" else None
    if grid is None:
        study.sampler = make_sampler(
            plan.config.strategy,
            plan.config.sampler,
            seed=seed,
            parallel=True,
            budget=study_budget(study, plan),
        )
        if plan.config.warm_start and hasattr(study.sampler, "set_prior"):
            from knobs.transfer._prior import prior_trials  # only a warm start pays for it

            prior = prior_trials(plan, storage)
            study.sampler.set_prior(prior)
            if prior and not PRIOR.has(study):
                PRIOR.set(study, {"trials": len(prior), "sampler": plan.config.sampler})
    study.pruner = build_pruner(plan.config.pruner, plan.folds, len(plan.models))
    problem = plan.problem(keep_oof=not data_dir)
    # XGBoost's device, as this machine sees it (--device auto: a CUDA GPU where one is seen).
    problem.device = resolve_device(plan.config.device, where=socket.gethostname())
    identity = worker_identity() | {"device": problem.device}
    done = 0
    while not sig.stop:
        trial, cut = claim(
            study, plan, deadline=deadline, grid=grid, lock=lock, identity=identity,
            storage=storage, run=run,
        )  # fmt: skip
        if trial is None:
            break
        problem.deadline = cut
        problem.pace = _pace(plan, study.get_trials(deepcopy=False)) if cut is not None else None
        sig.alarm_at(cut)
        try:
            run_trial(study, trial, problem, sig, seed=plan.config.seed, n_jobs=n_jobs)
        finally:
            sig.alarm_at(None)
        done += 1
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knobs.worker")
    parser.add_argument("--study", required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--run", type=int, default=1)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=None)
    parser.add_argument("--dask", default=None, help="the scheduler, when a Dask task runs this")
    parser.add_argument("--data-dir", default=None, help="the split, when not the plan's folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    n = work(
        args.study, args.storage, index=args.index, run=args.run,
        n_jobs=args.n_jobs, deadline=args.deadline, dask=args.dask, data_dir=args.data_dir,
    )  # fmt: skip
    log.info("worker %d evaluated %d trials", args.index, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
