"""Read a target column as labels or numbers and decide the learning task.

Labels are normalised before anything counts them: "1", "1.0" and 1 are one class, "Yes" and "yes"
are one class, so a class is never split (or found "too small") because of how it was written.
The reading itself lives in :mod:`knobs.portable` (train.py reads the target with the same code);
here its error becomes Knobs' :class:`~knobs.errors.DataError`.
"""

from __future__ import annotations

import pandas as pd

from knobs import portable
from knobs.errors import DataError
from knobs.portable import MAX_CLASSES_FOR_NUMBERS, TASKS, TargetInfo, Task

__all__ = ["MAX_CLASSES_FOR_NUMBERS", "TASKS", "TargetInfo", "Task", "analyse_target"]


def analyse_target(y: pd.Series, name: str | None = None) -> TargetInfo:
    """Normalise a target and infer its task; DataError when every value is missing."""
    try:
        return portable.analyse_target(y, name)
    except portable.TableError as exc:
        raise DataError(str(exc)) from None
