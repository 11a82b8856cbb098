"""Transfer learning: start a search from earlier studies, fine-tune a saved model on new rows.

- ``_compat``: is an earlier study's knowledge safe to reuse on a new table (from stored schemas:
  task, target, columns by name and kind), and which studies are "on tables like this one".
- ``_warm``: what a warm start queues (each earlier study's best configuration per family,
  marked with ``keys.WARM``) and the one notice saying what carries over and what does not.
- ``_finetune``: continue training an exported model on new rows, preprocessing frozen, and
  compare it with the model as is and with one trained from scratch.
- ``cli``: ``knobs finetune``.

Names are imported on first use (PEP 562): ``knobs.study`` imports ``apply_warm_start`` while
creating a study, and a worker pays nothing for the fine-tuning code.
"""

from __future__ import annotations

from knobs._lazy import lazy_exports

_LAZY = {
    "Schema": "_compat", "schema_of": "_compat", "Compatibility": "_compat", "compare": "_compat",
    "check_sources": "_compat", "compatible_studies": "_compat", "related_studies": "_compat",
    "group_by_schema": "_compat",
    "Carried": "_warm", "WarmStart": "_warm", "best_per_family": "_warm",
    "plan_warm_start": "_warm", "apply_warm_start": "_warm", "warm_report": "_warm",
    "warm_summary": "_warm", "study_warm_report": "_warm",
    "warm_notice": "_warm",
    "FINETUNE_FAMILIES": "_finetune", "FinetuneResult": "_finetune", "finetune": "_finetune",
    "CONTENDERS": "_finetune",
    "finetune_bytes": "_finetune", "how_finetuned": "_finetune",
}  # fmt: skip

__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
