"""Data page: choose a table (upload or sample), look at it, pick the target column."""

from __future__ import annotations

import streamlit as st

from components import errors, forms, state, tables
from knobs.data import (
    LEAK_NOTICE,
    TABLE_FILE_TYPES,
    RawTable,
    infer_task,
    joined_with_test,
    read_table,
    sample_path,
    size_words,
    upload_limit_words,
)
from knobs.errors import KnobsError

SAMPLE = "churn"
AUTO = "auto"  # the task select's "infer it" choice
#: Class labels the "Ready" line names before "and N more" (a 10-class rating read 1 to 8).
SHOWN_CLASSES = 8


def _load_sample() -> None:
    path = sample_path(SAMPLE)
    state.set_data(state.DataChoice.of(path.name, path.read_bytes(), sample=True))


def choose_source() -> None:
    """Uploader and sample button side by side; a new upload replaces the current table."""
    left, right = st.columns([3, 1], vertical_alignment="center")
    limit = upload_limit_words()
    with left:
        upload = st.file_uploader(
            "Upload a table (CSV, Excel, Parquet or JSON)",
            type=list(TABLE_FILE_TYPES),
            key=state.W_UPLOAD,
            help=(f"Up to {limit} (the KNOBS_MAX_UPLOAD_MB setting). " if limit else "")
            + "Comma, semicolon, tab or pipe separated; UTF-8, UTF-16 or Windows encodings; "
            "decimal commas are recognised. A gzipped CSV, or a zip holding one, is unpacked; "
            "a workbook (.xlsx, .xls, .ods) is read as its fullest sheet; Parquet and Feather "
            "files are read too.",
        )
    with right:
        clicked = st.button(
            "Use the churn sample",
            key=state.W_SAMPLE,
            icon=":material/dataset:",
            help="A small customer-churn table (predict whether a customer leaves).",
            width="stretch",
        )
    if upload is not None and upload.file_id != state.seen_upload():
        state.set_seen_upload(upload.file_id)
        state.set_data(state.DataChoice.of(upload.name, upload.getvalue()))
    elif clicked:
        errors.attempt(_load_sample)
    elif state.data() is None and not state.sample_offered():
        # Open on something useful: the sample is ready to tune until the user brings a table.
        state.set_sample_offered()
        errors.attempt(_load_sample)


def preview(raw: RawTable) -> None:
    frame = raw.frame
    st.subheader("Preview")
    st.caption(
        f"{len(frame):,} rows × {frame.shape[1]} columns · read as {raw.encoding}, "
        f"separated by {raw.delimiter!r}, decimal mark {raw.decimal!r}."
    )
    if raw.notices:
        st.info("\n".join(f"- {n}" for n in raw.notices), icon=":material/info:")
    st.dataframe(frame.head(200), height=260)


def choose_target(raw: RawTable) -> str | None:
    """Target, task and excluded columns; the problems they cause are shown right below them.

    The boxes are keyed on the table (``state.table_widget``): a new table gets new boxes, so
    they show the target and task the app will use, never the previous table's.
    """
    columns = [str(c) for c in raw.frame.columns]
    choice = state.data()
    current = state.target()
    if current not in columns:
        current = forms.guess_target(columns)
    st.subheader("What to predict")
    left, middle, right = st.columns([2, 2, 3])
    with left:
        target = st.selectbox(
            "Target column",
            columns,
            index=columns.index(current) if current in columns else None,
            key=state.table_widget(state.W_TARGET, choice),
            placeholder="Choose the column to predict",
            help="The column the model learns to predict; every other column is a candidate "
            "feature.",
        )
    state.set_target(target)
    if target is None:
        return None
    # One value in every row is no task at all (the readiness check says so below the boxes).
    values = raw.frame[target]
    detected = errors.attempt(infer_task, values) if values.nunique() > 1 else None
    with middle:
        options = [AUTO, "binary", "multiclass", "regression"]
        override = state.task_override() or AUTO
        task = st.selectbox(
            "Task",
            options,
            index=options.index(override) if override in options else 0,
            key=state.table_widget(state.W_TASK, choice),
            format_func=lambda t: (
                f"Automatic: {forms.TASK_LABELS.get(detected or '', 'unknown')}"
                if t == AUTO
                else forms.TASK_LABELS[t]
            ),
            help="Knobs infers the task from the target's values; override it when, e.g., "
            "numeric codes are really classes.",
        )
    state.set_task_override(None if task == AUTO else task)
    with right:
        key = state.table_widget(state.W_EXCLUDE, choice)
        excluded = st.multiselect(
            "Exclude columns",
            [c for c in columns if c != target],
            # a box the one-click exclusion filled has its value already: a default beside it
            # makes Streamlit warn in the server log
            default=None if key in st.session_state
            else [c for c in state.exclude() if c in columns and c != target],
            key=key,
            placeholder="None: every usable column is a feature",
            help="Leave out columns that would not be known at prediction time, or that leak "
            "the answer.",
        )
    state.set_exclude(excluded)
    return target


def readiness() -> None:
    """Validate the whole problem now, so the Search page can only start a search that runs."""
    ds = errors.attempt(state.dataset)
    if ds is None:
        return
    n_features = ds.X.shape[1]
    shown, more = ds.classes[:SHOWN_CLASSES], len(ds.classes) - SHOWN_CLASSES
    rest = f" and {more} more" if more > 0 else ""
    classes = f" with {len(ds.classes)} classes ({', '.join(shown)}{rest})" if ds.classes else ""
    st.success(
        f"Ready: {forms.TASK_LABELS[ds.task]} of **{ds.target}**{classes}, on {len(ds.y):,} rows "
        f"and {n_features} feature{'s' if n_features != 1 else ''}.",
        icon=":material/check_circle:",
    )
    raw = state.table()
    shown = set(raw.notices) if raw is not None else set()  # the preview said those already
    # a possible leak gets its own warning under Columns, with what to do: not said twice
    fresh = [n for n in ds.notices if n not in shown and not n.startswith(LEAK_NOTICE)]
    if fresh:
        st.info("\n".join(f"- {n}" for n in fresh), icon=":material/info:")
    choose_test_table(ds.target)
    if st.button(
        "Next: set up the search",
        key=state.W_TO_SEARCH,
        type="primary",
        icon=":material/arrow_forward:",
    ):
        st.switch_page("app_pages/search.py")


def choose_test_table(target: str) -> None:
    """Bring your own test table (``--test-data``): checked against the training table now, so a
    missing column or target is said here, not when the search starts."""
    current = state.test_data()
    with st.expander("Score on a test table of your own (optional)", expanded=current is not None):
        upload = st.file_uploader(
            "Upload the test table",
            type=list(TABLE_FILE_TYPES),
            key=state.table_widget(state.W_TEST_UPLOAD, state.data()),
            help="Same columns and target as the training table. The search then learns from "
            "every row of the training table, and the final model is scored on this one.",
        )
        if upload is None:
            state.set_test_data(None)
            st.caption("Without one, a share of the training table is held out for the score.")
            return
        choice = state.DataChoice.of(upload.name, upload.getvalue())
        rows = errors.attempt(_test_rows, choice, target)
        state.set_test_data(choice if rows is not None else None)
        if rows is not None:
            st.success(
                f"The final model will be scored on **{choice.name}** ({rows:,} labelled rows); "
                "the search learns from every row of the training table.",
                icon=":material/fact_check:",
            )


def _test_rows(choice: state.DataChoice, target: str) -> int:
    test = read_table(choice.content, name=choice.name, min_rows=1)
    _table, (_train, test_rows) = joined_with_test(
        state.table(), test, target, test_name=choice.name
    )
    return len(test_rows)


def summary(target: str) -> None:
    # The prepared problem's columns when it prepares: they carry the user's exclusions (the
    # bare profile kept ticking an excluded leak "used" and asking to exclude it).
    try:
        ds = state.dataset()
    except KnobsError:  # said by readiness() above
        ds = None
    profiles = ds.columns if ds is not None else errors.attempt(state.profiles, target)
    if not profiles:
        return
    st.subheader("Columns")
    st.caption(
        "How Knobs reads each column. Flagged columns are left out or deserve a look: ID-like "
        "columns identify rows rather than describe them, and a possible leak predicts the "
        "target almost perfectly on its own (often information from the future)."
    )
    leaks = [p.name for p in profiles if "possible_leak" in p.flags and p.used]
    if leaks:
        st.warning(
            f"{LEAK_NOTICE} {', '.join(f'`{n}`' for n in leaks)} "
            f"{'predicts' if len(leaks) == 1 else 'each predict'} the target almost perfectly on "
            f"{'its' if len(leaks) == 1 else 'their'} own. If that information is not available "
            "when you predict, exclude it.",
            icon=":material/warning:",
        )
        st.button(
            f"Exclude {'it' if len(leaks) == 1 else f'these {len(leaks)} columns'}",
            key=state.W_EXCLUDE_LEAKS,
            icon=":material/block:",
            on_click=state.exclude_too,
            args=(leaks,),
            help="Adds the flagged column(s) to Exclude columns above; remove them there to "
            "use them again.",
        )
    tables.show_profile(profiles)


with errors.boundary("loading your table"):
    state.attach_from_url()
    st.title("Knobs: tune a model on your table")
    st.caption(
        "Step 1 of 3 · choose a table and the column to predict. Then pick models and a search "
        "strategy, and watch the tuning live. Searches run in the background and are kept: "
        "come back to them any time from **Studies**."
    )
    if state.study():
        st.page_link(
            "app_pages/live.py",
            label="Back to the live view of your search",
            icon=":material/monitoring:",
            query_params={"study": state.study()},
        )
    choose_source()
    choice = state.data()
    if choice is not None:
        origin = (
            "bundled sample" if choice.sample
            else "your upload, found again after the page reload" if state.restored()
            else "your upload"
        )  # fmt: skip
        st.caption(f"Working on **{choice.name}** ({origin}, {size_words(len(choice.content))}).")
        raw = errors.attempt(state.table)
        if raw is not None:
            chosen = choose_target(raw)
            if chosen is not None:
                readiness()
            preview(raw)
            if chosen is not None:
                summary(chosen)
