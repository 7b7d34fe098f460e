"""Metric and result writes never put NaN or infinities into a JSON column (Postgres refuses them
with a DataError that used to fail the whole job); they are stored and served as null."""

from __future__ import annotations

import numpy as np
from api_factories import make_dataset, make_job

from store import jobs as rt
from store.db import session_scope
from store.tables import RUNNING, SUCCEEDED


def test_nonfinite_metrics_and_results_are_stored_as_null(client, alice):
    job = make_job("alice", make_dataset("alice"), status=RUNNING)
    with session_scope() as s:
        rt.append_metric(s, job, "finetune", 1, {"loss": float("nan"), "f1": np.float32(0.25),
                                                  "per_label": np.array([0.5, np.inf]),
                                                  "nested": {"auc": -float("inf")}})
    with session_scope() as s:
        rt.finish_job(s, job, SUCCEEDED, result={"test": {"f1_macro": float("nan"), "n": 3}})
    rows = client.get(f"/jobs/{job}/metrics", headers=alice).json()["items"]
    assert rows[-1]["metrics"] == {"loss": None, "f1": 0.25, "per_label": [0.5, None],
                                   "nested": {"auc": None}}
    body = client.get(f"/jobs/{job}", headers=alice).json()
    assert body["status"] == "succeeded"


def test_finite_json_keeps_ordinary_values():
    value = {"a": [1, 2.5, "x", None, True], "b": (np.int64(3), np.float16(0.5))}
    assert rt.finite_json(value) == {"a": [1, 2.5, "x", None, True], "b": [3, 0.5]}


def test_a_nonfinite_heartbeat_keeps_progress_and_clears_the_eta(client, alice):
    job = make_job("alice", make_dataset("alice"), status=RUNNING)
    with session_scope() as s:
        rt.heartbeat(s, job, stage="search", progress=0.4, eta_s=30.0)
    with session_scope() as s:
        rt.heartbeat(s, job, progress=float("nan"), eta_s=float("inf"))
    r = client.get(f"/jobs/{job}", headers=alice)
    assert r.status_code == 200, r.text
    assert (r.json()["progress"], r.json()["eta_s"]) == (0.4, None)
