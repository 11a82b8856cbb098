"""The public Python API: ``tune`` for one call, ``Search`` for front ends that watch and steer.

The CLI and the dashboard are thin layers over these; whatever a page can do, this can. The
study's life (plan, storage, workers, reading) lives in :mod:`knobs.study`, re-exported here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from knobs.config import SearchConfig, parse_models
from knobs.data import RawTable, prepare, read_table
from knobs.errors import ConfigError, StudyError
from knobs.models import Param
from knobs.pruners import DEFAULT_PRUNER
from knobs.study import (
    DataSource,
    Preview,
    Search,
    SearchStatus,
    StudyPlan,
    TuneResult,
    list_studies,
)

__all__ = [
    "Preview",
    "Search",
    "SearchStatus",
    "TuneResult",
    "new_config",
    "preview",
    "studies",
    "tune",
]


def tune(
    data: DataSource | None = None,
    target: str | None = None,
    *,
    task: str | None = None,
    models: str | Sequence[str] | None = None,
    strategy: str = "bayes",
    sampler: str = "tpe",
    pruner: str = DEFAULT_PRUNER,
    early_stopping: bool = True,
    ensemble: bool = True,
    final_fit: str = "all",
    reproducible: bool = False,
    device: str = "auto",
    n_trials: int | None = None,
    timeout: float | None = None,
    cv: int | None = None,
    metric: str | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    workers: int | None = None,
    exclude: Sequence[str] = (),
    space: Mapping[str, Sequence[Param]] | None = None,
    warm_start: str | Sequence[str] = (),
    search_pipeline: bool = False,
    target_transform: str = "auto",
    time_column: str | None = None,
    search_rows: int | None = None,
    test_data: DataSource | None = None,
    dask: str | None = None,
    study: str | None = None,
    resume: bool = False,
    storage: str | None = None,
    progress: Callable[[SearchStatus], None] | None = None,
    on_start: Callable[[Search], None] | None = None,
    refit: bool = True,
    started_at: float | None = None,
) -> TuneResult:
    """Tune models on a table and return the best one (or the final ensemble), scored on the
    held-out test split and then, with ``final_fit="all"`` (the default), refitted on every
    labelled row.

    ``tune("churn.csv", target="churn", strategy="bayes", n_trials=50)`` runs a search in worker
    processes (all cores by default) and stores it under ``KNOBS_HOME``; ``study=..., resume=True``
    continues a stopped or killed one to exactly its budget. ``n_trials`` defaults to 50 for a
    new study (unbounded when only ``timeout`` is given) and to the study's budget on resume.
    ``warm_start`` names earlier studies (same task, shared columns) whose best configuration
    per family is queued first and re-scored on this table (see ``knobs.transfer``).
    ``test_data`` is a test table of your own (same columns and target): the search learns from
    all of ``data`` and the final model is scored on it instead of on ``test_size`` of ``data``.
    ``search_pipeline`` searches the preprocessing too (``knobs.pipelines``).
    ``target_transform`` (regression): ``auto`` also tries learning the target's log where every
    value is above 0, and the folds choose; ``log`` always, ``none`` never.
    ``search_rows``: the training rows trials are scored on; None sizes it to ``timeout`` (every
    row unless too few trials would fit on them), 0 every row, N at most N (at least 5,000).
    ``dask`` is a Dask scheduler's address (default ``$KNOBS_DASK``): the trials then run as
    tasks on that cluster's workers, one per worker (or ``workers``), each with its threads.
    """
    # The time budget bounds the whole job, reading the table to the refit, from ``started_at``
    # (the CLI passes its process's start) or from this call.
    started_at = time.time() if started_at is None else started_at
    deadline = started_at + timeout if timeout else None
    if resume:
        if not study:
            raise ConfigError("`resume` needs the name of the study to continue (`study=`).")
        if warm_start:
            raise ConfigError(
                "`warm_start` applies to a new study: a resumed study keeps the warm start it "
                "was created with. Drop `--warm-start`, or start a new study."
            )
        search = Search.open(study, storage)
        if data is not None:
            _check_same_table(search.plan, data)
        search.start(
            workers=workers, n_trials=n_trials, timeout=timeout, deadline=deadline, dask=dask
        )
        deadline = search.deadline  # without a new timeout: what the study's time budget left
    else:
        if data is None or target is None:
            raise ConfigError("`tune` needs a table (path, bytes or DataFrame) and a `target`.")
        config = new_config(
            target, task=task, models=models, strategy=strategy, sampler=sampler,
            pruner=pruner, early_stopping=early_stopping, ensemble=ensemble,
            final_fit=final_fit, reproducible=reproducible, device=device, n_trials=n_trials, timeout=timeout,
            cv=cv, metric=metric, test_size=test_size, seed=seed, workers=workers,
            exclude=exclude, space=space, warm_start=warm_start,
            search_pipeline=search_pipeline, target_transform=target_transform,
            time_column=time_column, search_rows=search_rows,
        )  # fmt: skip
        search = Search.create(
            data, config, name=study, storage=storage, test_data=test_data, deadline=deadline
        )
        search.start(workers=workers, timeout=timeout, deadline=deadline, dask=dask)
    if on_start is not None:
        on_start(search)
    search.wait(progress)
    result = search.result(refit=refit, deadline=deadline)
    result.wall_s = time.time() - started_at  # start-up to refit and test score
    return result


def new_config(
    target: str,
    *,
    models: str | Sequence[str] | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    exclude: Sequence[str] = (),
    space: Mapping[str, Sequence[Param]] | None = None,
    **options: object,
) -> SearchConfig:
    """The configuration ``tune`` builds from its keywords (the same names), for a new study:
    50 trials when neither a trial count nor a timeout is given."""
    return SearchConfig(
        target=target,
        models=parse_models(models),
        n_trials=50 if n_trials is None and timeout is None else n_trials,
        timeout=timeout,
        exclude=tuple(exclude),
        space={k: tuple(v) for k, v in (space or {}).items()},
        **options,  # type: ignore[arg-type]
    )


def preview(
    data: DataSource,
    target: str,
    *,
    test_data: DataSource | None = None,
    started_at: float | None = None,
    **options: object,
) -> Preview:
    """What ``tune(data, target, **options)`` would plan, without running or writing anything:
    the split, folds, models, budget, grid size and a duration estimate (``--dry-run``).
    ``started_at``: as for ``tune``, where its time budget counts from; the rows a short budget
    samples are sized to what is left after reading the table, as the run's are."""
    if data is None or not target:
        raise ConfigError("`preview` needs a table (path, bytes or DataFrame) and a `target`.")
    config = new_config(target, **options)  # type: ignore[arg-type]
    started_at = time.time() if started_at is None else started_at
    deadline = started_at + config.timeout if config.timeout else None
    return Search.preview(data, config, test_data=test_data, deadline=deadline)


def _check_same_table(plan: StudyPlan, data: DataSource) -> None:
    table = data if isinstance(data, (RawTable, pd.DataFrame)) else read_table(data)
    dataset = prepare(table, plan.target, task=plan.task, exclude=plan.config.exclude)
    if dataset.fingerprint != plan.fingerprint:
        raise StudyError(
            "This table is not the one the study was created on (its fingerprint differs); "
            "resume without the table, or start a new study."
        )


def studies(storage: str | None = None) -> list[dict]:
    """Every study in the storage, newest first, with what a list needs to show."""
    return list_studies(storage)
