"""POST /jobs bounds every number of the spec (issue 10 item 1): one owner's spec must not be
able to take a shared worker's cores or memory, and bad numbers get a clean 422 message."""

from __future__ import annotations

import json

import pytest
from api_factories import make_dataset


def _post(client, headers, **body):
    ds = make_dataset("alice")
    return client.post("/jobs", headers={**headers, "Content-Type": "application/json"},
                       content=json.dumps({"dataset_id": ds, **body}))


@pytest.mark.parametrize("body, needle", [
    ({"run": {"num_threads": 100000}}, "num_threads must be in [1, 1024]"),
    ({"run": {"num_threads": 65}}, "num_threads must be at most 64 on this service"),
    ({"run": {"search": {"w_lr": "NaN"}}}, "SearchConfig.w_lr must be a finite number, got 'NaN'"),
    ({"run": {"search": {"w_lr": float("nan")}}}, "SearchConfig.w_lr must be a finite number"),
    ({"run": {"search": {"w_lr": float("inf")}}}, "SearchConfig.w_lr must be a finite number"),
    ({"run": {"space": {"primitives": ["zero"]}}}, "at least one operation besides 'zero'"),
    ({"run": {"space": {"C": 4096, "L": 1024}}}, "job too large"),
    ({"run": {"search": {"batch_size": 8192}, "space": {"C": 4096}}}, "job too large"),
    ({"run": {"ssl": {"proj_hidden": 10**7}}}, "projection sizes"),
    ({"search_epochs": 10**6}, "search_epochs"),
    ({"label_fraction": float("nan")}, "label_fraction"),
    ({"method": "mfas", "mfas": {"hidden": 10**6}}, "hidden"),
    ({"method": "mfas", "mfas": {"t0": float("inf")}}, "t0"),
    ({"backbones": {"poster": {"name": "efficientnet_lite0", "options": {"image_size": 100000}}}},
     "image_size must be an integer in [16, 1024]"),
    ({"backbones": {"plot": {"name": "maxout_mlp", "options": {"hidden": [64, 10**7]}}}}, "hidden"),
    ({"backbones": {"plot": {"name": "minilm", "options": {"max_len": 64}}}}, "unknown option 'max_len'"),
    ({"backbones": {"plot": {"name": "minilm", "options": {"taps": "l6"}}}}, "taps"),
])
def test_out_of_bounds_spec_is_422_with_a_message(client, alice, body, needle):
    r = _post(client, alice, **body)
    assert r.status_code == 422, r.text
    detail = json.dumps(r.json()["detail"])
    assert needle in detail
    assert "not supported between" not in detail and "TypeError" not in detail


def test_bounded_spec_is_accepted(client, alice, broker_queue):
    r = _post(client, alice, run={"num_threads": 64, "space": {"primitives": ["zero", "sum"]}},
              backbones={"poster": {"name": "efficientnet_lite0", "options": {"image_size": [256, 160]}}})
    assert r.status_code == 202, r.text
    assert r.json()["spec"]["run"]["num_threads"] == 64


def test_worker_caps_threads_at_its_cores():
    import os

    from worker.tasks import build_config

    cfg = build_config({"method": "ssl", "run": {"num_threads": 1024}})
    assert cfg.num_threads == (os.cpu_count() or 1)
    assert build_config({"method": "ssl", "run": {"num_threads": 1}}).num_threads == 1


def test_mfas_limits_mirror_the_core_config():
    from api.schemas import MfasSettings
    from ssnas_core.baselines.mfas import MFAS_LIMITS

    for name, top in MFAS_LIMITS.items():
        le = [m.le for m in MfasSettings.model_fields[name].metadata if hasattr(m, "le")]
        assert le == [top], name
