"""What an exported Knobs model is made of, in one self-contained module with stable names.

Everything a fitted Knobs pipeline or ensemble needs at predict time, and everything the
generated ``train.py`` needs to rebuild one, lives here and nowhere else:

- the value cleaning (``to_float``, ``to_category``, ``to_datetime``, ...), so a value is read the
  same way when profiling, training and predicting;
- reading the target (``analyse_target``) and the seeded train/test split (``split_indices``);
- the preprocessing transformers (``KindCoercer``, ``DateParts``, ``TextTfidf``,
  ``TargetEncoding``);
- the ensemble estimators (``GreedyEnsemble*``, ``StackingEnsemble*``).

Rules that keep it portable: it imports only the standard library, numpy, pandas, scipy and
scikit-learn (never another ``knobs`` module), and its public names do not change, because
saved models name them. skops records a class as ``module.name`` (``knobs.portable.KindCoercer``)
and builds it on load by importing that path; ``knobs export`` copies this file whole into
``train.py``, which therefore runs the very code Knobs ran. Knobs imports these names from here
(``knobs.data``, ``knobs.ensembles``). Models saved by Knobs 0.1.0 name the same classes by older
paths (``knobs.data._preprocess.KindCoercer``, ``knobs.ensembles.StackingEnsembleClassifier``);
those modules keep re-exporting them, so such files keep loading.

Every estimator follows the scikit-learn contract (parameters stored as given in ``__init__``,
learned attributes end in ``_``, no lambdas), so pipelines clone, cross-validate and save with
skops.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype
from pandas.tseries.api import guess_datetime_format
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    TransformerMixin,
    clone,
    is_classifier,
)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, check_cv, cross_val_predict
from sklearn.preprocessing import TargetEncoder
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

__all__ = [
    "DATE_PARTS",
    "FALSE_WORDS",
    "MAX_CLASSES_FOR_NUMBERS",
    "MISSING",
    "TASKS",
    "TRUE_WORDS",
    "DateParts",
    "GreedyEnsembleClassifier",
    "GreedyEnsembleRegressor",
    "KindCoercer",
    "StackingEnsembleClassifier",
    "StackingEnsembleRegressor",
    "TableError",
    "TargetEncoding",
    "TargetInfo",
    "Task",
    "TextTfidf",
    "ZERO_LED",
    "analyse_target",
    "as_strings",
    "bool_pair",
    "is_true_word",
    "placeholder_mask",
    "MARKER_WORDS",
    "CSV_DATES",
    "canonical_str",
    "clock_hours",
    "column_names",
    "fullest_sheet",
    "records_frame",
    "sheet_as_csv",
    "guess_date_formats",
    "meta_features",
    "parse_dates",
    "parse_dates_as",
    "parse_numbers",
    "sample_indices",
    "set_greedy_selection",
    "split_indices",
    "stratified_split",
    "to_category",
    "to_datetime",
    "to_float",
    "time_order",
    "to_ns",
    "words_to_float",
]


class TableError(ValueError):
    """A problem with the table, said in words (Knobs raises it as ``knobs.errors.DataError``)."""


def column_names(header: Sequence[str]) -> list[str]:
    """A header's column names as Knobs gives them: stripped; a repeated name gets `_2`, `_3`
    (two `value` columns from a join); an empty one is `column_N`, N its position. One rule for
    the file a model was trained on and every file it reads later (knobs predict, train.py)."""
    raw = [str(h) for h in header]
    names = [h.strip() for h in raw]
    taken = set(names)
    # Which of the columns sharing a name keeps it, and which get `_2`, `_3`: the one written
    # exactly so first, then by how the header writes them (`Note` before `Note `), then by
    # place. Columns told apart only by spaces then keep their names in any column order: by
    # place alone, a file with `Note` before `Note ` swapped them and changed predictions.
    order = sorted(range(len(raw)), key=lambda i: (raw[i] != names[i], raw[i], i))
    seen: set[str] = set()
    for i in order:
        n = names[i]
        if not n or n not in seen:
            seen.add(n)
            continue
        new, k = f"{n}_2", 3
        while new in taken:
            new, k = f"{n}_{k}", k + 1
        names[i] = new
        taken.add(new)
    for i, n in enumerate(names):
        if not n:
            new, k = f"column_{i + 1}", 2
            while new in taken:
                new, k = f"column_{i + 1}_{k}", k + 1
            names[i] = new
            taken.add(new)
    return names


# --- reading values: one way at profiling, training and predict time ----------------------------
#
# Functions work on the distinct values of a column where possible: a 50k-row categorical has a
# few dozen distinct strings, and parsing those is what keeps profiling under a second.

TRUE_WORDS = frozenset({"yes", "true", "y", "t"})
FALSE_WORDS = frozenset({"no", "false", "n", "f"})
_BOOL_PAIRS = (
    frozenset({"yes", "no"}),
    frozenset({"true", "false"}),
    frozenset({"y", "n"}),
    frozenset({"t", "f"}),
)

_SPACES = re.compile(r"[\s\u00a0\u202f']")  # spaces and Swiss apostrophes used as thousands marks
_PARENTHESISED = re.compile(r"^\(([^()\-+]+)\)$")
_MINUS_SIGNS = re.compile(r"^[\u2212\u2012\u2013\ufe63\uff0d](?=[\d.,$€£¥₹])")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(,\d{3})+")
# One currency sign before the number (after its sign) or after it, or a percent sign after it.
_UNIT_SIGNS = "$€£¥₹"
_UNIT = re.compile(rf"[-+]?[{_UNIT_SIGNS}][^{_UNIT_SIGNS}%]+|[^{_UNIT_SIGNS}%]+[{_UNIT_SIGNS}%]")
#: Thousands, millions and billions written short ("5.7k", "1.2M", "3bn"). A lower-case "m" is
#: none of them: in a table it is as often metres or minutes.
_SHORT_SCALES = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9, "bn": 1e9}
_SHORT_SCALED = re.compile(r"([-+]?(?:\d[\d.,]*|[.,]\d+))(k|K|M|B|bn)")
#: A time of day: `9:05`, `14:35`, `14:35:10` (hours 0-23, minutes and seconds 0-59), or on a
#: 12-hour clock, `2:35 PM`, `2:35pm`, `11:05:10 a.m.` (hours 1-12).
_CLOCK = re.compile(
    r"^(\d{1,2}):([0-5]\d)(?::([0-5]\d))?(?:\s*([AaPp])\.?\s*[Mm]\.?)?$"
)
#: A whole number written with leading zeros (`007`, `02134`): a code (a ZIP code, a customer
#: number) whose zeros are part of it, so a label and not a quantity.
ZERO_LED = re.compile(r"0\d+")
_DATE_HINT = re.compile(r"\d{1,4}[-/.]\d{1,2}(?:[-/.]\d{1,4})?|[A-Za-z]{3,9}[ .-]\d|\d{8}")
_NS_MIN = pd.Timestamp.min.as_unit("ns")
_NS_MAX = pd.Timestamp.max.as_unit("ns")


# What str() makes of missing values; a user's DataFrame often carries them as text.
_STR_ARTIFACTS = ("", "nan", "NaN", "None", "<NA>", "NaT")


def as_strings(s: pd.Series) -> pd.Series:
    """Text view of a column: stripped strings, with blanks and missing values as NaN."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if s.dtype == object and len(s):
        # Mixed Python objects (a user's DataFrame): a float 1.0 next to strings reads as "1".
        s = s.map(canonical_str, na_action="ignore")
    out = s.astype("str").str.strip()
    return out.where(~out.isin(_STR_ARTIFACTS))


def canonical_str(value: object) -> object:
    """str() of a value, writing integral floats without ".0" so 1.0 and "1" are one category."""
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return np.nan
        if np.isfinite(value) and float(value).is_integer():
            return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def parse_numbers(values: pd.Series, decimal_hint: str = ".") -> pd.Series:
    """Read numbers written as text: " 42 ", "1,234", "1.234,5", "1,5" (decimal comma), "inf",
    "$1,234.50", "12 €", "45%" (read as 0.45), "(1,234.00)" (accounting's -1234), "5.7k" and
    "1.2M" (5,700 and 1,200,000; see :data:`_SHORT_SCALES`), "14:35" (a time of day, read as
    hours since midnight by :func:`clock_hours`).

    A comma alone is a thousands mark only when every such value is grouped by three digits and the
    file does not use decimal commas; otherwise it is the decimal mark. Unreadable values are NaN.
    """
    written = t = values.astype("str").str.replace(_SPACES, "", regex=True)
    # the minus sign of typeset text (U+2212) and the dashes word processors put for it: a column
    # of `−0.532` was 552 categories
    t = t.str.replace(_MINUS_SIGNS, "-", regex=True)
    # Accounting's negatives: "(1,234.00)" is -1,234.00.
    t = t.str.replace(_PARENTHESISED, r"-\1", regex=True)
    # Amounts and shares as spreadsheets write them ("$1,234.50", "12 €", "45%"): the sign goes,
    # a percentage becomes the share it stands for (45% -> 0.45).
    unit = t.str.fullmatch(_UNIT).fillna(False).astype(bool)
    percent = unit & t.str.endswith("%").fillna(False).astype(bool)
    if unit.any():
        t = t.where(~unit, t.str.replace(rf"[{_UNIT_SIGNS}%]", "", regex=True))
    scale = pd.Series(np.where(percent, 0.01, 1.0), index=t.index)
    t = _without_short_scale(t, scale)
    out = _read_commas(pd.to_numeric(t, errors="coerce").astype("float64"), t, decimal_hint)
    out = out * scale
    unread = out.isna().to_numpy()  # only what no number reading took can be a time of day
    if unread.any():  # by position: a batch's index may repeat labels
        out.iloc[np.flatnonzero(unread)] = clock_hours(written[unread]).to_numpy()
    return out


def _without_short_scale(t: pd.Series, scale: pd.Series) -> pd.Series:
    """``t`` with "k", "M", "B" or "bn" taken off its numbers ("5.7k" -> "5.7"), their factor
    (1,000 and so on) multiplied into ``scale`` in place."""
    if not t.str.contains(r"\d[kKMB]", regex=True).fillna(False).any():
        return t
    parts = t.str.fullmatch(_SHORT_SCALED).fillna(False).astype(bool)
    if not parts.any():
        return t
    found = t[parts].str.extract(_SHORT_SCALED)
    scale[parts] *= found[1].map(_SHORT_SCALES).to_numpy(dtype="float64")
    return t.where(~parts, found[0])


def _read_commas(out: pd.Series, t: pd.Series, decimal_hint: str) -> pd.Series:
    """``out`` (the numbers of ``t`` read as is) with the values written with commas read too."""
    need = out.isna() & t.notna() & t.str.contains(",", regex=False).fillna(False).astype(bool)
    if not need.any():
        return out
    u = t[need]
    last_comma = u.str.rfind(",")
    last_dot = u.str.rfind(".")
    has_dot = last_dot >= 0
    euro = has_dot & (last_comma > last_dot)
    us = has_dot & (last_dot > last_comma)
    only_comma = ~has_dot
    comma_thousands = decimal_hint != "," and bool(
        u[only_comma].str.fullmatch(_THOUSANDS).fillna(False).all()
    )
    fixed = u.copy()
    fixed[euro] = u[euro].str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    fixed[us] = u[us].str.replace(",", "", regex=False)
    if comma_thousands:
        fixed[only_comma] = u[only_comma].str.replace(",", "", regex=False)
    else:
        fixed[only_comma] = u[only_comma].str.replace(",", ".", regex=False)
    out = out.copy()
    out[need] = pd.to_numeric(fixed, errors="coerce").astype("float64")
    return out


def clock_hours(values: pd.Series) -> pd.Series:
    """Times of day ("9:05", "14:35", "14:35:10") as hours since midnight (14:35 is 14.5833),
    NaN for anything else. A clock time is a quantity: 14:35 comes after 9:05 and next to 14:40,
    which a model that saw each time as a category of its own (1,079 of them) could not know."""
    strings = values.astype("str").str.strip()
    out = pd.Series(np.nan, index=values.index, dtype="float64")
    maybe = strings.str.contains(":", regex=False).fillna(False).astype(bool)
    if not maybe.any():
        return out
    parts = strings[maybe].str.extract(_CLOCK)
    hours = parts[0].astype("float64")
    half = parts[3].str.lower()  # "a", "p", or NaN on a 24-hour clock
    twelve = half.notna()
    hours = hours.where(twelve, hours.where(hours <= 23))
    hours = hours.where(~twelve, (hours % 12 + 12 * (half == "p")).where(hours.between(1, 12)))
    seconds = parts[2].astype("float64").fillna(0.0)
    out[maybe] = (hours + parts[1].astype("float64") / 60 + seconds / 3600).to_numpy()
    return out


#: 1 and 0 beside yes/no words: one more spelling of each side (`True`, `yes`, `1`, `Y`).
_BOOL_DIGITS = {"1": True, "1.0": True, "0": False, "0.0": False}


def bool_pair(lowered: set[str]) -> bool:
    """True when a column's distinct lowered values are yes/no words: one pair (yes/no,
    true/false, y/n, t/f), or several spellings of the two sides, 1 and 0 among them, with at
    least one word of each side (`True`, `yes`, `1`, `False`, `no`, `0`: an export that mixed
    spellings was read as 10 classes, and a column as 10 categories)."""
    if len(lowered) == 2 and frozenset(lowered) in _BOOL_PAIRS:
        return True
    words = lowered - set(_BOOL_DIGITS)
    return (len(lowered) > 2 and lowered <= TRUE_WORDS | FALSE_WORDS | set(_BOOL_DIGITS)
            and bool(words & TRUE_WORDS) and bool(words & FALSE_WORDS))  # fmt: skip


#: The other side of each yes/no spelling, so that a target's two classes read as a pair.
_COUNTERPART = {"yes": "no", "true": "false", "y": "n", "t": "f", "1": "0", "1.0": "0.0"}


def _case_style(word: str) -> str:
    return "upper" if word.isupper() else "title" if word[:1].isupper() else "lower"


def is_true_word(lowered: str) -> bool:
    """The side of a yes/no spelling :func:`bool_pair` accepted: yes/true/y/t/1."""
    return lowered in TRUE_WORDS or _BOOL_DIGITS.get(lowered, False)


#: Placeholders for "no value" as spreadsheets and exports write them; with any 1 to 3
#: punctuation marks (`-`, `?`, `--`, `#`), see :func:`placeholder_mask`.
MARKER_WORDS = frozenset({
    "na", "n/a", "n.a.", "nan", "none", "null", "nil", "missing", "unknown", "unk", "undefined",
    "empty", "blank", "not available", "not applicable", "tbd", "#value!", "#div/0!", "#ref!",
    "#n/a",
})  # fmt: skip
#: Placeholders that may also name a class of a target ("damage: none, minor, major").
CLASS_LIKE_MARKERS = frozenset({"none", "empty", "blank"})


def placeholder_mask(texts: pd.Series, *, target: bool = False) -> np.ndarray:
    """Which values are placeholders for "no value" (:data:`MARKER_WORDS`, or 1 to 3
    punctuation marks); for a target, not those that may be a class (:data:`CLASS_LIKE_MARKERS`)."""
    words = texts.astype("str").str.strip().str.lower()
    markers = MARKER_WORDS - CLASS_LIKE_MARKERS if target else MARKER_WORDS
    found = words.isin(markers) | words.str.fullmatch(r"[^\w\s]{1,3}").fillna(False)
    return found.to_numpy(dtype=bool)


def words_to_float(s: pd.Series) -> pd.Series:
    """yes/true/y/t -> 1.0, no/false/n/f -> 0.0, numbers kept, anything else NaN."""
    low = as_strings(s).str.lower()
    out = pd.Series(np.nan, index=s.index, dtype="float64")
    out[low.isin(TRUE_WORDS).fillna(False).astype(bool)] = 1.0
    out[low.isin(FALSE_WORDS).fillna(False).astype(bool)] = 0.0
    rest = out.isna() & low.notna()
    if rest.any():
        out[rest] = parse_numbers(low[rest]).to_numpy()
    return out


def to_float(s: pd.Series, kind: str = "numeric") -> pd.Series:
    """Any column as float64, infinities as NaN: the numeric view used for numeric and boolean."""
    if is_bool_dtype(s.dtype):
        out = s.astype("float64") if s.notna().all() else s.astype("Float64").astype("float64")
    elif is_numeric_dtype(s.dtype):
        out = pd.Series(s.to_numpy(dtype="float64", na_value=np.nan), index=s.index)
    elif is_datetime64_any_dtype(s.dtype):
        out = pd.Series(np.nan, index=s.index, dtype="float64")
    elif kind == "boolean":
        out = words_to_float(s)
    else:
        strings = as_strings(s)
        out = parse_numbers(strings)
    return out.where(np.isfinite(out))


#: Date formats one column may mix (an export that wrote ISO dates, then US ones, then "04 Mar").
MAX_DATE_FORMATS = 3


def _order_free(fmt: str) -> str:
    """``fmt`` with its day and month tokens made alike: two formats equal here differ only in
    which of day and month comes first, and a column never mixes those (03/04 would be read both
    ways, silently)."""
    return fmt.replace("%d", "%?").replace("%m", "%?")


def _add_guesses(formats: list[str], values: pd.Series) -> None:
    """Add to ``formats`` pandas' guess for each of ``values``, month-first and day-first."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for value in values:
            for dayfirst in (False, True):
                fmt = guess_datetime_format(value, dayfirst=dayfirst)
                if fmt and fmt not in formats:
                    formats.append(fmt)


def guess_date_formats(uniques: pd.Series) -> tuple[str, ...]:
    """The strftime formats (at most :data:`MAX_DATE_FORMATS`, the one that reads most first)
    that together read most of a sample of distinct strings, or () when they are not dates.

    Each value is then read by the first format that reads it. Formats are fixed, never guessed
    value by value: dateutil on each value is slow and silently swaps day and month between rows,
    so day-first and month-first never share a column (the one that reads more wins).
    """
    sample = uniques.dropna().astype("str")
    sample = sample[sample.str.len().between(6, 40)]
    if len(sample) > 200:  # from all over the column: a table may change format halfway down
        picks = np.sort(np.random.default_rng(0).choice(len(sample), 200, replace=False))
        sample = sample.iloc[picks]
    if sample.empty or sample.str.contains(_DATE_HINT).mean() < 0.9:
        return ()
    candidates: list[str] = []
    chosen: list[str] = []
    left = sample
    while len(left) and len(chosen) < MAX_DATE_FORMATS:
        _add_guesses(candidates, left.head(20))  # from what no chosen format reads yet
        best, best_read = None, 0
        read_by_best = None
        for fmt in candidates:
            if any(_order_free(fmt) == _order_free(c) for c in chosen):
                continue
            read = parse_dates(left, fmt).notna().to_numpy()
            if read.sum() > best_read:
                best, best_read, read_by_best = fmt, int(read.sum()), read
        # A second format must read a real share, not a stray value or two.
        if best is None or (chosen and best_read < max(2, 0.02 * len(sample))):
            break
        chosen.append(best)
        assert read_by_best is not None
        left = left[~read_by_best]
    return tuple(chosen) if 1 - len(left) / len(sample) >= 0.9 else ()


def parse_dates_as(values: pd.Series, formats: Sequence[str]) -> pd.Series:
    """Strings to datetime64[ns], each read by the first of ``formats`` that reads it; NaT where
    none does."""
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in formats:
        missing = out.isna().to_numpy()
        if not missing.any():
            break
        out[missing] = parse_dates(values[missing], fmt).to_numpy()
    return out


def parse_dates(values: pd.Series, fmt: str | None) -> pd.Series:
    """Strings to datetime64[ns] (naive, UTC for zoned values), NaT where unreadable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            zoned = fmt is not None and (fmt == "mixed" or "%z" in fmt or "%Z" in fmt)
            out = pd.to_datetime(values, format=fmt, errors="coerce", utc=zoned)
        except (ValueError, TypeError, OverflowError):
            out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    return to_ns(pd.Series(out, index=values.index))


def to_ns(s: pd.Series) -> pd.Series:
    """datetime64 of any unit or zone to naive datetime64[ns]; out-of-range dates become NaT."""
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    if s.dtype != "datetime64[ns]":
        s = s.where((s >= _NS_MIN) & (s <= _NS_MAX))
        s = s.astype("datetime64[ns]")
    return s


def to_datetime(s: pd.Series, formats: Sequence[str] | None = None) -> pd.Series:
    """Any column as datetime64[ns]: the view used for datetime features at fit and predict.

    ``formats``: the formats learned when the column was fitted (:class:`DateParts`), so new rows
    are read as the training rows were; a batch whose days are all 12 or less would otherwise
    guess month-first for a day-first column. None: guessed from the values themselves."""
    if is_datetime64_any_dtype(s.dtype):
        return to_ns(s)
    strings = as_strings(s)
    codes, uniques = pd.factorize(strings)
    uniques = pd.Series(uniques, dtype="str")
    found = tuple(formats) if formats else guess_date_formats(uniques)
    if not found and len(uniques) > 5000:
        # No shared format: parsing each distinct value on its own (dateutil) is too slow here.
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    parsed = parse_dates_as(uniques, found) if found else parse_dates(uniques, "mixed")
    values = parsed.to_numpy()
    if len(values) == 0:
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    out = np.where(codes >= 0, values[np.maximum(codes, 0)], np.datetime64("NaT", "ns"))
    return pd.Series(out, index=s.index, dtype="datetime64[ns]")


def to_category(s: pd.Series) -> pd.Series:
    """Any column as object strings with NaN for missing: the view used for categories and text."""
    if is_datetime64_any_dtype(s.dtype):
        strings = s.astype(object).map(str, na_action="ignore")
        return strings.astype(object).where(s.notna(), np.nan)
    if is_numeric_dtype(s.dtype) and not is_bool_dtype(s.dtype):
        return s.astype(object).map(canonical_str, na_action="ignore").astype(object)
    out = as_strings(s).astype(object)
    return out.where(out.notna(), np.nan)


# --- the target: labels or numbers, and the learning task -----------------------------------------
#
# Labels are normalised before anything counts them: "1", "1.0" and 1 are one class, "Yes" and
# "yes" are one class, so a class is never split (or found "too small") because of how it was
# written.

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")
MAX_CLASSES_FOR_NUMBERS = 20


@dataclass(frozen=True, eq=False)
class TargetInfo:
    task: Task
    present: np.ndarray  # bool mask of rows with a target value
    labels: pd.Series  # canonical label strings, NaN where missing
    numbers: pd.Series | None  # float values when every present value is a number
    classes: tuple[str, ...]  # sorted distinct labels (numerically when they are numbers)
    markers: tuple[str, ...] = ()  # placeholders read as a missing target (`-`, `?`, `N/A`)


def analyse_target(y: pd.Series, name: str | None = None) -> TargetInfo:
    """Normalise a target and infer its task; TableError when every value is missing."""
    name = str(name if name is not None else y.name)
    numbers: pd.Series | None
    markers: tuple[str, ...] = ()
    if is_bool_dtype(y.dtype):
        labels = y.astype(object).map(str, na_action="ignore")
        labels = labels.where(y.notna())
        numbers = None
    elif is_numeric_dtype(y.dtype):
        numbers = pd.Series(y.to_numpy(dtype="float64", na_value=np.nan), index=y.index)
        labels = numbers.map(canonical_str, na_action="ignore")
    else:
        strings = as_strings(y)
        codes, uniques = pd.factorize(strings)
        uniques = pd.Series(uniques, dtype="str")
        strings, codes, uniques, markers = _without_placeholders(strings, codes, uniques)
        parsed = parse_numbers(uniques).to_numpy()
        unparsed = np.isnan(parsed) & ~uniques.str.lower().isin(["nan"]).to_numpy()
        if len(uniques) and not unparsed.any():
            values = np.where(codes >= 0, parsed[np.maximum(codes, 0)], np.nan)
            numbers = pd.Series(values, index=y.index, dtype="float64")
            labels = numbers.map(canonical_str, na_action="ignore")
        else:
            numbers = None
            labels = _bool_labels(strings, uniques, codes)
    present = labels.notna().to_numpy()
    if not present.any():
        raise TableError(
            f"Target `{name}` is missing in every row: there is nothing to learn. "
            "Choose another target column."
        )
    if numbers is not None:
        finite = numbers[present]
        integral = bool(np.isfinite(finite).all() and (finite == np.round(finite)).all())
        distinct = finite.nunique()
        if not (integral and distinct <= MAX_CLASSES_FOR_NUMBERS):
            return TargetInfo("regression", present, labels, numbers, (), markers)
        classes = tuple(canonical_str(v) for v in np.sort(finite.unique()))
    else:
        classes = tuple(sorted(labels[present].unique()))
    task: Task = "binary" if len(classes) <= 2 else "multiclass"
    return TargetInfo(task, present, labels, numbers, tuple(str(c) for c in classes), markers)


#: Placeholders in a target are read as missing while together they are at most this share of
#: its filled rows: beyond it they are too many to be stray, and stay classes.
MAX_TARGET_PLACEHOLDERS = 0.2


def _without_placeholders(
    strings: pd.Series, codes: np.ndarray, uniques: pd.Series
) -> tuple[pd.Series, np.ndarray, pd.Series, tuple[str, ...]]:
    """A target's values with its placeholders (`-`, `?`, `unknown`, `N/A`) read as missing, and
    the placeholders found: a yes/no target holding them was read as 5 classes, two of them then
    "too rare" to search. Kept as they are when they are all the values, or too many to be stray."""
    marker = placeholder_mask(uniques, target=True)
    if not marker.any() or marker.all():
        return strings, codes, uniques, ()
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    if counts[marker].sum() > MAX_TARGET_PLACEHOLDERS * counts.sum():
        return strings, codes, uniques, ()
    kept = strings.where(~pd.Series(marker[np.maximum(codes, 0)] & (codes >= 0), index=strings.index))
    codes, found = pd.factorize(kept)
    return kept, codes, pd.Series(found, dtype="str"), tuple(str(v) for v in uniques[marker])


def _bool_labels(strings: pd.Series, uniques: pd.Series, codes: np.ndarray) -> pd.Series:
    """Yes/yes/YES are one class, as are `Churned` and `churned`, spelled as its most frequent
    spelling in the file; `True`, `yes` and `1` beside `False`, `no` and `0` are two classes."""
    # one class whatever its case or closing punctuation (`yes`, `Yes!`, `yes.`); `A+` and `A`
    # stay apart
    lowered = uniques.str.casefold().str.replace(r"[.!?]+$", "", regex=True)
    if bool_pair(set(lowered)):
        lowered = pd.Series(np.where([is_true_word(v) for v in lowered], "yes", "no"))
    elif lowered.nunique() == len(lowered):
        return strings
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    spelling: dict[str, str] = {}
    for low in sorted(set(lowered), reverse=True):  # "yes" before "no"
        members = np.flatnonzero((lowered == low).to_numpy())

        def rank(m: int) -> tuple[bool, bool, int]:
            # a word names the class before a digit does (`Yes`, not `1`), a spelling without
            # closing punctuation before one with it (`yes`, not `yes.`), then the most frequent
            written = str(uniques.iloc[m])
            return (written.casefold() not in _BOOL_DIGITS,
                    not written.endswith((".", "!", "?")), int(counts[m]))  # fmt: skip

        spelling[low] = str(uniques.iloc[max(members, key=rank)])
        if low == "no" and "yes" in spelling:  # `True` beside `False`, not beside `no`
            pair = _COUNTERPART.get(spelling["yes"].casefold())
            same = [m for m in members if str(uniques.iloc[m]).casefold() == pair]
            if same:
                style = _case_style(spelling["yes"])
                spelling[low] = str(uniques.iloc[max(  # `True` beside `False`, not `false`
                    same, key=lambda m: (_case_style(str(uniques.iloc[m])) == style, counts[m]))])
    mapped = np.array([spelling[v] for v in lowered], dtype=object)
    out = np.where(codes >= 0, mapped[np.maximum(codes, 0)], np.nan)
    return pd.Series(out, index=strings.index, dtype=object)


# --- the train/test split ---------------------------------------------------------------------


# --- tables that are not CSV, as CSV text: the one way Knobs and train.py read them -----------

#: How a workbook's or a columnar file's dates are written into the CSV text read after.
CSV_DATES = "%Y-%m-%d %H:%M:%S"


def fullest_sheet(sheets: dict[Any, pd.DataFrame]) -> Any:
    """The title of the workbook sheet with the most filled cells: the table, beside notes."""
    return max(sheets, key=lambda t: int(sheets[t].notna().to_numpy().sum()))


def sheet_as_csv(sheet: pd.DataFrame) -> str:
    """A sheet read without a header, empty rows and columns dropped, as CSV text."""
    sheet = sheet.dropna(how="all").dropna(axis=1, how="all")
    return sheet.to_csv(index=False, header=False, date_format=CSV_DATES)


def records_frame(records: list[Any]) -> tuple[pd.DataFrame, list[str]]:
    """JSON records as a table: nested objects as `parent.field` columns (pandas'
    ``json_normalize``), a list in a cell as its JSON text; and the columns that held lists."""
    import json

    frame = pd.json_normalize(records)
    listed = [c for c in frame.columns
              if frame[c].map(lambda v: isinstance(v, list | dict)).any()]  # fmt: skip
    for column in listed:
        frame[column] = frame[column].map(
            lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v
        )
    return frame, listed


def time_order(dates: pd.Series) -> np.ndarray:
    """Row positions from the earliest date to the latest, ties in row order, rows without a
    date first (they never land in a latest-rows test split)."""
    stamps = pd.Series(dates).to_numpy(dtype="datetime64[ns]").astype("int64")  # NaT: the least
    return np.argsort(stamps, kind="stable")


def split_indices(
    y: np.ndarray, task: str, test_size: float, seed: int, classes: Sequence[str] = (),
    order: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) row numbers: ``ceil(test_size * n)`` test rows drawn with ``seed``,
    stratified by class code for classification (``y`` holds codes into ``classes``); with
    ``order`` (:func:`time_order`), the last rows of that order, the latest ones."""
    n = len(y)
    n_test = math.ceil(test_size * n)
    rng = np.random.default_rng(seed)
    if order is not None:
        order = np.asarray(order)
        test_idx, train_idx = order[n - n_test:], order[: n - n_test]
    elif task == "regression":
        order = rng.permutation(n)
        test_idx, train_idx = order[:n_test], order[n_test:]
    else:
        test_idx, train_idx = stratified_split(np.asarray(y), n_test, rng, classes, test_size)
    return np.sort(train_idx), np.sort(test_idx)


def stratified_split(
    y: np.ndarray, n_test: int, rng: np.random.Generator, classes: Sequence[str], test_size: float
) -> tuple[np.ndarray, np.ndarray]:
    """(test, train) row numbers with every class in both parts, in proportion; TableError when a
    class has fewer than 2 rows or the test part cannot hold one row of each class."""
    k = len(classes)
    counts = np.bincount(y, minlength=k)
    for code, count in enumerate(counts):
        if count < 2:
            raise TableError(
                f"Class `{classes[code]}` has {count} row{'s' * (count != 1)}; a "
                "train/test split needs at least 2 rows of every class. Add rows of "
                "that class or remove it."
            )
    if n_test < k or len(y) - n_test < k:
        raise TableError(
            f"A test share of {test_size} of {len(y)} rows gives {n_test} test "
            f"rows, too few to hold each of the {k} classes in both parts. Use a "
            "larger test share or add rows."
        )
    # Per-class test counts: proportional, at least 1, at most count - 1; then fix the total.
    share = counts * n_test / len(y)
    take = np.clip(np.floor(share).astype(int), 1, counts - 1)
    while take.sum() < n_test:
        room = np.flatnonzero(take < counts - 1)
        if not len(room):
            break
        take[room[np.argmax((share - take)[room])]] += 1
    while take.sum() > n_test:
        room = np.flatnonzero(take > 1)
        take[room[np.argmax((take - share)[room])]] -= 1
    test_parts, train_parts = [], []
    for code in range(k):
        members = rng.permutation(np.flatnonzero(y == code))
        test_parts.append(members[: take[code]])
        train_parts.append(members[take[code] :])
    return np.concatenate(test_parts), np.concatenate(train_parts)


def sample_indices(
    y: np.ndarray, task: str, n_keep: int, seed: int, classes: Sequence[str] = ()
) -> np.ndarray:
    """Sorted row numbers of a seeded sample of about ``n_keep`` of ``y``'s rows: the rows a
    search scores its trials on when the table is too large for its time budget
    (``SearchConfig.search_rows``). For classes, each class keeps its share, and a rare class
    its rows up to 3, so every fold still holds it."""
    n = len(y)
    if n_keep >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if task == "regression" or not len(classes):
        return np.sort(rng.choice(n, size=n_keep, replace=False))
    y = np.asarray(y)
    parts = []
    for code in range(len(classes)):
        members = np.flatnonzero(y == code)
        take = max(min(len(members), 3), round(len(members) * n_keep / n))
        parts.append(rng.permutation(members)[:take])
    return np.sort(np.concatenate(parts))


# --- preprocessing transformers ------------------------------------------------------------------
#
# Each branch of Knobs' ColumnTransformer starts by coercing its columns to the kind decided at
# profiling time, so the fitted pipeline also accepts new rows as a CSV reader delivers them: a
# categorical column that is entirely missing arrives as floats, a boolean as "Yes"/"No", a date
# as text.

MISSING = "__missing__"
DATE_PARTS = ("year", "month", "day", "weekday", "hour")


def _as_frame(X: object, name: str) -> pd.DataFrame:
    """Validate X the way scikit-learn's check_array would, but keep strings and mixed columns."""
    if sp.issparse(X):
        raise TypeError(f"{name} does not support sparse input: pass a dense array or a DataFrame.")
    if isinstance(X, pd.DataFrame):
        frame = X
    elif isinstance(X, pd.Series):
        frame = X.to_frame()
    else:
        array = np.asarray(X)
        if array.ndim != 2:
            raise ValueError(
                f"Expected 2D array, got {array.ndim}D array instead. Reshape your data either "
                "using array.reshape(-1, 1) if your data has a single feature or "
                "array.reshape(1, -1) if it contains a single sample."
            )
        frame = pd.DataFrame(array)
    if any(np.issubdtype(t, np.complexfloating) for t in frame.dtypes if isinstance(t, np.dtype)):
        raise ValueError("Complex data not supported.")
    return frame


class _ColumnsMixin(TransformerMixin, BaseEstimator):
    """Record the input columns at fit time; shared by the small transformers below."""

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are expected: later steps impute them
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags

    def _remember(self, X: object) -> pd.DataFrame:
        frame = _as_frame(X, type(self).__name__)
        if frame.shape[0] == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={frame.shape}) while a minimum "
                "of 1 is required."
            )
        if frame.shape[1] == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={frame.shape}) while a minimum "
                "of 1 is required."
            )
        self.n_features_in_ = frame.shape[1]
        if isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return frame

    def _check(self, X: object) -> pd.DataFrame:
        check_is_fitted(self, "n_features_in_")
        frame = _as_frame(X, type(self).__name__)
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {frame.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )
        return frame

    def _input_names(self, input_features: Sequence[str] | None) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        if input_features is not None:
            return np.asarray(input_features, dtype=object)
        if hasattr(self, "feature_names_in_"):
            return self.feature_names_in_
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)


class KindCoercer(_ColumnsMixin):
    """Coerce columns to one kind: floats for numeric/boolean, strings (NaN missing) otherwise.

    Parameters
    ----------
    kind : {"numeric", "boolean", "categorical"}
        The kind decided when the data was profiled.
    """

    def __init__(self, kind: str = "numeric") -> None:
        self.kind = kind

    def fit(self, X: object, y: object = None) -> KindCoercer:
        if self.kind not in ("numeric", "boolean", "categorical"):
            raise ValueError(
                f"kind must be 'numeric', 'boolean' or 'categorical', got {self.kind!r}."
            )
        self._remember(X)
        return self

    def transform(self, X: object) -> np.ndarray:
        frame = self._check(X)
        if self.kind == "categorical":
            columns = [
                to_category(frame.iloc[:, i]).to_numpy(dtype=object) for i in range(frame.shape[1])
            ]
            return np.column_stack(columns) if columns else np.empty((len(frame), 0), object)
        out = np.empty(frame.shape, dtype="float64")
        # Columns already held as numbers are converted as one block: one by one, a 1,500-column
        # table spent 1.8 s of every fold here, more than its model's fit.
        typed = [
            i for i, t in enumerate(frame.dtypes)
            if (is_numeric_dtype(t) or is_bool_dtype(t)) and not is_datetime64_any_dtype(t)
        ]  # fmt: skip
        if typed:
            block = np.array(frame.iloc[:, typed].to_numpy(dtype="float64", na_value=np.nan))
            block[~np.isfinite(block)] = np.nan
            out[:, typed] = block
        for i in sorted(set(range(frame.shape[1])) - set(typed)):
            out[:, i] = to_float(frame.iloc[:, i], self.kind).to_numpy(dtype="float64")
        return out

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        return self._input_names(input_features)


class DateParts(_ColumnsMixin):
    """Split each date column into year, month, day, weekday and hour (floats, NaN when missing).

    Models cannot use a timestamp as such; these parts carry trend (year) and seasonality.

    Parameters
    ----------
    formats : list of list of str, optional
        Per column, the strftime formats its text is written in (as profiled); None or an empty
        entry: learned from the text seen at fit.
    """

    def __init__(self, formats: list[list[str]] | None = None) -> None:
        self.formats = formats

    def fit(self, X: object, y: object = None) -> DateParts:
        frame = self._remember(X)
        if self.formats is not None and len(self.formats) != frame.shape[1]:
            raise ValueError(f"formats has {len(self.formats)} entries for {frame.shape[1]} "
                             "columns.")
        # The formats each column is read with, so every later batch is read the same way:
        # those the table was profiled with, else those that read the text seen here (empty:
        # none known, guessed again per batch).
        self.formats_ = [
            list(self.formats[i]) if self.formats is not None and self.formats[i]
            else [] if is_datetime64_any_dtype(frame.iloc[:, i].dtype)
            else list(guess_date_formats(pd.Series(as_strings(frame.iloc[:, i]).dropna().unique(),
                                                   dtype="str")))
            for i in range(frame.shape[1])
        ]  # fmt: skip
        return self

    def transform(self, X: object) -> np.ndarray:
        frame = self._check(X)
        learned = getattr(self, "formats_", None)  # models exported before formats were learned
        blocks = []
        for i in range(frame.shape[1]):
            dates = to_datetime(frame.iloc[:, i], learned[i] if learned else None)
            parts = [
                dates.dt.year,
                dates.dt.month,
                dates.dt.day,
                dates.dt.day_of_week,
                dates.dt.hour,
            ]
            blocks.append(
                np.column_stack([p.to_numpy(dtype="float64", na_value=np.nan) for p in parts])
            )
        if not blocks:
            return np.empty((len(frame), 0))
        return np.hstack(blocks)

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        names = self._input_names(input_features)
        return np.asarray([f"{n}_{p}" for n in names for p in DATE_PARTS], dtype=object)


class TextTfidf(_ColumnsMixin):
    """A small TF-IDF of one free-text column; missing text is the empty document.

    Parameters
    ----------
    max_features : int
        Vocabulary size cap; small, because text is one column among many.
    """

    def __init__(self, max_features: int = 50) -> None:
        self.max_features = max_features

    def _documents(self, frame: pd.DataFrame) -> list[str]:
        if frame.shape[1] != 1:
            raise ValueError(f"TextTfidf takes exactly one column, got {frame.shape[1]}.")
        values = to_category(frame.iloc[:, 0])
        return values.fillna("").astype(str).tolist()

    def fit(self, X: object, y: object = None) -> TextTfidf:
        frame = self._remember(X)
        vectorizer = TfidfVectorizer(max_features=self.max_features, dtype=np.float64)
        try:
            vectorizer.fit(self._documents(frame))
        except ValueError:  # empty vocabulary: every document blank in this fold
            vectorizer = None
        self.vectorizer_ = vectorizer
        return self

    def transform(self, X: object) -> np.ndarray:
        frame = self._check(X)
        if self.vectorizer_ is None:
            return np.zeros((len(frame), 1))
        return self.vectorizer_.transform(self._documents(frame)).toarray()

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        name = self._input_names(input_features)[0]
        check_is_fitted(self, "vectorizer_")
        if self.vectorizer_ is None:
            return np.asarray([f"{name}_empty"], dtype=object)
        words = self.vectorizer_.get_feature_names_out()
        return np.asarray([f"{name}_{w}" for w in words], dtype=object)


class TargetEncoding(_ColumnsMixin):
    """scikit-learn's TargetEncoder, with the target type read from the dtype of ``y``.

    Knobs' ``Dataset.y`` is float64 for regression and int64 codes for classes; TargetEncoder's own guess
    would call integral prices "multiclass". The folds of its cross-fitting shrink when a class is
    too small for ``cv`` of them.

    Parameters
    ----------
    cv : int
        Folds for cross-fitting in ``fit_transform``.
    random_state : int
        Seed of the fold shuffling.
    """

    def __init__(self, cv: int = 5, random_state: int = 0) -> None:
        self.cv = cv
        self.random_state = random_state

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def fit(self, X: object, y: object) -> TargetEncoding:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: object, y: object = None, **fit_params: object) -> np.ndarray:
        if y is None:
            raise ValueError("TargetEncoding requires y to be passed, but the target y is None.")
        frame = self._remember(X)
        target = np.asarray(y)
        if np.issubdtype(target.dtype, np.floating):
            target_type = "continuous"
            splitter: object = KFold(
                max(2, min(self.cv, len(target))), shuffle=True, random_state=self.random_state
            )
        else:
            _, counts = np.unique(target, return_counts=True)
            target_type = "binary" if len(counts) <= 2 else "multiclass"
            folds = max(2, min(self.cv, int(counts.min())))
            splitter = (
                StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
                if counts.min() >= 2
                else KFold(
                    max(2, min(self.cv, len(target))), shuffle=True, random_state=self.random_state
                )
            )
        self.encoder_ = TargetEncoder(target_type=target_type, cv=splitter)
        return self.encoder_.fit_transform(frame.to_numpy(dtype=object), target)

    def transform(self, X: object) -> np.ndarray:
        frame = self._check(X)
        return self.encoder_.transform(frame.to_numpy(dtype=object))

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        names = self._input_names(input_features)
        check_is_fitted(self, "encoder_")
        return self.encoder_.get_feature_names_out(names)


# --- ensembles on out-of-fold predictions ------------------------------------------------------
#
# Greedy selection and stacking learn how to combine members from out-of-fold (OOF) predictions,
# then refit every member that counts on the whole training set. ``fit(X, y, oof=...)`` takes OOF
# predictions that were already computed (Knobs keeps them for every trial, so this costs no
# extra fits); without them the estimator computes them with ``cross_val_predict`` over ``cv``.
# scikit-learn's own ``StackingClassifier`` always recomputes them, which is exactly the cost
# stored predictions avoid; hence these classes. ``X`` is handed to the members as given (a
# DataFrame stays a DataFrame, so Knobs pipelines find their columns by name).


def _check_members(estimators: Any) -> list[tuple[str, BaseEstimator]]:
    if not isinstance(estimators, (list, tuple)) or len(estimators) == 0:
        raise ValueError(
            "`estimators` must be a non-empty list of (name, estimator) pairs, "
            f"but got {estimators!r}."
        )
    names = []
    for item in estimators:
        if not (isinstance(item, tuple) and len(item) == 2 and hasattr(item[1], "fit")):
            raise ValueError(
                f"Each entry of `estimators` must be a (name, estimator) pair; got {item!r}."
            )
        names.append(item[0])
    if len(set(names)) != len(names):
        raise ValueError(f"Member names must be unique; got {names}.")
    return list(estimators)


class _OOFEnsemble(BaseEstimator):
    """Shared plumbing: input checks, OOF predictions (given or computed), member refits."""

    def _check_X(self, X: Any, *, reset: bool) -> None:
        validate_data(
            self, X, reset=reset, dtype=None, ensure_all_finite=False, ensure_min_samples=1
        )

    def _check_Xy(self, X: Any, y: Any) -> np.ndarray:
        _, y_checked = validate_data(
            self, X, y, dtype=None, ensure_all_finite=False, ensure_min_samples=2,
            y_numeric=not is_classifier(self),
        )  # fmt: skip
        if is_classifier(self):
            check_classification_targets(y_checked)
        return np.asarray(y_checked)

    def _response(self) -> str:
        return "predict_proba" if is_classifier(self) else "predict"

    def _oof(self, members: list, X: Any, y: np.ndarray, oof: Sequence | None) -> list[np.ndarray]:
        n = len(y)
        if oof is not None:
            if len(oof) != len(members):
                raise ValueError(
                    f"`oof` must hold one prediction array per member ({len(members)}), "
                    f"but holds {len(oof)}."
                )
            arrays = [np.asarray(p, dtype=np.float64) for p in oof]
            for (name, _), a in zip(members, arrays, strict=True):
                if a.shape[0] != n:
                    raise ValueError(
                        f"OOF predictions of member `{name}` have {a.shape[0]} rows; X has {n}."
                    )
            return arrays
        cv = check_cv(self.cv, y, classifier=is_classifier(self))
        method = self._response()
        out = []
        for name, est in members:
            if not hasattr(est, method):
                raise ValueError(
                    f"Member `{name}` ({type(est).__name__}) has no `{method}`; "
                    "wrap it in CalibratedClassifierCV to get probabilities."
                )
            out.append(np.asarray(cross_val_predict(clone(est), X, y, cv=cv, method=method)))
        return out

    def _member_outputs(self, X: Any) -> list[np.ndarray]:
        method = self._response()
        return [np.asarray(getattr(est, method)(X), dtype=np.float64) for est in self.estimators_]


# --- greedy ensemble selection -------------------------------------------------------------------

#: ``select(oof_predictions, y, scoring, classes, n_iter) -> weights`` (one per member): how a
#: greedy ensemble chooses its weights when ``fit`` is not given them. Knobs sets it when
#: ``knobs.ensembles`` is imported (Caruana's selection, scored with the Knobs metric ``scoring``
#: names); this module holds no metric table of its own, so without a selection set, ``fit``
#: needs ``weights=`` (train.py passes the weights Knobs chose).
GreedySelection = Callable[
    [list[np.ndarray], np.ndarray, "str | None", "np.ndarray | None", int], np.ndarray
]
_GREEDY_SELECTION: dict[str, GreedySelection] = {}


def set_greedy_selection(select: GreedySelection | None) -> None:
    """Set (or with None, clear) how greedy ensembles choose weights from OOF predictions."""
    _GREEDY_SELECTION.pop("select", None)
    if select is not None:
        _GREEDY_SELECTION["select"] = select


def _check_weights(weights: Any, members: list) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(members),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(
            f"`weights` must be {len(members)} non-negative numbers (one per member), not all 0; "
            f"got {weights!r}."
        )
    return w


class _Greedy(_OOFEnsemble):
    """Caruana's greedy ensemble selection; the subclasses say how a blend predicts."""

    def __init__(
        self,
        estimators: list[tuple[str, BaseEstimator]],
        *,
        n_iter: int = 50,
        cv: Any = 5,
        scoring: str | None = None,
    ) -> None:
        self.estimators = estimators
        self.n_iter = n_iter
        self.cv = cv
        self.scoring = scoring

    def fit(
        self, X: Any, y: Any, oof: Sequence | None = None, weights: Sequence[float] | None = None
    ) -> _Greedy:
        """Select weights on ``oof`` (one array per member: ``(n, n_classes)`` probabilities or
        ``(n,)`` values) or on OOF predictions computed over ``cv``; or take ``weights`` as
        chosen before (one per member). Only the members with a weight are refitted."""
        members = _check_members(self.estimators)
        if not isinstance(self.n_iter, (int, np.integer)) or self.n_iter < 1:
            raise ValueError(f"`n_iter` must be an integer >= 1, but got {self.n_iter!r}.")
        y = self._check_Xy(X, y)
        classes = None
        if is_classifier(self):
            self.classes_ = classes = np.unique(y)
        if weights is None:
            select = _GREEDY_SELECTION.get("select")
            if select is None:
                raise ValueError(
                    f"{type(self).__name__}.fit was given no `weights` and no selection is set: "
                    "pass `weights=` (one per member), or `set_greedy_selection(...)` (importing "
                    "`knobs.ensembles` sets Knobs' own)."
                )
            preds = self._oof(members, X, y, oof)
            weights = select(preds, y, self.scoring, classes, int(self.n_iter))
        self.weights_ = _check_weights(weights, members)
        self.members_ = np.flatnonzero(self.weights_)
        self.estimators_ = [clone(members[i][1]).fit(X, y) for i in self.members_]
        return self

    def _blend(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        self._check_X(X, reset=False)
        outs = self._member_outputs(X)
        w = self.weights_[self.members_]
        return sum(wi * o for wi, o in zip(w, outs, strict=True)) / w.sum()


class GreedyEnsembleClassifier(ClassifierMixin, _Greedy):
    """Caruana's greedy ensemble selection over classifiers' out-of-fold probabilities.

    Parameters
    ----------
    estimators : list of (name, estimator)
        Candidate members; each needs ``predict_proba``.
    n_iter : int
        Selection rounds (members may be picked repeatedly; weights are pick counts).
    cv : int, splitter or iterable
        Folds for computing OOF predictions when ``fit`` is not given them.
    scoring : str or None
        The metric the selection minimizes the loss of on the OOF predictions, by name (Knobs'
        metric names, once ``knobs.ensembles`` has set the selection); default ``log_loss``.
    """

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._blend(X)

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class GreedyEnsembleRegressor(RegressorMixin, _Greedy):
    """Caruana's greedy ensemble selection over regressors' out-of-fold predictions.

    Same parameters as :class:`GreedyEnsembleClassifier`; ``scoring`` defaults to ``rmse``.
    """

    def predict(self, X: Any) -> np.ndarray:
        return self._blend(X)


# --- stacking ------------------------------------------------------------------------------------


def meta_features(preds: Sequence[np.ndarray], classifier: bool) -> np.ndarray:
    """The meta-learner's inputs: member outputs side by side.

    A binary classifier's two probability columns sum to one, so only the positive class's is
    kept (the other is redundant and makes linear meta-learners ill-posed).
    """
    cols = []
    for p in preds:
        p = np.asarray(p, dtype=np.float64)
        if p.ndim == 1:
            p = p[:, None]
        if classifier and p.shape[1] == 2:
            p = p[:, 1:]
        cols.append(p)
    return np.hstack(cols)


class _Stacking(_OOFEnsemble):
    """Stacking on out-of-fold predictions; the subclasses choose the default meta-learner."""

    def __init__(
        self,
        estimators: list[tuple[str, BaseEstimator]],
        *,
        final_estimator: BaseEstimator | None = None,
        passthrough: bool | BaseEstimator = False,
        cv: Any = 5,
    ) -> None:
        self.estimators = estimators
        self.final_estimator = final_estimator
        self.passthrough = passthrough
        self.cv = cv

    def _default_final(self) -> BaseEstimator:
        raise NotImplementedError

    def _passthrough_features(self, X: Any, *, fit: bool) -> np.ndarray | None:
        if self.passthrough is False or self.passthrough is None:
            return None
        if self.passthrough is True:
            return check_array(X, dtype=np.float64, ensure_all_finite=False)
        if fit:
            self.passthrough_ = clone(self.passthrough).fit(X, self._y_fit)
        return np.asarray(self.passthrough_.transform(X), dtype=np.float64)

    def _stack(self, preds: Sequence[np.ndarray], X: Any, *, fit: bool) -> np.ndarray:
        meta = meta_features(preds, is_classifier(self))
        extra = self._passthrough_features(X, fit=fit)
        return meta if extra is None else np.hstack([meta, extra])

    def fit(self, X: Any, y: Any, oof: Sequence | None = None) -> _Stacking:
        """Fit the meta-learner on ``oof`` (one array per member) or on OOF predictions
        computed over ``cv``, then refit every member on ``X``."""
        members = _check_members(self.estimators)
        if not (
            isinstance(self.passthrough, bool)
            or self.passthrough is None
            or isinstance(self.passthrough, TransformerMixin)
            or hasattr(self.passthrough, "transform")
        ):
            raise ValueError(
                f"`passthrough` must be True, False or a transformer; got {self.passthrough!r}."
            )
        y = self._check_Xy(X, y)
        if is_classifier(self):
            self.classes_ = np.unique(y)
        preds = self._oof(members, X, y, oof)
        self._y_fit = y
        try:
            meta = self._stack(preds, X, fit=True)
        finally:
            del self._y_fit
        final = self.final_estimator if self.final_estimator is not None else self._default_final()
        self.final_estimator_ = clone(final).fit(meta, y)
        self.estimators_ = [clone(est).fit(X, y) for _, est in members]
        return self

    def _meta(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        self._check_X(X, reset=False)
        return self._stack(self._member_outputs(X), X, fit=False)


class StackingEnsembleClassifier(ClassifierMixin, _Stacking):
    """Stacking whose meta-learner learns from out-of-fold probabilities given to ``fit``.

    Parameters
    ----------
    estimators : list of (name, estimator)
        Members; each needs ``predict_proba``. All are refitted on the whole training set.
    final_estimator : classifier or None
        The meta-learner (default: logistic regression).
    passthrough : bool or transformer
        Also give the meta-learner the features: ``True`` for numeric ``X`` as is, or a
        transformer (fitted on ``X``) that turns a mixed table into numbers.
    cv : int, splitter or iterable
        Folds for computing OOF predictions when ``fit`` is not given them.
    """

    def _default_final(self) -> BaseEstimator:
        return LogisticRegression(max_iter=2000)

    def predict_proba(self, X: Any) -> np.ndarray:
        meta = self._meta(X)
        return self.final_estimator_.predict_proba(meta)

    def predict(self, X: Any) -> np.ndarray:
        meta = self._meta(X)
        return self.final_estimator_.predict(meta)


class StackingEnsembleRegressor(RegressorMixin, _Stacking):
    """Stacking for regression; the meta-learner defaults to ridge with a built-in alpha search.

    Same parameters as :class:`StackingEnsembleClassifier`.
    """

    def _default_final(self) -> BaseEstimator:
        return RidgeCV(alphas=np.logspace(-3, 3, 13))

    def predict(self, X: Any) -> np.ndarray:
        meta = self._meta(X)
        return self.final_estimator_.predict(meta)
