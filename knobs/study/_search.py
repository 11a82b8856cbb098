"""A study and the worker processes that fill it: create, start, watch, stop, resume, delete.

``Search`` is the one handle every front end uses (the API's ``tune``, the CLI, the dashboard's
pages, races); it only launches and reads, the work itself happens in worker processes.
"""

from __future__ import annotations

import datetime
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from knobs.config import SearchConfig, default_workers
from knobs.data import (
    Dataset,
    RawTable,
    choose_folds,
    joined_with_test,
    prepare,
    read_table,
    split_rows,
    time_dates,
    train_test,
    without_split_advice,
)
from knobs.devices import resolve_device
from knobs.errors import ConfigError, DataError, StudyError
from knobs.metrics import constant_cv
from knobs.models import is_wide, resolve_models
from knobs.pipelines import TARGET_KEY
from knobs.strategies import get_strategy
from knobs.study import _reader as results
from knobs.study import _runner as runner
from knobs.study._budget import (
    finished,
    planned_budget,
    seconds_used,
    spent,
    start_clock,
    study_budget,
)
from knobs.study._dask import (
    cancel_tasks,
    check_cuda,
    dask_address,
    launch_on_dask,
    running_tasks,
)
from knobs.study._plan import (
    LARGE_TABLE_ROWS,
    StudyPlan,
    auto_folds,
    build_plan,
    read_plan,
    save_split,
)
from knobs.study._reader import SearchStatus, TuneResult
from knobs.study._sample import sample_rows, search_rows
from knobs.study._storage import check_study_name, load_study, open_storage, storage_url, study_dir
from knobs.study._timing import (
    MARGIN_S,
    choose_seconds,
    ensemble_fits,
    ensemble_skipped_words,
    refit_in_time,
)
from knobs.study.keys import (
    BASELINE,
    BUDGET,
    CLOCK,
    DASK,
    FINAL,
    PLAN,
    RUN,
    START,
    STOP,
    TEST_SCORE,
)

DataSource = str | os.PathLike | bytes | IO[bytes] | pd.DataFrame | RawTable


def _study_stem(source: str) -> str:
    name = Path(source).name
    for packed in (".gz", ".zip"):  # train.csv.gz is the table train, as train.csv is
        name = name.removesuffix(packed)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(name).stem).strip("-").lower()
    return (stem or "data")[:40]


def new_study_name(source: str, strategy: str) -> str:
    """Readable and unguessable: the dashboard puts it in the URL as the study's handle."""
    return f"{_study_stem(source)}-{strategy}-{secrets.token_urlsafe(9).replace('_', 'x')}"


def enqueue_openers(
    study: optuna.Study,
    plan: StudyPlan,
    warm: Callable[[], Sequence[Mapping[str, Any]]] | None = None,
) -> None:
    """Queue what every study tries first: each model's library defaults (the bar tuning has to
    beat), then what ``warm`` queues (the best of earlier studies, ``knobs.transfer``), then, for
    strategies that learn from them, each model's known-good starting points
    (``ModelSpec.starts``) not queued already, so a small budget starts from settings that
    usually work. On a large table the families slow there queue all of theirs after the others'.

    ``warm`` returns the points the earlier studies already scored: a known-good start among
    them is not queued again. Those studies ranked it on a table like this one (and the
    sampler's prior holds that rank), a sharper guess than "usually works": on a churn table
    the four starts re-scored in a warm study were trials the earlier study had already beaten.
    """
    specs = plan.specs()
    large = plan.n_train > LARGE_TABLE_ROWS
    quick = [m for m in plan.models if not (large and specs[m].slow_on_large)]
    slow = [m for m in plan.models if m not in quick]
    # On a large table the slow families (``ModelSpec.slow_on_large``) queue their defaults and
    # starts after the quick families' starts: on 160,000 rows a random forest's and extra
    # trees' defaults held both workers for the whole 60 s budget and were cut mid-fold, while
    # the boosted families that lead on large tables never ran a trial.
    _enqueue_defaults(study, quick)
    known = list(warm()) if warm is not None else []
    _enqueue_starts(study, plan, quick, known)
    _enqueue_defaults(study, slow)
    _enqueue_starts(study, plan, slow, known)


def _enqueue_defaults(study: optuna.Study, models: Sequence[str]) -> None:
    for model in models:
        study.enqueue_trial({"model": model}, user_attrs=BASELINE.attr(True))


def _enqueue_starts(
    study: optuna.Study, plan: StudyPlan, models: Sequence[str], known: Sequence[Mapping[str, Any]]
) -> None:
    """The known-good starts of ``models``, but those queued already or in ``known``."""
    if not models or not get_strategy(plan.config.strategy, plan.config.sampler).starts:
        return
    specs = plan.specs()
    waiting = [
        t.system_attrs.get("fixed_params", t.params)
        for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    ]
    for params in _with_targets([specs[m].start_points() for m in models], plan):
        if params not in waiting and params not in known:
            study.enqueue_trial(params, user_attrs=START.attr(True))


def _with_targets(
    starts: Sequence[Sequence[Mapping[str, Any]]], plan: StudyPlan
) -> list[Mapping[str, Any]]:
    """Each model's starts in turn; where trials choose what a regression model learns
    (``plan.target_transforms``), each model's first start is as is, and once more on the
    target's log after every model's starts: a paired look the sampler learns the choice from,
    queued last so a short budget still sees every family's starts (a random forest's takes
    seconds). The later starts leave the choice to the sampler."""
    choices = plan.target_transforms
    if len(choices) < 2:
        return [p for points in starts for p in points]
    tagged = [[{**points[0], TARGET_KEY: choices[0]}, *points[1:]] for points in starts if points]
    again = [{**points[0], TARGET_KEY: c} for c in choices[1:] for points in tagged]
    return [p for points in tagged for p in points] + again


#: Less than this left of a study's time budget is not worth launching workers for.
MIN_RUN_S = 2.0


class Search:
    """A study and the worker processes that fill it."""

    def __init__(self, name: str, storage: str | None = None) -> None:
        self.name = name
        self.storage = storage_url(storage)
        self._study = load_study(name, self.storage)
        self.plan = read_plan(self._study)
        self._procs: list[Any] = []
        self.workers = 0
        #: When this handle's run must be done (``time.time()``), or None without a time budget.
        self.deadline: float | None = None

    # --- creation ------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        data: DataSource | Dataset,
        config: SearchConfig,
        *,
        name: str | None = None,
        storage: str | None = None,
        source: str | None = None,
        test_data: DataSource | None = None,
        test_source: str | None = None,
        deadline: float | None = None,
    ) -> Search:
        """Validate the table, split it, and write a new study with its plan and baselines.

        ``test_data`` is a test table of the user's own: the search then learns from all of
        ``data`` and the final model is scored on it (``config.test_size`` is not used).
        ``deadline`` (a ``time.time()``): when the whole job must end, which sizes the rows
        searched (``config.search_rows``); without it, ``config.timeout`` from now."""
        source = source or _name_of(data, "upload.csv")
        split = _split(
            data, config, source, test_data, test_source or _name_of(test_data, "test.csv"),
            deadline=deadline,
        )
        url = storage_url(storage)
        name = check_study_name(name or new_study_name(source, config.strategy))
        storage_obj = open_storage(url)
        if name in {s.study_name for s in storage_obj.get_all_studies()}:  # no trial read
            raise StudyError(
                f"A study named `{name}` already exists; resume it (`--resume`) or pick another name."
            )
        directory = study_dir(name)
        plan = split.plan(config, directory, source)
        save_split(directory, split.train, split.test, split.rows, split.extra)
        level = optuna.logging.get_verbosity()  # Optuna's "A new study created" line: Knobs says
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # what it made, in its own words
        try:
            study = optuna.create_study(
                study_name=name, storage=storage_obj, direction=plan.direction
            )
        finally:
            optuna.logging.set_verbosity(level)
        PLAN.set(study, plan.to_attr())
        BUDGET.set(study, planned_budget(plan))
        from knobs.transfer import apply_warm_start  # imported here: transfer reads knobs.study

        # config.warm_start: the earlier studies' best, queued right after the defaults.
        enqueue_openers(study, plan, warm=lambda: apply_warm_start(study, plan, url))
        return cls(name, url)

    @staticmethod
    def preview(
        data: DataSource | Dataset,
        config: SearchConfig,
        *,
        source: str | None = None,
        test_data: DataSource | None = None,
        test_source: str | None = None,
        deadline: float | None = None,
    ) -> Preview:
        """What :meth:`create` would plan, without writing anything: the plan (its split, folds,
        models, notices), the trial budget, the grid size and a duration estimate from one quick
        fit per model (``knobs tune --dry-run``, the Search page's "Before you start");
        ``deadline`` as for :meth:`create`."""
        from knobs.study._estimate import estimate, probe_fit_seconds

        source = source or _name_of(data, "upload.csv")
        split = _split(
            data, config, source, test_data, test_source or _name_of(test_data, "test.csv"),
            deadline=deadline,
        )
        plan = split.plan(config, Path(""), source)
        budget = planned_budget(plan)
        # A sampled search is timed on its sample, which holds no test share.
        probed, share = (split.train, 0.0) if split.extra else (split.dataset, config.test_size)
        fits = [
            probe_fit_seconds(probed, s, seed=config.seed, search_pipeline=config.search_pipeline)
            for s in plan.specs().values()
        ]
        guess = estimate(
            fits, trials=budget, minutes=config.timeout / 60 if config.timeout else None,
            folds=plan.folds, test_size=share, workers=config.n_workers,
        )  # fmt: skip
        return Preview(plan=plan, budget=budget, workers=config.n_workers, estimate=guess)

    @classmethod
    def open(cls, name: str, storage: str | None = None) -> Search:
        return cls(name, storage)

    # --- running -------------------------------------------------------------------------
    def start(
        self,
        *,
        workers: int | None = None,
        n_trials: int | None = None,
        timeout: float | None = None,
        threads: int | None = None,
        deadline: float | None = None,
        dask: str | None = None,
        finish: bool = False,
    ) -> None:
        """Launch worker processes and return at once. ``n_trials`` resets the total budget;
        ``threads`` is per worker (default: the cores shared out among the workers).

        ``finish``: also start a process that, once the workers are gone, chooses the final
        model and scores the test split (``knobs.study.finisher``): for a caller that does not
        wait for the search itself and call :meth:`result` (the dashboard).

        ``dask`` (a scheduler address, default ``$KNOBS_DASK``) runs the workers as tasks on that
        cluster instead: one per Dask worker (or ``workers``), each with its worker's threads
        (or ``threads``); see ``knobs.study._dask``.

        ``timeout`` counts from now; ``deadline`` (a ``time.time()``) is when the whole job must
        be done, refit included (``tune`` passes its own start + timeout): workers keep back the
        refit's time from it. Without either, the plan's time budget applies less what earlier
        runs used (a resume gets the rest; ``n_trials`` makes a new budget, and all of it)."""
        if self.is_running():
            raise StudyError(f"Study `{self.name}` is already running; stop it first.")
        if runner.finishing(self.name):
            raise StudyError(f"Study `{self.name}` is choosing its final model; try again in a "
                             "few seconds.")
        now = time.time()
        used = seconds_used(self._study, self.trials(), now, running=False)  # before the stop clears
        runner.prepare_resume(self._study)
        if n_trials is not None:
            if n_trials < 1:
                raise ConfigError(f"`n_trials` must be >= 1, but got {n_trials}.")
            BUDGET.set(self._study, planned_budget(self.plan, n_trials))
        elif timeout is not None and self.plan.config.n_trials is None:
            BUDGET.set(self._study, None)
        if deadline is None and timeout:
            deadline = now + timeout
        elif deadline is None and self.plan.config.timeout:
            # The plan's time budget spans the study's runs: a resume gets what is left; a
            # larger trial budget (the page's "Continue up to ...") is a new budget, time too.
            left = self.plan.config.timeout - (0.0 if n_trials is not None else used)
            if left < MIN_RUN_S:
                raise StudyError(
                    f"Study `{self.name}` has used its time budget ({used:.0f} of "
                    f"{self.plan.config.timeout:.0f} s): continue it with a new one "
                    f"(`knobs tune --study {self.name} --resume --timeout S`) or more trials "
                    "(`--trials N`)."
                )
            deadline = now + left
        start_clock(self._study, now, deadline, used)
        self.deadline = deadline
        address = dask_address(dask)
        if self.plan.config.device == "cuda":  # said now, not as every trial failing
            check_cuda(address) if address else resolve_device("cuda")
        if address is not None:
            self._start_on_dask(address, workers, threads, deadline)
        else:
            self._start_here(workers, threads, deadline)
        if finish:
            runner.start_finisher(self.name, self.storage, deadline)

    def _start_here(self, workers: int | None, threads: int | None, deadline: float | None) -> None:
        n = workers or self.plan.config.n_workers
        if self.plan.config.reproducible and n > 1:
            raise ConfigError(
                f"Study `{self.name}` is reproducible: it runs one worker, not {n} (its models "
                "use every core)."
            )
        remaining = self.remaining()
        if remaining is not None:
            n = max(1, min(n, remaining))
        self.workers = n
        self._procs = runner.launch(self.name, self.storage, n, deadline=deadline, threads=threads)

    def _start_on_dask(
        self, address: str, workers: int | None, threads: int | None, deadline: float | None
    ) -> None:
        if self.plan.config.reproducible:
            workers = 1
        remaining = self.remaining()
        if workers is not None and remaining is not None:
            workers = max(1, min(workers, remaining))
        run = runner.begin_run(self._study)
        info = launch_on_dask(
            self.name, self.storage, address, run=run, workers=workers, threads=threads,
            deadline=deadline,
        )  # fmt: skip
        DASK.set(self._study, info)
        self.workers = len(info["keys"])

    def dask_info(self) -> dict[str, Any] | None:
        """Where the current run's Dask tasks went: ``{address, run, keys, storage, workers}``
        (``workers``: each Dask worker's threads, which its task used); None off Dask."""
        info = DASK.get(self._study)
        return info if info and info.get("run") == RUN.get(self._study) else None

    def _dask_tasks(self) -> int:
        """Tasks of this study's current Dask run still queued or running (0: not on Dask)."""
        info = self.dask_info()
        return running_tasks(info) if info else 0

    def wait(
        self, progress: Callable[[SearchStatus], None] | None = None, *, poll_s: float = 0.5
    ) -> SearchStatus:
        """Block until the workers exit, calling ``progress`` whenever the picture changes."""
        last: tuple | None = None
        try:
            while True:
                status = self.status()
                key = (status.done, status.running, status.best_value, status.state)
                if progress is not None and key != last:
                    progress(status)
                    last = key
                if not self.is_running():
                    break
                runner.end_overdue(self._study, self.name)
                time.sleep(poll_s)
        except KeyboardInterrupt:
            self.stop()
            raise
        finally:
            runner.reap(self._procs)
        return self.status()

    def stop(self) -> int:
        """Stop for real: no new trial starts; running ones are interrupted and retried on resume.

        On Dask, queued tasks are cancelled and running ones end their worker process as soon as
        they see the stop flag (within a second); this waits for them a few seconds."""
        signalled = runner.request_stop(self.name, self.storage)
        if self._dask_tasks():
            cancel_tasks(DASK.get(self._study))
            # A trial in native code (a forest's fit) sees SIGTERM only when it returns to Python.
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline and self._dask_tasks():
                time.sleep(0.2)
        return signalled

    def is_running(self) -> bool:
        runner.reap(self._procs)
        return bool(runner.live_workers(self.name)) or self._dask_tasks() > 0

    @staticmethod
    def _ran_out(clock: dict[str, Any] | None, now: float) -> bool:
        """Whether the run's time budget has ended: a search whose every trial it cut has
        finished, not "Waiting to start" (no trial counts as done)."""
        deadline = (clock or {}).get("deadline")
        return deadline is not None and now >= float(deadline)

    def remaining(self) -> int | None:
        budget = self.budget()
        if budget is None:
            return None
        return max(0, budget - spent(self.trials()))

    def budget(self) -> int | None:
        return study_budget(self._study, self.plan)

    # --- reading -------------------------------------------------------------------------
    @property
    def study(self) -> optuna.Study:
        return self._study

    def trials(self) -> list[FrozenTrial]:
        return self._study.get_trials(deepcopy=False)

    def trials_frame(self) -> pd.DataFrame:
        return results.trials_frame(self.trials())

    def best(self) -> FrozenTrial | None:
        return results.best_trial(self.trials(), self.plan.direction)

    def perfect_words(self, trials: Sequence[FrozenTrial] | None = None) -> str | None:
        """Why the search ended on a perfect score, when it did (``results.perfect_trial``)."""
        trials = self.trials() if trials is None else trials
        metric = self.plan.metric_obj()
        perfect = results.perfect_trial(trials, metric)
        return None if perfect is None else results.perfect_words(perfect, metric)

    def status(self) -> SearchStatus:
        trials = self.trials()
        c = results.counts(trials)
        budget = study_budget(self._study, self.plan)
        done = finished(trials)
        workers = len(runner.live_workers(self.name)) + self._dask_tasks()
        now = time.time()
        clock = CLOCK.get(self._study)
        if clock:  # the runs' own time, without the waits between a stop and a resume
            elapsed = seconds_used(self._study, trials, now, running=bool(workers))
        else:  # a study from before runs were clocked: first trial's start to the last end
            starts = [t.datetime_start for t in trials if t.datetime_start is not None]
            ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
            elapsed = 0.0
            if starts:
                end = now if workers else max(ends).timestamp() if ends else now
                elapsed = max(0.0, end - min(starts).timestamp())
        durations = [t.duration.total_seconds() for t in trials if t.duration is not None]
        eta = None
        if budget and durations and workers:
            per_trial = sum(durations) / len(durations)
            eta = max(0.0, (budget - done) * per_trial / workers)
        if workers and clock and clock.get("deadline"):  # a time budget ends the run by then
            left = max(0.0, float(clock["deadline"]) - now)
            eta = left if eta is None else min(eta, left)
        if workers:
            state = "running"
        elif runner.finishing(self.name):
            state = "finishing"
        elif budget is not None and done >= budget:
            state = "finished"
        elif STOP.get(self._study):
            state = "stopped"
        elif done == 0 and not c["RUNNING"] and not c["TIME_CUT"] and not self._ran_out(clock, now):
            state = "queued"
        elif results.perfect_trial(trials, self.plan.metric_obj()) is not None:
            state = "finished"  # nothing could beat it: the workers ended the search there
        elif self.plan.config.timeout and not c["RUNNING"]:
            # Its workers left on their own: the time budget ended the run, whatever trials
            # the trial budget had left (a crash leaves a trial RUNNING: "interrupted").
            state = "finished"
        else:
            state = "interrupted" if budget is not None else "finished"
        best = results.best_trial(trials, self.plan.direction)
        base = results.baseline_trial(trials, self.plan.direction)
        saved, share = results.saved_compute(trials)
        return SearchStatus(
            state=state,
            done=done,
            budget=budget,
            running=c["RUNNING"],
            complete=c["COMPLETE"],
            failed=c["FAIL"],
            pruned=c["PRUNED"],
            time_cut=c["TIME_CUT"],
            workers=workers,
            best_value=best.value if best else None,
            baseline_value=base.value if base else None,
            elapsed_s=elapsed,
            eta_s=eta,
            saved_s=saved,
            saved_share=share,
        )

    def result(
        self,
        *,
        refit: bool = True,
        wall_s: float | None = None,
        deadline: float | None = None,
        deliver: bool = True,
    ) -> TuneResult:
        """Summarize the study; with ``refit`` choose the final model (the best trial, or a
        greedy ensemble of the best trials when the plan asks for one and it beats the fold
        noise and its refit fits before ``deadline``), fit it on the training split, score the
        test split, then refit it on every labelled row when the plan says so and time allows
        (:meth:`_deliver`; not with ``deliver`` False: the dashboard's finisher keeps no
        model)."""
        trials = self.trials()
        best = results.best_trial(trials, self.plan.direction)
        base = results.baseline_trial(trials, self.plan.direction)
        single, single_why = results.delivered_trial(trials, self.plan.direction)
        pipeline = None
        test = None
        final: dict[str, Any] | None = None
        fit: dict[str, Any] | None = None
        chosen: dict[str, Any] | None = None
        if best is not None and refit:
            started = time.perf_counter()
            if self.plan.config.ensemble:
                from knobs.ensembles import FinalChoice, early_verdict, final_choice

                # The ensemble must fit on the training split in time to be scored; its refit
                # on every row follows when time allows (``_deliver``), as a single model's
                # does: a likely ensemble gain (+0.014 R² on houses) was worth more than the
                # fifth of the rows that refit adds, and was sent back for want of that time.
                early = early_verdict(self._study, RUN.get(self._study))
                if self.plan.keeps_oof() and not ensemble_fits(self.plan):
                    choice = FinalChoice("single", ensemble_skipped_words(self.plan))
                elif early is not None and early.kind == "single":
                    choice = early  # the workers ran on past its time
                else:
                    choice, pipeline = final_choice(
                        self.name, storage=self.storage, budget_s=_left(deadline), early=early,
                        choose_s=choose_seconds(self.plan),
                    )  # fmt: skip
                final = choice.to_dict()
                FINAL.set(self._study, final)
            if pipeline is None:
                # The workers have exited: the refit may use every core.
                started = time.perf_counter()
                pipeline = results.refit(self.plan, single, n_jobs=default_workers())
                if single_why:
                    chosen = {"trial": single.number, "model": single.params.get("model"),
                              "why": single_why}  # fmt: skip
            fit_s = time.perf_counter() - started
            refit_s = (final or {}).get("refit_s")  # an ensemble's members' refit alone
            if refit_s is not None:
                # The refit on every row repeats the members' fits, not the choice before them
                # (diabetes: a 0.4 s refit, estimated from the 1.0 s choice and refit, was
                # "about 2 s" against 1 s left, and the model went out fitted on 80% of the rows).
                fit_s = float(refit_s)
            test = results.test_score(self.plan, pipeline)
            if deliver:
                pipeline, fit = self._deliver(pipeline, fit_s, deadline)
            TEST_SCORE.set(self._study, {
                "trial": single.number, "value": test, "final": final, "fit": fit, "chosen": chosen,
            })  # fmt: skip
        saved, share = results.saved_compute(trials)
        model, params = results.model_params(best) if best else (None, {})
        if wall_s is None:
            wall_s = self.status().elapsed_s
        return TuneResult(
            study=self.name,
            storage=self.storage,
            plan=self.plan,
            best_score=best.value if best else None,
            best_params=params,
            best_model=model,
            best_trial=best.number if best else None,
            baseline_score=base.value if base else None,
            test_score=test,
            n_trials=finished(trials),
            wall_s=wall_s,
            trials=results.trials_frame(trials),
            best_pipeline=pipeline,
            counts=results.counts(trials),
            saved_s=saved,
            saved_share=share,
            final=final,
            fit=fit,
            chosen=chosen,
            verdict=results.tuning_verdict(trials, self.plan.direction),
            perfect=self.perfect_words(trials),
            no_model=results.no_model_words(trials, self.plan.config.timeout),
            test_caveat=results.test_caveat(self.plan, trials, test),
            dask=self.dask_info(),
            device=results.devices_used(self.plan, trials),
        )

    def _deliver(
        self, pipeline: Any, fit_s: float, deadline: float | None
    ) -> tuple[Any, dict[str, Any]]:
        """The model the search hands over, and which rows it was fitted on and why: refitted on
        every labelled row (``config.final_fit == "all"``) unless that refit, estimated from
        the training-split fit just made, would overrun the time budget."""
        plan = self.plan
        if plan.test_source:
            why = (
                f"fitted on every row of the training table ({plan.n_train:,}); the test table "
                f"`{plan.test_source}` only scored it"
            )
            return pipeline, {"rows": plan.n_train, "on": "train", "why": why}
        if not plan.fits_all_rows:
            why = (
                "fitted on the training split, as asked (`--final-fit train`)"
                if plan.config.final_fit == "train"
                else "fitted on the training split: this study predates refitting on every row"
            )
            return pipeline, {"rows": plan.n_train, "on": "train", "why": why}
        n_all = plan.n_final
        needed = fit_s * n_all / max(1, plan.n_train) * 1.2
        left = _left(deadline)
        if not refit_in_time(needed, left):
            why = (
                f"fitted on {plan.searched_words()} only: refitting on all {n_all:,} rows (about "
                f"{needed:.1f} s) would overrun the time budget ({max(0.0, left):.1f} s left)"
            )
            return pipeline, {"rows": plan.n_train, "on": "train", "why": why}
        delivered, rows = results.fit_final(plan, pipeline)
        if rows == plan.n_train:
            why = "fitted on the training split: a stacking ensemble's meta-learner needs it"
            return delivered, {"rows": rows, "on": "train", "why": why}
        fitted = plan.searched_words() if plan.n_extra else f"the {plan.n_train:,} training rows"
        why = (f"refitted on all {rows:,} labelled rows after the test split scored it (fitted on "
               f"{fitted})")  # fmt: skip
        return delivered, {"rows": rows, "on": "all", "why": why}

    def delete(self) -> None:
        if self.is_running():
            raise StudyError(f"Study `{self.name}` is running; stop it before deleting it.")
        optuna.delete_study(study_name=self.name, storage=open_storage(self.storage))
        shutil.rmtree(study_dir(self.name), ignore_errors=True)


@dataclass(frozen=True)
class _Split:
    """A table read, prepared and split for a new study (before anything is written)."""

    dataset: Dataset
    train: Dataset
    test: Dataset
    rows: tuple[Any, Any]
    folds: int
    notices: tuple[str, ...]
    test_source: str = ""
    #: The training rows a sampled search leaves out (``knobs.study._sample``), and how many rows
    #: the sample was asked for: the delivered model is refitted on them too.
    extra: tuple[Dataset, Any] | None = None
    sample: int = 0

    def plan(self, config: SearchConfig, directory: Path, source: str) -> StudyPlan:
        plan = build_plan(
            self.dataset, config, data_dir=directory, source=Path(source).name,
            folds=self.folds, notices=self.notices, n_train=len(self.train.y),
            n_test=len(self.test.y), test_source=Path(self.test_source).name,
            n_extra=len(self.extra[0].y) if self.extra else 0, sample=self.sample,
        )  # fmt: skip
        X, y = self.train.X, self.train.y
        constant = constant_cv(plan.metric_obj(), y.to_numpy(), plan.study_folds(X, y))
        return replace(plan, constant=constant)


def _split(
    data: DataSource | Dataset,
    config: SearchConfig,
    source: str,
    test_data: DataSource | None = None,
    test_source: str = "",
    *,
    deadline: float | None = None,
) -> _Split:
    """Read, prepare and split the table; with ``test_data`` (a test table of the user's own)
    the training table is all for the search and the test table scores the final model. A
    training split too large for the time budget is searched on a sample (``_sample``)."""
    rows = None
    if isinstance(data, Dataset):
        if test_data is not None:
            raise ConfigError("A prepared Dataset cannot take a test table; pass the raw tables.")
        dataset = data
        if config.time_column:  # prepared before the split was chosen
            dataset = replace(dataset, notices=without_split_advice(dataset.notices))
    else:
        table = _read(data, source)
        if test_data is not None:
            table, rows = joined_with_test(
                table, _read(test_data, test_source), config.target, test_name=test_source
            )
        if test_data is not None and config.time_column:
            raise ConfigError("Give a test table or a split by time, not both: a test table of "
                              "your own is the held-out part.")
        dataset = prepare(table, config.target, task=config.task, exclude=config.exclude,
                          own_test=test_data is not None, by_time=config.time_column)
    if rows is None:
        rows = split_rows(dataset, config.test_size, config.seed, config.time_column)
    else:
        _check_test_classes(dataset, rows, test_source)
    train, test = train_test(dataset, config.test_size, config.seed, rows)
    wanted, size_notice = auto_folds(len(train.y), config.cv)
    seconds = deadline - time.time() if deadline is not None else config.timeout
    specs = resolve_models(
        list(config.models), dataset.task, wide=is_wide(len(dataset.y), dataset.X.shape[1])
    )
    keep, sample_notice = search_rows(train, config, specs, wanted, seconds)
    extra = None
    if keep < len(train.y):
        picked = sample_rows(train, keep, config.seed)
        left = np.setdiff1d(np.arange(len(train.y)), picked)
        # both parts from the training split itself: the test rows are not copied again
        train, left_out = train_test(train, config.test_size, config.seed, (picked, left))
        extra = (left_out, np.asarray(rows[0])[left])
        rows = (np.asarray(rows[0])[picked], rows[1])
    folds, fold_notice = choose_folds(train.y, dataset.task, wanted)
    # Fewer folds for a rare class overrides the table's size: one notice, not two that disagree.
    notices = tuple(n for n in (fold_notice or size_notice, sample_notice, _time_split_notice(
        dataset, rows, folds, config.time_column)) if n)  # fmt: skip
    given = test_source if test_data is not None else ""
    return _Split(dataset, train, test, rows, folds, notices, given, extra,
                  keep if extra else 0)  # fmt: skip


def _time_split_notice(
    dataset: Dataset, rows: tuple[Any, Any], folds: int, column: str | None
) -> str | None:
    """How a split by time was made, in the plan's words."""
    if not column:
        return None
    dates = time_dates(dataset, column)
    first, last = dates.iloc[rows[1]].min(), dates.iloc[rows[1]].max()
    return (f"Split by time on `{column}`: the test split is the latest {len(rows[1]):,} rows "
            f"({first:%Y-%m-%d} to {last:%Y-%m-%d}), which scores the model as it will be used, "
            f"on dates after all it learned from. Cross-validation scores {folds} consecutive "
            "periods of the training rows, each with a model fitted on the other periods, "
            "earlier and later: it compares settings, the test split checks the future.")


def _name_of(data: Any, default: str) -> str:
    """A table's name for notices and the plan: its path, or ``default`` for bytes and frames."""
    return str(data) if isinstance(data, (str, os.PathLike)) else default


def _read(data: DataSource, source: str) -> RawTable | pd.DataFrame:
    return data if isinstance(data, (RawTable, pd.DataFrame)) else read_table(data, name=source)


def _check_test_classes(dataset: Dataset, rows: tuple[Any, Any], test_source: str) -> None:
    """A class only the test table has could never be predicted: refuse it by name."""
    if dataset.task == "regression":
        return
    codes = dataset.y.to_numpy()
    unseen = sorted(set(codes[rows[1]]) - set(codes[rows[0]]))
    if unseen:
        names = ", ".join(f"`{dataset.classes[int(c)]}`" for c in unseen)
        raise DataError(
            f"The test table `{test_source}` has target class(es) {names} that the training "
            "table never shows, so no model could predict them. Remove those rows from the test "
            "table, or add examples of them to the training table."
        )


@dataclass(frozen=True)
class Preview:
    """What a new search would do (:meth:`Search.preview`); nothing has been written."""

    plan: StudyPlan
    budget: int | None
    workers: int
    estimate: Any  # knobs.study.Estimate, or None when no model could be probed

    def to_dict(self) -> dict[str, Any]:
        plan = self.plan
        est = self.estimate
        return {
            "task": plan.task, "target": plan.target, "metric": plan.metric,
            "direction": plan.direction, "models": list(plan.models),
            "strategy": plan.config.strategy, "sampler": plan.config.sampler,
            "pruner": plan.config.pruner, "cv": plan.folds, "n_train": plan.n_train,
            "n_test": plan.n_test, "budget": self.budget, "timeout": plan.config.timeout,
            "workers": self.workers, "grid_size": plan.grid_size(),
            "estimate_s": None if est is None else round(est.seconds, 1),
            "per_trial_s": None if est is None else round(est.per_trial_s, 3),
            "notices": list(plan.notices), "fingerprint": plan.fingerprint,
            "config": plan.config.to_dict(),
        }  # fmt: skip


def _left(deadline: float | None) -> float | None:
    """Seconds left before ``deadline`` for the end of a search, less the margin for writing
    the report and exiting."""
    return None if deadline is None else deadline - time.time() - MARGIN_S


def list_studies(storage: str | None = None) -> list[dict[str, Any]]:
    """Every study in the storage, newest first, with what a list needs to show."""
    rows = []
    store = open_storage(storage)
    # Not ``optuna.get_all_study_summaries``: on a journal it deep-copies every trial of every
    # study to count them (2 s at 12,000 trials, on every Studies/Analytics page the cache missed);
    # reading the storage's own trial objects without copying takes 0.05 s. Nothing here writes.
    for s in store.get_all_studies():
        trials = store.get_all_trials(s._study_id, deepcopy=False)
        plan_attr = PLAN.get(s)
        direction = s.direction.name.lower()
        top = results.best_trial(trials, direction)
        starts = [t.datetime_start for t in trials if t.datetime_start is not None]
        rows.append(
            {
                "study": s.study_name,
                "knobs": plan_attr is not None,
                "source": (plan_attr or {}).get("source"),
                "target": (plan_attr or {}).get("target"),
                "task": (plan_attr or {}).get("task"),
                "strategy": ((plan_attr or {}).get("config") or {}).get("strategy"),
                "sampler": ((plan_attr or {}).get("config") or {}).get("sampler"),
                "models": (plan_attr or {}).get("models"),
                "metric": (plan_attr or {}).get("metric"),
                "direction": direction,
                "best_value": top.value if top is not None else None,
                # as the live view counts "done": ended trials the budget counts (not queued
                # starts never run, nor trials a stop interrupted and a resume runs again)
                "n_trials": finished(trials),
                "created": min(starts) if starts else None,
                "running": bool(runner.live_workers(s.study_name)) if plan_attr else False,
            }
        )
    rows.sort(key=lambda r: r["created"] or datetime.datetime.min, reverse=True)
    return rows
