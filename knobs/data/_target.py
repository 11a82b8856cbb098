"""Read a target column as labels or numbers and decide the learning task.

Labels are normalised before anything counts them: "1", "1.0" and 1 are one class, "Yes" and "yes"
are one class, so a class is never split (or found "too small") because of how it was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from knobs.data import _clean
from knobs.errors import DataError

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")
MAX_CLASSES_FOR_NUMBERS = 20


@dataclass(frozen=True, eq=False)
class TargetInfo:
    task: Task
    present: np.ndarray           # bool mask of rows with a target value
    labels: pd.Series             # canonical label strings, NaN where missing
    numbers: pd.Series | None     # float values when every present value is a number
    classes: tuple[str, ...]      # sorted distinct labels (numerically when they are numbers)


def analyse_target(y: pd.Series, name: str | None = None) -> TargetInfo:
    """Normalise a target and infer its task; DataError when every value is missing."""
    name = str(name if name is not None else y.name)
    numbers: pd.Series | None
    if is_bool_dtype(y.dtype):
        labels = y.astype(object).map(str, na_action="ignore")
        labels = labels.where(y.notna())
        numbers = None
    elif is_numeric_dtype(y.dtype):
        numbers = pd.Series(y.to_numpy(dtype="float64", na_value=np.nan), index=y.index)
        labels = numbers.map(_clean.canonical_str, na_action="ignore")
    else:
        strings = _clean.as_strings(y)
        codes, uniques = pd.factorize(strings)
        uniques = pd.Series(uniques, dtype="str")
        parsed = _clean.parse_numbers(uniques).to_numpy()
        unparsed = np.isnan(parsed) & ~uniques.str.lower().isin(["nan"]).to_numpy()
        if len(uniques) and not unparsed.any():
            values = np.where(codes >= 0, parsed[np.maximum(codes, 0)], np.nan)
            numbers = pd.Series(values, index=y.index, dtype="float64")
            labels = numbers.map(_clean.canonical_str, na_action="ignore")
        else:
            numbers = None
            labels = _bool_labels(strings, uniques, codes)
    present = labels.notna().to_numpy()
    if not present.any():
        raise DataError(f"Target `{name}` is missing in every row: there is nothing to learn. "
                        "Choose another target column.")
    if numbers is not None:
        finite = numbers[present]
        integral = bool(np.isfinite(finite).all() and (finite == np.round(finite)).all())
        distinct = finite.nunique()
        if not (integral and distinct <= MAX_CLASSES_FOR_NUMBERS):
            return TargetInfo("regression", present, labels, numbers, ())
        classes = tuple(_clean.canonical_str(v) for v in np.sort(finite.unique()))
    else:
        classes = tuple(sorted(labels[present].unique()))
    task: Task = "binary" if len(classes) <= 2 else "multiclass"
    return TargetInfo(task, present, labels, numbers, tuple(str(c) for c in classes))


def _bool_labels(strings: pd.Series, uniques: pd.Series, codes: np.ndarray) -> pd.Series:
    """Yes/yes/YES are one class, spelled as its most frequent spelling in the file."""
    lowered = uniques.str.lower()
    if not _clean.bool_pair(set(lowered)):
        return strings
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    spelling: dict[str, str] = {}
    for low in set(lowered):
        members = np.flatnonzero((lowered == low).to_numpy())
        spelling[low] = str(uniques.iloc[members[np.argmax(counts[members])]])
    mapped = np.array([spelling[v] for v in lowered], dtype=object)
    out = np.where(codes >= 0, mapped[np.maximum(codes, 0)], np.nan)
    return pd.Series(out, index=strings.index, dtype=object)
