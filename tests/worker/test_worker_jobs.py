"""run_job in a real Celery worker on a real database and broker: success, idempotent
redelivery, cancel of a running job, a cancelled queued job never starting, and the reaper."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from sqlalchemy import select
from svc_fixtures import job_row, job_spec, make_feature_dataset, make_job, send, terminal, wait_job

from ssnas_core.data.features import FeatureDataset
from ssnas_core.predict import Predictor
from store.db import session_scope
from store.storage import read_blob_to_file, resolve
from store.tables import Checkpoint, Dataset, Job, JobLog, JobMetric, Model, utcnow


def _metrics(job_id):
    with session_scope() as s:
        rows = s.scalars(select(JobMetric).where(JobMetric.job_id == job_id).order_by(JobMetric.seq)).all()
        return [(r.seq, r.stage, r.epoch) for r in rows]


def _kinds(job_id):
    with session_scope() as s:
        return sorted(s.scalars(select(Checkpoint.kind).where(Checkpoint.job_id == job_id,
                                                              Checkpoint.complete.is_(True))).all())


def test_job_runs_to_a_stored_model_and_a_redelivery_does_nothing(svc, worker, tmp_path):
    ds_id = make_feature_dataset("alice", tmp_path / "feat")
    job_id = make_job("alice", ds_id, job_spec(ds_id))
    send(job_id)
    job = wait_job(job_id, terminal, 120)
    assert (job.status, job.attempt, job.progress, job.error) == ("succeeded", 1, 1.0, None)
    stages = [m[1] for m in _metrics(job_id)]
    assert stages[:3] == ["search", "search", "pretrain"] and stages[-1] == "evaluate"
    assert [m[0] for m in _metrics(job_id)] == list(range(1, len(stages) + 1))
    assert {"model", "search_state.safetensors", "pretrain_state.safetensors"} <= set(_kinds(job_id))

    with session_scope() as s:
        model = s.get(Model, job.result["model_id"])
        assert model.genotype == job.result["genotype"] and model.label_names == [f"label{k}" for k in range(4)]
        weights = read_blob_to_file(s, model.checkpoint_id, tmp_path / "model.safetensors")
    pred = Predictor.load(weights)
    feats = FeatureDataset(tmp_path / "feat")
    probs = pred.predict_features(feats.get(np.arange(5)))
    assert probs.shape == (5, 4) and np.all((probs >= 0) & (probs <= 1))

    send(job_id)  # a duplicate delivery of a finished job: no second attempt, no second model
    marker = make_job("alice", ds_id, job_spec(ds_id, search={"epochs": 1}))
    send(marker)
    wait_job(marker, terminal, 120)  # the worker is solo: the duplicate was handled before this
    job = job_row(job_id)
    assert job.attempt == 1 and job.status == "succeeded"
    with session_scope() as s:
        assert len(s.scalars(select(Model).where(Model.job_id == job_id)).all()) == 1


def test_cancel_stops_a_running_job_keeps_its_state_and_frees_the_worker(svc, worker, tmp_path):
    ds_id = make_feature_dataset("alice", tmp_path / "feat")
    job_id = make_job("alice", ds_id, job_spec(ds_id, search={"epochs": 500}))
    send(job_id)
    wait_job(job_id, lambda j: j.status == "running" and len(_metrics(job_id)) >= 2, 120)
    with session_scope() as s:
        s.get(Job, job_id).cancel_requested = True
    job = wait_job(job_id, terminal, 30)
    assert job.status == "cancelled" and job.error == "cancelled by request"
    assert job.stage == "search" and job.progress < 0.5
    assert "search_state.safetensors" in _kinds(job_id)

    nxt = make_job("alice", ds_id, job_spec(ds_id))
    send(nxt)
    assert wait_job(nxt, terminal, 120).status == "succeeded"


def test_a_cancelled_queued_job_never_starts(svc, worker, tmp_path):
    ds_id = make_feature_dataset("alice", tmp_path / "feat")
    job_id = make_job("alice", ds_id, job_spec(ds_id), cancel_requested=True)
    send(job_id)
    job = wait_job(job_id, terminal, 60)
    assert job.status == "cancelled" and job.attempt == 0 and job.started_at is None


def test_a_bad_spec_fails_with_its_reason(svc, worker, tmp_path):
    ds_id = make_feature_dataset("alice", tmp_path / "feat")
    spec = job_spec(ds_id)
    spec["run"]["space"]["L"] = 5  # not a perfect square
    job_id = make_job("alice", ds_id, spec)
    send(job_id)
    job = wait_job(job_id, terminal, 60)
    assert job.status == "failed" and "L must be a perfect square" in job.error


def test_reaper_requeues_a_lost_job_and_fails_one_out_of_attempts(svc, worker, tmp_path):
    ds_id = make_feature_dataset("alice", tmp_path / "feat")
    stale = utcnow() - timedelta(hours=1)
    lost = make_job("alice", ds_id, job_spec(ds_id), status="running", attempt=1, max_attempts=3,
                    heartbeat_at=stale, worker="gone:1", stage="search")
    spent = make_job("alice", ds_id, job_spec(ds_id), status="running", attempt=3, max_attempts=3,
                     heartbeat_at=stale, worker="gone:2", stage="search")
    # nobody sends these: the worker's periodic reaper must find them
    job = wait_job(lost, terminal, 120)
    assert job.status == "succeeded" and job.attempt == 2
    job = wait_job(spent, terminal, 30)
    assert job.status == "failed" and job.attempt == 3
    assert "worker lost 3 time(s)" in job.error and "giving up after 3 attempts" in job.error
    with session_scope() as s:
        logs = s.scalars(select(JobLog.message).where(JobLog.job_id == lost)).all()
    assert any("attempt 2/3 started" in m for m in logs)


def test_an_mfas_job_records_its_architecture_metrics_and_a_servable_model(svc, worker, tmp_path):
    ds_id = make_feature_dataset("alice", tmp_path / "feat")
    spec = {**job_spec(ds_id), "method": "mfas", "mfas": {"depth": 2, "k": 2, "iterations": 1, "epochs": 1}}
    job_id = make_job("alice", ds_id, spec)
    send(job_id)
    job = wait_job(job_id, terminal, 120)
    assert job.status == "succeeded", job.error
    assert 1 <= len(job.result["genotype"]["mfas"]) <= 2 and job.result["model_id"] is not None
    assert set(job.result["metrics"]) == {"dev", "test"} and job.result["test_metrics"] == job.result["metrics"]["test"]
    assert job.result["modalities_read"] == ["image", "text"] and "probe_concat" in job.result["baselines"]
    with session_scope() as s:
        model = s.get(Model, job.result["model_id"])
        assert model.genotype == job.result["genotype"]
        weights = read_blob_to_file(s, model.checkpoint_id, tmp_path / "mfas.safetensors")
    probs = Predictor.load(weights).predict_features(FeatureDataset(tmp_path / "feat").get(np.arange(3)))
    assert probs.shape == (3, 4)


def test_a_job_that_fails_keeps_the_stage_it_failed_in(svc, worker, tmp_path):
    ds_id = make_feature_dataset("alice", tmp_path / "feat")
    with session_scope() as s:
        key = s.get(Dataset, ds_id).path  # a storage key
    (resolve(key) / "features.h5").unlink()  # the uploaded features are gone
    job_id = make_job("alice", ds_id, job_spec(ds_id))
    send(job_id)
    job = wait_job(job_id, terminal, 60)
    assert job.status == "failed" and job.stage == "features", (job.stage, job.error)


def _search_rows(job_id):
    with session_scope() as s:
        rows = s.scalars(select(JobMetric).where(JobMetric.job_id == job_id, JobMetric.stage == "search")
                         .order_by(JobMetric.seq)).all()
        return [(r.epoch, dict(r.metrics)) for r in rows]


def test_a_cancelled_mfas_job_stops_at_its_next_candidate_with_per_candidate_progress(svc, worker, tmp_path):
    from worker.state import STATE_FILES

    ds_id = make_feature_dataset("alice", tmp_path / "feat")
    # ~170 candidates of 10 epochs each: minutes of search; the cancel must not wait for it
    mfas = {"depth": 4, "k": 15, "iterations": 3, "epochs": 10, "surrogate_hidden": 16, "surrogate_steps": 20}
    job_id = make_job("alice", ds_id, {**job_spec(ds_id), "method": "mfas", "mfas": mfas})
    send(job_id)
    running = wait_job(job_id, lambda j: terminal(j) or len(_search_rows(job_id)) >= 2, 120, poll_s=0.05)
    assert running.status == "running" and running.stage == "search"
    assert 0 < running.progress < 0.1 and running.eta_s is not None  # 2 of 180 candidates, paced
    with session_scope() as s:
        s.get(Job, job_id).cancel_requested = True
    job = wait_job(job_id, terminal, 60)
    assert job.status == "cancelled" and job.error == "cancelled by request"
    assert job.stage == "search" and running.progress <= job.progress < 0.5
    rows = _search_rows(job_id)
    assert 2 <= len(rows) < 10 and [e for e, _ in rows] == list(range(len(rows)))  # one row per candidate
    assert all(0 <= m["dev_weighted_f1"] <= 1 and m["candidate"] == e + 1 for e, m in rows)
    assert "mfas_scores.json" in _kinds(job_id) and "mfas_scores.json" in STATE_FILES
