"""One exception family for everything a user can get wrong.

Front ends (CLI, dashboard) catch :class:`KnobsError` and show its message as it is; anything else is
a bug in Knobs and is reported as an internal error. Messages therefore carry the whole story: what
is wrong, where (column, line, option), the value seen, and what to do about it.
"""

from __future__ import annotations


class KnobsError(Exception):
    """Base class of every error a user can fix by changing their input or options."""


class DataError(KnobsError, ValueError):
    """The table cannot be used as given: unreadable bytes, a bad column, an unusable target."""


class ConfigError(KnobsError, ValueError):
    """An option or combination of options is invalid (unknown model, metric, bad budget...)."""


class StudyError(KnobsError):
    """A study cannot be found, resumed, or combined as asked."""


class ExportError(KnobsError):
    """A model cannot be exported, loaded or used as asked (format, file, schema of new data)."""


class UntrustedModelError(ExportError):
    """A model file holds a type outside the exact allow-list recorded when it was exported."""
