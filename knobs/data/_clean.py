"""Value-level cleaning shared by profiling (decide a column's kind) and preprocessing (apply it to
new rows at predict time), so a value is read the same way when training and when predicting.

Functions work on the distinct values of a column where possible: a 50k-row categorical has a few
dozen distinct strings, and parsing those is what keeps profiling under a second.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_numeric_dtype,
)
from pandas.tseries.api import guess_datetime_format

TRUE_WORDS = frozenset({"yes", "true", "y", "t"})
FALSE_WORDS = frozenset({"no", "false", "n", "f"})
_BOOL_PAIRS = (frozenset({"yes", "no"}), frozenset({"true", "false"}), frozenset({"y", "n"}),
               frozenset({"t", "f"}))

_SPACES = re.compile(r"[\s\u00a0\u202f']")  # spaces and Swiss apostrophes used as thousands marks
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(,\d{3})+")
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
    """Read numbers written as text: " 42 ", "1,234", "1.234,5", "1,5" (decimal comma), "inf".

    A comma alone is a thousands mark only when every such value is grouped by three digits and the
    file does not use decimal commas; otherwise it is the decimal mark. Unreadable values are NaN.
    """
    t = values.astype("str").str.replace(_SPACES, "", regex=True)
    out = pd.to_numeric(t, errors="coerce").astype("float64")
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
    out[need] = pd.to_numeric(fixed, errors="coerce").astype("float64")
    return out


def bool_pair(lowered: set[str]) -> bool:
    """True when exactly two distinct words form a yes/no pair (yes/no, true/false, y/n, t/f)."""
    return len(lowered) == 2 and frozenset(lowered) in _BOOL_PAIRS


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


def guess_date_format(uniques: pd.Series) -> str | None:
    """One strftime format that reads most of a sample of distinct strings, or None.

    Dates must share one format (parsing each value on its own through dateutil is slow and
    silently swaps day and month between rows).
    """
    sample = uniques.dropna().astype("str")
    sample = sample[sample.str.len().between(6, 40)].head(200)
    if sample.empty or sample.str.contains(_DATE_HINT).mean() < 0.9:
        return None
    formats: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for value in sample.head(30):
            for dayfirst in (False, True):
                fmt = guess_datetime_format(value, dayfirst=dayfirst)
                if fmt and fmt not in formats:
                    formats.append(fmt)
    best, best_ok = None, 0.0
    for fmt in formats:
        ok = parse_dates(sample, fmt).notna().mean()
        if ok > best_ok:
            best, best_ok = fmt, ok
    return best if best_ok >= 0.9 else None


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


def to_datetime(s: pd.Series) -> pd.Series:
    """Any column as datetime64[ns]: the view used for datetime features at fit and predict."""
    if is_datetime64_any_dtype(s.dtype):
        return to_ns(s)
    strings = as_strings(s)
    codes, uniques = pd.factorize(strings)
    uniques = pd.Series(uniques, dtype="str")
    fmt = guess_date_format(uniques)
    if fmt is None and len(uniques) > 5000:
        # No shared format: parsing each distinct value on its own (dateutil) is too slow here.
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    parsed = parse_dates(uniques, fmt if fmt is not None else "mixed")
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
