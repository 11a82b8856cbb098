"""What the Export page offers and builds: the models of a study, the formats, the bundle bytes.

Plain functions over ``knobs.study`` (trials), ``knobs.ensembles`` (kept ensembles) and
``knobs.export`` (the bundle), so tests call them without a server; the page only lays them out.
"""

from __future__ import annotations

from typing import Any

from knobs import ensembles
from knobs import study as results
from knobs.export import (
    DEFAULT_FORMAT,
    FORMATS,
    bundle_bytes,
    final_of,
    get_format,
    source_from_ensemble,
    source_from_study,
)
from knobs.formatting import fmt_score
from knobs.study.keys import BASELINE

#: format name -> how the page's format picker shows it (from the formats' own rows).
FORMAT_LABELS: dict[str, str] = {name: row.label for name, row in FORMATS.items()}


def trial_choices(study: str, storage: str | None = None) -> list[dict[str, Any]]:
    """Completed trials, the one the search delivers first (``delivered_trial``: the best, or a
    linear model within one standard error of it), then best first: number, model, score,
    whether it is a defaults trial, whether it is the best and whether it is the delivered one."""
    search = results.Search.open(study, storage)
    trials = search.trials()
    done = results.complete(trials)
    done.sort(key=lambda t: t.value, reverse=search.plan.direction == "maximize")
    best = done[0].number if done else None
    delivered, _ = results.delivered_trial(trials, search.plan.direction)
    if delivered is not None:
        done.sort(key=lambda t: t.number != delivered.number)  # stable: the rest stay best first
    return [
        {
            "number": t.number,
            "model": results.model_params(t)[0],
            "value": t.value,
            "baseline": bool(BASELINE.get(t)),
            "best": t.number == best,
            "delivered": delivered is not None and t.number == delivered.number,
        }
        for t in done
    ]


def trial_label(row: dict[str, Any]) -> str:
    """A ``trial_choices`` row as a picker shows it."""
    tags = " · best" if row["best"] else ""
    tags += (
        " · delivered: linear, within one standard error of the best"
        if (row["delivered"] and not row["best"])
        else ""
    )
    tags += " · defaults" if row["baseline"] else ""
    return f"trial {row['number']} · {row['model']} · {fmt_score(row['value'])}{tags}"


def ensemble_choices(study: str, storage: str | None = None) -> list[dict[str, Any]]:
    """The ensembles kept in ``study`` (``knobs ensemble``): id, kind, CV score, member count,
    and whether it is the one the search delivered (its final ensemble), that one first."""
    final = final_of(study, storage) or {}
    delivered = final.get("ensemble_id") if final.get("kind") == "ensemble" else None
    rows = [
        {
            "id": e["id"],
            "kind": e.get("kind"),
            "value": e.get("cv_score"),
            "members": len(e.get("members", [])),
            "delivered": e["id"] == delivered,
        }
        for e in ensembles.list_ensembles(study, storage)
    ]
    return sorted(rows, key=lambda e: not e["delivered"])


def model_options(study: str, limit: int | None = None) -> dict[str, str]:
    """A model picker's options (``trial:N`` or ``ensemble:ID`` -> label), the model the search
    delivered first: its final ensemble when it ended with one (the Export page offered the
    best trial first while the live view and `knobs export` delivered the ensemble), else its
    delivered trial. ``limit`` keeps the first trials and every defaults trial."""
    choices = trial_choices(study)
    shown = choices if limit is None else (
        choices[:limit] + [c for c in choices[limit:] if c["baseline"]]
    )  # fmt: skip
    trials = {f"trial:{c['number']}": trial_label(c) for c in shown}
    kept = {
        f"ensemble:{e['id']}": f"{e['kind']} ensemble of {e['members']} trials · "
        f"{fmt_score(e['value'])}" + (" · delivered: the search's final model" if e["delivered"] else "")
        for e in ensemble_choices(study)
    }
    first = {k: v for k, v in kept.items() if "delivered" in v}
    return {**first, **trials, **{k: v for k, v in kept.items() if k not in first}}


def study_download(
    study: str,
    trial: int | None = None,
    fmt: str = DEFAULT_FORMAT,
    storage: str | None = None,
    *,
    ensemble: str | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Refit the trial (or the kept ensemble), export it, and return the zip bytes and the card:
    what the page's download button holds."""
    fmt = get_format(fmt).name  # an unknown format is refused before the refit
    if ensemble is not None:
        plan, source, baseline = source_from_ensemble(ensemble, storage)
    else:
        plan, source, baseline = source_from_study(study, trial, storage)
    return bundle_bytes(plan, source, fmt, study=study, baseline_score=baseline)
