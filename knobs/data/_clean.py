"""Value-level cleaning shared by profiling (decide a column's kind) and preprocessing (apply it to
new rows at predict time), so a value is read the same way when training and when predicting.

The functions live in :mod:`knobs.portable`, which exported models and train.py carry whole; this
module is the name the rest of ``knobs.data`` reads them by.
"""

from __future__ import annotations

from knobs.portable import (
    FALSE_WORDS,
    TRUE_WORDS,
    as_strings,
    bool_pair,
    canonical_str,
    guess_date_formats,
    parse_dates_as,
    parse_numbers,
    to_category,
    to_datetime,
    to_float,
    to_ns,
    words_to_float,
)

__all__ = [
    "FALSE_WORDS",
    "TRUE_WORDS",
    "as_strings",
    "bool_pair",
    "canonical_str",
    "guess_date_formats",
    "parse_dates_as",
    "parse_numbers",
    "to_category",
    "to_datetime",
    "to_float",
    "to_ns",
    "words_to_float",
]
