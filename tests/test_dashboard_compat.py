"""Studies open in optuna-dashboard as they are (its own storage loader and web API)."""

from __future__ import annotations

import json

import pytest

import knobs

pytestmark = pytest.mark.slow


def test_optuna_dashboard_reads_a_knobs_journal(binary_table):
    from optuna_dashboard import wsgi
    from optuna_dashboard._storage_url import get_storage

    result = knobs.tune(binary_table, target="label", models="logistic", n_trials=3, cv=2, workers=1)
    storage = get_storage(result.storage)  # the path `optuna-dashboard PATH` would be given
    app = wsgi(storage)
    status: list[str] = []

    def start_response(code, headers, exc_info=None):
        status.append(code)

    env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/studies", "QUERY_STRING": "",
           "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
           "wsgi.input": None}  # fmt: skip
    body = json.loads(b"".join(app(env, start_response)))
    assert status[0].startswith("200")
    names = [s["study_name"] for s in body["study_summaries"]]
    assert names == [result.study]
