"""The study picker, one for every page that lets the user choose a study, and how a race reads.

Races keep their runs' study names in their race files (``knobs.race.list_races``), so the
Studies page groups those runs under their race (:func:`group_by_race`) instead of listing every
run among the user's own searches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from knobs.formatting import fmt_score
from knobs.race import Race, contestant_label
from knobs.strategies import strategy_label

from . import state


def study_label(row: dict[str, Any]) -> str:
    """How a study reads in a picker: its name, strategy, best score and size (plus its state and
    creation time when the row has them)."""
    strategy = strategy_label(row.get("strategy"), row.get("sampler")) or "?"
    parts = [row["study"], strategy, f"best {fmt_score(row.get('best_value'))}"]
    parts.append(f"{row.get('n_trials', 0)} trials")
    if row.get("state"):
        parts.append(str(row["state"]))
    if row.get("created"):
        parts.append(row["created"].strftime("%Y-%m-%d %H:%M"))
    return " · ".join(parts)


def say_if_not_listed(current: str | None, names: Sequence[str]) -> None:
    """Say so when the link (or this tab) names a study the page cannot show, and which one it
    shows instead: a mistyped or stale link once opened the newest study on Export without a
    word, one click away from exporting another model."""
    if current and names and current not in names:
        st.warning(
            f"This page cannot show study `{current}` (deleted, mistyped, or without a finished "
            f"trial): it shows `{names[0]}` instead. Pick the study below.",
            icon=":material/warning:",
        )


def study_picker(rows: Sequence[dict[str, Any]], *, key: str) -> dict[str, Any]:
    """A select box over ``rows`` (from ``knobs.studies()``), on the tab's current study when it
    is among them; returns the chosen row."""
    by_name = {r["study"]: r for r in rows}
    names = list(by_name)
    current = state.study()
    say_if_not_listed(current, names)
    picked = st.selectbox(
        "Study",
        names,
        index=names.index(current) if current in names else 0,
        format_func=lambda n: study_label(by_name[n]),
        key=key,
    )
    return by_name[picked]


def race_label(race: Race) -> str:
    """How a race reads in a list: when, on what, who raced, and where it stands."""
    spec = race.spec
    who = ", ".join(contestant_label(c) for c in spec.contestants)
    when = race.created[:16].replace("T", " ")  # ISO, UTC: to the minute, as studies read
    return f"{when} · {spec.source} · {who} × {spec.seeds} seeds · {race.state}"


@dataclass(frozen=True)
class RaceGroup:
    """One race's runs as rows of the studies list (each run's state from the race file)."""

    race: Race
    rows: tuple[dict[str, Any], ...]


def group_by_race(
    rows: Sequence[dict[str, Any]], races: Sequence[Race]
) -> tuple[list[dict[str, Any]], list[RaceGroup]]:
    """Split the studies list into the studies no race owns and each race's runs.

    The race files are the authority (not the run names); a run's row gets the race's id under
    ``race`` and, unless its workers are alive, its state in the race (queued, done, stopped).
    Races without a listed run (another storage, or deleted runs) are left out.
    """
    owner = {run.study: (race, run) for race in races for run in race.runs}
    standalone = [dict(r) for r in rows if r["study"] not in owner]
    groups = []
    for race in races:
        runs = []
        for r in rows:
            held = owner.get(r["study"])
            if held is None or held[0] is not race:
                continue
            state_word = "running" if r.get("running") else held[1].state
            runs.append({**r, "race": race.id, "state": r.get("state") or state_word})
        if runs:
            groups.append(RaceGroup(race, tuple(runs)))
    return standalone, groups
