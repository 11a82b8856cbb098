"""Search page: models, strategy, budget and space; an estimate; then Start."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from components import errors, forms, state
from components.charts import STATE_WORDS
from knobs import pipelines, strategies
from knobs import study as estimate
from knobs.api import Search
from knobs.config import MIN_SEARCH_ROWS, SearchConfig, default_workers
from knobs.data import Dataset
from knobs.errors import KnobsError
from knobs.formatting import plural
from knobs.metrics import metric_label, metric_names
from knobs.models import AUTO, REGISTRY, ModelSpec, is_wide, model_names, resolve_models
from knobs.pruners import DEFAULT_PRUNER, PRUNERS
from knobs.study import auto_folds, dask_address, storage_url
from knobs.transfer import compatible_studies, related_studies, warm_notice


def current_search() -> None:
    """The search this tab follows, with a Stop button while it runs."""
    name = state.study()
    if not name:
        return
    handle = errors.attempt(state.search, name)
    if handle is None:
        return
    status = handle.status()
    with st.container(border=True):
        left, middle, right = st.columns([4, 1, 1], vertical_alignment="center")
        budget = f" of {status.budget}" if status.budget else ""
        best = "" if status.best_value is None else f" · best {status.best_value:.4f}"
        left.markdown(
            f"**Current search** `{name}` on {handle.plan.source} · "
            f"{STATE_WORDS.get(status.state, status.state)} · {status.done}{budget} trials{best}"
        )
        loaded = state.data()
        if loaded is not None and Path(loaded.name).name != Path(handle.plan.source).name:
            # Continuing it would tune the earlier table, not the one loaded now.
            left.caption(f"That search is on {Path(handle.plan.source).name}, not on "
                         f"{loaded.name}: the form below starts a new one on {loaded.name}.")
        with middle:
            st.page_link(
                "app_pages/live.py",
                label="Live view",
                icon=":material/monitoring:",
                query_params={"study": name},
            )
        if notice := warm_notice(handle.plan):
            st.caption(notice)
        if status.state == "running" and right.button(
            "Stop", key=state.W_STOP, icon=":material/stop_circle:"
        ):
            with st.spinner("Stopping the workers…"):
                handle.stop()
            st.rerun()
        if status.state in ("finished", "stopped", "interrupted"):
            extend(handle, status.done, status.budget)


def extend(handle: Search, done: int, budget: int | None) -> None:
    """Continue a study that ended (or stopped) to a larger trial budget: the same plan, split
    and folds, the sampler picking up from every trial so far (``knobs tune --resume --trials``)."""
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    target = left.number_input(
        "Continue up to (trials in all)",
        min_value=done + 1,
        value=max(done, budget or 0) + 20,
        step=10,
        key=state.W_EXTEND_TRIALS,
        help="The study keeps its plan, data split and folds; interrupted trials run again.",
    )
    if right.button("Continue the search", key=state.W_EXTEND, icon=":material/fast_forward:"):
        if errors.ran(handle.start, n_trials=int(target), finish=True):
            st.switch_page("app_pages/live.py", query_params={"study": handle.name})


def choose_models(ds: Dataset) -> tuple[tuple[str, ...], list[ModelSpec]]:
    """The ``models`` of the config (``auto`` or names) and the specs they stand for."""
    auto = st.toggle(
        "Choose the models for me",
        value=True,
        key=state.W_AUTO_MODELS,
        help="The budget goes to the model families that lead for their cost: each family "
        "gets its defaults and a few known-good settings, then the worse half stops getting "
        "trials at each round (successive halving over families).",
    )
    if auto:
        specs = list(resolve_models(AUTO, ds.task, wide=is_wide(len(ds.y), ds.X.shape[1])))
        st.caption("Racing: " + ", ".join(s.label for s in specs) + ".")
        return (AUTO,), specs
    names = model_names(ds.task)
    chosen = st.multiselect(
        "Models",
        names,
        default=forms.default_models(ds.task),
        format_func=forms.model_label,
        key=state.W_MODELS,
        help="Each trial picks one of these and tunes its parameters. Linear models and "
        "forests are quick; XGBoost, SVM and neural networks take longer.",
    )
    return tuple(chosen), [REGISTRY[n] for n in chosen]


def space_editors(specs: list[ModelSpec]) -> list[ModelSpec]:
    st.subheader("Search space")
    st.caption(
        "Ranges the samplers explore, and the values a grid search tries. Edit a cell to "
        "narrow or widen a range; your edits apply to this search only."
    )
    edited = []
    for spec in specs:
        with st.expander(f"{spec.label}: {plural(len(spec.params), 'parameter')}",
                         expanded=len(specs) == 1):  # fmt: skip
            edited.append(forms.space_editor(spec))
    return edited


def duration_estimate(
    ds: Dataset,
    specs: list[ModelSpec],
    *,
    trials: int | None,
    minutes: float | None,
    folds: int,
    test_size: float,
    workers: int,
    search_pipeline: bool = False,
    search_rows: int | None = None,
) -> int | None:
    """Shows the duration estimate; returns the rows a sampled search will score trials on (the
    page passes them on, so the search samples what this said), None for every row."""
    cache = state.probe_cache()
    missing = [s for s in specs if (ds.fingerprint, s.name) not in cache]
    if missing:
        with st.spinner("Timing one quick fit of each model to estimate the duration…"):
            for spec in missing:
                cache[(ds.fingerprint, spec.name)] = estimate.probe_fit_seconds(ds, spec)
    fits = [
        fit + estimate.probe_prep_extra_seconds(ds, s)
        if search_pipeline and (fit := cache[(ds.fingerprint, s.name)]) is not None
        else cache[(ds.fingerprint, s.name)]
        for s in specs
    ]
    # The rows the search will score trials on: a sample when the time limit is short for them.
    n_train = int(len(ds.y) * (1 - test_size))
    keep, sample_notice = estimate.sample_size(
        n_train, search_rows, minutes * 60 if minutes else None, folds=folds, workers=workers,
        fits=lambda: estimate.scaled_fits(fits, 1 - test_size),
    )  # fmt: skip
    if sample_notice:
        st.info(sample_notice, icon=":material/filter_alt:")
        fits = estimate.scaled_fits(fits, keep / len(ds.y))
    est = estimate.estimate(
        fits,
        trials=trials,
        minutes=minutes,
        folds=folds,
        test_size=0.0 if sample_notice else test_size,
        workers=workers,
    )
    if est is None:
        st.caption("No duration estimate: the quick probe fit failed; trials will say why.")
        return keep if sample_notice else None
    st.markdown(f"Estimated duration: {est.words()}.")
    if est.too_short():
        st.warning(est.too_short(), icon=":material/timer_off:")
    st.caption(
        "From one fit of each model with default settings; tuned settings can be slower or "
        "faster. The live view refines the estimate from the first finished trials."
    )
    return keep if sample_notice else None


@st.cache_data(ttl=15, show_spinner=False)
def _earlier(fingerprint: str, target: str, task: str, _ds: Dataset) -> tuple[list, list]:
    """(compatible studies, studies on tables like this one) for a table, re-read at most every
    15 s: reading every stored plan on each rerun of the form would be wasted work."""
    return compatible_studies(_ds), related_studies(_ds)


def warm_start_picker(ds: Dataset) -> tuple[str, ...]:
    """The "Start from earlier studies" picker: only studies of the same task with shared columns."""
    compatible, related = _earlier(ds.fingerprint, ds.target, ds.task, ds)
    st.subheader("Start from earlier studies")
    if related:
        same = sum(r["same_data"] for r in related)
        st.caption(
            f"**{len(related)} earlier stud{'y' if len(related) == 1 else 'ies'} on tables like "
            f"this one** (same task, target and columns)"
            + (f", {same} on this very table." if same else ".")
        )
    if not compatible:
        st.caption("No finished study of the same task shares columns with this table yet: this "
                   "search starts cold.")  # fmt: skip
        return ()
    rows = {r["study"]: r for r in compatible}

    def label(name: str) -> str:
        r = rows[name]
        best = "" if r["best_value"] is None else f" · best {r['metric']} {r['best_value']:.4f}"
        tag = " · this table" if r["same_data"] else ""
        return f"{name} · {r['source']}{best}{tag}"

    chosen = st.multiselect(
        "Earlier studies",
        list(rows),
        key=state.W_WARM_START,
        format_func=label,
        help="Each chosen study's best configuration per model family is queued right after "
        "the defaults, and re-scored on this table; known-good starts they already scored are "
        "not tried again. Their old scores never count here; trials they start are marked in "
        "the report.",
    )
    for name in chosen:
        for d in rows[name]["differences"]:
            st.caption(f"`{name}`: {d}.")
    return tuple(chosen)


def dask_toggle() -> bool:
    """When the server names a Dask scheduler (``KNOBS_DASK``), offer to run the trials there."""
    cluster = dask_address()
    if not cluster:
        return False
    return st.toggle(
        f"Run on the Dask cluster at `{cluster}`",
        value=True,
        key=state.W_DASK,
        help="The trials run as tasks on the cluster's workers (one per worker, each with its "
        "threads); off: worker processes on this server.",
    )


def start(ds: Dataset, config: SearchConfig, source: str, on_dask: bool = False) -> None:
    test = state.test_data()
    # The time limit counts from the click, as `knobs tune --timeout` counts from the command's
    # start: splitting 400,000 rows and writing them took seconds that a 30 s limit ran past.
    deadline = time.time() + config.timeout if config.timeout else None
    with st.spinner("Splitting the data and creating the study…"):
        if test is None:
            handle = Search.create(ds, config, source=source, deadline=deadline)
        else:  # the raw tables: the test table is cleaned with the training table
            handle = Search.create(
                state.table(), config, source=source, test_data=test.content,
                test_source=test.name, deadline=deadline,
            )  # fmt: skip
        try:
            # "": local, even with KNOBS_DASK set; the finisher chooses the final model at the end
            handle.start(dask=None if on_dask else "", finish=True, deadline=deadline)
        except KnobsError:
            handle.delete()  # a study that could not start (an unreachable cluster) is not kept
            raise
    state.remember_search(handle)
    state.set_study(handle.name)
    state.release_frames()  # the study holds its own copy of the data now
    st.switch_page("app_pages/live.py", query_params={"study": handle.name})


def form(ds: Dataset) -> None:
    choice = state.data()
    source = choice.name if choice else "data.csv"
    st.markdown(
        f"Predict **{ds.target}** in **{source}**: {forms.TASK_LABELS[ds.task]}, "
        f"{len(ds.y):,} rows, {ds.X.shape[1]} features."
    )
    left, right = st.columns(2)
    with left:
        models, specs = choose_models(ds)
        chosen = st.radio(
            "Strategy",
            [s.name for s in strategies.offered()],
            key=state.W_STRATEGY,
            horizontal=True,
            format_func=lambda name: strategies.STRATEGIES[name].label,
            help=forms.strategy_help(),
        )
        strategy, sampler = (
            strategies.STRATEGIES[chosen].strategy,
            strategies.STRATEGIES[chosen].sampler,
        )
        metrics = metric_names(ds.task)
        metric = st.selectbox(
            "Metric",
            metrics,
            key=state.W_METRIC,
            format_func=metric_label,
            help="What the search optimises, averaged over the cross-validation folds.",
        )
        p1, p2 = st.columns(2)
        pruner = p1.selectbox(
            "Pruner",
            list(PRUNERS),
            index=list(PRUNERS).index(DEFAULT_PRUNER),
            key=state.W_PRUNER,
            format_func=lambda name: PRUNERS[name].label,
            help=" ".join(f"**{p.label}** {p.help}" for p in PRUNERS.values()),
        )
        early_stopping = p2.toggle(
            "Early stopping",
            value=True,
            key=state.W_EARLY_STOPPING,
            help="Boosted models (XGBoost, histogram boosting, the MLP) stop adding rounds once "
            "an inner validation slice of each fold's training rows stops improving.",
        )
    with right:
        b1, b2 = st.columns(2)
        trials = b1.number_input(
            "Trials",
            min_value=0,
            max_value=100_000,
            value=SearchConfig.n_trials,  # the CLI's and the API's default, declared once
            step=5,
            key=state.W_TRIALS,
            help="How many trials to evaluate, including one with library defaults per model. "
            "0 = no limit (then give minutes).",
        )
        minutes = b2.number_input(
            "Time limit (minutes)",
            min_value=0.0,
            max_value=7 * 24 * 60.0,
            value=0.0,
            step=1.0,
            key=state.W_MINUTES,
            help="Stop after this long, counted from Start (splitting the table included), "
            "with the final model chosen and scored. 0 = no time limit.",
        )
        f1, f2, f3 = st.columns(3)
        folds = f1.number_input(
            "Folds",
            min_value=0,
            max_value=20,
            value=0,
            key=state.W_FOLDS,
            help="Cross-validation folds per trial: more is steadier, and slower. 0 = sized to "
            "the table (5, or 3 above 20,000 training rows).",
        )
        cores = default_workers()
        workers = f2.number_input(
            "Workers",
            min_value=1,
            max_value=max(1, cores * 2),
            value=cores,
            key=state.W_WORKERS,
            help=f"Parallel worker processes ({cores} cores here).",
        )
        seed = f3.number_input(
            "Seed",
            min_value=0,
            value=0,
            key=state.W_SEED,
            help="Fixes the data split, the folds and the sampler. With several workers, "
            "trials finish in an order that depends on timing, so a rerun may differ: turn on "
            "Reproducible below for the same trials every time.",
        )
        test_size = st.slider(
            "Held-out test share",
            0.05,
            0.5,
            0.2,
            0.05,
            key=state.W_TEST_SIZE,
            disabled=state.test_data() is not None,
            help="Rows kept aside and never seen by the search; the best model is scored on "
            "them at the end. Off when you uploaded a test table on the Data page: it scores "
            "the model instead.",
        )
        time_column = forms.time_split(ds, disabled=state.test_data() is not None)
        search_rows = st.number_input(
            "Rows searched",
            min_value=0,
            value=0,
            step=10_000,
            key=state.W_SEARCH_ROWS,
            help="Training rows each trial is scored on. 0 = every row, unless the time limit "
            "leaves time for too few trials on them: then a sample, said in the plan. A number "
            f"(at least {MIN_SEARCH_ROWS:,}) searches at most that many rows; the model "
            "delivered is refitted on every row when time is left.",
        )
        r1, r2 = st.columns(2)
        reproducible = r1.toggle(
            "Reproducible",
            value=False,
            key=state.W_REPRODUCIBLE,
            help="One worker process (its models use every core): the same seed and trial "
            "budget give the same trials and scores. A time limit still cuts at a time.",
        )
        fit_all = r2.toggle(
            "Refit on every row",
            value=True,
            key=state.W_FINAL_FIT_ALL,
            help="After the held-out rows have scored the final model, refit it on the "
            "training and held-out rows together: the model you export learns from all of "
            "them. Off: export the very model that was scored.",
        )
        search_pipeline = st.toggle(
            "Search the preprocessing too",
            value=False,
            key=state.W_SEARCH_PIPELINE,
            help="Each trial also chooses its preprocessing: "
            + pipelines.summary()
            + ". The defaults trial keeps the usual preprocessing.",
        )
        target_transform = "auto"
        if ds.task == "regression":
            target_transform = st.selectbox(
                "What regression models learn",
                pipelines.TARGET_TRANSFORMS,
                format_func=pipelines.TARGET_TRANSFORM_LABELS.get,
                key=state.W_TARGET_TRANSFORM,
                help="Prices, incomes and durations are often multiplicative: a model that "
                "learns their log fits them better. Automatic: where the target is above 0 in "
                "every row, trials also try its log and the cross-validation chooses. The "
                "exported model always predicts on the target's own scale.",
            )
        if reproducible:
            workers = 1
    if not specs:
        st.warning("Choose at least one model.", icon=":material/warning:")
        return
    specs = space_editors(specs)
    warm_start = warm_start_picker(ds)
    n_trials = int(trials) or None
    timeout = float(minutes) * 60 or None
    st.subheader("Before you start")
    if strategy == "grid":
        total = (
            sum(pipelines.grid_size_for(s, True) for s in specs) + len(specs)
            if search_pipeline
            else forms.grid_total(specs)
        )
        run = total if n_trials is None else min(total, n_trials)
        st.markdown(
            f"Grid: **{total - len(specs)} combinations** + {len(specs)} defaults "
            f"trial{'s' if len(specs) > 1 else ''} = {total} trials"
            + (f"; the trial limit stops it after {run}." if run < total else ".")
        )
        n_trials = run
    else:
        budget = f"{n_trials} trials" if n_trials else "no trial limit"
        limit = f", at most {minutes:g} min" if timeout else ""
        st.markdown(f"Budget: **{budget}**{limit}, including one defaults trial per model.")
    rows = int(search_rows) or None
    if rows is not None and rows < MIN_SEARCH_ROWS:
        st.error(f"Rows searched: 0 (every row, or a sample when the time limit is short) or at "
                 f"least {MIN_SEARCH_ROWS:,}, not {rows:,}.", icon=":material/error:")  # fmt: skip
        return
    sampled = duration_estimate(
        ds,
        specs,
        trials=n_trials,
        minutes=minutes or None,
        folds=int(folds) or auto_folds(int(len(ds.y) * (1 - test_size)), None)[0],
        test_size=float(test_size),
        workers=int(workers),
        search_pipeline=search_pipeline,
        search_rows=rows,
    )
    space = {s.name: p for s in specs if (p := state.space(s.name)) is not None}
    config = errors.attempt(
        SearchConfig,
        target=ds.target,
        task=state.task_override(),
        models=models,
        strategy=strategy,
        sampler=sampler,
        pruner=pruner,
        early_stopping=early_stopping,
        final_fit="all" if fit_all else "train",
        reproducible=reproducible,
        n_trials=n_trials,
        timeout=timeout,
        cv=int(folds) or None,
        metric=metric,
        test_size=float(test_size),
        seed=int(seed),
        workers=int(workers),
        exclude=state.exclude(),
        warm_start=warm_start,
        search_pipeline=search_pipeline,
        target_transform=target_transform,
        time_column=time_column,
        search_rows=rows if rows is not None else sampled,
        space=space,
    )
    if config is None:
        return
    on_dask = dask_toggle()
    if st.button("Start search", key=state.W_START, type="primary", icon=":material/play_arrow:"):
        errors.attempt(start, ds, config, source, on_dask)


with errors.boundary("setting up the search"):
    state.attach_from_url()
    st.title("Search")
    st.caption(
        "Step 2 of 3 · choose what to tune and how long; the search runs in the background. "
        f"Studies are stored in `{storage_url(None)}` (set `KNOBS_HOME` before starting the "
        "app to change it)."
    )
    current_search()
    dataset = errors.attempt(state.dataset)
    if dataset is None:
        st.info(
            "No table is ready to search yet: on the Data page, choose a table that reads "
            "without errors, and the column to predict.",
            icon=":material/table_chart:",
        )
        st.page_link("app_pages/data.py", label="Go to Data", icon=":material/arrow_back:")
    else:
        form(dataset)
