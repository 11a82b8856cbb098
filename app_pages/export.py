"""Export page: pick a study's model and a format, read its card, download it, score a new CSV.

Layout only: the choices and the bundle come from ``components.export`` (over ``knobs.export``,
the functions ``knobs export`` calls), the predictions from ``knobs.predict``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import streamlit as st

from components import errors, pickers, state
from components.charts import fmt_score
from components.explain import section as explain_section
from components.export import (
    FORMAT_LABELS,
    model_options,
    study_download,
)
from components.slim import slim_for_export_page
from knobs.api import studies
from knobs.data import TABLE_FILE_TYPES
from knobs.export import FORMATS, load_bundle_bytes, render_markdown
from knobs.metrics import metric_label
from knobs.predict import predict_table
from knobs.transfer import CONTENDERS, FINETUNE_FAMILIES, finetune_bytes


def pick_study() -> str | None:
    rows = [r for r in studies() if r.get("knobs") and r.get("best_value") is not None]
    if not rows:
        st.info("No study has a finished trial yet. Run a search first, then come back here.",
                icon=":material/info:")  # fmt: skip
        st.page_link("app_pages/search.py", label="Go to Search", icon=":material/tune:")
        return None
    names = [r["study"] for r in rows]
    current = state.attach_from_url()
    pickers.say_if_not_listed(current, names)
    index = names.index(current) if current in names else 0
    name = st.selectbox("Study", names, index=index, key=state.W_EXPORT_STUDY)
    if name != current:
        state.set_study(name)
    return name


def card_view(card: dict[str, Any]) -> None:
    st.markdown(f"**{card['model']['label']}** · {card['format']}")
    s = card["scores"]
    metric = metric_label(s["metric"])
    cols = st.columns(3)
    cols[0].metric(f"CV {metric}", fmt_score(s["cv"]))
    cols[1].metric(f"Test {metric}", fmt_score(s["test"]))
    cols[2].metric("Defaults (CV)", fmt_score(s["baseline"]))
    if card.get("onnx"):
        o = card["onnx"]
        st.caption(f"ONNX check: max |difference| {o['max_abs_diff']:.3g} on {o['rows']} training "
                   f"rows ({o['compared']}), tolerance {o['tolerance']:.3g}.")  # fmt: skip
    lines = render_markdown(card).splitlines()[1:]  # the title is the tab's name here
    st.markdown("\n".join("#### " + ln[3:] if ln.startswith("## ") else ln for ln in lines))


def score_box(bundle: bytes, fmt: str) -> None:
    st.caption("Predictions from this bundle, through the same checks as `knobs predict`.")
    if FORMATS[fmt].runs_code:
        st.caption(f"Knobs never loads {fmt} files (they run code); export as skops to score "
                   "here.")  # fmt: skip
        return
    upload = st.file_uploader("A CSV with the same columns", type=list(TABLE_FILE_TYPES),
                              key=state.W_EXPORT_SCORE)  # fmt: skip
    if upload is None:
        return
    with errors.boundary("scoring the CSV"):
        model = load_bundle_bytes(bundle)
        result = predict_table(model, upload.getvalue(), name=upload.name)
        for w in result.warnings:
            st.warning(w, icon=":material/warning:")
        keyed = f", keyed by `{result.key}` (the ID column)" if result.key else ""
        st.caption(f"{len(result.frame):,} predictions{keyed}.")
        st.dataframe(result.frame.head(200), hide_index=True)
        st.download_button(
            "Download predictions (.csv)", data=result.frame.to_csv(index=False).encode(),
            file_name="predictions.csv", mime="text/csv", key=state.W_EXPORT_PRED_DOWNLOAD,
        )  # fmt: skip


def main() -> None:
    st.title("Export")
    st.caption("Refit the chosen model on every labelled row (as its study asks) and take it "
               "with you: the model file, a model card, and a train.py that rebuilds it without "
               "Knobs.")  # fmt: skip
    name = pick_study()
    if name is None:
        return
    labels = model_options(name)
    cols = st.columns([2, 2, 1], vertical_alignment="bottom")
    choice = cols[0].selectbox("Model", list(labels), format_func=labels.__getitem__,
                               key=state.study_widget(state.W_EXPORT_TRIAL, name))  # fmt: skip
    fmt = cols[1].selectbox("Format", list(FORMAT_LABELS), format_func=FORMAT_LABELS.__getitem__,
                            key=state.W_EXPORT_FORMAT)  # fmt: skip
    if FORMATS[fmt].warning:
        st.warning(FORMATS[fmt].warning, icon=":material/warning:")
    what, _, ident = str(choice).partition(":")
    trial = int(ident) if what == "trial" else None
    ensemble = ident if what == "ensemble" else None
    explain_section(name, trial, ensemble, folded=True)
    key = (name, str(choice), str(fmt))
    held = state.export_bundle(key)
    if cols[2].button("Build export", key=state.W_EXPORT_BUILD, type="primary",
                      icon=":material/package_2:", disabled=held is not None):  # fmt: skip
        with st.spinner("Refitting on the training split and writing the bundle…"):
            held = study_download(name, trial, str(fmt), ensemble=ensemble)
        state.set_export_bundle(key, held)
    if held is None:
        st.caption("Choose a model and a format, then build the export.")
        return
    data, card = held
    st.download_button(
        f"Download {card['format']} bundle (.zip, {len(data) / 1024:,.0f} KB)", data=data,
        file_name=f"{name}-{what}{ident}-{fmt}.zip", mime="application/zip",
        key=state.W_EXPORT_DOWNLOAD, type="primary", icon=":material/download:",
    )  # fmt: skip
    card_tab, score_tab = st.tabs(["Model card", "Score a new CSV"])
    with card_tab:
        card_view(card)
    with score_tab:
        score_box(data, str(fmt))


def finetune_section() -> None:
    """Continue training an exported model on new labelled rows (``knobs finetune``)."""
    st.divider()
    st.subheader("Fine-tune a saved model on new rows")
    can = ", ".join(k for k, t in FINETUNE_FAMILIES.items() if t.tune is not None)
    st.caption(
        "Upload a bundle Knobs exported (skops or xgboost format; never a pickle) and new "
        "labelled rows. The preprocessing stays as it was; the model continues training "
        f"({can}). Part of the new rows is held out to compare the model as is, the fine-tuned "
        "one and one trained from scratch with the same parameters."
    )
    left, right = st.columns(2)
    bundle = left.file_uploader("Exported bundle (.zip)", type=["zip"], key=state.W_FT_MODEL)
    data = right.file_uploader("New labelled rows (.csv)", type=list(TABLE_FILE_TYPES),
                               key=state.W_FT_DATA)  # fmt: skip
    holdout = st.slider("Held-out share of the new rows", 0.1, 0.5, 0.25, 0.05,
                        key=state.W_FT_HOLDOUT)  # fmt: skip
    if bundle is None or data is None:
        return
    raw, rows = bundle.getvalue(), data.getvalue()
    key = (hashlib.sha256(raw).hexdigest(), hashlib.sha256(rows).hexdigest(), str(holdout))
    held = state.finetuned(key)
    if held is None and st.button("Fine-tune", key=state.W_FT_RUN, type="primary",
                                  icon=":material/model_training:"):  # fmt: skip
        with st.spinner("Fine-tuning and training the comparison from scratch…"):
            held = errors.attempt(finetune_bytes, raw, rows, name=data.name, holdout=holdout)
        if held is not None:
            state.set_finetuned(key, held)
    if held is None:
        return
    result, zipped = held
    for w in result.warnings:
        st.warning(w, icon=":material/warning:")
    metric = metric_label(result.metric)
    cols = st.columns(3)
    cols[0].metric(f"Old model as is ({metric})", fmt_score(result.scores["old"]))
    cols[1].metric(f"Fine-tuned ({metric})", fmt_score(result.scores["finetuned"]),
                   help=f"{result.seconds['finetuned']:.1f} s")  # fmt: skip
    cols[2].metric(f"From scratch ({metric})", fmt_score(result.scores["scratch"]),
                   help=f"{result.seconds['scratch']:.1f} s")  # fmt: skip
    st.markdown(
        f"On {result.rows['held_out']} held-out new rows, **{CONTENDERS[result.winner]}** scores "
        f"best{result.tied_words()}. Fine-tuning {result.family} {result.meaning}; tuned on "
        f"{result.rows['tuned_on']} rows."
    )
    if result.advice:
        st.info(result.advice, icon=":material/info:")
    st.download_button(
        "Download the fine-tuned bundle (.zip)", data=zipped, file_name="finetuned.zip",
        mime="application/zip", key=state.W_FT_DOWNLOAD, icon=":material/download:",
    )  # fmt: skip


with errors.boundary("preparing the export"):
    main()

with errors.boundary("slimming the model"):
    slim_for_export_page()

with errors.boundary("fine-tuning the model"):
    finetune_section()
