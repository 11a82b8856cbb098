"""Model pruning ("slim"): a leaner, faster model from a tuned trial.

- ``_curves``: the feature curve (score as the least important columns are dropped) and the tree
  curve (score vs the first k trees), both by CV with the study's folds, each suggesting the
  smallest size within noise of its best (the one verdict rule of ``knobs.metrics``).
- ``_trees``: which models can be cut to k trees, and their first k trees' predictions.
- ``_cost``: model file bytes (the export writer's own dump) and predictions per second.
- ``_slim``: the report (curves, choice, before/after) and the slim export, a normal bundle
  whose schema lists only the kept columns.
- ``_jobs`` and ``worker``: the page's background run, its report cached beside the study.
- ``cli``: ``knobs slim``.
"""

from __future__ import annotations

from knobs.slim._chart import curve_data
from knobs.slim._cost import cost, model_bytes, predictions_per_second
from knobs.slim._curves import Curve, Point, feature_curve, kept_plan, tree_curve
from knobs.slim._jobs import SlimJob, job_status, start_job
from knobs.slim._slim import (
    ALL,
    AUTO,
    TREES_HOW,
    chosen_size,
    export_slim,
    parse_choice,
    slim_bundle_bytes,
    slim_report,
    slim_source,
    with_choice,
)
from knobs.slim._trees import TREE_FAMILIES, can_cut

__all__ = [
    "ALL",
    "AUTO",
    "TREES_HOW",
    "TREE_FAMILIES",
    "Curve",
    "Point",
    "SlimJob",
    "can_cut",
    "chosen_size",
    "cost",
    "curve_data",
    "export_slim",
    "feature_curve",
    "job_status",
    "kept_plan",
    "model_bytes",
    "parse_choice",
    "predictions_per_second",
    "slim_bundle_bytes",
    "slim_report",
    "slim_source",
    "start_job",
    "tree_curve",
    "with_choice",
]
