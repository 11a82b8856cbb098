"""Decide what each column is (kind), whether it is a usable feature, and why not.

Profiling runs on every upload in the dashboard, so it is vectorised and works on distinct values:
kinds are read from the few distinct strings of a column, not from every row. The same analysis,
with the cleaned values kept, is what :func:`knobs.data.prepare` turns into ``Dataset.X``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

from knobs.data import _clean
from knobs.data._target import TargetInfo, analyse_target
from knobs.errors import DataError
from knobs.portable import ZERO_LED, clock_hours, is_true_word, placeholder_mask

Kind = Literal["numeric", "boolean", "categorical", "datetime", "text", "id"]
FLAGS = ("target", "constant", "all_missing", "id_like", "high_cardinality", "possible_leak",
         "mixed_types", "has_inf", "few_rows_per_category")

MAX_ONEHOT = 20
WIDE_ONEHOT = 64
ROWS_PER_LEVEL = 100
ID_UNIQUE_RATIO = 0.95
NAMED_ID_UNIQUE_RATIO = 0.5
NUMERIC_PARSE_RATIO = 0.95
MIXED_PARSE_RATIO = 0.5
#: Share of a column's values written with leading zeros (`02134`) from which its whole numbers
#: are read as codes, not quantities: US ZIP codes of one region, a customer number.
ZERO_LED_SHARE = 0.01
#: Share of numbers above which a column with at most ``MAX_MARKERS`` distinct other values,
#: whatever they are (`unknown`, `approx 5`), is numeric with those values missing.
MOSTLY_NUMBERS = 0.8
DATE_PARSE_RATIO = 0.9
LEAK_SCORE = 0.98
#: A column this empty (in %) is said: its values are few, its missingness may be the signal.
MOSTLY_MISSING_PCT = 90.0
#: How a possible leak's notice begins (a page that warns of leaks itself leaves these out).
LEAK_NOTICE = "Possible leak:"
LEAK_SAMPLE = 4000
LEAK_BINS = 32
_ID_TOKENS = frozenset({"id", "uuid", "guid", "uid", "identifier", "pk"})
_NUMBER_TOKENS = frozenset({"no", "nr", "number", "num"})
_TOKEN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


@dataclass(frozen=True)
class ColumnProfile:
    """What Knobs made of one column, shown to the user and used to build the preprocessor."""

    name: str
    safe_name: str
    kind: Kind
    dtype: str
    missing_pct: float
    n_unique: int
    flags: tuple[str, ...]
    used: bool
    reason: str
    #: A date column's formats as written in the table (empty: held as dates, or not dates), so
    #: rows to predict are read as the training rows were.
    formats: tuple[str, ...] = ()


@dataclass(eq=False)
class Analysis:
    """A column profile in the making, with its cleaned values and what was done, in words."""

    name: str
    safe_name: str
    kind: Kind
    values: pd.Series
    missing_pct: float
    n_unique: int
    flags: list[str] = field(default_factory=list)
    used: bool = True
    reason: str = ""
    notices: list[str] = field(default_factory=list)
    formats: tuple[str, ...] = ()

    def profile(self) -> ColumnProfile:
        return ColumnProfile(
            name=self.name, safe_name=self.safe_name, kind=self.kind, dtype=str(self.values.dtype),
            missing_pct=self.missing_pct, n_unique=self.n_unique,
            flags=tuple(f for f in FLAGS if f in self.flags), used=self.used, reason=self.reason,
            formats=self.formats if self.kind == "datetime" else (),
        )

    def drop(self, flag: str, reason: str) -> None:
        if flag not in self.flags:
            self.flags.append(flag)
        if self.used:
            self.used, self.reason = False, reason


def profile_table(frame: pd.DataFrame, target: str | None = None) -> tuple[ColumnProfile, ...]:
    """Profile every column of a table (target included), cheaply enough for a dashboard.

    With a target, features that alone nearly determine it are flagged ``possible_leak``.
    """
    return tuple(a.profile() for a in analyse_table(frame, target))


def user_names(frame: pd.DataFrame) -> list[str]:
    """Column names as strings; duplicates refused (pandas allows them, a model cannot)."""
    names = [str(c) for c in frame.columns]
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    duplicates = [n for n, count in seen.items() if count > 1]
    if duplicates:
        raise DataError("Column names must be unique, but these appear more than once: "
                        + ", ".join(f"`{d}`" for d in duplicates) + ". Rename them.")
    return names


def safe_names(names: Sequence[str]) -> list[str]:
    """Deterministic, unique names that XGBoost and ColumnTransformer accept.

    XGBoost rejects ``[``, ``]`` and ``<``; commas and spaces confuse feature-name lists. Anything
    other than letters, digits, ``_``, ``.`` and ``-`` becomes ``_``; clashes get ``_2``, ``_3``...
    """
    out: list[str] = []
    taken: set[str] = set()
    for n in names:
        base = re.sub(r"[^\w.\-]+", "_", str(n)).strip("_") or "column"
        candidate, k = base, 2
        while candidate in taken:
            candidate, k = f"{base}_{k}", k + 1
        taken.add(candidate)
        out.append(candidate)
    return out


def check_target_name(target: str, names: Sequence[str]) -> None:
    if target in names:
        return
    import difflib

    close = difflib.get_close_matches(target, list(names), n=3, cutoff=0.5)
    lowered = [n for n in names if n.lower() == str(target).lower().strip()]
    hint = close or lowered
    said = (f" Did you mean {', '.join(f'`{c}`' for c in hint)}?" if hint
            else f" The columns are: {', '.join(f'`{n}`' for n in list(names)[:20])}"
            + ("…" if len(names) > 20 else "") + ".")
    raise DataError(f"There is no column `{target}` to use as the target.{said}")


def analyse_table(frame: pd.DataFrame, target: str | None = None, *,
                  target_info: TargetInfo | None = None) -> list[Analysis]:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"profile_table needs a pandas DataFrame, not {type(frame).__name__}.")
    names = user_names(frame)
    if target is not None:
        check_target_name(target, names)
    safe = safe_names(names)
    decimal = str(frame.attrs.get("decimal", "."))
    analyses = []
    for i, (name, safe_name) in enumerate(zip(names, safe, strict=True)):
        analysis = analyse_column(frame.iloc[:, i], name, safe_name, decimal,
                                  is_target=name == target)
        if name == target:
            analysis.flags.insert(0, "target")
            analysis.used, analysis.reason = False, "it is the target"
            analysis.notices.clear()
        analyses.append(analysis)
    if target is not None:
        if target_info is None:
            try:
                target_info = analyse_target(frame[target], target)
            except DataError:
                target_info = None
        if target_info is not None:
            flag_leaks(analyses, target_info, target)
    return analyses


# --- one column ------------------------------------------------------------------------------


def analyse_column(s: pd.Series, name: str, safe_name: str, decimal: str = ".", *,
                   is_target: bool = False) -> Analysis:
    """Kind, cleaned values, flags and use of one column."""
    n = len(s)
    notices: list[str] = []
    flags: list[str] = []
    formats: tuple[str, ...] = ()
    if is_bool_dtype(s.dtype):
        kind: Kind = "boolean"
        values = _clean.to_float(s)
    elif is_datetime64_any_dtype(s.dtype):
        kind, values = "datetime", _clean.to_ns(s)
    elif is_numeric_dtype(s.dtype):
        kind, values = "numeric", pd.Series(s.to_numpy(dtype="float64", na_value=np.nan),
                                            index=s.index)
    else:
        kind, values, formats = _analyse_strings(s, name, decimal, flags, notices)

    if kind == "numeric":
        n_inf = int(np.isinf(values).sum())
        if n_inf:
            flags.append("has_inf")
            notices.append(f"Column `{name}`: {n_inf} infinite value{'s' * (n_inf > 1)} "
                           "(`inf`) read as missing.")
            values = values.where(np.isfinite(values))
        distinct = values.dropna().unique()
        if len(distinct) == 2 and set(distinct) == {0.0, 1.0}:
            kind = "boolean"

    n_missing = int(values.isna().sum())
    missing_pct = round(100.0 * n_missing / n, 2) if n else 100.0
    n_unique = int(values.nunique(dropna=True))
    analysis = Analysis(name=name, safe_name=safe_name, kind=kind, values=values,
                        missing_pct=missing_pct, n_unique=n_unique, flags=flags, notices=notices,
                        formats=formats)  # fmt: skip

    present = n - n_missing
    if is_target:  # described, never dropped: prepare decides what an unusable target means
        if present == 0:
            analysis.flags.append("all_missing")
        elif n_unique == 1:
            analysis.flags.append("constant")
        return analysis
    if present == 0:
        analysis.drop("all_missing", "it is empty in every row")
        analysis.notices = [f"Not using column `{name}`: it is empty in every row."]
        return analysis
    if n_unique == 1 and n_missing == 0:
        value = values.iloc[0]
        analysis.drop("constant", f"it has the same value `{value}` in every row")
        analysis.notices.append(f"Not using column `{name}`: it has the same value in every row.")
        return analysis
    _check_id(analysis, s, present)
    if missing_pct >= MOSTLY_MISSING_PCT and analysis.used:
        analysis.notices.append(
            f"Column `{name}` is {missing_pct:.0f}% empty ({present:,} values): kept, as whether "
            "it is filled in may itself tell something (models see which rows are missing); "
            "exclude it if it should not."
        )
    unix = _unix_time_notice(analysis)
    if unix:
        analysis.notices.append(unix)
    if analysis.kind == "categorical" and n_unique > MAX_ONEHOT:
        analysis.flags.append("high_cardinality")
        if too_few_rows_per_category(n_unique, present):
            analysis.flags.append("few_rows_per_category")
        analysis.notices.append(many_categories_notice(analysis))
    return analysis


def many_categories_notice(analysis: Analysis) -> str:
    """What a column flagged ``high_cardinality`` says of its encoding. One function writes it,
    so ``knobs.data.prepare`` finds it by the flag and these words, never by parsing them."""
    name, n_unique = analysis.name, analysis.n_unique
    if "few_rows_per_category" in analysis.flags:
        present = int(analysis.values.notna().sum())
        return (
            f"Column `{name}` has {n_unique} categories (more than {MAX_ONEHOT}): tree models "
            "read it target-encoded; linear and distance models one-hot encoded, as "
            f"{present // n_unique} rows per category on average are too few for target "
            "encoding."
        )
    return (
        f"Column `{name}` has {n_unique} categories (more than {MAX_ONEHOT}): it is "
        "target-encoded instead of one-hot encoded."
    )


#: Whole numbers all between these read as Unix times in seconds since 1970 (2001-09-09 to
#: 2033-05-18), or, all 1,000 times these, in milliseconds...
UNIX_SECONDS = (1e9, 2e9)
#: ... when the column has at least this many distinct values (a few round numbers are no clock).
UNIX_MIN_DISTINCT = 20


def _unix_time_notice(analysis: Analysis) -> str | None:
    """What a feature of whole numbers that look like Unix times says: an event log's
    `created` column (1,612,345,678 and so on) was used as plain numbers without a word, so no
    model saw its year, month, weekday or hour. Said only: a number in range may be no time,
    and converting it is the user's call."""
    if analysis.kind != "numeric" or not analysis.used or analysis.n_unique < UNIX_MIN_DISTINCT:
        return None
    v = analysis.values.dropna().to_numpy()
    if not np.array_equal(v, np.round(v)):
        return None
    low, high = UNIX_SECONDS
    for unit, scale in (("s", 1), ("ms", 1000)):
        if low * scale <= v.min() and v.max() <= high * scale:
            first, last = (pd.Timestamp(int(x), unit=unit) for x in (v.min(), v.max()))
            return (
                f"Column `{analysis.name}` looks like Unix times "
                f"({'seconds' if unit == 's' else 'milliseconds'} since 1970, from "
                f"{first:%Y-%m-%d} to {last:%Y-%m-%d}): it is used as plain numbers, so models "
                "see no year, month, weekday or hour in it. For those, convert it to dates "
                "(such as `2024-12-31 13:45`) in the file before Knobs reads it."
            )
    return None


def too_few_rows_per_category(n_unique: int, rows: int) -> bool:
    """Whether a column of many categories (more than ``MAX_ONEHOT``) stays one-hot encoded for
    the linear and distance models (its flag ``few_rows_per_category``; trees target-encode it).

    Target encoding learns one number per category from that category's own rows
    (cross-fitted), so it is only as good as the rows behind each: with few, its estimates are
    noise that one column per category, left to a linear model's penalty, does without.
    Measured (5-fold CV): houses' 25 neighbourhoods at 38 rows each scored 0.8580 R² one-hot
    against 0.8355 target-encoded for a ridge, a 30-level column at 64 rows +0.002 AUC for a
    logistic regression; trees went both ways (houses' XGBoost +0.02 one-hot, churn's four tree
    families -0.002 to -0.011), so they keep target encoding. Past ``WIDE_ONEHOT`` categories the
    table would widen more than it gains, whatever the rows.
    """
    return MAX_ONEHOT < n_unique <= WIDE_ONEHOT and rows < ROWS_PER_LEVEL * n_unique


#: The date a notice writes each date format with: day 31 and month 12 cannot be mistaken.
_SAMPLE_DATE = pd.Timestamp("2024-12-31 13:45:00")


def _written_as(formats: tuple[str, ...]) -> str:
    """Date formats as a reader knows them: ``%d/%m/%Y`` reads "like 31/12/2024"."""
    looks = [f"`{_SAMPLE_DATE.strftime(f)}`" for f in formats]
    listed = looks[0] if len(looks) == 1 else ", ".join(looks[:-1]) + " or " + looks[-1]
    return f"like {listed}"


#: A time's UTC offset at its end (`+02:00`, `-0500`): zoned times are read as UTC.
_UTC_OFFSET = r"(?<=\d)([+-]\d{2}:?\d{2})$"


#: At most this many distinct placeholders among a numeric column's values, each one of
#: ``knobs.portable.MARKER_WORDS`` or punctuation alone (``-``, ``?``, ``--``, ``.``).
MAX_MARKERS = 3


def _only_markers(texts: pd.Series) -> bool:
    """Whether a column's values that are not numbers are a few placeholders for "no value":
    a rating column with `-`, `?` and `--` in 8% of its cells was read as 303 categories. A
    word that could be a category (`small`, `male`) is not one: that column stays mixed."""
    return 0 < len(texts) <= MAX_MARKERS and bool(placeholder_mask(texts).all())


def _whole_clock_column(uniques: pd.Series, clock: np.ndarray) -> bool:
    """Whether a column's values are times of day (`14:35`), beside at most a few placeholders
    (`-`, `unknown`): only then are they read as hours, so a column of words that holds a time
    here and there stays categories."""
    if not clock.any():
        return False
    return bool(clock.all()) or _only_markers(uniques[~clock])


def _clock_words(name: str, times: pd.Series, counts: np.ndarray, whole: bool) -> list[str]:
    """The notice of a numeric column holding times of day, with one of them and the number it
    became: a column of them, or a few among numbers (read as hours too, so that training,
    predict and train.py read them alike)."""
    if not len(times):
        return []
    example = str(times.iloc[0])
    hours = float(clock_hours(times.head(1)).iloc[0])
    if whole:
        return [f"Column `{name}` holds times of day (like {example}): read as hours since "
                f"midnight ({example} is {hours:.2f})."]
    n = int(counts.sum())
    return [f"Column `{name}`: read its {n} value{'s' * (n > 1)} written as times of day (like "
            f"{example}) as hours ({example} is {hours:.2f}), beside its numbers. If they mean "
            "something else, write them as numbers in the table."]


def _zero_led_example(written: pd.Series, counts: np.ndarray, present: int) -> str | None:
    """A value written with leading zeros (`02134`) among the whole numbers a column holds, when
    at least ``ZERO_LED_SHARE`` of its values are: such a column holds codes (ZIP codes,
    customer numbers), which ingest keeps as text on purpose (`_zero_led_columns`) and which,
    read as quantities, would order and average labels. A column with decimals, or one stray
    `007` among thousands of amounts, stays numbers."""
    if not len(written) or not written.str.fullmatch(r"\d+").fillna(False).all():
        return None
    led = written.str.fullmatch(ZERO_LED).fillna(False).to_numpy(dtype=bool)
    if counts[led].sum() < ZERO_LED_SHARE * present:
        return None
    return str(written[led].iloc[0])


def _share(ratio: float) -> str:
    """A share of values as a percentage that never rounds a shortfall up to 100%: "100% of
    its values are numbers" beside 9 that were not read as a contradiction."""
    return "over 99%" if 0.99 < ratio < 1 else f"{ratio:.0%}"


def _analyse_strings(s: pd.Series, name: str, decimal: str, flags: list[str],
                     notices: list[str]) -> tuple[Kind, pd.Series, tuple[str, ...]]:
    strings = _clean.as_strings(s)
    codes, uniques_index = pd.factorize(strings)
    uniques = pd.Series(uniques_index, dtype="str")
    if len(uniques) == 0:
        return "categorical", strings.astype(object), ()
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    present = counts.sum()

    def expand(per_unique: np.ndarray, fill: object) -> np.ndarray:
        return np.where(codes >= 0, per_unique[np.maximum(codes, 0)], fill)

    lowered = uniques.str.lower()
    if _clean.bool_pair(set(lowered)):
        per = np.array([1.0 if is_true_word(v) else 0.0 for v in lowered])
        return "boolean", pd.Series(expand(per, np.nan), index=s.index, dtype="float64"), ()

    # Times of day read as hours (`parse_numbers`), here as in every later reading of the column:
    # read as missing here, a few times among numbers became hours at predict and in train.py.
    numbers = _clean.parse_numbers(uniques, decimal).to_numpy(copy=True)
    clock = clock_hours(uniques).notna().to_numpy()
    times = _whole_clock_column(uniques, clock)
    parsed = ~np.isnan(numbers)
    ratio = counts[parsed].sum() / present
    others = uniques[~parsed]
    code = _zero_led_example(uniques[parsed], counts[parsed], present)
    if code is not None and ratio >= MIXED_PARSE_RATIO:
        notices.append(f"Column `{name}` is read as categories, not numbers: its values are codes "
                       f"written with leading zeros (like {code}).")
        return "categorical", strings.astype(object).where(strings.notna(), np.nan), ()
    placeholders = ratio >= MIXED_PARSE_RATIO and _only_markers(others)
    # 87% numbers beside `unknown` and `approx 5` became 103 target-encoded categories
    few_words = ratio >= MOSTLY_NUMBERS and 0 < len(others) <= MAX_MARKERS
    if placeholders or few_words:
        bad = int(counts[~parsed].sum())
        flags.append("mixed_types")
        shown = ", ".join(f"`{v}`" for v in others)
        notices.append(
            f"Column `{name}` is numeric; read its {bad} {shown} as missing (placeholders, not "
            "numbers; models still see which rows were missing)." if placeholders else
            f"Column `{name}` is numeric ({_share(ratio)} of its values are numbers); read its "
            f"{bad} {shown} as missing (models still see which rows were missing). If they mean "
            "something, write them as numbers in the table."
        )  # fmt: skip
        notices.extend(_clock_words(name, uniques[clock], counts[clock], times))
        return "numeric", pd.Series(expand(numbers, np.nan), index=s.index, dtype="float64"), ()
    if ratio >= NUMERIC_PARSE_RATIO:
        bad = int(counts[~parsed].sum())
        if bad:
            flags.append("mixed_types")
            examples = ", ".join(f"`{v}`" for v in uniques[~parsed].head(3))
            notices.append(f"Column `{name}` is numeric but {bad} value{'s' * (bad > 1)} "
                           f"{'are' if bad > 1 else 'is'} not a number ({examples}): read as "
                           "missing.")
        written = uniques[parsed]
        plain = written.str.fullmatch(r"[-+]?\d*\.?\d+(e[-+]?\d+)?|[-+]?inf(inity)?", case=False)
        if clock.any():
            notices.extend(_clock_words(name, uniques[clock], counts[clock], times))
        elif not plain.all():
            notices.append(f"Column `{name}`: read numbers written as text (such as "
                           f"`{written[~plain].iloc[0]}`).")
        return "numeric", pd.Series(expand(numbers, np.nan), index=s.index, dtype="float64"), ()
    if ratio >= MIXED_PARSE_RATIO:
        flags.append("mixed_types")
        notices.append(f"Column `{name}` mixes numbers ({100 * ratio:.0f}%) and text: treated as "
                       "categories. Clean it if it should be numeric.")

    formats = _clean.guess_date_formats(uniques)
    if formats:
        dates = _clean.parse_dates_as(uniques, formats)
        ok = dates.notna().to_numpy()
        date_ratio = counts[ok].sum() / present
        if date_ratio >= DATE_PARSE_RATIO:
            fmt = _written_as(formats)
            if len(formats) > 1:
                notices.append(f"Column `{name}` writes its dates {len(formats)} ways ({fmt}): "
                               "each value is read by the first of these that reads it.")
            bad = int(counts[~ok].sum())
            if bad:
                examples = ", ".join(f"`{v}`" for v in uniques[~ok].head(3))
                notices.append(f"Column `{name}` holds dates ({fmt}) but {bad} value"
                               f"{'s' * (bad > 1)} could not be read ({examples}): read as "
                               "missing.")
            offsets = set(uniques.str.extract(_UTC_OFFSET, expand=False).dropna())
            if offsets - {"+00:00", "+0000", "-00:00", "-0000"}:
                shown = ", ".join(f"`{o}`" for o in sorted(offsets)[:4])
                notices.append(f"Column `{name}` gives its times with UTC offsets ({shown}): they "
                               "are read as UTC, so the hour and weekday the models see are UTC's, "
                               "not the local ones.")
            values = dates.to_numpy()
            out = np.where(codes >= 0, values[np.maximum(codes, 0)], np.datetime64("NaT", "ns"))
            return "datetime", pd.Series(out, index=s.index, dtype="datetime64[ns]"), formats

    values = strings.astype(object).where(strings.notna(), np.nan)
    n_unique = len(uniques)
    json_like = uniques.str.fullmatch(r"\s*(\{.*\}|\[.*\])\s*", flags=re.DOTALL).fillna(False)
    if n_unique > 1 and json_like.mean() >= 0.9:
        # `{"plan": "pro", "seats": 3}` and `[1, 2]` were 98 and 308 categories, unsaid
        notices.append(
            f"Column `{name}` holds JSON text (like `{_preview_value(uniques[json_like].iloc[0])}`): "
            "each distinct text is read as one category, so the fields inside it are not seen. "
            "Give its fields columns of their own to use them."
        )
    if n_unique > MAX_ONEHOT and n_unique >= 0.3 * present:
        lengths = uniques.str.len().to_numpy()
        words = uniques.str.count(" ").to_numpy() + 1
        mean_len = float((lengths * counts).sum() / present)
        mean_words = float((words * counts).sum() / present)
        if mean_len >= 20 and mean_words >= 3:
            return "text", values, ()
    return "categorical", values, ()


def _preview_value(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _name_tokens(name: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(name)]


def _check_id(analysis: Analysis, original: pd.Series, present: int) -> None:
    """Identifiers are unique per row: a model memorises them and they never generalise."""
    if analysis.kind not in ("numeric", "categorical") or present < 2:
        return
    ratio = analysis.n_unique / present
    tokens = _name_tokens(analysis.name)
    named_id = bool(tokens) and (tokens[-1] in _ID_TOKENS or tokens[0] in _ID_TOKENS)
    named_number = bool(tokens) and tokens[-1] in _NUMBER_TOKENS and len(tokens) > 1
    is_id = False
    if analysis.kind == "categorical":
        is_id = (ratio >= ID_UNIQUE_RATIO and present >= 20) or (
            named_id and ratio >= NAMED_ID_UNIQUE_RATIO)
    else:
        v = analysis.values.dropna().to_numpy()
        if len(v) and np.array_equal(v, np.round(v)):
            span = float(v.max() - v.min()) + 1
            counter_like = span <= 1.5 * len(v) or bool(np.all(np.diff(v) > 0))
            is_id = (ratio >= ID_UNIQUE_RATIO and present >= 20
                     and (named_id or named_number or counter_like)) or (
                named_id and ratio >= NAMED_ID_UNIQUE_RATIO)
    if is_id:
        analysis.kind = "id"
        reason = (f"it looks like an identifier ({100 * ratio:.0f}% of its values are unique), "
                  "which cannot generalise to new rows")
        analysis.drop("id_like", reason)
        analysis.notices = [f"Not using column `{analysis.name}`: {reason}."]


# --- leaks -----------------------------------------------------------------------------------


def flag_leaks(analyses: list[Analysis], info: TargetInfo, target: str) -> None:
    """Flag features that alone nearly determine the target, scored on held-out rows.

    Each feature becomes a handful of groups (its categories, or quantile bins of its values, with
    missing as a group of its own); the prediction for a group is its majority class (or mean) on
    one half of a sample, scored on the other half: a one-feature tree, without fitting one.
    """
    rows = np.flatnonzero(info.present)
    if len(rows) < 40:
        return
    rng = np.random.default_rng(0)
    if len(rows) > LEAK_SAMPLE:
        rows = np.sort(rng.choice(rows, LEAK_SAMPLE, replace=False))
    half = rng.permutation(len(rows))
    fit_part, score_part = half[: len(rows) // 2], half[len(rows) // 2:]
    if info.task == "regression":
        assert info.numbers is not None
        y = info.numbers.to_numpy()[rows]
        if not np.isfinite(y).all() or np.var(y[score_part]) == 0:
            return
    else:
        labels = info.labels.to_numpy()[rows]
        _, y = np.unique(labels.astype(str), return_inverse=True)
        if len(np.unique(y[score_part])) < 2:
            return
    for a in analyses:
        if not a.used:
            continue
        groups = _groups(a, rows, fit_part)
        if groups is None:
            continue
        score = _holdout_score(groups, y, fit_part, score_part, info.task)
        if info.task == "regression" and a.kind in ("numeric", "datetime"):
            score = max(score, _linear_score(a, rows, y, fit_part, score_part))
        if score >= LEAK_SCORE:
            a.flags.append("possible_leak")
            measure = "R²" if info.task == "regression" else "balanced accuracy"
            a.notices.append(
                f"{LEAK_NOTICE} column `{a.name}` alone predicts `{target}`, the target, almost "
                f"perfectly ({measure} {score:.3f} on held-out rows). Check that it is known "
                "before the outcome; if not, exclude it."
            )


def _groups(a: Analysis, rows: np.ndarray, fit_part: np.ndarray) -> np.ndarray | None:
    values = a.values.iloc[rows]
    if a.kind in ("categorical", "boolean", "text"):
        codes, _ = pd.factorize(values)
        return codes.astype(np.int64) + 1  # 0 = missing
    if a.kind == "datetime":
        numeric = values.to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64")
        numeric[values.isna().to_numpy()] = np.nan
    elif a.kind == "numeric":
        numeric = values.to_numpy(dtype="float64")
    else:
        return None
    fit_values = numeric[fit_part]
    fit_values = fit_values[~np.isnan(fit_values)]
    if len(fit_values) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        edges = np.unique(np.quantile(fit_values, np.linspace(0, 1, LEAK_BINS + 1)))
    # Intervals between quantiles, plus a group of its own for each quantile value itself: a
    # value repeated in many rows (0 for "no cancellation") is then split from its neighbours,
    # as a tree would split it.
    position = np.searchsorted(edges, numeric, side="left")
    exact = edges[np.minimum(position, len(edges) - 1)] == numeric
    groups = (2 * position + exact + 1).astype(np.int64)
    groups[np.isnan(numeric)] = 0
    return groups


def _linear_score(a: Analysis, rows: np.ndarray, y: np.ndarray, fit_part: np.ndarray,
                  score_part: np.ndarray) -> float:
    """Held-out R² of a straight line: quantile groups blur a smooth, exact relation."""
    values = a.values.iloc[rows]
    if a.kind == "datetime":
        x = values.to_numpy(dtype="datetime64[ns]").astype("int64").astype("float64")
        x[values.isna().to_numpy()] = np.nan
    else:
        x = values.to_numpy(dtype="float64")
    fit = fit_part[~np.isnan(x[fit_part])]
    score = score_part[~np.isnan(x[score_part])]
    if len(fit) < 10 or len(score) < 10 or np.ptp(x[fit]) == 0:
        return 0.0
    x = (x - x[fit].mean()) / x[fit].std()  # dates in ns would make the fit ill-conditioned
    slope, intercept = np.polyfit(x[fit], y[fit], 1)
    residual = y[score] - (slope * x[score] + intercept)
    total = float(((y[score] - y[score].mean()) ** 2).sum())
    return 1.0 - float((residual**2).sum()) / total if total > 0 else 0.0


def _holdout_score(groups: np.ndarray, y: np.ndarray, fit_part: np.ndarray,
                   score_part: np.ndarray, task: str) -> float:
    n_groups = int(groups.max()) + 1
    g_fit, g_score = groups[fit_part], groups[score_part]
    if task == "regression":
        y_fit, y_score = y[fit_part], y[score_part]
        sums = np.bincount(g_fit, weights=y_fit, minlength=n_groups)
        counts = np.bincount(g_fit, minlength=n_groups)
        means = np.where(counts > 0, sums / np.maximum(counts, 1), y_fit.mean())
        predicted = means[g_score]
        total = float(((y_score - y_score.mean()) ** 2).sum())
        return 1.0 - float(((y_score - predicted) ** 2).sum()) / total if total > 0 else 0.0
    n_classes = int(y.max()) + 1
    table = np.bincount(g_fit * n_classes + y[fit_part], minlength=n_groups * n_classes)
    table = table.reshape(n_groups, n_classes)
    majority = np.bincount(y[fit_part], minlength=n_classes).argmax()
    best = np.where(table.sum(axis=1) > 0, table.argmax(axis=1), majority)
    predicted = best[g_score]
    y_score = y[score_part]
    recalls = [np.mean(predicted[y_score == k] == k) for k in np.unique(y_score)]
    return float(np.mean(recalls))
