"""The storage quota while a job runs (issue 10 item 2), in a real Celery worker on a real
database and broker: the job's checkpoints count toward its owner's storage; the write that would
take the owner past the quota fails the job with the quota's message, in the stage it was in, and
leaves no partial blob, no model and no bytes beyond the quota; once space is freed, a retry
resumes from the checkpoints stored before."""

from __future__ import annotations

import time
import uuid
import zipfile

import pytest
from sqlalchemy import func, select
from svc_fixtures import (
    celery_worker,
    job_row,
    job_spec,
    make_feature_dataset,
    make_job,
    register_dataset_files,
    send,
    terminal,
    wait_job,
)

from store.db import session_scope
from store.quotas import lock_owner, storage_used
from store.storage import resolve
from store.tables import Checkpoint, CheckpointChunk, Dataset, Model, StorageCharge, new_id

QUOTA = 50 * 1024**2  # bytes per owner in this module's worker: the filler row sets the room left


@pytest.fixture(scope="module")
def quota_worker(svc, tmp_path_factory):
    log = tmp_path_factory.mktemp("logs") / "worker.log"
    log.touch()
    with celery_worker(svc, log, name="quota", SSNAS_MAX_STORAGE_BYTES=str(QUOTA)) as proc:
        yield proc


def _fill(owner: str, room: int) -> str:
    """A dataset row sized so that the owner has ``room`` bytes left; returns its id. Sized and
    added under the owner's storage lock, as the worker charges its writes, so that a checkpoint
    stored meanwhile is either counted here or refused there."""
    with session_scope() as s:
        lock_owner(s, owner)
        row = Dataset(owner_id=owner, name="filler", format="features", path="/nonexistent",
                      size=QUOTA - storage_used(s, owner) - room, sha256=uuid.uuid4().hex * 2, summary={})
        s.add(row)
        s.flush()
        return row.id


def _unfill(dataset_id: str) -> None:
    with session_scope() as s:
        s.delete(s.get(Dataset, dataset_id))


def _blobs(job_id: str) -> dict[str, object]:
    with session_scope() as s:
        kinds = s.scalars(select(Checkpoint.kind).where(Checkpoint.job_id == job_id)).all()
        partial = s.scalar(select(func.count()).select_from(Checkpoint).where(Checkpoint.complete.is_(False)))
        orphans = s.scalar(select(func.count()).select_from(CheckpointChunk).where(
            CheckpointChunk.checkpoint_id.not_in(select(Checkpoint.id))))
        models = s.scalar(select(func.count()).select_from(Model).where(Model.job_id == job_id))
    return {"kinds": sorted(kinds), "partial": partial, "orphan_chunks": orphans, "models": models}


def _assert_failed_on_quota(job, stage: str, owner: str) -> None:
    assert job.status == "failed", (job.status, job.error)
    assert job.error.startswith("storage quota exceeded: you use "), job.error
    assert "delete datasets or jobs to free space" in job.error and "Error:" not in job.error, job.error
    assert job.stage == stage, (job.stage, job.error)
    with session_scope() as s:
        assert storage_used(s, owner) <= QUOTA


def test_a_job_whose_first_checkpoint_passes_the_quota_fails_cleanly(svc, quota_worker, tmp_path):
    owner = "quinn"
    ds_id = make_feature_dataset(owner, tmp_path / "feat")
    _fill(owner, room=1)  # the dataset fits; any checkpoint does not
    job_id = make_job(owner, ds_id, job_spec(ds_id))
    send(job_id)
    job = wait_job(job_id, terminal, 240)
    _assert_failed_on_quota(job, "search", owner)
    assert _blobs(job_id) == {"kinds": [], "partial": 0, "orphan_chunks": 0, "models": 0}


def _vector_dataset(owner: str, path) -> str:
    """A generic upload (a manifest of embedding vectors): the worker converts it to a feature
    cache, which counts toward the owner's storage."""
    import json

    import numpy as np

    rng = np.random.default_rng(0)
    rows = [{"id": f"s{i}", "emb": [round(float(v), 3) for v in rng.normal(size=8)],
             "labels": ["a", "b"][i % 2:], "split": ["train", "dev", "test"][i % 3]} for i in range(60)]
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("manifest.jsonl", "\n".join(json.dumps(r) for r in rows))
    ds_id = new_id()
    key = register_dataset_files(path, ds_id, "upload")
    with session_scope() as s:
        row = Dataset(id=ds_id, owner_id=owner, name="vectors", format="generic", path=key,
                      size=path.stat().st_size, sha256=uuid.uuid4().hex * 2, summary={"format": "generic"})
        s.add(row)
        s.flush()
        return row.id


def test_a_feature_cache_past_the_quota_fails_the_job_in_its_features_stage(svc, quota_worker, tmp_path):
    owner = "sven"
    ds_id = _vector_dataset(owner, tmp_path / "vectors.zip")
    _fill(owner, room=1)  # the upload fits; its feature cache does not
    job_id = make_job(owner, ds_id, job_spec(ds_id))
    send(job_id)
    job = wait_job(job_id, terminal, 240)
    assert job.status == "failed" and job.stage == "features", (job.status, job.stage, job.error)
    assert job.error.startswith("storage quota exceeded: you use "), job.error
    assert "so this job cannot go on past its features; delete datasets or jobs" in job.error, job.error
    # the cache is on disk in the dataset's folder, complete and charged (a later job of the
    # dataset reuses it)
    with session_scope() as s:
        charges = s.scalars(select(StorageCharge).where(StorageCharge.owner_id == owner,
                                                        StorageCharge.kind == "features")).all()
        assert len(charges) == 1 and charges[0].bytes > 0 and charges[0].dataset_id == ds_id
        key = charges[0].key.removeprefix("features:")
        assert key.startswith(f"datasets/{ds_id}/features/") and resolve(key).is_dir(), key
    assert _blobs(job_id) == {"kinds": [], "partial": 0, "orphan_chunks": 0, "models": 0}


def test_a_job_that_fills_the_quota_midway_fails_keeps_its_state_and_resumes_after_a_cleanup(
        svc, quota_worker, tmp_path):
    from api.services.jobs import retry_job
    from store import broker
    from store.settings import get_settings

    owner = "rita"
    ds_id = make_feature_dataset(owner, tmp_path / "feat")
    spec = job_spec(ds_id, search={"epochs": 1}, pretrain={"epochs": 10})
    job_id = make_job(owner, ds_id, spec)
    send(job_id)
    # once the search is stored, the owner's other data leaves no room for the next checkpoint
    wait_job(job_id, lambda j: terminal(j) or j.stage == "pretrain", 240)
    filler = _fill(owner, room=1)
    job = wait_job(job_id, terminal, 240)
    _assert_failed_on_quota(job, "pretrain", owner)
    blobs = _blobs(job_id)
    assert "search_state.safetensors" in blobs["kinds"] and "model" not in blobs["kinds"], blobs
    assert (blobs["partial"], blobs["orphan_chunks"], blobs["models"]) == (0, 0, 0), blobs

    _unfill(filler)  # space freed: the retry resumes from the stored search state and succeeds
    broker.celery_app.cache_clear()  # this test session's broker prefix
    with session_scope() as s:
        retry_job(s, owner, job_id, get_settings())
    time.sleep(0.1)
    job = wait_job(job_id, terminal, 600)
    assert job.status == "succeeded", (job.status, job.error)
    assert job.attempt == 2
    with session_scope() as s:
        from store.tables import JobLog

        logs = s.scalars(select(JobLog.message).where(JobLog.job_id == job_id)).all()
    assert any(m.startswith("resuming from checkpoints ['search_state.safetensors'") for m in logs), logs
    assert job_row(job_id).result["model_id"]
