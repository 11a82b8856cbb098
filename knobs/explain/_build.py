"""Explain one model of a study: which columns it relies on, and why it predicts what it does.

:func:`explain_model` works on any fitted estimator that takes the study's table; :func:`explain`
finds the model (a trial refitted on the training split, or a kept ensemble), explains it on the
held-out test split, judges whether it is worth explaining, and stores the result
(:mod:`knobs.explain._store`).

The model explained is always fitted on the training split only, even when the exported model is
refitted on every row: importances measured on rows the model has seen would reward memorising.
"""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any

import pandas as pd

from knobs.errors import StudyError
from knobs.explain._importance import (
    DEFAULT_REPEATS,
    MAX_IMPORTANCE_ROWS,
    column_importance,
    subsample,
)
from knobs.explain._shap import (
    MAX_SHAP_ROWS,
    SHAP_BUDGET_S,
    affordable_rows,
    tree_shap,
    why_no_shap,
)
from knobs.explain._store import EXPLAIN_VERSION, result_key, save
from knobs.study import StudyPlan
from knobs.study.keys import BASELINE


def explain_model(
    estimator: Any,
    plan: StudyPlan,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    family: str,
    repeats: int = DEFAULT_REPEATS,
    importance_rows: int = MAX_IMPORTANCE_ROWS,
    shap_rows: int = MAX_SHAP_ROWS,
    seed: int = 0,
) -> dict[str, Any]:
    """Permutation importance (any model) and SHAP values (tree models) of ``estimator`` on
    ``X, y``.

    ``{"importance", "shap", "shap_note", "notices", "seconds"}``; ``notices`` say in words when
    a big table was subsampled.
    """
    started = time.perf_counter()
    importance = column_importance(
        estimator, X, y, plan.columns, plan.metric_obj(), plan.direction,
        repeats=repeats, max_rows=importance_rows, seed=seed,
    )  # fmt: skip
    importance_s = time.perf_counter() - started
    started = time.perf_counter()
    rows = subsample(len(X), shap_rows, seed)
    cut = affordable_rows(estimator, X, rows, seed)
    shap = tree_shap(estimator, X, y, plan.columns, cut, labels=plan.classes)
    shap_s = time.perf_counter() - started
    notices = []
    if importance["rows"] < importance["rows_total"]:
        notices.append(
            f"Permutation importance used a random {importance['rows']:,} of the "
            f"{importance['rows_total']:,} test rows, to bound its time."
        )
    if shap is not None and len(cut) < len(rows):
        notices.append(
            f"SHAP values are shown for a random {shap['rows']:,} of the "
            f"{shap['rows_total']:,} test rows: this model's SHAP values are slow to compute "
            f"(the shap library on its trees), so they are kept to about {SHAP_BUDGET_S:.0f} s."
        )
    elif shap is not None and shap["rows"] < shap["rows_total"]:
        notices.append(
            f"SHAP values are shown for a random {shap['rows']:,} of the "
            f"{shap['rows_total']:,} test rows, to bound their time and the charts' size."
        )
    return {
        "importance": importance,
        "shap": shap,
        "shap_note": None if shap is not None else why_no_shap(estimator, family),
        "notices": notices,
        "seconds": {"importance": round(importance_s, 3), "shap": round(shap_s, 3)},
    }


def weak_warning(
    verdict: dict[str, Any] | None, label: str, *, defaults: bool = False
) -> str | None:
    """The warning shown above an explanation that may describe the wrong model, or noise.

    A defaults trial is warned about when tuning beat it (a better model exists to explain); a
    defaults trial nothing beat is the model to explain, however good or bad, and gets none (it
    was called "weak" at a test R² of 0.84). A tuned model within the noise of the defaults gets
    a caution: where its importances differ from the defaults' model's, that may be noise it fitted.
    """
    if verdict is None:
        return None
    if defaults:
        if verdict.get("call") == "gain":
            return (
                f"{label} uses the library defaults, and tuning beat it: {verdict['words']} "
                "Explain the tuned model instead."
            )
        return None
    if verdict.get("call") == "gain":
        return None
    return (
        f"{label} is barely better than the defaults. {verdict['words']} Its importances can "
        "mislead where they differ from the defaults' model's: that may be noise the tuning "
        "fitted. Read them as hints, not facts."
    )


def explain(
    study: str,
    trial: int | None = None,
    ensemble: str | None = None,
    storage: str | None = None,
    *,
    repeats: int = DEFAULT_REPEATS,
    importance_rows: int = MAX_IMPORTANCE_ROWS,
    shap_rows: int = MAX_SHAP_ROWS,
    keep: bool = True,
) -> dict[str, Any]:
    """Explain a study's trial (default: its best) or a kept ensemble, and store the result.

    The stored JSON (returned as a dict) has the model (``kind``, ``trial`` or ``ensemble``,
    ``label``, ``family``), the study's ``metric``/``direction``/``task``/``target``, the test
    rows, the ``verdict`` (:func:`knobs.study.tuning_verdict`) and its ``warning``, and
    :func:`explain_model`'s parts.
    """
    from knobs import study as results

    started = time.perf_counter()
    if ensemble is not None:
        from knobs.ensembles import fitted_ensemble

        estimator, meta = fitted_ensemble(ensemble, storage)
        home = str(meta["study"])
        search = results.Search.open(home, storage)
        plan, trials = search.plan, search.trials()
        verdict = results.tuning_verdict(trials, plan.direction)
        label, family, number = str(meta.get("label")), str(meta.get("family")), None
        defaults = False
    else:
        search = results.Search.open(study, storage)
        plan, trials = search.plan, search.trials()
        chosen = _chosen_trial(study, trials, plan, trial)
        estimator = results.refit(plan, chosen)
        model, _ = results.model_params(chosen)
        home, number, family = study, chosen.number, str(model)
        label = f"Trial {chosen.number} ({model})"
        best = results.best_trial(trials, plan.direction)
        if best is not None and best.number != chosen.number and not BASELINE.get(chosen):
            # a trial other than the best: judged on its own against the defaults
            trials = [chosen, *[t for t in trials if BASELINE.get(t)]]
        verdict = results.tuning_verdict(trials, plan.direction)
        defaults = bool(BASELINE.get(chosen))
    fit_s = time.perf_counter() - started
    X, y = plan.load_split("test")
    parts = explain_model(
        estimator, plan, X, y, family=family, repeats=repeats, importance_rows=importance_rows,
        shap_rows=shap_rows, seed=plan.config.seed,
    )  # fmt: skip
    parts["seconds"]["fit"] = round(fit_s, 3)
    result = {
        "version": EXPLAIN_VERSION,
        "study": home,
        "kind": "ensemble" if ensemble is not None else "trial",
        "trial": number,
        "ensemble": ensemble,
        "label": label,
        "family": family,
        "task": plan.task,
        "target": plan.target,
        "metric": plan.metric,
        "direction": plan.direction,
        "n_train": plan.n_train,
        "n_test": plan.n_test,
        "fitted_on": (
            f"the training split ({plan.n_train:,} rows), explained on the held-out test split "
            f"({plan.n_test:,} rows)"
        ),
        "verdict": verdict,
        "warning": weak_warning(verdict, label, defaults=defaults),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **parts,
    }
    if keep:
        save(home, result_key(number, ensemble), result)
    return result


def _chosen_trial(study: str, trials: list[Any], plan: StudyPlan, trial: int | None) -> Any:
    from knobs import study as results

    return results.pick_trial(trials, plan.direction, study, trial, purpose="to explain")


def home_and_trial(
    study: str | None, trial: int | None, ensemble: str | None, storage: str | None = None
) -> tuple[str, int | None]:
    """Where a model's explanation is kept, and its trial number (the best when not given).

    An ensemble's explanation is kept in the study that keeps the ensemble (its first study),
    whichever study the caller named; a trial's in its own study.
    """
    from knobs import study as results

    if ensemble is not None:
        from knobs.ensembles import load_ensemble

        studies = load_ensemble(ensemble, storage).get("studies") or [study]
        return str(studies[0]), None
    if study is None:
        raise StudyError("Name the study whose trial to explain (--study NAME).")
    search = results.Search.open(study, storage)
    return study, _chosen_trial(study, search.trials(), search.plan, trial).number
