"""The end of a search the dashboard started: once its workers are gone, choose the final model
and score it on the test split, as ``knobs tune`` does after its own workers.

The dashboard only starts processes and reads the storage (a search never runs in its script
thread), so without this process a search started from the browser never chose between its best
trial and a greedy ensemble, and never scored the test split: the live view said "Finished" and
nothing of the final model. It runs beside the workers, detached like them, and stores the
choice (``keys.FINAL``) and the test score (``keys.TEST_SCORE``) on the study; the Export page
fits what it exports itself, so the model fitted here is not kept and not refitted on every row.
A search stopped by its user, or whose workers died, is not finished here: a resume starts a new
finisher.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

log = logging.getLogger("knobs.finisher")

#: Seconds between looks at whether the workers are gone.
POLL_S = 0.5


def finish(name: str, storage: str, deadline: float | None = None) -> str:
    """Wait for the search's workers, then choose and score its final model when it finished;
    returns the state it ended in."""
    from knobs.study import _runner
    from knobs.study._search import Search

    search = Search.open(name, storage)
    while search.is_running():
        _runner.end_overdue(search.study, name)
        time.sleep(POLL_S)
    state = search.status().state
    if state == "finished":
        search.result(refit=True, deadline=deadline, deliver=False)
    return state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knobs.study.finisher")
    parser.add_argument("--study", required=True)
    parser.add_argument("--storage", required=True)
    parser.add_argument("--deadline", type=float, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    state = finish(args.study, args.storage, args.deadline)
    log.info("study %s ended %s", args.study, state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
