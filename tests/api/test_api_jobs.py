"""/jobs: submit (enqueued after commit), validation, paging, cancel, retry, metrics, genotype."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from api_factories import make_dataset, make_job

from store import broker
from store import jobs as rt
from store.db import session_scope
from store.tables import FAILED, RUNNING, SUCCEEDED, Job


def _queued_ids(redis_conn, queue: str = "cpu") -> list[str]:
    prefix = broker.celery_app().conf.broker_transport_options.get("global_keyprefix", "")
    msgs = [json.loads(m) for m in redis_conn.lrange(prefix + queue, 0, -1)]
    return [m["headers"]["argsrepr"] for m in msgs if m["headers"]["task"] == broker.TASK_NAME]


def test_submit_is_202_queued_and_enqueued_after_commit(client, alice, broker_queue):
    ds = make_dataset("alice")
    r = client.post("/jobs", headers=alice, json={"dataset_id": ds, "search_epochs": 2,
                                                  "label_fraction": 0.5, "seed": 7})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and job["attempt"] == 0 and job["queue"] == "cpu"
    run = job["spec"]["run"]
    assert run["search"]["epochs"] == 2 and run["search"]["mode"] == "ssl"
    assert run["finetune"]["label_fraction"] == 0.5 and run["seed"] == 7
    assert any(job["id"] in a for a in _queued_ids(broker_queue))


def test_gpu_device_goes_to_gpu_queue(client, alice, broker_queue):
    ds = make_dataset("alice")
    r = client.post("/jobs", headers=alice, json={"dataset_id": ds, "device": "gpu",
                                                  "method": "supervised"})
    assert r.status_code == 202, r.text
    assert r.json()["queue"] == "gpu" and r.json()["spec"]["run"]["device"] == "cuda"
    assert r.json()["spec"]["run"]["search"]["mode"] == "supervised"
    assert any(r.json()["id"] in a for a in _queued_ids(broker_queue, "gpu"))


@pytest.mark.parametrize("body, needle", [
    ({"search_epochs": 0}, "search_epochs"),
    ({"label_fraction": 1.5}, "label_fraction"),
    ({"run": {"space": {"L": 15}}}, "perfect square"),
    ({"run": {"search": {"bogus": 1}}}, "unknown SearchConfig keys"),
    ({"method": "ssl", "run": {"search": {"mode": "supervised"}}}, "conflicts"),
    ({"method": "darts"}, "method"),
    ({"extra_field": 1}, "extra_field"),
])
def test_invalid_spec_is_422(client, alice, body, needle):
    ds = make_dataset("alice")
    r = client.post("/jobs", headers=alice, json={"dataset_id": ds, **body})
    assert r.status_code == 422, r.text
    assert needle in json.dumps(r.json()["detail"])


def test_other_owners_dataset_is_404(client, alice, bob):
    ds = make_dataset("alice")
    r = client.post("/jobs", headers=bob, json={"dataset_id": ds})
    assert r.status_code == 404
    assert client.post("/jobs", headers=alice, json={"dataset_id": "nope"}).status_code == 404


def test_queued_job_limit_is_429(client, alice, settings_env, broker_queue):
    settings_env(SSNAS_MAX_QUEUED_JOBS=2)
    ds = make_dataset("alice")
    for _ in range(2):
        assert client.post("/jobs", headers=alice, json={"dataset_id": ds}).status_code == 202
    r = client.post("/jobs", headers=alice, json={"dataset_id": ds})
    assert r.status_code == 429 and "limit is 2" in r.json()["detail"]
    assert int(r.headers["retry-after"]) > 0


def test_paging_status_filter_and_isolation(client, alice, bob):
    ds = make_dataset("alice")
    ids = [make_job("alice", ds) for _ in range(5)] + [make_job("alice", ds, status=FAILED)]
    make_job("bob", make_dataset("bob"))
    page = client.get("/jobs?limit=4&offset=0", headers=alice).json()
    assert page["total"] == 6 and len(page["items"]) == 4
    rest = client.get("/jobs?limit=4&offset=4", headers=alice).json()["items"]
    assert {j["id"] for j in page["items"] + rest} == set(ids)
    failed = client.get("/jobs?status=failed", headers=alice).json()
    assert failed["total"] == 1 and failed["items"][0]["status"] == "failed"
    assert client.get("/jobs?status=weird", headers=alice).status_code == 422
    assert client.get(f"/jobs/{ids[0]}", headers=bob).status_code == 404
    assert client.get("/jobs", headers=bob).json()["total"] == 1


def test_cancel_queued_job_never_starts(client, alice):
    job = make_job("alice", make_dataset("alice"))
    r = client.post(f"/jobs/{job}/cancel", headers=alice)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    with session_scope() as s:
        assert rt.claim_job(s, job, "w1") is None  # the delivered task finds nothing to do
    assert client.get(f"/jobs/{job}", headers=alice).json()["status"] == "cancelled"
    assert client.post(f"/jobs/{job}/cancel", headers=alice).status_code == 200  # idempotent


def test_cancel_running_job_sets_flag_seen_by_heartbeat(client, alice):
    job = make_job("alice", make_dataset("alice"))
    with session_scope() as s:
        assert rt.claim_job(s, job, "w1").attempt == 1
    r = client.post(f"/jobs/{job}/cancel", headers=alice)
    assert r.json()["status"] == "running" and r.json()["cancel_requested"] is True
    with session_scope() as s:
        assert rt.heartbeat(s, job, stage="search", progress=0.3) is True
        rt.finish_job(s, job, "cancelled")
    assert client.get(f"/jobs/{job}", headers=alice).json()["status"] == "cancelled"


def test_cancel_finished_job_is_409(client, alice):
    job = make_job("alice", make_dataset("alice"), status=SUCCEEDED)
    assert client.post(f"/jobs/{job}/cancel", headers=alice).status_code == 409


def test_retry_failed_job_requeues_and_enqueues(client, alice, broker_queue):
    job = make_job("alice", make_dataset("alice"), status=FAILED, error="boom", attempt=3,
                   max_attempts=3)
    r = client.post(f"/jobs/{job}/retry", headers=alice)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "queued" and body["error"] is None and body["max_attempts"] == 6
    assert any(job in a for a in _queued_ids(broker_queue))
    assert client.post(f"/jobs/{job}/retry", headers=alice).status_code == 409


def test_metrics_cursor_logs_and_latest(client, alice):
    job = make_job("alice", make_dataset("alice"), status=RUNNING)
    with session_scope() as s:
        for epoch in range(3):
            rt.append_metric(s, job, "search", epoch, {"loss": 1.0 / (epoch + 1)})
        rt.append_log(s, job, "info", "started search")
    first = client.get(f"/jobs/{job}/metrics?limit=2", headers=alice).json()
    assert [m["seq"] for m in first["items"]] == [1, 2] and first["next_after"] == 2
    rest = client.get(f"/jobs/{job}/metrics?after=2", headers=alice).json()
    assert [m["epoch"] for m in rest["items"]] == [2] and rest["next_after"] == 3
    assert client.get(f"/jobs/{job}/metrics?after=3", headers=alice).json()["items"] == []
    got = client.get(f"/jobs/{job}", headers=alice).json()
    assert got["latest_metrics"]["seq"] == 3
    logs = client.get(f"/jobs/{job}/logs", headers=alice).json()["items"]
    assert logs[0]["message"] == "started search"


GENOTYPE = {"edges": [["skip", 0], ["skip", 1], ["skip", 1], ["skip", 2]],
            "steps": [{"inner_edges": [["skip", 0], ["skip", 1]], "inner_steps": ["concat_fc"],
                       "inner_concat": [2]},
                      {"inner_edges": [["skip", 0], ["skip", 1]], "inner_steps": ["linear_glu"],
                       "inner_concat": [2]}],
            "concat": [2, 3], "space": {"C": 8, "L": 4, "steps": 2},
            "nodes": [{"name": "img", "modality": "image", "shape": [8]},
                      {"name": "txt", "modality": "text", "shape": [6]}]}


def test_genotype_json_and_svg(client, alice, bob):
    job = make_job("alice", make_dataset("alice"), status=RUNNING)
    assert client.get(f"/jobs/{job}/genotype", headers=alice).status_code == 409
    with session_scope() as s:
        s.get(Job, job).result = {"genotype": GENOTYPE}
    assert client.get(f"/jobs/{job}/genotype", headers=alice).json() == GENOTYPE
    r = client.get(f"/jobs/{job}/genotype.svg", headers=alice)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(r.text)
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for word in ("img", "txt", "cell 0", "cell 1", "concat_fc(x, y)", "linear_glu(x, y)", "output"):
        assert word in texts
    assert len(list(root.iter("{http://www.w3.org/2000/svg}path"))) >= 6  # 4 cell edges + 2 out
    assert client.get(f"/jobs/{job}/genotype.svg", headers=bob).status_code == 404


def test_backbone_choices_are_checked_and_normalised(client, alice, broker_queue):
    ds = make_dataset("alice")
    r = client.post("/jobs", headers=alice, json={"dataset_id": ds, "backbones": {
        "poster": "efficientnet_lite0", "plot": {"name": "minilm", "options": {"max_tokens": 64}}}})
    assert r.status_code == 202, r.text
    assert r.json()["spec"]["backbones"] == {
        "poster": {"name": "efficientnet_lite0", "weights": None, "options": {}},
        "plot": {"name": "minilm", "weights": None, "options": {"max_tokens": 64}}}
    bad = client.post("/jobs", headers=alice, json={"dataset_id": ds, "backbones": {"p": "resnet"}})
    assert bad.status_code == 422 and "unknown backbone 'resnet'" in bad.json()["detail"]
    path = client.post("/jobs", headers=alice, json={"dataset_id": ds, "backbones": {
        "p": {"name": "vgg19", "weights": "/etc/passwd"}}})
    assert path.status_code == 422  # weights files are not selectable over HTTP


def test_known_backbones_match_the_registry():
    from ssnas_core.backbones import list_backbones
    from ssnas_core.names import KNOWN_BACKBONES

    assert sorted(KNOWN_BACKBONES) == list_backbones()


def test_mfas_settings_are_checked_and_stored(client, alice, broker_queue):
    ds = make_dataset("alice")
    r = client.post("/jobs", headers=alice, json={"dataset_id": ds, "method": "mfas",
                                                  "mfas": {"depth": 2, "k": 3}})
    assert r.status_code == 202, r.text
    assert r.json()["spec"]["mfas"] == {"depth": 2, "k": 3}
    assert client.post("/jobs", headers=alice, json={"dataset_id": ds, "method": "mfas",
                                                     "mfas": {"depth": 0}}).status_code == 422
    assert client.post("/jobs", headers=alice, json={"dataset_id": ds, "method": "ssl",
                                                     "mfas": {"k": 3}}).status_code == 422


def test_mfas_settings_mirror_the_core_config():
    import dataclasses

    from api.schemas import MfasSettings
    from ssnas_core.baselines.mfas import MFASConfig

    core = {f.name: f.default for f in dataclasses.fields(MFASConfig)}
    assert core == {k: f.default for k, f in MfasSettings.model_fields.items()}


def test_mfas_genotype_svg(client, alice):
    job = make_job("alice", make_dataset("alice"), status=SUCCEEDED, result={"genotype": {
        "mfas": [[0, 1, 0], [2, 0, 1]],
        "nodes": [["img.s4", "txt.vec", "relu"], ["img.head", "txt.vec", "sigmoid"]]}})
    r = client.get(f"/jobs/{job}/genotype.svg", headers=alice)
    assert r.status_code == 200
    root = ET.fromstring(r.text)
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for word in ("img.s4", "img.head", "txt.vec", "fusion 0", "fusion 1", "relu", "sigmoid"):
        assert word in texts
    assert len(list(root.iter("{http://www.w3.org/2000/svg}path"))) == 2 + 3 + 1 + 1  # + arrow


def test_late_fusion_genotype_svg(client, alice):
    job = make_job("alice", make_dataset("alice"), status=SUCCEEDED, result={"genotype": {
        "late_fusion": ["img.head", "txt.vec"], "hidden": 256}})
    r = client.get(f"/jobs/{job}/genotype.svg", headers=alice)
    assert r.status_code == 200
    root = ET.fromstring(r.text)
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for word in ("img.head", "txt.vec", "concat + MLP", "hidden 256", "late fusion"):
        assert word in texts


def test_poll_etag_answers_304_until_the_job_changes(client, alice, bob):
    job = make_job("alice", make_dataset("alice"))
    first = client.get(f"/jobs/{job}", headers=alice)
    etag = first.headers["etag"]
    assert first.status_code == 200 and first.json()["status"] == "queued"
    again = client.get(f"/jobs/{job}", headers={**alice, "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get(f"/jobs/{job}", headers={**bob, "If-None-Match": etag}).status_code == 404
    with session_scope() as s:
        rt.claim_job(s, job, "w1")
    changed = client.get(f"/jobs/{job}", headers={**alice, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["status"] == "running"
    assert changed.headers["etag"] != etag


def test_poll_survives_a_dead_pooled_connection(client, alice):
    """Read lookups skip the ping on checkout: a pooled connection killed by the server (a
    database restart) costs one retry on a fresh connection, not an error."""
    from sqlalchemy import text

    from store.db import get_engine, get_read_engine

    job = make_job("alice", make_dataset("alice"))
    assert client.get(f"/jobs/{job}", headers=alice).status_code == 200
    with get_read_engine().connect() as conn:
        pids = [conn.execute(text("SELECT pg_backend_pid()")).scalar()]
    with get_engine().begin() as conn:  # not a read-engine connection
        for pid in pids:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    r = client.get(f"/jobs/{job}", headers=alice)
    assert r.status_code == 200 and r.json()["id"] == job


def test_startup_warms_the_read_pool_and_freezes_startup_objects(db):
    import gc

    from fastapi.testclient import TestClient

    from api.main import create_app
    from store.db import get_read_engine
    from store.settings import get_settings

    get_read_engine().dispose()
    gc.unfreeze()
    with TestClient(create_app()) as c:
        assert c.get("/health").status_code == 200
        assert get_read_engine().pool.checkedin() >= get_settings().db_pool_size // 2
        assert gc.get_freeze_count() > 10_000  # modules, routes, settings: out of the collector's way
