"""What a build reports, and where a kept ensemble lives.

The definition is a JSON user attribute of the first study, under the study key family
:func:`knobs.study.keys.ensemble_key` (one key per ensemble, so two builds never overwrite
each other), with an unguessable id. Fitted models are never stored: the definition (studies,
candidate trials, options, member weights) is enough to rebuild the same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from knobs.errors import StudyError
from knobs.study import load_study, open_storage, storage_url
from knobs.study.keys import ENSEMBLE_PREFIX, ensemble_key


@dataclass
class EnsembleReport:
    """What a build produced: the definition (persisted), the scores, the verdict."""

    id: str
    kind: str
    options: dict[str, Any]
    studies: list[str]
    metric: str
    direction: str
    task: str
    members: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    cv_score: float
    best_single_cv_score: float
    best_single: dict[str, Any]
    test_score: float | None
    best_single_test_score: float | None
    verdict: str
    helps: bool
    notes: list[str]
    created: str
    build_s: float
    timings: dict[str, float] = field(default_factory=dict)
    #: The candidates' out-of-fold prediction correlation (``knobs.ensembles.correlation``):
    #: ``{"labels": [...], "matrix": [[...]]}``; near 1 means two candidates err alike.
    correlation: dict[str, Any] = field(default_factory=dict)
    estimator: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The plain-JSON definition (everything but the fitted estimator)."""
        data = asdict(self)
        data.pop("estimator")
        return data


def save(report: EnsembleReport | dict[str, Any], *, storage: str | None = None) -> str:
    """Keep the ensemble's definition in its first study; returns its id."""
    data = report.to_dict() if isinstance(report, EnsembleReport) else dict(report)
    study = load_study(data["studies"][0], storage_url(storage))
    ensemble_key(str(data["id"])).set(study, data)
    return str(data["id"])


def list_ensembles(studies: str | Sequence[str], storage: str | None = None) -> list[dict]:
    """The kept ensembles of ``studies`` (each is stored in its first study), newest first."""
    names = [studies] if isinstance(studies, str) else list(studies)
    url = storage_url(storage)
    found = []
    for name in names:
        attrs = load_study(name, url).user_attrs
        found += [v for k, v in attrs.items() if k.startswith(ENSEMBLE_PREFIX)]
    return sorted(found, key=lambda d: d.get("created", ""), reverse=True)


def load_ensemble(ensemble_id: str, storage: str | None = None) -> dict[str, Any]:
    """The stored definition of ensemble ``ensemble_id``, from whichever study keeps it."""
    key = ensemble_key(str(ensemble_id))
    for summary in open_storage(storage_url(storage)).get_all_studies():  # attrs only, no trial
        if key.has(summary):
            return dict(key.get(summary))
    raise StudyError(
        f"No ensemble with id `{ensemble_id}` in this storage; ids are printed by "
        "`knobs ensemble` and listed on the Ensemble page (was its study deleted?)."
    )
