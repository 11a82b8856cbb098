"""``knobs delete``: remove a study and its copy of the data, as the Studies page's Delete does.

A thin adapter over ``Search.delete``. Refused for a running study (stop it first) and for a run
of a strategy race (the race reads its runs: deleting one would break the race's results). Asks
before deleting unless ``--yes``; without a terminal to ask on, ``--yes`` is required.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from knobs.errors import StudyError

HELP = "delete a study (its trials and its copy of the data); refuses a running one"


def add_delete_parser(sub: Any) -> None:
    p = sub.add_parser("delete", help=HELP)
    p.add_argument("study", help="the study's name (see `knobs studies`)")
    p.add_argument("--storage", default=None, help="Optuna storage URL or journal file path")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _race_of(name: str) -> str | None:
    from knobs.race import list_races

    return next((r.id for r in list_races() for run in r.runs if run.study == name), None)


def cmd_delete(
    args: argparse.Namespace, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    from knobs.study import Search

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    handle = Search.open(args.study, args.storage)
    if handle.is_running():
        raise StudyError(
            f"Study `{args.study}` is running; stop it first (`knobs stop {args.study}`), then "
            "delete it."
        )
    race = _race_of(args.study)
    if race is not None:
        raise StudyError(
            f"Study `{args.study}` is a run of race `{race}`, which reads it: deleting it would "
            "break the race's results. It is kept."
        )
    what = f"`{args.study}` ({len(handle.trials())} trials)"
    if not args.yes:
        if not stdin.isatty():
            raise StudyError(
                f"Deleting {what} cannot be undone; pass --yes to delete without a prompt."
            )
        stdout.write(f"Delete study {what} and its copy of the data for good? [y/N] ")
        stdout.flush()
        if stdin.readline().strip().lower() not in ("y", "yes"):
            print(f"kept {args.study}", file=stdout)
            return 1
    handle.delete()
    print(f"deleted {args.study}", file=stdout)
    return 0
