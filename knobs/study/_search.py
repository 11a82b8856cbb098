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
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from knobs.config import SearchConfig, default_workers
from knobs.data import Dataset, RawTable, choose_folds, prepare, read_table, train_test
from knobs.errors import ConfigError, StudyError
from knobs.strategies import get_strategy
from knobs.study import _reader as results
from knobs.study import _runner as runner
from knobs.study._budget import finished, planned_budget, spent, study_budget
from knobs.study._plan import StudyPlan, auto_folds, build_plan, read_plan, save_split
from knobs.study._reader import SearchStatus, TuneResult
from knobs.study._storage import check_study_name, load_study, open_storage, storage_url, study_dir
from knobs.study._timing import MARGIN_S
from knobs.study.keys import BASELINE, BUDGET, FINAL, PLAN, START, STOP, TEST_SCORE

DataSource = str | os.PathLike | bytes | IO[bytes] | pd.DataFrame | RawTable


def _study_stem(source: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(source).stem).strip("-").lower()
    return (stem or "data")[:40]


def new_study_name(source: str, strategy: str) -> str:
    """Readable and unguessable: the dashboard puts it in the URL as the study's handle."""
    return f"{_study_stem(source)}-{strategy}-{secrets.token_urlsafe(9).replace('_', 'x')}"


def enqueue_openers(study: optuna.Study, plan: StudyPlan) -> None:
    """Queue what every study tries first: each model's library defaults (the bar tuning has to
    beat), then, for strategies that learn from them, each model's known-good starting points
    (``ModelSpec.starts``), so a small budget starts from settings that usually work."""
    specs = plan.specs()
    for model in plan.models:
        study.enqueue_trial({"model": model}, user_attrs=BASELINE.attr(True))
    if not get_strategy(plan.config.strategy, plan.config.sampler).starts:
        return
    for model in plan.models:
        spec = specs[model]
        for start in spec.valid_starts():
            params = {"model": model, **{spec.key(k): v for k, v in start.items()}}
            study.enqueue_trial(params, user_attrs=START.attr(True))


class Search:
    """A study and the worker processes that fill it."""

    def __init__(self, name: str, storage: str | None = None) -> None:
        self.name = name
        self.storage = storage_url(storage)
        self._study = load_study(name, self.storage)
        self.plan = read_plan(self._study)
        self._procs: list[Any] = []
        self.workers = 0

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
    ) -> Search:
        """Validate the table, split it, and write a new study with its plan and baselines."""
        source = source or (str(data) if isinstance(data, (str, os.PathLike)) else "upload.csv")
        if isinstance(data, Dataset):
            dataset = data
        else:
            table = (
                data
                if isinstance(data, (RawTable, pd.DataFrame))
                else read_table(data, name=source)
            )
            dataset = prepare(table, config.target, task=config.task, exclude=config.exclude)
        train, test = train_test(dataset, config.test_size, config.seed)
        wanted, size_notice = auto_folds(len(train.y), config.cv)
        folds, fold_notice = choose_folds(train.y, dataset.task, wanted)
        url = storage_url(storage)
        name = check_study_name(name or new_study_name(source, config.strategy))
        storage_obj = open_storage(url)
        if name in {s.study_name for s in optuna.get_all_study_summaries(storage_obj)}:
            raise StudyError(
                f"A study named `{name}` already exists; resume it (`--resume`) or pick another name."
            )
        directory = study_dir(name)
        plan = build_plan(
            dataset,
            config,
            data_dir=directory,
            source=Path(source).name,
            folds=folds,
            notices=tuple(n for n in (size_notice, fold_notice) if n),
            n_train=len(train.y),
            n_test=len(test.y),
        )
        save_split(directory, train, test)
        study = optuna.create_study(study_name=name, storage=storage_obj, direction=plan.direction)
        PLAN.set(study, plan.to_attr())
        BUDGET.set(study, planned_budget(plan))
        enqueue_openers(study, plan)
        return cls(name, url)

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
    ) -> None:
        """Launch worker processes and return at once. ``n_trials`` resets the total budget;
        ``threads`` is per worker (default: the cores shared out among the workers).

        ``timeout`` counts from now; ``deadline`` (a ``time.time()``) is when the whole job must
        be done, refit included (``tune`` passes its own start + timeout): workers keep back the
        refit's time from it."""
        if self.is_running():
            raise StudyError(f"Study `{self.name}` is already running; stop it first.")
        runner.prepare_resume(self._study)
        if n_trials is not None:
            if n_trials < 1:
                raise ConfigError(f"`n_trials` must be >= 1, but got {n_trials}.")
            BUDGET.set(self._study, planned_budget(self.plan, n_trials))
        elif timeout is not None and self.plan.config.n_trials is None:
            BUDGET.set(self._study, None)
        timeout = timeout if timeout is not None else self.plan.config.timeout
        n = workers or self.plan.config.n_workers
        remaining = self.remaining()
        if remaining is not None:
            n = max(1, min(n, remaining))
        self.workers = n
        if deadline is None and timeout:
            deadline = time.time() + timeout
        self._procs = runner.launch(self.name, self.storage, n, deadline=deadline, threads=threads)

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
                time.sleep(poll_s)
        except KeyboardInterrupt:
            self.stop()
            raise
        finally:
            runner.reap(self._procs)
        return self.status()

    def stop(self) -> int:
        """Stop for real: no new trial starts; running ones are interrupted and retried on resume."""
        return runner.request_stop(self.name, self.storage)

    def is_running(self) -> bool:
        runner.reap(self._procs)
        return bool(runner.live_workers(self.name))

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

    def status(self) -> SearchStatus:
        trials = self.trials()
        c = results.counts(trials)
        budget = study_budget(self._study, self.plan)
        done = finished(trials)
        workers = len(runner.live_workers(self.name))
        starts = [t.datetime_start for t in trials if t.datetime_start is not None]
        ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
        elapsed = 0.0
        if starts:
            end = time.time() if workers else max(ends).timestamp() if ends else time.time()
            elapsed = max(0.0, end - min(starts).timestamp())
        durations = [t.duration.total_seconds() for t in trials if t.duration is not None]
        eta = None
        if budget and durations and workers:
            per_trial = sum(durations) / len(durations)
            eta = max(0.0, (budget - done) * per_trial / workers)
        if workers:
            state = "running"
        elif budget is not None and done >= budget:
            state = "finished"
        elif STOP.get(self._study):
            state = "stopped"
        elif done == 0 and not c["RUNNING"]:
            state = "queued"
        elif self.plan.config.timeout and not c["RUNNING"] and budget is None:
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
            workers=workers,
            best_value=best.value if best else None,
            baseline_value=base.value if base else None,
            elapsed_s=elapsed,
            eta_s=eta,
            saved_s=saved,
            saved_share=share,
        )

    def result(
        self, *, refit: bool = True, wall_s: float | None = None, deadline: float | None = None
    ) -> TuneResult:
        """Summarize the study; with ``refit`` choose the final model (the best trial, or a
        greedy ensemble of the best trials when the plan asks for one and it beats the fold
        noise and its refit fits before ``deadline``), fit it on the training split and score
        the test split."""
        trials = self.trials()
        best = results.best_trial(trials, self.plan.direction)
        base = results.baseline_trial(trials, self.plan.direction)
        pipeline = None
        test = None
        final: dict[str, Any] | None = None
        if best is not None and refit:
            if self.plan.config.ensemble:
                from knobs.ensembles import final_choice

                left = None if deadline is None else deadline - time.time() - MARGIN_S
                choice, pipeline = final_choice(self.name, storage=self.storage, budget_s=left)
                final = choice.to_dict()
                FINAL.set(self._study, final)
            if pipeline is None:
                # The workers have exited: the refit may use every core.
                pipeline = results.refit(self.plan, best, n_jobs=default_workers())
            test = results.test_score(self.plan, pipeline)
            TEST_SCORE.set(self._study, {"trial": best.number, "value": test, "final": final})
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
        )

    def delete(self) -> None:
        if self.is_running():
            raise StudyError(f"Study `{self.name}` is running; stop it before deleting it.")
        optuna.delete_study(study_name=self.name, storage=open_storage(self.storage))
        shutil.rmtree(study_dir(self.name), ignore_errors=True)


def list_studies(storage: str | None = None) -> list[dict[str, Any]]:
    """Every study in the storage, newest first, with what a list needs to show."""
    rows = []
    for s in optuna.get_all_study_summaries(open_storage(storage), include_best_trial=True):
        plan_attr = PLAN.get(s)
        best = s.best_trial.value if s.best_trial is not None else None
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
                "direction": s.direction.name.lower(),
                "best_value": best,
                "n_trials": s.n_trials,
                "created": s.datetime_start,
                "running": bool(runner.live_workers(s.study_name)) if plan_attr else False,
            }
        )
    rows.sort(key=lambda r: r["created"] or datetime.datetime.min, reverse=True)
    return rows
