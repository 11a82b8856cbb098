"""Where the end of a timed search goes: when the workers stop, and what the launching process
does after them (ensemble choice, refit, test score, refit on every row), against the deadline.

    python bench/end_phase.py TRAIN.csv TARGET SECONDS

Prints each step's start and end in seconds from the start of the command, and the model the
search delivered (which rows it was fitted on, and the final-model line). Run it alone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

T0 = time.time()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere, uninstalled


def timed(owner: Any, name: str) -> None:
    """Wrap ``owner.name`` to print when it starts and ends (from the start of the command)."""
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        print(f"  {name:<13} starts {time.time() - T0:6.2f} s", flush=True)
        try:
            return original(*args, **kwargs)
        finally:
            print(f"  {name:<13} ends   {time.time() - T0:6.2f} s", flush=True)

    setattr(owner, name, wrapper)


def main(argv: list[str]) -> int:
    import os
    import tempfile

    if len(argv) != 3:
        print(__doc__)
        return 2
    data, target, seconds = argv[0], argv[1], float(argv[2])
    os.environ.setdefault("KNOBS_HOME", tempfile.mkdtemp(prefix="knobs-bench-end-"))
    import optuna

    import knobs
    import knobs.ensembles
    from knobs.study import _search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    timed(knobs.ensembles, "final_choice")
    for name in ("refit", "test_score"):
        timed(_search.results, name)
    for name in ("start", "result", "_deliver"):
        timed(_search.Search, name)
    print(f"deadline {seconds:.2f} s (from the start of the command)")
    result = knobs.tune(data, target, timeout=seconds, started_at=T0)
    print(f"whole command {time.time() - T0:.2f} s of {seconds:.2f} s")
    print(f"delivered: {result.fit}")
    print(f"final model: {(result.final or {}).get('why')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
