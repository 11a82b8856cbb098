"""The public Python API: ``tune`` for one call, ``Search`` for front ends that watch and steer.

The CLI and the dashboard are thin layers over these two; whatever a page can do, this can.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from knobs import jobs, results
from knobs.config import SearchConfig, parse_models
from knobs.data import Dataset, RawTable, choose_folds, prepare, read_table, train_test
from knobs.errors import ConfigError, StudyError
from knobs.models import Param
from knobs.plan import PLAN_ATTR, StudyPlan, build_plan, save_split
from knobs.storage import check_study_name, load_study, open_storage, storage_url, study_dir

DataSource = str | os.PathLike | bytes | IO[bytes] | pd.DataFrame | RawTable


@dataclass(frozen=True)
class SearchStatus:
    """A snapshot of a search, cheap enough to take every second."""

    state: str  # "queued" | "running" | "finished" | "stopped" | "interrupted"
    done: int  # trials that count toward the budget and have finished
    budget: int | None
    running: int
    complete: int
    failed: int
    pruned: int
    workers: int
    best_value: float | None
    baseline_value: float | None
    elapsed_s: float
    eta_s: float | None

    @property
    def progress(self) -> float | None:
        return None if not self.budget else min(1.0, self.done / self.budget)


@dataclass
class TuneResult:
    """What ``tune`` returns: the numbers, the trials and the refitted best pipeline."""

    study: str
    storage: str
    plan: StudyPlan
    best_score: float | None
    best_params: dict[str, Any]
    best_model: str | None
    best_trial: int | None
    baseline_score: float | None
    test_score: float | None
    n_trials: int
    wall_s: float
    trials: pd.DataFrame
    best_pipeline: Any = None
    counts: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (``knobs tune --json``)."""
        trials = [
            {
                "number": int(r.number),
                "state": r.state,
                "value": _num(r.value),
                "params": r.params,
                "model": r.model,
                "duration_s": _num(r.duration_s),
                "baseline": bool(r.baseline),
                "fail_reason": r.fail_reason,
            }
            for r in self.trials.itertuples()
        ]
        return {
            "study": self.study,
            "storage": self.storage,
            "strategy": self.plan.config.strategy,
            "sampler": self.plan.config.sampler if self.plan.config.strategy == "bayes" else None,
            "models": list(self.plan.models),
            "task": self.plan.task,
            "target": self.plan.target,
            "metric": self.plan.metric,
            "direction": self.plan.direction,
            "cv": self.plan.folds,
            "best_score": _num(self.best_score),
            "best_params": self.best_params,
            "best_model": self.best_model,
            "best_trial": self.best_trial,
            "baseline_score": _num(self.baseline_score),
            "test_score": _num(self.test_score),
            "n_trials": self.n_trials,
            "counts": dict(self.counts),
            "wall_s": round(self.wall_s, 3),
            "n_train": self.plan.n_train,
            "n_test": self.plan.n_test,
            "fingerprint": self.plan.fingerprint,
            "notices": list(self.plan.notices),
            "versions": dict(self.plan.versions),
            "trials": trials,
        }


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _study_stem(source: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(source).stem).strip("-").lower()
    return (stem or "data")[:40]


def new_study_name(source: str, strategy: str) -> str:
    """Readable and unguessable: the dashboard puts it in the URL as the study's handle."""
    return f"{_study_stem(source)}-{strategy}-{secrets.token_urlsafe(9).replace('_', 'x')}"


class Search:
    """A study and the worker processes that fill it."""

    def __init__(self, name: str, storage: str | None = None) -> None:
        self.name = name
        self.storage = storage_url(storage)
        self._study = load_study(name, self.storage)
        self.plan = jobs.read_plan(self._study)
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
        folds, fold_notice = choose_folds(train.y, dataset.task, config.cv)
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
            notices=(fold_notice,) if fold_notice else (),
            n_train=len(train.y),
            n_test=len(test.y),
        )
        save_split(directory, train, test)
        study = optuna.create_study(study_name=name, storage=storage_obj, direction=plan.direction)
        study.set_user_attr(PLAN_ATTR, plan.to_attr())
        study.set_user_attr(jobs.BUDGET_ATTR, plan.budget())
        for model in plan.models:
            study.enqueue_trial({"model": model}, user_attrs={jobs.BASELINE_ATTR: True})
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
    ) -> None:
        """Launch worker processes and return at once. ``n_trials`` resets the total budget;
        ``threads`` is per worker (default: the cores shared out among the workers)."""
        if self.is_running():
            raise StudyError(f"Study `{self.name}` is already running; stop it first.")
        jobs.prepare_resume(self._study)
        if n_trials is not None:
            if n_trials < 1:
                raise ConfigError(f"`n_trials` must be >= 1, but got {n_trials}.")
            cap = self.plan.budget() if self.plan.config.strategy == "grid" else None
            budget = (
                n_trials
                if cap is None
                else min(n_trials, self.plan.grid_size() + len(self.plan.models))
            )
            self._study.set_user_attr(jobs.BUDGET_ATTR, budget)
        elif timeout is not None and self.plan.config.n_trials is None:
            self._study.set_user_attr(jobs.BUDGET_ATTR, None)
        timeout = timeout if timeout is not None else self.plan.config.timeout
        n = workers or self.plan.config.n_workers
        remaining = self.remaining()
        if remaining is not None:
            n = max(1, min(n, remaining))
        self.workers = n
        self._procs = jobs.launch(self.name, self.storage, n, timeout=timeout, threads=threads)

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
            jobs.reap(self._procs)
        return self.status()

    def stop(self) -> int:
        """Stop for real: no new trial starts; running ones are interrupted and retried on resume."""
        return jobs.request_stop(self.name, self.storage)

    def is_running(self) -> bool:
        jobs.reap(self._procs)
        return bool(jobs.live_workers(self.name))

    def remaining(self) -> int | None:
        budget = self.budget()
        if budget is None:
            return None
        return max(0, budget - sum(map(jobs.counts_toward_budget, self.trials())))

    def budget(self) -> int | None:
        return self._study.user_attrs.get(jobs.BUDGET_ATTR, self.plan.budget())

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
        attrs = self._study.user_attrs
        budget = attrs.get(jobs.BUDGET_ATTR, self.plan.budget())
        done = sum(1 for t in trials if jobs.counts_toward_budget(t) and t.state.is_finished())
        workers = len(jobs.live_workers(self.name))
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
        elif attrs.get(jobs.STOP_ATTR):
            state = "stopped"
        elif done == 0 and not c["RUNNING"]:
            state = "queued"
        elif self.plan.config.timeout and not c["RUNNING"] and budget is None:
            state = "finished"
        else:
            state = "interrupted" if budget is not None else "finished"
        best = results.best_trial(trials, self.plan.direction)
        base = results.baseline_trial(trials, self.plan.direction)
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
        )

    def result(self, *, refit: bool = True, wall_s: float | None = None) -> TuneResult:
        """Summarize the study; with ``refit`` fit the best pipeline and score the test split."""
        trials = self.trials()
        best = results.best_trial(trials, self.plan.direction)
        base = results.baseline_trial(trials, self.plan.direction)
        pipeline = None
        test = None
        if best is not None and refit:
            pipeline = results.refit(self.plan, best)
            test = results.test_score(self.plan, pipeline)
            self._study.set_user_attr("knobs.test_score", {"trial": best.number, "value": test})
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
            n_trials=sum(
                1 for t in trials if t.state.is_finished() and jobs.counts_toward_budget(t)
            ),
            wall_s=wall_s,
            trials=results.trials_frame(trials),
            best_pipeline=pipeline,
            counts=results.counts(trials),
        )

    def delete(self) -> None:
        if self.is_running():
            raise StudyError(f"Study `{self.name}` is running; stop it before deleting it.")
        optuna.delete_study(study_name=self.name, storage=open_storage(self.storage))
        shutil.rmtree(study_dir(self.name), ignore_errors=True)


def tune(
    data: DataSource | None = None,
    target: str | None = None,
    *,
    task: str | None = None,
    models: str | Sequence[str] | None = None,
    strategy: str = "bayes",
    sampler: str = "tpe",
    n_trials: int | None = None,
    timeout: float | None = None,
    cv: int = 5,
    metric: str | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    workers: int | None = None,
    exclude: Sequence[str] = (),
    space: Mapping[str, Sequence[Param]] | None = None,
    study: str | None = None,
    resume: bool = False,
    storage: str | None = None,
    progress: Callable[[SearchStatus], None] | None = None,
    on_start: Callable[[Search], None] | None = None,
    refit: bool = True,
) -> TuneResult:
    """Tune models on a table and return the best one, refitted on the training split.

    ``tune("churn.csv", target="churn", strategy="bayes", n_trials=50)`` runs a search in worker
    processes (all cores by default) and stores it under ``KNOBS_HOME``; ``study=..., resume=True``
    continues a stopped or killed one to exactly its budget. ``n_trials`` defaults to 50 for a
    new study (unbounded when only ``timeout`` is given) and to the study's budget on resume.
    """
    started = time.perf_counter()
    if resume:
        if not study:
            raise ConfigError("`resume` needs the name of the study to continue (`study=`).")
        search = Search.open(study, storage)
        if data is not None:
            _check_same_table(search.plan, data)
        search.start(workers=workers, n_trials=n_trials, timeout=timeout)
    else:
        if data is None or target is None:
            raise ConfigError("`tune` needs a table (path, bytes or DataFrame) and a `target`.")
        config = SearchConfig(
            target=target,
            task=task,
            models=parse_models(models),
            strategy=strategy,
            sampler=sampler,
            n_trials=50 if n_trials is None and timeout is None else n_trials,
            timeout=timeout,
            cv=cv,
            metric=metric,
            test_size=test_size,
            seed=seed,
            workers=workers,
            exclude=tuple(exclude),
            space={k: tuple(v) for k, v in (space or {}).items()},
        )
        search = Search.create(data, config, name=study, storage=storage)
        search.start(workers=workers, timeout=timeout)
    if on_start is not None:
        on_start(search)
    search.wait(progress)
    return search.result(refit=refit, wall_s=time.perf_counter() - started)


def _check_same_table(plan: StudyPlan, data: DataSource) -> None:
    table = data if isinstance(data, (RawTable, pd.DataFrame)) else read_table(data)
    dataset = prepare(table, plan.target, task=plan.task, exclude=plan.config.exclude)
    if dataset.fingerprint != plan.fingerprint:
        raise StudyError(
            "This table is not the one the study was created on (its fingerprint differs); "
            "resume without the table, or start a new study."
        )


def studies(storage: str | None = None) -> list[dict[str, Any]]:
    """Every study in the storage, newest first, with what a list needs to show."""
    rows = []
    for s in optuna.get_all_study_summaries(open_storage(storage), include_best_trial=True):
        plan_attr = s.user_attrs.get(PLAN_ATTR)
        best = s.best_trial.value if s.best_trial is not None else None
        rows.append(
            {
                "study": s.study_name,
                "knobs": plan_attr is not None,
                "source": (plan_attr or {}).get("source"),
                "target": (plan_attr or {}).get("target"),
                "task": (plan_attr or {}).get("task"),
                "strategy": ((plan_attr or {}).get("config") or {}).get("strategy"),
                "models": (plan_attr or {}).get("models"),
                "metric": (plan_attr or {}).get("metric"),
                "direction": s.direction.name.lower(),
                "best_value": best,
                "n_trials": s.n_trials,
                "created": s.datetime_start,
                "running": bool(jobs.live_workers(s.study_name)) if plan_attr else False,
            }
        )
    rows.sort(key=lambda r: r["created"] or datetime.datetime.min, reverse=True)
    return rows
