"""What a model costs to ship and to run: its model file's bytes, written by the export writer
itself (the format's own ``dump``), and its predictions per second on 1,000 rows."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from knobs.export import DEFAULT_FORMAT, get_format

#: Rows predicted at once when timing (the training rows, repeated when there are fewer).
LATENCY_ROWS = 1000
#: Timed repetitions; the fastest counts (the others measure the machine's other work).
LATENCY_REPEATS = 5


def model_bytes(estimator: Any, task: str, X: pd.DataFrame, fmt: str = DEFAULT_FORMAT) -> int:
    """Bytes of the model file(s) ``fmt`` writes for ``estimator`` (card, train.py excluded)."""
    row = get_format(fmt)
    with tempfile.TemporaryDirectory(prefix="knobs-slim-") as tmp:
        folder = Path(tmp)
        row.dump(estimator, folder, task, X)
        return sum((folder / f).stat().st_size for f in row.files if (folder / f).exists())


def latency_rows(X: pd.DataFrame, n: int = LATENCY_ROWS) -> pd.DataFrame:
    """``n`` rows of ``X`` (repeated when it has fewer), for timing."""
    reps = -(-n // max(1, len(X)))
    return pd.concat([X] * reps, ignore_index=True).iloc[:n]


def predictions_per_second(estimator: Any, X: pd.DataFrame, task: str) -> float:
    """Rows per second that ``estimator`` predicts (probabilities for classifiers that have
    them, as ``knobs predict`` asks for), best of ``LATENCY_REPEATS`` passes over ``X``."""
    use_proba = task != "regression" and hasattr(estimator, "predict_proba")
    run = estimator.predict_proba if use_proba else estimator.predict
    run(X.iloc[:10])  # warm-up: first-call imports and caches
    best = float("inf")
    for _ in range(LATENCY_REPEATS):
        started = time.perf_counter()
        run(X)
        best = min(best, time.perf_counter() - started)
    return len(X) / max(best, 1e-9)


def cost(estimator: Any, task: str, X: pd.DataFrame, fmt: str = DEFAULT_FORMAT) -> dict[str, Any]:
    """``{"bytes", "predictions_per_s", "rows", "format"}`` of a fitted estimator."""
    rows = latency_rows(X)
    return {
        "bytes": model_bytes(estimator, task, X, fmt),
        "predictions_per_s": predictions_per_second(estimator, rows, task),
        "rows": len(rows),
        "format": get_format(fmt).name,
    }
