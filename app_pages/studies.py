"""Studies page: every search in the storage; open, resume, stop or delete one.

A race's runs are listed under their race (one folded block each, with a link to the race), not
among the user's own searches; a toggle puts them in the picker to open or delete one.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from components import errors, pickers, state, tables
from knobs.api import studies
from knobs.race import list_races
from knobs.study import storage_url
from knobs.transfer import group_by_schema

COLUMNS = {
    "best": st.column_config.NumberColumn("best", format="%.4f"),
    "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
    "state": st.column_config.TextColumn("state"),
}


def with_states(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add each Knobs study's state (running, finished, stopped...) for the list."""
    out = []
    for row in rows:
        row = dict(row)
        if not row.get("knobs"):
            row["state"] = "not a Knobs study"
        else:
            try:
                row["state"] = state.search(row["study"]).status().state
            except Exception:  # noqa: BLE001 - one unreadable study must not hide the others
                row["state"] = "unreadable"
        out.append(row)
    return out


def actions(row: dict[str, Any]) -> None:
    name = row["study"]
    if not row.get("knobs"):
        st.caption("This study was not created by Knobs; open it with optuna-dashboard.")
        return
    handle = state.search(name)
    current = row.get("state")
    pending = state.confirm_delete() == name
    cols = st.columns([1.2, 1, 1, 3])
    # A link, not a button: a button's click reran this page (every study's status read again)
    # before switching; the link opens the live view at once, and it adopts the study from the
    # URL. Its first chart came 2.0-2.5 s after the click against 2.1-3.0 s (in Chromium; most
    # of it plotly.js compiling in a tab that drew no chart yet: 0.6 s from a page that had).
    cols[0].page_link(
        "app_pages/live.py", label="Open live view", icon=":material/monitoring:",
        query_params={state.QUERY_STUDY: name},
    )  # fmt: skip
    if current == "running":
        if cols[1].button("Stop", key=state.W_STUDY_STOP, icon=":material/stop_circle:"):
            with st.spinner("Stopping the workers…"):
                handle.stop()
            st.rerun()
    elif cols[1].button(
        "Resume",
        key=state.W_STUDY_RESUME,
        icon=":material/play_arrow:",
        disabled=current == "finished",
        help="Continue up to the study's budget (finished studies are done).",
    ):
        if errors.ran(handle.start, finish=True):
            state.set_study(name)
            st.switch_page("app_pages/live.py", query_params={"study": name})
    in_race = row.get("race")
    if cols[2].button(
        "Delete",
        key=state.W_DELETE,
        icon=":material/delete:",
        disabled=current == "running" or pending or bool(in_race),
        help=f"A run of race `{in_race}`: its race reads it, so it is kept."
        if in_race
        else "Stop it first if it is running.",
    ):
        state.set_confirm_delete(name)
        st.rerun()
    if pending:
        st.warning(
            f"Delete **{row.get('source') or name}** ({row.get('n_trials', 0)} trials)? Its trials "
            "and its copy of the data are removed for good.",
            icon=":material/warning:",
        )
        yes, no, _ = st.columns([1, 1, 4])
        if yes.button("Yes, delete it", key=state.W_DELETE_YES, type="primary"):
            state.set_confirm_delete(None)
            if errors.ran(handle.delete):
                state.forget_search(name)
                st.toast("Study deleted.")
                st.rerun()
        if no.button("Cancel", key=state.W_DELETE_NO):
            state.set_confirm_delete(None)
            st.rerun()


@st.cache_data(ttl=30, show_spinner=False)
def schema_groups(storage: str) -> list[list[dict[str, Any]]]:
    """Studies on tables of one schema (task, target, columns by name and kind), two or more a
    group; read once per 30 s for every session (each study's plan is read to compare)."""
    return [g for g in group_by_schema(storage).values() if len(g) > 1]


def table_families(own: list[dict[str, Any]]) -> None:
    """Says "3 earlier studies on tables like this one": the user's searches grouped by schema, so a
    new month of the same table is seen beside the old ones (and can warm-start from them)."""
    names = {r["study"] for r in own}
    groups = [[r for r in g if r["study"] in names] for g in schema_groups(storage_url(None))]
    groups = [g for g in groups if len(g) > 1]
    if not groups:
        return
    st.subheader("Tables like each other")
    st.caption(
        "Studies whose tables share the task, the target and the columns (by name and kind): "
        "a new search on such a table can start from them (Search page, *Start from earlier "
        "studies*)."
    )
    for group in groups:
        first = group[0]
        with st.expander(
            f"{len(group)} studies on tables like **{first.get('source')}** "
            f"(target `{first.get('target')}`)"
        ):
            st.dataframe(tables.studies_frame(group), hide_index=True, column_config=COLUMNS)


def race_list(groups: list[pickers.RaceGroup]) -> None:
    """Each race's runs folded under the race, with a link to its page."""
    st.subheader("Races")
    for group in groups:
        race = group.race
        with st.expander(f"{pickers.race_label(race)} · {len(group.rows)} runs"):
            st.dataframe(tables.studies_frame(group.rows), hide_index=True, column_config=COLUMNS)
            if st.button(
                "Open the race",
                key=state.W_OPEN_RACE_PREFIX + race.id,
                icon=":material/flag:",
            ):
                state.set_race(race.id)
                st.switch_page("app_pages/race.py", query_params={state.QUERY_RACE: race.id})


with errors.boundary("listing the studies"):
    state.attach_from_url()
    st.title("Studies")
    st.caption(
        "Every search kept in the storage, newest first, running or finished. A study's link "
        "(the `study` in the address bar) reopens it after a reload or a server restart."
    )
    everything = studies()
    own, races = pickers.group_by_race(everything, list_races())
    rows = with_states(own)
    if not everything:
        st.info(
            "No studies yet: start a search and it will be listed here.", icon=":material/info:"
        )
        st.page_link("app_pages/data.py", label="Choose a table", icon=":material/table_chart:")
    else:
        if rows:
            st.dataframe(
                tables.studies_frame(rows),
                hide_index=True,
                key=state.W_STUDIES_TABLE,
                column_config=COLUMNS,
            )
        else:
            st.caption("No searches outside the races below.")
        table_families(own)
        race_runs = [r for g in races for r in g.rows]
        if races:
            race_list(races)
        with_runs = bool(race_runs) and st.toggle(
            "Include race runs in the picker",
            key=state.W_STUDIES_RACE_RUNS,
            help="To open, resume or delete one run of a race.",
        )
        pickable = rows + (race_runs if with_runs else [])
        if pickable:
            picked = pickers.study_picker(pickable, key=state.W_STUDY_PICK)
            actions(with_states([picked])[0] if picked.get("race") else picked)
