"""A trial slimmed: its two curves, the sizes chosen, and cost and scores before and after; and
the slim model exported as a normal bundle whose schema lists only the columns kept.

The report is plain JSON (``knobs slim --json``, the page's cache beside the study). Choices:
``"auto"`` takes a curve's suggestion (the smallest size within noise of its best), ``"all"``
keeps everything, a number keeps that many. Trees are cut after columns: the tree curve is
measured on the kept columns, so its chosen point's CV score is the slim model's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sklearn.base import clone

from knobs.errors import ConfigError, ExportError
from knobs.export import DEFAULT_FORMAT, ExportResult, ModelSource, export_model
from knobs.slim._cost import cost
from knobs.slim._curves import (
    PERMUTATION_REPEATS,
    PERMUTATION_ROWS,
    Curve,
    feature_columns,
    feature_curve,
    kept_plan,
    tree_curve,
)
from knobs.slim._trees import TREE_FAMILIES
from knobs.study import StudyPlan

#: ``--columns`` / ``--trees`` words besides a number.
AUTO, ALL = "auto", "all"
REPORT_VERSION = 1
#: How trees are cut in an export, in the report's and the card's words.
TREES_HOW = (
    "refitted with n_estimators=k and the study's seed: it grows the same first k trees the curve "
    "scored (checked by Knobs' tests), and train.py rebuilds it the same way"
)
RANKING_HOW = (
    "permutation importance (scikit-learn permutation_importance, {repeats} shuffles, at most "
    "{rows} rows) of the trial's pipeline on each CV fold's held-out rows, averaged over folds"
)

Progress = Callable[[str], None]


def parse_choice(value: str | int | None, what: str) -> str | int:
    """``auto``, ``all`` or a positive number, from the CLI or the page."""
    if value is None:
        return AUTO
    if isinstance(value, int):
        choice: str | int = value
    else:
        text = str(value).strip().lower()
        choice = int(text) if text.isdigit() else text
    if choice in (AUTO, ALL) or (isinstance(choice, int) and choice >= 1):
        return choice
    raise ConfigError(
        f"--{what} must be `auto` (the smallest within noise of the best), `all` or a number of "
        f"{what} to keep (1 or more), but got {value!r}."
    )


def chosen_size(curve: Curve, choice: str | int, what: str) -> int:
    """The curve size ``choice`` names; a number must be one the model has."""
    largest = max(p.size for p in curve.points)
    if choice == AUTO:
        return curve.suggested
    if choice == ALL:
        return largest
    if not isinstance(choice, int) or not 1 <= choice <= largest:
        raise ConfigError(
            f"Cannot keep {choice} {what}: the model has {largest}. Pass a number from 1 to "
            f"{largest}, `auto` or `all`."
        )
    return curve.point(choice).size


def open_trial(study: str, trial: int | None, storage: str | None) -> tuple[Any, Any]:
    """The study's search handle and its best (or numbered) complete trial."""
    from knobs import study as results

    search = results.Search.open(study, storage)
    done = results.complete(search.trials())
    if trial is None:
        chosen = results.best_trial(done, search.plan.direction)
        if chosen is None:
            raise ExportError(
                f"Study `{study}` has no completed trial yet, so there is nothing to slim. Let "
                "the search finish a trial first."
            )
        return search, chosen
    by_number = {t.number: t for t in done}
    if trial not in by_number:
        raise ExportError(
            f"Study `{study}` has no completed trial {trial} to slim (completed: "
            f"{', '.join(str(n) for n in sorted(by_number)[:20]) or 'none'}). Pick one from "
            "`knobs studies` or the dashboard."
        )
    return search, by_number[trial]


def slim_pipeline(
    plan: StudyPlan, model: str, params: Mapping[str, Any], keep: list[str], trees: int | None
) -> tuple[StudyPlan, Any, dict[str, Any], list[str]]:
    """The plan on the kept columns, the unfitted slim pipeline, its parameters and the kept
    columns' safe names (the frame it is fitted on)."""
    sub = kept_plan(plan, keep)
    params = dict(params)
    if trees is not None:
        params[TREE_FAMILIES[model]] = int(trees)
    from knobs.study import pipeline_for

    pipeline = pipeline_for(sub, model, params, seed=plan.config.seed)
    return sub, pipeline, params, [safe for _, safe in feature_columns(sub)]


def slim_report(
    study: str,
    trial: int | None = None,
    *,
    columns: str | int = AUTO,
    trees: str | int = AUTO,
    storage: str | None = None,
    fmt: str = DEFAULT_FORMAT,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], Any]:
    """The curves and the before/after of slimming a trial, and the slim pipeline fitted on the
    training split (what ``export_slim`` delivers, refitted on every row when the plan says so)."""
    from knobs import study as results

    say = progress or (lambda _m: None)
    columns, trees = parse_choice(columns, "columns"), parse_choice(trees, "trees")
    started = time.perf_counter()
    search, chosen = open_trial(study, trial, storage)
    plan = search.plan
    model, params = results.refit_params(plan, chosen)
    X, y = plan.load_split("train")
    X_test, y_test = plan.load_split("test")
    metric = plan.metric_obj()
    say(f"feature curve of trial {chosen.number} ({model}) by {plan.folds}-fold CV")
    extra = (columns,) if isinstance(columns, int) else ()
    fcurve, ranking = feature_curve(plan, model, params, extra_counts=extra, data=(X, y))
    n_cols = chosen_size(fcurve, columns, "columns")
    keep = fcurve.point(n_cols).columns
    sub = kept_plan(plan, keep)
    safe = [s for _, s in feature_columns(sub)]
    tcurve: Curve | None = None
    n_trees: int | None = None
    if model in TREE_FAMILIES:
        say(f"tree curve on the {n_cols} kept columns")
        extra_t = (trees,) if isinstance(trees, int) else ()
        tcurve = tree_curve(sub, model, params, extra_counts=extra_t, data=(X[safe], y))
    if tcurve is not None:
        n_trees = chosen_size(tcurve, trees, "trees")
        full_trees = max(p.size for p in tcurve.points)
        n_trees = None if n_trees == full_trees else n_trees
    say("before and after: refits on the training split, test scores, size and latency")
    full = results.refit(plan, chosen)
    _, pipe, slim_params, _ = slim_pipeline(plan, model, params, keep, n_trees)
    slim = pipe.fit(X[safe], y)
    before = {
        "columns": fcurve.points[0].size,
        "trees": max(p.size for p in tcurve.points) if tcurve else None,
        "cv": fcurve.points[0].score,
        "test": metric.score(full, X_test, y_test),
        **cost(full, plan.task, X, fmt),
    }
    cv_after = tcurve.point(n_trees).score if tcurve and n_trees else fcurve.point(n_cols).score
    after = {
        "columns": n_cols,
        "trees": n_trees if n_trees is not None else before["trees"],
        "cv": cv_after,
        "test": metric.score(slim, X_test[safe], y_test),
        **cost(slim, plan.task, X[safe], fmt),
    }
    report = {
        "version": REPORT_VERSION,
        "study": study,
        "trial": chosen.number,
        "model": model,
        "params": params,
        "slim_params": slim_params,
        "metric": plan.metric,
        "direction": plan.direction,
        "folds": plan.folds,
        "n_train": plan.n_train,
        "n_test": plan.n_test,
        "ranking": {
            "how": RANKING_HOW.format(repeats=PERMUTATION_REPEATS, rows=PERMUTATION_ROWS),
            "columns": ranking,
        },
        "feature_curve": fcurve.to_dict(),
        "tree_curve": tcurve.to_dict() if tcurve else None,
        "tree_curve_columns": n_cols if tcurve else None,
        "trees_how": TREES_HOW if tcurve else None,
        "choice": {
            "columns": n_cols,
            "trees": n_trees,
            "kept": keep,
            "dropped": [r["name"] for r in ranking if r["name"] not in set(keep)],
        },  # fmt: skip
        "before": before,
        "after": after,
        "cost_measured_on": (
            "the models fitted on the training split; latency: predictions per second on "
            f"{after['rows']} training rows (probabilities for classifiers), best of 5"
        ),
        "seconds": time.perf_counter() - started,
    }
    return report, slim


def _slim_extra(report: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What the card says of the slimming (``card.json`` model.extra.slim; card.md a table)."""
    keys = ("columns", "trees", "cv", "test", "bytes", "predictions_per_s")
    return {
        "before": {k: report["before"].get(k) for k in keys},
        "after": {k: after.get(k) for k in keys},
        "kept": list(report["choice"]["kept"]),
        "dropped": list(report["choice"]["dropped"]),
        "trees_how": report.get("trees_how"),
        "measured_on": report.get("cost_measured_on"),
        "size_format": report["after"].get("format"),
    }


def slim_source(
    report: Mapping[str, Any],
    *,
    storage: str | None = None,
    fitted: Any = None,
    fmt: str = DEFAULT_FORMAT,
) -> tuple[StudyPlan, ModelSource, float | None]:
    """The plan on the kept columns and the slim model as an export source: the pipeline on
    the report's columns and trees (``fitted`` on the training split when given), refitted on
    every labelled row when the study's plan says so."""
    from knobs import study as results

    search, chosen = open_trial(report["study"], int(report["trial"]), storage)
    plan = search.plan
    choice = report["choice"]
    started = time.perf_counter()
    sub, pipe, params, safe = slim_pipeline(
        plan, report["model"], report["params"], list(choice["kept"]), choice.get("trees")
    )
    X, y = plan.load_split("train")
    train_fit = fitted if fitted is not None else pipe.fit(X[safe], y)
    X_test, y_test = plan.load_split("test")
    test = plan.metric_obj().score(train_fit, X_test[safe], y_test)
    # Measured on this very fit (the page may pick other sizes than the report measured), in
    # the format "before" was measured in, so the two sizes compare (the card's file list has
    # the bundle's own bytes).
    size_fmt = report["after"].get("format") or fmt
    after = {**report["after"], "test": test, **cost(train_fit, plan.task, X[safe], size_fmt)}
    final, fit_on, rows = train_fit, "train", plan.n_train
    if plan.fits_all_rows:
        X_all, y_all = plan.load_split("all")
        final, fit_on, rows = clone(pipe).fit(X_all[safe], y_all), "all", len(y_all)
    baseline = results.baseline_trial(search.trials(), plan.direction)
    trees = choice.get("trees")
    label = f"trial {chosen.number} ({report['model']}), slim: {len(safe)} columns" + (
        f", {trees} trees" if trees else ""
    )
    source = ModelSource(
        estimator=final,
        label=label,
        kind="trial",
        family=str(report["model"]),
        params=params,
        cv_score=report["after"]["cv"],
        test_score=test,
        fit_s=time.perf_counter() - started,
        trial=chosen.number,
        extra={"slim": _slim_extra(report, after)},
        fit_on=fit_on,
        fit_rows=rows,
    )
    return sub, source, baseline.value if baseline else None


def export_slim(
    report: Mapping[str, Any],
    out: str | Path,
    fmt: str = DEFAULT_FORMAT,
    *,
    storage: str | None = None,
    fitted: Any = None,
    data: str | Path | None = None,
) -> ExportResult:
    """Export the slim model as a normal bundle (``knobs predict`` needs only the kept columns)."""
    sub, source, baseline = slim_source(report, storage=storage, fitted=fitted, fmt=fmt)
    return export_model(sub, source, fmt, out, study=str(report["study"]),
                        baseline_score=baseline, data=data)  # fmt: skip


def slim_bundle_bytes(
    report: Mapping[str, Any], fmt: str = DEFAULT_FORMAT, *, storage: str | None = None
) -> tuple[bytes, dict[str, Any]]:
    """The slim bundle as zip bytes and its card: what the page's download button holds."""
    from knobs.export import bundle_bytes

    sub, source, baseline = slim_source(report, storage=storage, fmt=fmt)
    return bundle_bytes(sub, source, fmt, study=str(report["study"]), baseline_score=baseline)


def with_choice(report: Mapping[str, Any], columns: int, trees: int | None) -> dict[str, Any]:
    """The report with another pick of the curves (the page's sliders): the kept columns of the
    feature curve's point; ``trees`` None keeps every tree. The CV score is the curves' own
    (None when trees are cut on other columns than the tree curve's); the export measures the
    test score, size and latency of the pick again."""
    fcurve = Curve.from_dict(report["feature_curve"])
    keep = fcurve.point(columns).columns
    ranked = [r["name"] for r in report["ranking"]["columns"]]
    out = dict(report)
    out["choice"] = {"columns": columns, "trees": trees, "kept": keep,
                     "dropped": [n for n in ranked if n not in set(keep)]}  # fmt: skip
    tcurve = report.get("tree_curve")
    after = dict(report["after"])
    after["columns"] = columns
    after["trees"] = trees or report["before"].get("trees")
    if not (tcurve and trees):
        after["cv"] = fcurve.point(columns).score
    elif columns == report.get("tree_curve_columns"):
        after["cv"] = Curve.from_dict(tcurve).point(trees).score
    else:  # trees cut on another column set than the tree curve's: no CV measured it
        after["cv"] = None
    out["after"] = after
    return out
