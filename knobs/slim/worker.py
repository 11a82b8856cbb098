"""``python -m knobs.slim.worker --study S --trial N``: slim one trial in the background
(started by ``knobs.slim.start_job``; the report lands beside the study)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knobs.slim.worker")
    parser.add_argument("--study", required=True)
    parser.add_argument("--trial", type=int, required=True)
    parser.add_argument("--storage", default=None)
    args = parser.parse_args(argv)
    import optuna

    from knobs.slim._jobs import run_job

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(run_job(args.study, args.trial, args.storage), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
