"""Reading, profiling and preparing tables for learning: the only data API the rest of Knobs uses.

The path is ``read_table`` (bytes -> RawTable) -> ``profile_table`` (what each column is) ->
``prepare`` (validated Dataset) -> ``build_preprocessor`` (features for a model). Every user-facing
failure is a :class:`knobs.errors.DataError` naming the line or column, the rule, the value and
the fix.
"""

from __future__ import annotations

from knobs.data._ingest import (
    TABLE_FILE_TYPES,
    RawTable,
    check_upload_size,
    read_table,
    size_words,
    upload_limit_words,
)
from knobs.data._kept import keep_upload, kept_upload, upload_token
from knobs.data._prepare import (
    Dataset,
    choose_folds,
    infer_task,
    joined_with_test,
    prepare,
    split_rows,
    time_dates,
    train_test,
    without_split_advice,
)
from knobs.data._preprocess import build_preprocessor
from knobs.data._profile import LEAK_NOTICE, ColumnProfile, Kind, profile_table
from knobs.data._samples import sample_path
from knobs.data._target import Task

__all__ = [
    "LEAK_NOTICE",
    "TABLE_FILE_TYPES",
    "upload_limit_words",
    "size_words",
    "check_upload_size",
    "keep_upload",
    "kept_upload",
    "upload_token",
    "ColumnProfile",
    "Dataset",
    "Kind",
    "RawTable",
    "Task",
    "build_preprocessor",
    "choose_folds",
    "infer_task",
    "joined_with_test",
    "prepare",
    "profile_table",
    "read_table",
    "sample_path",
    "split_rows",
    "time_dates",
    "without_split_advice",
    "train_test",
]
