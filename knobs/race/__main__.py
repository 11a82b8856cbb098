"""``python -m knobs.race --race ID``: the detached process that runs a race for the dashboard."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

import optuna

from knobs.race._race import run_race


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knobs.race")
    parser.add_argument("--race", required=True, help="the race id (its file under KNOBS_HOME)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    race = run_race(args.race)
    logging.getLogger("knobs.race").info("race %s %s", race.id, race.state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
