"""A study's whole life in one package: its plan, stored keys, budget, storage, workers, reading.

- ``keys``: every attribute Knobs stores on a study or trial, declared once.
- ``_plan``: the plan written into the study (config, split on disk, folds, schema).
- ``_budget``: the one way trials are counted against the budget.
- ``_storage``: where studies live (journal file by default, any Optuna URL).
- ``_pipeline`` and ``_objective``: the one pipeline builder and the trial's cross-validation.
- ``_runner`` and ``worker``: detached worker processes, liveness, stop and resume.
- ``_reader``: trials as a table, best and baseline, status, the refit and the report.
- ``_search``: ``Search``, the handle front ends create, start, watch and stop studies with.
- ``_estimate``: a duration estimate before a search starts.

Names are imported on first use (PEP 562), so a worker or ``knobs studies`` pays only for what it
touches. Nothing here imports ``knobs.api``: the layering runs api -> study -> core.
"""

from __future__ import annotations

from knobs._lazy import lazy_exports

_LAZY = {
    # plan
    "StudyPlan": "_plan", "build_plan": "_plan", "read_plan": "_plan", "make_folds": "_plan", "auto_folds": "_plan",
    "save_split": "_plan", "library_versions": "_plan", "TARGET_COLUMN": "_plan",
    # budget
    "planned_budget": "_budget", "study_budget": "_budget", "counts_toward_budget": "_budget",
    "spent": "_budget", "finished": "_budget", "is_scored": "_budget", "cut_by_time": "_budget",
    # storage
    "open_storage": "_storage", "storage_url": "_storage", "load_study": "_storage",
    "study_dir": "_storage", "knobs_home": "_storage", "check_study_name": "_storage",
    "claim_lock": "_storage", "default_storage_url": "_storage", "is_journal_path": "_storage",
    # pipelines and trials
    "Problem": "_pipeline", "pipeline_for": "_pipeline",
    "evaluate": "_objective", "suggest": "_objective", "TrialFailed": "_objective",
    "oof_predictions": "_objective", "OOF_MAX_VALUES": "_objective",
    # workers
    "launch": "_runner", "spawn": "_runner", "request_stop": "_runner", "live_workers": "_runner",
    "worker_alive": "_runner", "process_alive": "_runner", "process_started_at": "_runner", "worker_identity": "_runner",
    "sweep_interrupted": "_runner", "prepare_resume": "_runner", "reap": "_runner",
    # reading
    "model_params": "_reader", "trials_frame": "_reader", "best_trial": "_reader",
    "baseline_trial": "_reader", "complete": "_reader", "counts": "_reader", "refit": "_reader",
    "test_score": "_reader", "refit_params": "_reader", "perfect_trial": "_reader", "few_test_rows_caveat": "_reader", "test_caveat": "_reader", "no_model_words": "_reader", "perfect_words": "_reader", "fit_final": "_reader", "tuning_verdict": "_reader", "pick_trial": "_reader", "delivered_trial": "_reader", "devices_used": "_reader", "saved_compute": "_reader", "SearchStatus": "_reader", "TuneResult": "_reader",
    "TRIAL_COLUMNS": "_reader",
    # lifecycle
    "dask_address": "_dask", "DASK_ENV": "_dask",
    "Search": "_search", "Preview": "_search", "list_studies": "_search", "enqueue_openers": "_search", "new_study_name": "_search",
    "DataSource": "_search",
    # estimate
    "Estimate": "_estimate", "estimate": "_estimate", "probe_fit_seconds": "_estimate", "sample_size": "_sample", "scaled_fits": "_estimate",
    "probe_prep_extra_seconds": "_estimate",
}  # fmt: skip

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, {**_LAZY, "keys": "keys:"}, globals())
