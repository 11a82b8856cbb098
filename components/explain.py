"""The Explain section: which columns a model relies on, and why it predicts what it does.

Layout only. The numbers come from ``knobs.explain``: computed once per model by ``knobs
explain`` in its own process (the "Compute explanations" button starts it), stored beside the
study, and read here by every session. The figures are built once per stored file for every
session (``charts.shared``); while a job runs, one flat fragment polls its state.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from components import charts, state
from components.charts import fmt_score
from components.errors import boundary
from components.export import model_options, trial_choices
from knobs import explain
from knobs.metrics import metric_label

#: Seconds between two looks at a running explanation job.
POLL_S = 2.0
#: Trials the Analytics page's picker lists (best first; the defaults trials always).
PICK_TRIALS = 50


def section(study: str, trial: int | None = None, ensemble: str | None = None, *,
            pick: bool = False, folded: bool = False) -> None:  # fmt: skip
    """The Explain section for one model of ``study``.

    The Export page passes the model it exports (``trial`` or ``ensemble``), ``folded`` into an
    expander between its pickers and its build button; with ``pick`` (the Analytics page) the
    section offers its own picker, best trial first.
    """
    with boundary("explaining the model"):
        if folded:
            with st.expander("Explain this model: which columns drive it, and why",
                             icon=":material/psychology:"):  # fmt: skip
                _section(study, trial, ensemble, pick=pick)
            return
        st.subheader("Explain the model")
        _section(study, trial, ensemble, pick=pick)


def _section(study: str, trial: int | None, ensemble: str | None, *, pick: bool) -> None:
    if pick:
        chosen = _pick(study)
        if chosen is None:
            return
        trial, ensemble = chosen
    elif trial is None and ensemble is None:
        choices = trial_choices(study)
        if not choices:
            st.caption("Explanations need a completed trial.")
            return
        trial = int(choices[0]["number"])
    job = explain.job_status(study, trial, ensemble)
    every = POLL_S if job.state == "running" else None
    st.fragment(run_every=every)(_body)(study, trial, ensemble, job.state)


def _pick(study: str) -> tuple[int | None, str | None] | None:
    labels = model_options(study, PICK_TRIALS)
    if not any(k.startswith("trial:") for k in labels):
        st.caption("Explanations need a completed trial: come back when the search has one.")
        return None
    choice = st.selectbox("Model to explain", list(labels), format_func=labels.__getitem__,
                          key=state.study_widget(state.W_EXPLAIN_MODEL, study))  # fmt: skip
    what, _, ident = str(choice).partition(":")
    return (int(ident), None) if what == "trial" else (None, ident)


def _body(study: str, trial: int | None, ensemble: str | None, drawn_for: str) -> None:
    """The section's changing part: the button, the running job, or the explanation."""
    with boundary("explaining the model"):
        job = explain.job_status(study, trial, ensemble)
        if job.state != drawn_for:
            st.rerun(scope="app")  # the poll timer follows the new state
        if job.state == "done":
            result = explain.load(study, trial, ensemble)
            if result is not None:
                show(result, study)
                return
        if job.state == "running":
            since = time.time() - (job.started or time.time())
            st.info(
                f"Computing the explanations in the background ({since:.0f} s so far): the model "
                "is refitted on the training split, then each column is shuffled on the test "
                "split. This page updates by itself; you may leave and come back.",
                icon=":material/hourglass_top:",
            )
            return
        if job.state == "failed":
            st.error(f"The last attempt failed: {job.message}", icon=":material/error:")
        st.caption(
            "Permutation importance of every column on the held-out test split (any model), and "
            "SHAP values per row (tree models). Computed once in the background and kept with the "
            "study, for every session."
        )
        if st.button("Compute explanations", key=state.W_EXPLAIN_COMPUTE, type="primary",
                     icon=":material/psychology:"):  # fmt: skip
            explain.start_job(study, trial, ensemble)
            st.rerun(scope="app")


def show(result: dict[str, Any], study: str) -> None:
    """A stored explanation: the warning, the notices, importance, SHAP and one row."""
    if result.get("warning"):
        st.warning(result["warning"], icon=":material/warning:")
    secs = sum(result.get("seconds", {}).values())
    st.caption(
        f"{result['label']}, fitted on {result['fitted_on']}; computed {result['created']} in "
        f"{secs:.1f} s."
    )
    for notice in result.get("notices", []):
        st.caption(f":material/info: {notice}")
    key = (study, result.get("kind"), result.get("trial"), result.get("ensemble"),
           result.get("created"))  # fmt: skip
    imp = result["importance"]
    st.markdown(
        f"**Permutation importance**: how much {metric_label(result['metric'])} "
        f"({fmt_score(imp['score'])} on these rows) gets worse when one column is shuffled"
        + (f"; the error bars are the spread over {imp['repeats']} shuffles" if imp["repeats"] > 1
           else f", once per column (no error bars: {len(imp['columns']):,} columns)")
        + ". Near zero: the model does not need the column."
    )
    charts.show_shared(charts.shared("explain.importance", key,
                                     lambda: explain.importance_figure(result)), "ex.importance")  # fmt: skip
    shap = result.get("shap")
    if not shap:
        st.info(result.get("shap_note") or "No SHAP values for this model.", icon=":material/info:")
        return
    output = 0
    if shap["classes"]:
        classes = shap["classes"]
        words = shap.get("output", "log-odds")
        output = st.selectbox(f"Class whose {words} the SHAP values explain", range(len(classes)),
                              format_func=classes.__getitem__, key=state.W_EXPLAIN_CLASS)  # fmt: skip
    st.markdown(
        "**SHAP values**: each column's push on one row's prediction, from the average "
        "prediction; the bar is the mean size of the push, the beeswarm one dot per row."
    )
    left, right = st.columns([2, 3])
    with left:
        charts.show_shared(charts.shared("explain.shap_bar", (*key, output),
                                         lambda: explain.shap_bar_figure(result, output)),
                           "ex.shap_bar")  # fmt: skip
    with right:
        charts.show_shared(charts.shared("explain.beeswarm", (*key, output),
                                         lambda: explain.beeswarm_figure(result, output)),
                           "ex.beeswarm")  # fmt: skip
    rows = dict(explain.row_choices(result))
    position = st.selectbox("One row's explanation", list(rows), format_func=rows.__getitem__,
                            key=state.W_EXPLAIN_ROW)  # fmt: skip
    data = explain.row_contributions(result, int(position), output)
    st.plotly_chart(explain.row_figure(result, int(position), output), key="ex.row",
                    config={"displaylogo": False})  # fmt: skip
    st.dataframe(
        [{"column": i["column"], "value": i["value"], "push": round(i["contribution"], 4)}
         for i in data["items"]],
        hide_index=True,
    )  # fmt: skip
