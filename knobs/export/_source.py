"""What to export: a fitted estimator and what its card says about it.

The exporter takes any fitted scikit-learn estimator plus a :class:`ModelSource`; the two
adapters here make one from a study's trial (refit on the whole training split) or from a kept
ensemble. Nothing after this point depends on how the model was made.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from knobs.errors import ExportError
from knobs.study import StudyPlan
from knobs.study.keys import BASELINE, TEST_SCORE


@dataclass(frozen=True)
class ModelSource:
    """A fitted estimator and what its card says about it.

    ``estimator`` takes the table with safe column names (``plan.load_split``) and follows the
    scikit-learn API; ``kind`` is ``"trial"`` or ``"ensemble"`` (any label works);
    ``params`` are shown in the card as given.
    """

    estimator: Any
    label: str
    kind: str
    family: str
    params: Mapping[str, Any]
    cv_score: float | None
    test_score: float | None
    fit_s: float
    trial: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: An ensemble's out-of-fold predictions that ``estimator.fit`` was given (one array per
    #: member): a stacking meta-learner is fitted on them, and train.py must fit it on the same.
    oof: tuple[np.ndarray, ...] | None = field(default=None, repr=False, compare=False)
    #: The rows ``estimator`` was fitted on: ``"train"`` (the training split) or ``"all"``
    #: (refitted on every labelled row after the test split scored the training-split fit).
    fit_on: str = "train"
    fit_rows: int | None = None


def source_from_study(
    study: str, trial: int | None = None, storage: str | None = None
) -> tuple[StudyPlan, ModelSource, float | None]:
    """Refit a study's best (or chosen) trial on the whole training split, and score its test.

    Returns the plan, the source and the study's baseline CV score (the card's comparison).
    """
    from knobs import study as results

    search = results.Search.open(study, storage)
    trials = search.trials()
    plan = search.plan
    chosen = results.pick_trial(
        trials, plan.direction, study, trial, purpose="to export", error=ExportError
    )
    started = time.perf_counter()
    test = _stored_test_score(search, chosen.number)
    if test is None or not plan.fits_all_rows:
        pipeline = results.refit(plan, chosen)
        test = results.test_score(plan, pipeline)
    else:  # the search scored this trial's training-split fit already: fit it on every row
        model, params = results.refit_params(plan, chosen)
        pipeline = results.pipeline_for(plan, model, params, seed=plan.config.seed)
    pipeline, rows = results.fit_final(plan, pipeline)
    fit_s = time.perf_counter() - started
    model, params = results.model_params(chosen)
    baseline = results.baseline_trial(trials, plan.direction)
    is_baseline = bool(BASELINE.get(chosen))
    source = ModelSource(
        estimator=pipeline,
        label=f"trial {chosen.number} ({model}{', defaults' if is_baseline else ''})",
        kind="trial",
        family=str(model),
        params={} if is_baseline else params,
        cv_score=chosen.value,
        test_score=test,
        fit_s=fit_s,
        trial=chosen.number,
        fit_on="all" if rows > plan.n_train else "train",
        fit_rows=rows,
    )
    return plan, source, baseline.value if baseline else None


def _stored_test_score(search: Any, trial: int) -> float | None:
    """The test score the search itself measured for ``trial`` (its training-split fit), when it
    ended with that single trial: the export then need not fit it on the training split again."""
    stored = TEST_SCORE.get(search.study) or {}
    if stored.get("trial") != trial or (stored.get("final") or {}).get("kind") == "ensemble":
        return None
    value = stored.get("value")
    return float(value) if value is not None else None


def source_from_ensemble(
    ensemble_id: str, storage: str | None = None
) -> tuple[StudyPlan, ModelSource, float | None]:
    """A kept ensemble (``knobs.ensembles``) refit on the training split, ready to export.

    The baseline shown on its card is the best single trial's CV score: what the ensemble has
    to beat.
    """
    from knobs import ensembles
    from knobs import study as results

    estimator, meta = ensembles.fitted_ensemble(ensemble_id, storage)
    plan = results.Search.open(meta["study"], storage).plan
    test = results.test_score(plan, estimator)
    started = time.perf_counter()
    estimator, rows = results.fit_final(plan, estimator)
    refit_s = time.perf_counter() - started if rows > plan.n_train else 0.0
    oof = None
    if meta.get("kind") == "stacking":
        # The same pool `fitted_ensemble` fitted the meta-learner on (stored OOF predictions,
        # read again from disk): train.py carries them, since the CSV cannot recreate them.
        only = [(c["study"], int(c["trial"])) for c in meta["candidates"]]
        pool = ensembles.candidates(meta["studies"], max(2, len(only)), storage=storage, only=only)
        oof = tuple(pool.oof)
    members = [
        {k: m.get(k) for k in ("study", "trial", "model", "weight")}
        for m in meta.get("members", [])
    ]
    source = ModelSource(
        estimator=estimator,
        label=str(meta.get("label") or f"ensemble {ensemble_id}"),
        kind="ensemble",
        family=str(meta.get("family") or "ensemble"),
        params={"kind": meta.get("kind"), "options": meta.get("options", {}), "members": members},
        cv_score=meta.get("cv_score"),
        test_score=test,
        fit_s=float(meta.get("fit_s") or 0.0) + refit_s,
        extra={"ensemble_id": ensemble_id, "studies": meta.get("studies", [])},
        oof=oof,
        fit_on="all" if rows > plan.n_train else "train",
        fit_rows=rows,
    )
    return plan, source, meta.get("best_single_cv_score")
