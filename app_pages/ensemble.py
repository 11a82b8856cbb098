"""Ensemble page: combine the best trials of one or more studies, compare, keep one for export."""

from __future__ import annotations

import streamlit as st

from components import ensemble as ui
from components import errors, pickers, state
from knobs import ensembles
from knobs.api import studies
from knobs.formatting import fmt_score
from knobs.models import model_names
from knobs.study.keys import FINAL, TEST_SCORE


def study_label(row: dict) -> str:
    best = fmt_score(row.get("best_value"), missing="–")
    return f"{row.get('source') or row['study']} · {row.get('metric')} best {best} · {row['study']}"


with errors.boundary("building an ensemble"):
    state.attach_from_url()
    st.title("Ensembles")
    st.caption(
        "A team of models beats a single one when they err differently. Pick studies made on "
        "the same table, look at how their best trials correlate, and combine them: weights "
        "are learned on each trial's out-of-fold predictions (seconds), then the members are "
        "refitted once to score the held-out test split next to the best single model."
    )
    rows = [r for r in studies() if r.get("knobs") and r.get("n_trials")]
    if not rows:
        st.info("No finished searches yet: run one first.", icon=":material/info:")
        st.page_link("app_pages/data.py", label="Choose a table", icon=":material/table_chart:")
        st.stop()
    by_name = {r["study"]: r for r in rows}
    current = state.study()
    pickers.say_if_not_listed(current, list(by_name))
    default = [current] if current in by_name else [rows[0]["study"]]
    chosen = st.multiselect(
        "Studies (same table, split and folds)",
        list(by_name),
        default=default,
        format_func=lambda n: study_label(by_name[n]),
        key=ui.W_STUDIES,
    )
    left, right = st.columns([1, 2])
    top = left.number_input("Candidates (top K)", 2, 20, 5, key=ui.W_TOP)
    diverse = right.toggle(
        ui.DIVERSE_LABEL,
        key=ui.W_DIVERSE,
        help="Favour other model families and weakly correlated predictions over a little "
        "single-model score.",
    )
    if not chosen:
        st.info("Pick at least one study.", icon=":material/info:")
        st.stop()
    version = tuple(by_name[n].get("n_trials") for n in chosen)
    with st.spinner("Loading the candidates' out-of-fold predictions…"):
        found = errors.attempt(ui.pool, chosen, int(top), bool(diverse), version)
    if found is None:
        st.stop()
    st.subheader("Candidates")
    ui.candidates_panel(found)

    st.subheader("Build")
    kind = st.radio(
        "Kind",
        list(ensembles.KINDS),
        format_func=ui.KIND_LABELS.get,
        horizontal=True,
        key=ui.W_KIND,
    )
    options: dict = {}
    clf = found.task != "regression"
    if kind == "voting":
        c1, c2 = st.columns(2)
        if clf:
            options["voting"] = c1.radio(
                "Voting", ["soft", "hard"], horizontal=True, key=ui.W_VOTING,
                help="Soft averages probabilities; hard counts predicted labels.",
            )  # fmt: skip
        options["weights"] = c2.radio(
            "Weights", ["optimized", "equal"], horizontal=True, key=ui.W_WEIGHTS,
            help="Optimized: chosen on the out-of-fold predictions (the CV score is nested).",
        )  # fmt: skip
    elif kind == "stacking":
        c1, c2 = st.columns(2)
        metas = model_names(found.task)
        default_meta = "linear" if not clf else "logistic"
        options["meta"] = c1.selectbox(
            "Meta-learner", metas, index=metas.index(default_meta), key=ui.W_META
        )
        options["passthrough"] = c2.toggle(
            "Pass the features too", key=ui.W_PASSTHROUGH,
            help="The meta-learner also sees the (preprocessed) features.",
        )  # fmt: skip
    else:
        options["n_iter"] = int(st.number_input("Selection rounds", 5, 500, 50, key=ui.W_N_ITER))
    if st.button("Build ensemble", key=ui.W_BUILD, type="primary", icon=":material/join:"):
        with st.spinner("Combining on out-of-fold predictions, then refitting the members…"):
            opts = errors.attempt(
                ensembles.Options, kind=kind, top=int(top), diverse=bool(diverse), **options
            )
            built = opts and errors.attempt(
                ensembles.build_ensemble, chosen, opts, keep=False, pool=found
            )
        if built is not None:
            ui.set_report(built.to_dict())
    data = ui.report()
    if data is not None and data["studies"] == list(found.studies):
        st.subheader(f"{ui.KIND_LABELS[data['kind']]}: ensemble vs best single model")
        single = errors.attempt(state.search, data["best_single"]["study"])
        ui.report_panel(data, TEST_SCORE.get(single.study) if single is not None else None)
        if ui.kept() == data["id"]:
            st.success(
                f"Kept as `{data['id']}`, stored with study `{data['studies'][0]}`: "
                "export it with this id.",
                icon=":material/bookmark_added:",
            )
        elif st.button("Keep this ensemble for export", key=ui.W_KEEP, icon=":material/bookmark:"):
            if errors.ran(ensembles.save, data):
                ui.set_kept(data["id"])
                st.rerun()

    kept_rows = errors.attempt(ensembles.list_ensembles, chosen[0])
    if kept_rows:
        st.subheader("Kept ensembles")
        home = errors.attempt(state.search, chosen[0])
        final = FINAL.get(home.study) if home is not None else None
        test = TEST_SCORE.get(home.study) if home is not None else None
        st.dataframe(ui.kept_frame(kept_rows, final, test), hide_index=True)
