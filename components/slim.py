"""The Export page's Slim section: the feature and tree curves of a trial, the user's pick,
size and latency before and after, and the slim bundle's download.

The curves are computed once per study and trial by a background process (``knobs.slim``
``start_job``), their report cached beside the study and shared by every session; this
section only reads it. Building the chosen slim bundle refits one model, like the Export page's
own button.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from components import errors, state
from knobs.formatting import fmt_score
from knobs.metrics import metric_label
from knobs.slim import curve_data, job_status, slim_bundle_bytes, start_job, with_choice

W_START = "slim.start"
W_REFRESH = "slim.refresh"
W_COLUMNS = "slim.columns"
W_TREES = "slim.trees"
W_BUILD = "slim.build"
W_DOWNLOAD = "slim.download"
#: The built bundle of this session: (study, trial, columns, trees, format) -> (zip, card).
_BUNDLE = "knobs.slim_bundle"


def curve_figure(data: Mapping[str, Any], picked: int) -> go.Figure:
    """Score vs size with the fold-noise band; the suggested and the picked sizes marked."""
    x = data["sizes"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x + x[::-1], y=data["high"] + data["low"][::-1], fill="toself",
                             line={"width": 0}, fillcolor="rgba(99,110,250,0.18)",
                             hoverinfo="skip", name="± fold noise"))  # fmt: skip
    colors = ["#636efa" if ok else "#ef553b" for ok in data["within_noise"]]
    fig.add_trace(go.Scatter(x=x, y=data["scores"], mode="lines+markers", name="CV score",
                             marker={"color": colors, "size": 8}))  # fmt: skip
    log = data["kind"] == "trees" and max(x) > 20
    marks = [
        (data["suggested"], "suggested", "dash", "top left"),
        (picked, "your pick", "dot", "top right"),
    ]
    if picked == data["suggested"]:
        marks = [(picked, "suggested = your pick", "dash", "top")]
    for size, label, dash, where in marks:
        fig.add_vline(x=size, line_dash=dash)
        # On a log axis an annotation's x is log10 of the value (the line's is the value itself).
        fig.add_annotation(x=math.log10(size) if log else size, y=1.0, yref="paper", text=label,
                           showarrow=False, yanchor="bottom",
                           xanchor={"top left": "right", "top right": "left"}.get(where, "center"))  # fmt: skip
    fig.update_layout(
        xaxis_title=data["x_label"], yaxis_title=metric_label(data["metric"]), height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, showlegend=False,
    )  # fmt: skip
    if log:
        fig.update_xaxes(type="log")
    return fig


def _pick(data: Mapping[str, Any], key: str, label: str) -> int:
    options = data["sizes"]
    return int(st.select_slider(label, options=options, value=data["suggested"], key=key,
                                help="Red points lose beyond the noise margin of the best."))  # fmt: skip


def _before_after(report: Mapping[str, Any]) -> None:
    b, a = report["before"], report["after"]
    metric = metric_label(report["metric"])
    cols = st.columns(4)
    cols[0].metric("Columns", a["columns"], delta=a["columns"] - b["columns"], delta_color="off")
    cols[1].metric(f"Test {metric}", fmt_score(a["test"]), delta=fmt_score(a["test"] - b["test"]),
                   delta_color="normal" if report["direction"] == "maximize" else "inverse")  # fmt: skip
    cols[2].metric("Model file", f"{a['bytes'] / 1024:,.0f} KB",
                   delta=f"{(a['bytes'] - b['bytes']) / 1024:,.0f} KB", delta_color="inverse")  # fmt: skip
    cols[3].metric("Predictions/s (1,000 rows)", f"{a['predictions_per_s']:,.0f}",
                   delta=f"{a['predictions_per_s'] / max(b['predictions_per_s'], 1e-9):.1f}×",
                   delta_color="off")  # fmt: skip
    st.caption(f"Before: {b['columns']} columns"
               + (f", {b['trees']} trees" if b.get("trees") else "")
               + f", test {fmt_score(b['test'])}, {b['bytes'] / 1024:,.0f} KB, "
               f"{b['predictions_per_s']:,.0f} predictions/s. After: the suggested sizes; "
               "the export measures your pick again and writes it in the card.")  # fmt: skip


def report_view(report: Mapping[str, Any], fmt: str) -> None:
    """The two curves, the pick, before/after, and the export of the pick."""
    st.caption(f"Scored by {report['feature_curve']['scored_on']}. Columns ranked by "
               f"{report['ranking']['how']}.")  # fmt: skip
    fdata = curve_data(report, "columns")
    assert fdata is not None
    columns = _pick(fdata, W_COLUMNS, "Columns to keep (the least important are dropped first)")
    st.plotly_chart(curve_figure(fdata, columns), key="slim.columns_chart")
    tdata = curve_data(report, "trees")
    trees: int | None = None
    if tdata is not None:
        trees = _pick(tdata, W_TREES, "Trees to keep")
        st.plotly_chart(curve_figure(tdata, trees), key="slim.trees_chart")
        st.caption(f"Tree curve measured on the {report['tree_curve_columns']} suggested "
                   f"columns. Export: {report['trees_how']}.")  # fmt: skip
        trees = None if trees == max(tdata["sizes"]) else trees
    dropped = [r["name"] for r in report["ranking"]["columns"]][columns:]
    st.markdown("Dropped: " + (", ".join(f"`{d}`" for d in dropped) or "none"))
    _before_after(report)
    key = (report["study"], report["trial"], columns, trees, fmt)
    held = st.session_state.get(_BUNDLE)
    held = held[1] if held and held[0] == key else None
    if held is None and st.button("Build slim export", key=W_BUILD, icon=":material/compress:"):
        with st.spinner("Refitting the slim model and writing the bundle…"):
            held = errors.attempt(slim_bundle_bytes, with_choice(report, columns, trees), fmt)
        if held is not None:
            st.session_state[_BUNDLE] = (key, held)
    if held is not None:
        data, card = held
        st.download_button(
            f"Download slim {card['format']} bundle (.zip, {len(data) / 1024:,.0f} KB)",
            data=data, file_name=f"{report['study']}-trial{report['trial']}-slim-{fmt}.zip",
            mime="application/zip", key=W_DOWNLOAD, icon=":material/download:",
        )  # fmt: skip
        st.caption("`knobs predict` needs only its columns: "
                   + ", ".join(f"`{c['name']}`" for c in card["schema"]))  # fmt: skip


def slim_section(study: str, trial: int | None, fmt: str) -> None:
    """The Slim section for a study's trial (``trial`` None: an ensemble, which is not slimmed)."""
    st.subheader("Slim the model")
    if trial is None:
        st.caption("Slimming works on a single trial; pick a trial above to slim it.")
        return
    job = job_status(study, trial)
    if job.state == "none":
        st.caption("Drop the columns and trees that do not pay for themselves: the curves are "
                   "measured by cross-validation with the study's folds, once, in the background, "
                   "and kept beside the study for every session.")  # fmt: skip
        if st.button("Compute the slimming curves", key=W_START, icon=":material/query_stats:"):
            errors.attempt(start_job, study, trial)
            st.rerun()
        return
    if job.state == "running":
        st.info(f"Measuring the curves of trial {trial} in the background…",
                icon=":material/hourglass_top:")  # fmt: skip
        st.button("Check again", key=W_REFRESH, icon=":material/refresh:")
        return
    if job.state == "failed":
        st.error(job.error, icon=":material/error:")
        if st.button("Try again", key=W_START, icon=":material/refresh:"):
            errors.attempt(start_job, study, trial)
            st.rerun()
        return
    assert job.report is not None
    report_view(job.report, fmt)


def slim_for_export_page() -> None:
    """The Slim section under the Export page's picker: the study, model and format chosen
    there (read from their widgets); nothing before a study is picked."""
    study = st.session_state.get(state.W_EXPORT_STUDY)
    choice = str(st.session_state.get(state.study_widget(state.W_EXPORT_TRIAL, study)) or "")
    if not study or not choice:
        return
    what, _, ident = choice.partition(":")
    fmt = str(st.session_state.get(state.W_EXPORT_FORMAT) or "skops")
    st.divider()
    slim_section(str(study), int(ident) if what == "trial" else None, fmt)
