"""Strategy race: which search strategy wins on this table, and is the lead real?

Layout only. The race runs in its own detached process (``knobs.race.launch_race``); this page
creates it and then only reads the race file and the studies, in one flat timed fragment.
"""

from __future__ import annotations

import streamlit as st

from components import errors, forms, pickers, race_view, state
from knobs import race as R
from knobs.config import SearchConfig, default_workers
from knobs.errors import StudyError
from knobs.metrics import metric_label, metric_names
from knobs.models import model_names
from knobs.strategies import STRATEGIES


def setup() -> None:
    """The race form, on the table and target chosen on the Data page."""
    ds = errors.attempt(state.dataset)
    earlier = R.list_races()
    if earlier:
        with st.expander(f"Open an earlier race ({len(earlier)})"):
            pick = st.selectbox(
                "Race",
                [r.id for r in earlier],
                format_func=lambda i: next(pickers.race_label(r) for r in earlier if r.id == i),
                key=state.W_RACE_PICK,
            )
            if st.button("Open", key=state.W_RACE_OPEN):
                state.set_race(pick)
                st.rerun()
    if ds is None:
        st.info(
            "Pick a table and the column to predict on the Data page first; the race uses them.",
            icon=":material/info:",
        )
        st.page_link("app_pages/data.py", label="Choose the data", icon=":material/table_chart:")
        return
    st.caption(
        f"Racing on **{state.data().name if state.data() else 'the table'}** → "
        f"**{ds.target}** ({forms.TASK_LABELS.get(ds.task, ds.task)}). Every run uses the same "
        "test split, the same folds and the same budget; only the strategy and its seed differ."
    )
    names = model_names(ds.task)
    # A fast model whose every parameter has grid values (a grid contestant needs them).
    quick = [m for m in ("extra_trees",) if m in names] or forms.default_models(ds.task)[:1]
    models = st.multiselect(
        "Models",
        names,
        default=quick,
        format_func=forms.model_label,
        key=state.W_RACE_MODELS,
        help="A fast model keeps the race short; each trial picks one of these.",
    )
    contestants = st.multiselect(
        "Contestants",
        list(R.CONTESTANTS),
        default=["grid", "random", "tpe"],
        format_func=lambda c: STRATEGIES[c].short,
        key=state.W_RACE_CONTESTANTS,
        help="TPE and GP are Bayesian; CMA-ES adapts a Gaussian over the numeric parameters "
        "(categorical ones are sampled at random); quasi-random spreads points evenly. "
        "Pruned variants (successive halving, Hyperband) come once Knobs has pruning.",
    )
    cols = st.columns(5)
    trials = cols[0].number_input(
        "Trials per run", 2, 1000, 20, key=state.W_RACE_TRIALS, help="Defaults trial included."
    )
    seconds = cols[1].number_input(
        "Seconds per run (0 = no limit)", 0, 36000, 0, step=10, key=state.W_RACE_SECONDS
    )
    seeds = cols[2].number_input(
        "Seeds", 1, 20, 3, key=state.W_RACE_SEEDS, help="Runs per strategy; 6+ for a Wilcoxon test."
    )
    workers = cols[3].number_input(
        "Runs at once",
        1,
        64,
        default_workers(),
        key=state.W_RACE_WORKERS,
        help="One worker process per run; every worker gets the same threads.",
    )
    folds = cols[4].number_input("CV folds", 2, 10, 3, key=state.W_RACE_FOLDS)
    # The rest of what `knobs race` takes (--metric, --seed, --test-size, --target-fraction,
    # --threads, --no-early-stopping), with the CLI's defaults.
    cols = st.columns(4)
    metric = cols[0].selectbox(
        "Metric",
        metric_names(ds.task),
        key=state.W_RACE_METRIC,
        format_func=metric_label,
        help="What every run optimises, averaged over the folds.",
    )
    seed = cols[1].number_input(
        "Seed",
        min_value=0,
        value=0,
        key=state.W_RACE_SEED,
        help="Fixes the test split and the folds every run shares; each run's sampler seed is "
        "derived from it and its seed number.",
    )
    test_size = cols[2].number_input(
        "Held-out test share",
        0.05,
        0.5,
        0.2,
        0.05,
        key=state.W_RACE_TEST_SIZE,
        help="Rows kept aside; each run's best is scored on them once every run has ended.",
    )
    fraction = cols[3].number_input(
        "Target fraction",
        0.5,
        1.0,
        state.race_fraction(),
        0.01,
        format="%.2f",
        key=state.W_RACE_TARGET_FRACTION,
        help="A run reaches the target within 1 − this of the race's best score (or this share "
        "of the gap from the defaults to the best, when the defaults are already that close). "
        "It only changes how the results read: it can be changed on them later.",
    )
    time_column = forms.time_split(ds, key=state.W_RACE_TIME_SPLIT)
    with st.expander("Workers and boosting"):
        more = st.columns(2)
        threads = more[0].number_input(
            "Threads per worker (0 = automatic)",
            0,
            64,
            0,
            key=state.W_RACE_THREADS,
            help="The same for every run; automatic shares the cores among the runs at once.",
        )
        early_stopping = more[1].toggle(
            "Early stopping",
            value=True,
            key=state.W_RACE_EARLY_STOPPING,
            help="Boosted models stop adding rounds once an inner validation slice stops "
            "improving (`--no-early-stopping` turns it off).",
        )
    if st.button("Start the race", type="primary", key=state.W_RACE_START, icon=":material/flag:"):
        with errors.shown_here():
            state.set_race_fraction(fraction)
            config = SearchConfig(
                target=ds.target,
                task=state.task_override(),
                models=tuple(models),
                n_trials=int(trials),
                timeout=float(seconds) or None,
                cv=int(folds),
                metric=metric,
                test_size=float(test_size),
                seed=int(seed),
                exclude=state.exclude(),
                early_stopping=bool(early_stopping),
                time_column=time_column,
            )
            spec = R.RaceSpec(
                config=config,
                contestants=tuple(contestants),
                seeds=int(seeds),
                workers=int(workers),
                threads=int(threads) or None,
                source=state.data().name if state.data() else "data.csv",
            )
            with st.spinner("Creating the runs…"):
                race = R.create_race(ds, spec)
                R.launch_race(race.id)
            state.set_race(race.id)
            st.rerun()


def panel(race_id: str, fraction: float) -> None:
    """The refreshing part: one flat fragment body, reading only the race file and studies."""
    with errors.boundary("refreshing the race"):
        race = R.load_race(race_id)
        summary = R.summary_of(race, target_fraction=fraction)
        race_view.progress(race)
        race_view.verdict(summary)
        race_view.charts(race, summary)
        st.subheader("Results")
        race_view.table(summary)
        if race.state in ("finished", "stopped"):
            race_view.downloads(race, summary)
        if not race.active and state.race_live():
            state.set_race_live(False)
            st.rerun(scope="app")  # the timer and the buttons follow the finished race


with errors.boundary("opening the race page"):
    st.title("Strategy race")
    race_id = state.race()
    race = None
    if race_id:
        try:
            race = R.load_race(race_id)
        except StudyError as exc:
            st.error(str(exc), icon=":material/error:")
            state.set_race(None)
    if race is None:
        setup()
    else:
        row = st.container(horizontal=True)
        with row:
            if race.active and st.button(
                "Stop race", key=state.W_RACE_STOP, icon=":material/stop_circle:"
            ):
                R.request_stop(race.id)
                st.toast("Stopping: running runs end now; their results stand.")
            if st.button("New race", key=state.W_RACE_NEW, icon=":material/add:"):
                state.set_race(None)
                st.rerun()
        fraction = race_view.target_fraction()
        state.set_race_live(race.active)
        st.fragment(run_every=2.0 if race.active else None)(panel)(race.id, fraction)
