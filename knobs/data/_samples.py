"""Where the bundled sample tables live (inside the installed package, next to this module)."""

from __future__ import annotations

from pathlib import Path

from knobs.errors import DataError

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"


def sample_path(name: str = "churn") -> Path:
    """Path of a bundled sample CSV: ``churn`` (binary) or ``houses`` (regression)."""
    path = SAMPLES_DIR / f"{name}.csv"
    if not name or "/" in name or "\\" in name or not path.is_file():
        available = sorted(p.stem for p in SAMPLES_DIR.glob("*.csv"))
        raise DataError(f"There is no sample called `{name}`. Available samples: "
                        f"{', '.join(available) or 'none'}.")
    return path
