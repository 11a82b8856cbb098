"""Every ``st.session_state`` key, spelled once, behind typed accessors.

Why a module: widget keys vanish from the session state when their widget stops rendering (on
another page), so what pages share (the table, the target, the chosen study) lives under its own
non-widget keys here. Session state is per browser tab, which is also what keeps one user's
upload away from everyone else's: uploads are never put in a global cache.

Memory: the uploaded bytes stay for the session; the parsed table and the prepared dataset are
derived from them on demand and dropped (:func:`release_frames`) once a search holds the data in
its own storage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from knobs.api import Search
from knobs.data import (
    ColumnProfile,
    Dataset,
    RawTable,
    keep_upload,
    kept_upload,
    prepare,
    profile_table,
    read_table,
    upload_token,
)
from knobs.errors import KnobsError
from knobs.models import Param

# Shared, non-widget keys.
_DATA = "knobs.data"
_TABLE = "knobs.table"
_PROFILE = "knobs.profile"
_DATASET = "knobs.dataset"
_TARGET = "knobs.target"
_TASK = "knobs.task"
_EXCLUDE = "knobs.exclude"
_STUDY = "knobs.study"
_SEARCHES = "knobs.searches"
_SEEN_UPLOAD = "knobs.seen_upload"
_TEST_DATA = "knobs.test_data"
_SPACE = "knobs.space"
_PROBE = "knobs.probe"
_ANALYSIS = "knobs.analysis"
_CONFIRM_DELETE = "knobs.confirm_delete"
_LAST_STATE = "knobs.last_state"
_SAMPLE_OFFERED = "knobs.sample_offered"
_RESTORED = "knobs.restored"

# Widget keys (tests address widgets by these).
W_UPLOAD = "data.upload"
W_TEST_UPLOAD = "data.test_upload"
W_SAMPLE = "data.sample"
W_TARGET = "data.target"
W_TASK = "data.task"
W_EXCLUDE = "data.exclude"
W_TO_SEARCH = "data.to_search"
W_MODELS = "search.models"
W_AUTO_MODELS = "search.auto_models"
W_PRUNER = "search.pruner"
W_EARLY_STOPPING = "search.early_stopping"
W_STRATEGY = "search.strategy"
W_TRIALS = "search.trials"
W_MINUTES = "search.minutes"
W_FOLDS = "search.folds"
W_EXCLUDE_LEAKS = "data.exclude_leaks"
W_SEARCH_ROWS = "search.search_rows"
W_METRIC = "search.metric"
W_SEED = "search.seed"
W_WORKERS = "search.workers"
W_TEST_SIZE = "search.test_size"
W_TIME_SPLIT = "search.time_split"
W_RACE_TIME_SPLIT = "race.time_split"
W_REPRODUCIBLE = "search.reproducible"
W_DASK = "search.dask"
W_EXTEND_TRIALS = "search.extend_trials"
W_EXTEND = "search.extend"
W_FINAL_FIT_ALL = "search.final_fit_all"
W_SEARCH_PIPELINE = "search.search_pipeline"
W_TARGET_TRANSFORM = "search.target_transform"
W_SPACE_PREFIX = "search.space."
W_SPACE_RESET_PREFIX = "search.space_reset."
W_START = "search.start"
W_STOP = "live.stop"
W_RESUME = "live.resume"
W_ANALYSIS_MODEL = "live.analysis_model"
W_LIVE_TAB = "live.tab"
W_TRIALS_TABLE = "live.trials_table"
W_TRIALS_PAGE = "live.trials_page"
W_TRIALS_ORDER = "live.trials_order"
W_STUDIES_TABLE = "studies.table"
W_STUDY_PICK = "studies.pick"
W_STUDY_RESUME = "studies.resume"
W_STUDY_STOP = "studies.stop"
W_DELETE = "studies.delete"
W_DELETE_YES = "studies.delete_yes"
W_DELETE_NO = "studies.delete_no"
W_STUDIES_RACE_RUNS = "studies.race_runs"
W_OPEN_RACE_PREFIX = "studies.open_race."

QUERY_STUDY = "study"
#: The URL parameter naming this session's uploaded table (its content hash).
QUERY_TABLE = "table"

# The strategy race and study analytics (app_pages/race.py, app_pages/analytics.py).
_RACE = "knobs.race"
_RACE_LIVE = "knobs.race_live"
_RACE_FRACTION = "knobs.race_fraction"
QUERY_RACE = "race"
W_RACE_MODELS = "race.models"
W_RACE_CONTESTANTS = "race.contestants"
W_RACE_TRIALS = "race.trials"
W_RACE_SECONDS = "race.seconds"
W_RACE_SEEDS = "race.seeds"
W_RACE_WORKERS = "race.workers"
W_RACE_FOLDS = "race.folds"
W_RACE_METRIC = "race.metric"
W_RACE_SEED = "race.seed"
W_RACE_TEST_SIZE = "race.test_size"
W_RACE_THREADS = "race.threads"
W_RACE_EARLY_STOPPING = "race.early_stopping"
W_RACE_TARGET_FRACTION = "race.target_fraction"
W_RACE_VIEW_FRACTION = "race.view_fraction"
W_RACE_START = "race.start"
W_RACE_STOP = "race.stop"
W_RACE_NEW = "race.new"
W_RACE_PICK = "race.pick"
W_RACE_OPEN = "race.open"
W_AN_STUDY = "analytics.study"
W_AN_FAILED = "analytics.failed"
W_AN_PRUNED = "analytics.pruned"
W_AN_BASELINE = "analytics.baseline"
W_AN_MODEL = "analytics.model"
W_AN_IMPORTANCE = "analytics.importance"
W_AN_X = "analytics.contour_x"
W_AN_Y = "analytics.contour_y"
W_AN_TAB = "analytics.tab"
_AN_RUNNING = "knobs.analytics_running"

# The Export page (app_pages/export.py).
_EXPORT = "knobs.export"
W_EXPORT_STUDY = "export.study"
W_EXPORT_TRIAL = "export.trial"
W_EXPORT_FORMAT = "export.format"
W_EXPORT_BUILD = "export.build"
W_EXPORT_DOWNLOAD = "export.download"
W_EXPORT_SCORE = "export.score_upload"
W_EXPORT_PRED_DOWNLOAD = "export.pred_download"

# The Explain section (components/explain.py, on the Analytics and Export pages).
W_EXPLAIN_MODEL = "explain.model"
W_EXPLAIN_COMPUTE = "explain.compute"
W_EXPLAIN_CLASS = "explain.class"
W_EXPLAIN_ROW = "explain.row"


@dataclass(frozen=True, eq=False)
class DataChoice:
    """The table this session works on: an upload or a bundled sample, as the bytes received."""

    name: str
    content: bytes
    sample: bool
    token: str  # content hash: keys the derived caches below

    @classmethod
    def of(cls, name: str, content: bytes, *, sample: bool = False) -> DataChoice:
        return cls(name=name, content=content, sample=sample, token=upload_token(content))


def _ss() -> Any:
    return st.session_state


# --- the table --------------------------------------------------------------------------------


def data() -> DataChoice | None:
    return _ss().get(_DATA)


def set_data(choice: DataChoice, *, restored: bool = False) -> None:
    """Switch to another table: whatever was derived from the previous one goes. An upload is
    kept on disk and named in the URL (``knobs.data.keep_upload``), so a reload finds it; one
    over the upload limit never is (reading the table then says why it is refused)."""
    ss = _ss()
    ss[_DATA] = choice
    ss[_RESTORED] = restored
    for key in (_TABLE, _PROFILE, _DATASET, _TARGET, _TASK, _EXCLUDE, _PROBE, _SPACE, _TEST_DATA):
        ss.pop(key, None)
    if choice.sample:
        st.query_params.pop(QUERY_TABLE, None)
        return
    try:
        keep_upload(choice.name, choice.content)
    except (OSError, KnobsError):  # a full disk, or over the limit: never kept; reading says why
        return
    st.query_params[QUERY_TABLE] = choice.token


def restored() -> bool:
    """Whether this session's table came back from the URL after a reload."""
    return bool(_ss().get(_RESTORED))


def _table_from_url() -> None:
    """Adopt the upload the URL names when this session has no table (a reload), or keep the
    URL naming this session's upload (navigation drops query parameters)."""
    token = st.query_params.get(QUERY_TABLE)
    choice = data()
    if choice is not None:
        if not choice.sample and token != choice.token:
            st.query_params[QUERY_TABLE] = choice.token
        return
    if not token:
        return
    kept = kept_upload(token)
    if kept is None:  # removed since (only the newest uploads are kept), or a broken link
        st.query_params.pop(QUERY_TABLE, None)
        return
    set_data(DataChoice.of(*kept), restored=True)
    set_sample_offered()


def test_data() -> DataChoice | None:
    """A test table of the user's own, when uploaded: it scores the final model instead of a
    share of the training table."""
    return _ss().get(_TEST_DATA)


def set_test_data(choice: DataChoice | None) -> None:
    _ss()[_TEST_DATA] = choice


def table_widget(base: str, choice: DataChoice | None) -> str:
    """The key of a Data-page box (``W_TARGET``, ``W_TASK``, ``W_EXCLUDE``) for ``choice``.

    Why the table's identity is in the key: a browser keeps a widget's own value across reruns
    unless the widget is new, so popping the old value on the server left the Target box showing
    the previous table's column while the app used the new table's. A new table gets new boxes.
    """
    return base if choice is None else f"{base}@{choice.token}"


def study_widget(base: str, study: str) -> str:
    """The key of a model picker (``W_EXPORT_TRIAL``, ``W_EXPLAIN_MODEL``) for ``study``: a box
    kept across a switch of study showed, and explained, the previous study's choice by its
    trial number in the new one. A new study gets a new box, on its delivered model."""
    return f"{base}@{study}"


def seen_upload() -> str | None:
    return _ss().get(_SEEN_UPLOAD)


def set_seen_upload(file_id: str | None) -> None:
    _ss()[_SEEN_UPLOAD] = file_id


def sample_offered() -> bool:
    """Whether this session already got the sample preloaded (once: the user may replace it)."""
    return bool(_ss().get(_SAMPLE_OFFERED))


def set_sample_offered() -> None:
    _ss()[_SAMPLE_OFFERED] = True


def table() -> RawTable | None:
    """The parsed table, parsed once per upload; raises the reader's ``DataError``."""
    choice = data()
    if choice is None:
        return None
    cached = _ss().get(_TABLE)
    if cached is not None and cached[0] == choice.token:
        return cached[1]
    raw = read_table(choice.content, name=choice.name)
    _ss()[_TABLE] = (choice.token, raw)
    return raw


def profiles(target: str | None) -> tuple[ColumnProfile, ...]:
    """Per-column summary for the current table and target (cached for this session)."""
    choice, raw = data(), table()
    if choice is None or raw is None:
        return ()
    key = (choice.token, target)
    cached = _ss().get(_PROFILE)
    if cached is not None and cached[0] == key:
        return cached[1]
    result = profile_table(raw.frame, target)
    _ss()[_PROFILE] = (key, result)
    return result


def target() -> str | None:
    return _ss().get(_TARGET)


def set_target(value: str | None) -> None:
    _ss()[_TARGET] = value


def task_override() -> str | None:
    return _ss().get(_TASK)


def set_task_override(value: str | None) -> None:
    _ss()[_TASK] = value


def exclude() -> tuple[str, ...]:
    return tuple(_ss().get(_EXCLUDE, ()))


def set_exclude(values: Sequence[str]) -> None:
    _ss()[_EXCLUDE] = tuple(values)


def exclude_too(names: Sequence[str]) -> None:
    """Add ``names`` to the Data page's excluded columns, box included: a button's callback,
    run before the page draws the box again (a box keeps its own value otherwise)."""
    key = table_widget(W_EXCLUDE, data())
    current = list(_ss().get(key, exclude()))
    merged = current + [n for n in names if n not in current]
    _ss()[key] = merged
    set_exclude(merged)


def dataset() -> Dataset | None:
    """The prepared learning problem for the current choices; raises ``DataError`` if unusable."""
    choice, name = data(), target()
    if choice is None or not name:
        return None
    raw = table()
    if raw is None:
        return None
    key = (choice.token, name, task_override(), exclude())
    cached = _ss().get(_DATASET)
    if cached is not None and cached[0] == key:
        return cached[1]
    ds = prepare(raw, name, task=task_override(), exclude=exclude())
    _ss()[_DATASET] = (key, ds)
    return ds


def release_frames() -> None:
    """Drop the parsed table and prepared dataset: a started search keeps its own copy on disk."""
    for key in (_TABLE, _PROFILE, _DATASET):
        _ss().pop(key, None)


# --- the search form ----------------------------------------------------------------------------


def space(model: str) -> tuple[Param, ...] | None:
    """The user's edited space for ``model`` (None: the registry's own)."""
    return _ss().get(_SPACE, {}).get(model)


def set_space(model: str, params: tuple[Param, ...] | None) -> None:
    spaces = dict(_ss().get(_SPACE, {}))
    if params is None:
        spaces.pop(model, None)
    else:
        spaces[model] = params
    _ss()[_SPACE] = spaces


def probe_cache() -> dict[tuple[str, str], float | None]:
    """Seconds per fit measured by the duration probe, per (dataset fingerprint, model)."""
    return _ss().setdefault(_PROBE, {})


# --- the study being watched --------------------------------------------------------------------


def study() -> str | None:
    return _ss().get(_STUDY)


def set_study(name: str | None) -> None:
    """Make ``name`` the study this tab follows, and put it in the URL so a reload finds it."""
    ss = _ss()
    if ss.get(_STUDY) != name:
        ss.pop(_ANALYSIS, None)
        ss.pop(_LAST_STATE, None)
    ss[_STUDY] = name
    if name:
        st.query_params[QUERY_STUDY] = name
    elif QUERY_STUDY in st.query_params:
        del st.query_params[QUERY_STUDY]


def attach_from_url() -> str | None:
    """Adopt the study named in the URL (a reload, a bookmark, a link from the Studies page),
    and the uploaded table it names."""
    _table_from_url()
    name = st.query_params.get(QUERY_STUDY)
    if name and name != study():
        set_study(name)
    elif not name and study():
        st.query_params[QUERY_STUDY] = study()  # navigation dropped it: keep the URL reloadable
    return study()


def search(name: str) -> Search:
    """This session's handle on a study; the one that started it also holds its processes."""
    searches: dict[str, Search] = _ss().setdefault(_SEARCHES, {})
    if name not in searches:
        searches[name] = Search.open(name)
    return searches[name]


def remember_search(handle: Search) -> None:
    _ss().setdefault(_SEARCHES, {})[handle.name] = handle


def forget_search(name: str) -> None:
    _ss().setdefault(_SEARCHES, {}).pop(name, None)
    if study() == name:
        set_study(None)


def last_state() -> str | None:
    """The search state the live panel saw last: a change triggers one full rerun."""
    return _ss().get(_LAST_STATE)


def set_last_state(value: str) -> None:
    _ss()[_LAST_STATE] = value


def analytics_running() -> bool | None:
    """Whether the Analytics panel last saw its study running (a change: one full rerun, so
    the refresh timer follows); None before the page first ran."""
    return _ss().get(_AN_RUNNING)


def set_analytics_running(value: bool) -> None:
    _ss()[_AN_RUNNING] = value


def analysis_cache() -> dict[Any, Any]:
    """Figures that are costly to build (importance), per (study, complete trials, model)."""
    return _ss().setdefault(_ANALYSIS, {})


def confirm_delete() -> str | None:
    return _ss().get(_CONFIRM_DELETE)


def set_confirm_delete(name: str | None) -> None:
    _ss()[_CONFIRM_DELETE] = name


# --- the strategy race ---------------------------------------------------------------------------


def race() -> str | None:
    """The race this tab follows; the URL (``?race=ID``) wins, so a reload re-attaches."""
    name = st.query_params.get(QUERY_RACE)
    if name and name != _ss().get(_RACE):
        _ss()[_RACE] = name
    return _ss().get(_RACE)


def set_race(race_id: str | None) -> None:
    _ss()[_RACE] = race_id
    if race_id:
        st.query_params[QUERY_RACE] = race_id
    elif QUERY_RACE in st.query_params:
        del st.query_params[QUERY_RACE]


def race_live() -> bool:
    """Whether the race panel last saw the race running (its end triggers one full rerun)."""
    return bool(_ss().get(_RACE_LIVE))


def set_race_live(value: bool) -> None:
    _ss()[_RACE_LIVE] = value


#: ``knobs race --target-fraction``'s default.
RACE_FRACTION = 0.99


def race_fraction() -> float:
    """The share of the gap from the defaults to the race's best that counts as reaching the
    target: chosen on the form, changeable on the results (it only changes the reading)."""
    return float(_ss().get(_RACE_FRACTION, RACE_FRACTION))


def set_race_fraction(value: float) -> None:
    _ss()[_RACE_FRACTION] = float(value)


# --- the export page -----------------------------------------------------------------------------


def export_bundle(key: tuple[str, str, str]) -> tuple[bytes, dict[str, Any]] | None:
    """The zip built for (study, model choice, format) in this tab, if any (one at a time)."""
    held = _ss().get(_EXPORT)
    return held[1] if held and held[0] == key else None


def set_export_bundle(key: tuple[str, str, str], value: tuple[bytes, dict[str, Any]]) -> None:
    _ss()[_EXPORT] = (key, value)


# --- transfer learning (Search page warm start, Export page fine-tune) ---------------------------
_FINETUNED = "knobs.finetuned"
W_WARM_START = "search.warm_start"
W_FT_MODEL = "export.finetune_model"
W_FT_DATA = "export.finetune_data"
W_FT_HOLDOUT = "export.finetune_holdout"
W_FT_RUN = "export.finetune_run"
W_FT_DOWNLOAD = "export.finetune_download"


def finetuned(key: tuple[str, ...]) -> tuple[Any, bytes] | None:
    """The fine-tune result and its bundle built for (bundle hash, data hash, holdout) in this
    tab, if any (one at a time: a bundle is held in memory)."""
    held = _ss().get(_FINETUNED)
    return held[1] if held and held[0] == key else None


def set_finetuned(key: tuple[str, ...], value: tuple[Any, bytes]) -> None:
    _ss()[_FINETUNED] = (key, value)
