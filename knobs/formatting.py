"""How numbers read as text, the same in the CLI, the dashboard, reports and model cards.

Text only (no plotly, no pandas), so the CLI and workers import it for free.
"""

from __future__ import annotations

import math

#: What a missing number reads as.
MISSING = "-"


def fmt_duration(seconds: float | None) -> str:
    """``1:02:03``, ``02:03`` or ``--:--``: how progress and ETA read on screen."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def fmt_score(value: float | None, digits: int = 4, *, missing: str = MISSING) -> str:
    """A score with ``digits`` decimals (``0.8429``); very large ones in general format."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    value = float(value)
    return f"{value:.{digits}f}" if abs(value) < 1e4 else f"{value:.{digits}g}"


def fmt_gain(value: float | None, digits: int = 4, *, missing: str = MISSING) -> str:
    """A signed difference of scores (``+0.0054``, ``-0.0066``)."""
    if value is None or not math.isfinite(value):
        return missing
    return f"{value:+.{digits}f}"


def plural(count: int, noun: str) -> str:
    """``1 trial``, ``2 trials``, ``1,200 rows``: a count with its noun, never "1 trials"."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
