"""Every key Knobs stores on a study or a trial, declared once.

Optuna keeps free-form JSON "user attributes" on studies and trials; Knobs keeps its plan, budget,
stop flag, baselines, fold scores and more there, so any process (a worker, the dashboard, a later
``--resume``, optuna-dashboard) reads the same facts. Each key is a :class:`Key` here with what it
holds; the rest of Knobs reads and writes through it and never spells an attribute name. Adding
a stored fact is one line in this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

_UNSET: Any = object()


class _HasAttrs(Protocol):
    @property
    def user_attrs(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Key:
    """One stored attribute: its name in the storage and what it holds (``doc``)."""

    name: str
    doc: str
    default: Any = None

    def get(self, holder: _HasAttrs, default: Any = _UNSET) -> Any:
        """The value on a study, trial, frozen trial or study summary (``default`` if absent)."""
        return holder.user_attrs.get(self.name, self.default if default is _UNSET else default)

    def has(self, holder: _HasAttrs) -> bool:
        return self.name in holder.user_attrs

    def set(self, holder: Any, value: Any) -> None:
        """Write on a live ``optuna.Study`` or ``optuna.Trial``."""
        holder.set_user_attr(self.name, value)

    def set_on_trial_id(self, storage: Any, trial_id: int, value: Any) -> None:
        """Write on a trial by its storage id (a trial another process left RUNNING)."""
        storage.set_trial_user_attr(trial_id, self.name, value)

    def attr(self, value: Any) -> dict[str, Any]:
        """``{name: value}``, for ``study.enqueue_trial(..., user_attrs=...)``."""
        return {self.name: value}


# --- on a study ----------------------------------------------------------------------------------
PLAN = Key("knobs.plan", "The study's plan (knobs.study.StudyPlan as JSON): config, split, schema.")
BUDGET = Key("knobs.budget", "Trials to evaluate in all (None: until the timeout).")
STOP = Key("knobs.stop", "Time a stop was requested; workers end at their next claim.")
RUN = Key("knobs.run", "How many times workers were launched (a resume is a new run).", 0)
CLOCK = Key(
    "knobs.clock",
    "{started, deadline, spent}: the time budget's last run (when it started, when it must end) "
    "and the seconds earlier runs used; a resume gets the rest.",
)
TEST_SCORE = Key("knobs.test_score", "{trial, value}: the refitted best trial on the test split.")
FINAL = Key("knobs.final", "{kind, why, ensemble_id, ...}: the model the search ended with.")
FAMILIES = Key("knobs.families", "{rung, alive, history}: how `--models auto` spread the budget.")
DASK = Key("knobs.dask", "{address, run, keys, storage, workers}: the Dask tasks of the last run.")
PRIOR = Key("knobs.prior", "{trials, sampler}: earlier trials the sampler models as a warm prior.")
EARLY_CHOICE = Key(
    "knobs.early_choice",
    "{run, trials, kind, why, ...}: the final choice (FinalChoice) judged when no trial could "
    "end before the time kept back for an ensemble; 'single' is final and the workers run on.",
)
#: Ensembles are stored one attribute each: ``knobs.ensemble.<id>``.
ENSEMBLE_PREFIX = "knobs.ensemble."


def ensemble_key(ensemble_id: str) -> Key:
    return Key(ENSEMBLE_PREFIX + ensemble_id, "An ensemble built over this study's trials.")


# --- on a trial ----------------------------------------------------------------------------------
BASELINE = Key("knobs.baseline", "True for a model's library-defaults trial.", False)
START = Key("knobs.start", "True for a model's known-good starting point, tried early.", False)
FAIL_REASON = Key("knobs.fail_reason", "Why the trial failed, in words for the user.")
CV = Key("knobs.cv", "{fold_scores, std, fit_s, rounds?}: the trial's cross-validation.")
PRUNED = Key("knobs.pruned", "{after_fold, folds, fit_s, saved_s, fold_scores}: where it stopped.")
OOF = Key("knobs.oof", "{file, kind, shape}: where the out-of-fold predictions are kept.")
WORKER = Key("knobs.worker", "{host, pid, start, dask?}: the worker process that claimed the trial.")
INTERRUPTED = Key("knobs.interrupted", "True when stopped or killed before it finished.", False)
RETRY_OF = Key("knobs.retry_of", "Number of the interrupted trial this one runs again.")
WARM = Key("knobs.warm", "{study, trial, old_value}: where a warm-started trial's config comes from.")

STUDY_KEYS: tuple[Key, ...] = (
    PLAN, BUDGET, STOP, RUN, TEST_SCORE, FINAL, FAMILIES, DASK, PRIOR, EARLY_CHOICE,
)  # fmt: skip
TRIAL_KEYS: tuple[Key, ...] = (
    BASELINE,
    START,
    FAIL_REASON,
    CV,
    PRUNED,
    OOF,
    WORKER,
    INTERRUPTED,
    RETRY_OF,
    WARM,
)
#: Marks a retried trial keeps from the trial it runs again.
CARRIED_ON_RETRY: tuple[Key, ...] = (BASELINE, START, WARM)
