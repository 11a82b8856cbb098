"""Studies page: every search in the storage; open, resume, stop or delete one."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components import errors, pickers, state, tables
from knobs.api import studies


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
    if cols[0].button(
        "Open live view", key=state.W_OPEN, type="primary", icon=":material/monitoring:"
    ):
        state.set_study(name)
        st.switch_page("app_pages/live.py", query_params={"study": name})
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
        if errors.ran(handle.start):
            state.set_study(name)
            st.switch_page("app_pages/live.py", query_params={"study": name})
    if cols[2].button(
        "Delete",
        key=state.W_DELETE,
        icon=":material/delete:",
        disabled=current == "running" or pending,
        help="Stop it first if it is running.",
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


with errors.boundary("listing the studies"):
    state.attach_from_url()
    st.title("Studies")
    st.caption(
        "Every search kept in the storage, newest first, running or finished. A study's link "
        "(the `study` in the address bar) reopens it after a reload or a server restart."
    )
    rows = with_states(studies())
    if not rows:
        st.info(
            "No studies yet: start a search and it will be listed here.", icon=":material/info:"
        )
        st.page_link("app_pages/data.py", label="Choose a table", icon=":material/table_chart:")
    else:
        st.dataframe(
            tables.studies_frame(rows),
            hide_index=True,
            key=state.W_STUDIES_TABLE,
            column_config={
                "best": st.column_config.NumberColumn("best", format="%.4f"),
                "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
                "state": st.column_config.TextColumn("state"),
            },
        )
        actions(pickers.study_picker(rows, key=state.W_STUDY_PICK))
