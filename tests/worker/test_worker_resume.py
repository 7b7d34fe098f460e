"""kill -9 of a worker mid-search (BM-NAS, MFAS): the job is found lost by the reaper of another worker,
resumed from its database checkpoint, and ends with the genotype of an uninterrupted run."""

from __future__ import annotations

import os
import signal

from sqlalchemy import select
from svc_fixtures import celery_worker, job_row, job_spec, make_feature_dataset, make_job, send, terminal, wait_job

from launcher.processes import kill
from store.db import session_scope
from store.tables import JobLog, JobMetric

EPOCHS = 10


def _search_epochs(job_id):
    with session_scope() as s:
        return sorted(s.scalars(select(JobMetric.epoch).where(
            JobMetric.job_id == job_id, JobMetric.stage == "search")).all())


def _kill9_mid_search(svc, log, victim, name):
    """Run ``victim`` on a worker, freeze it after 2 search epochs (candidates), kill -9 it;
    returns the job row and the search epochs recorded at that moment."""
    with celery_worker(svc, log, name=name) as proc:
        send(victim)
        wait_job(victim, lambda j: terminal(j) or len(_search_epochs(victim)) >= 2, 120, poll_s=0.05)
        os.killpg(proc.pid, signal.SIGSTOP)  # freeze first, then check we really are mid-search
        job, done = job_row(victim), _search_epochs(victim)
        kill(proc)
    return job, done


def _rescue(svc, log, ds_id, spec, victim, name):
    """A new worker runs a reference job of the same spec while its reaper revives ``victim``."""
    reference = make_job("bob", ds_id, spec)
    with celery_worker(svc, log, name=name):
        send(reference)  # the victim gets no new message: only the rescuer's reaper can revive it
        ref = wait_job(reference, terminal, 180)
        resumed = wait_job(victim, terminal, 180)
    return reference, ref, resumed


def test_kill9_mid_search_resumes_on_another_worker_with_the_same_genotype(svc, tmp_path):
    ds_id = make_feature_dataset("bob", tmp_path / "feat")
    spec = job_spec(ds_id, search={"epochs": EPOCHS})
    victim = make_job("bob", ds_id, spec)
    log = tmp_path / "workers.log"
    log.touch()
    job, done = _kill9_mid_search(svc, log, victim, "doomed")
    assert job.status == "running" and job.stage == "search" and 2 <= len(done) < EPOCHS, (job.stage, done)

    _, ref, resumed = _rescue(svc, log, ds_id, spec, victim, "rescuer")
    assert ref.status == "succeeded" and ref.attempt == 1
    assert resumed.status == "succeeded" and resumed.attempt == 2
    assert resumed.result["genotype"] == ref.result["genotype"]
    assert resumed.result["metrics"] == ref.result["metrics"]  # the whole run is reproduced
    # each search epoch recorded exactly once: metrics and checkpoints commit together
    assert _search_epochs(victim) == list(range(EPOCHS))
    with session_scope() as s:
        logs = s.scalars(select(JobLog.message).where(JobLog.job_id == victim)).all()
    assert any(m.startswith("resuming from checkpoints") and "search_state" in m for m in logs)


def test_sigterm_to_a_worker_hands_its_running_job_back_to_the_queue(svc, tmp_path):
    import redis
    from svc_fixtures import REDIS_URL

    from store.tables import Checkpoint, Job

    ds_id = make_feature_dataset("bob", tmp_path / "feat")
    job_id = make_job("bob", ds_id, job_spec(ds_id, search={"epochs": 500}))
    log = tmp_path / "worker.log"
    log.touch()
    with celery_worker(svc, log, name="leaving") as proc:
        send(job_id)
        wait_job(job_id, lambda j: terminal(j) or len(_search_epochs(job_id)) >= 2, 120)
        os.kill(proc.pid, signal.SIGTERM)  # what docker stop / scale down / ssnas serve's Ctrl-C send
        job = wait_job(job_id, lambda j: j.status != "running", 60)
        assert proc.wait(60) == 0
    assert job.status == "queued" and job.attempt == 1 and job.max_attempts == 4 and job.worker is None
    with session_scope() as s:
        kinds = s.scalars(select(Checkpoint.kind).where(Checkpoint.job_id == job_id)).all()
        logs = s.scalars(select(JobLog.message).where(JobLog.job_id == job_id)).all()
        assert "search_state.safetensors" in kinds
        assert any("shutting down: job requeued" in m for m in logs)
        s.get(Job, job_id).cancel_requested = True  # the re-sent doorbell then cancels instead of running
    assert redis.Redis.from_url(REDIS_URL).llen(f"{svc.prefix}cpu") >= 1  # re-sent for the next worker


def test_kill9_mid_mfas_search_resumes_without_retraining_and_ends_like_an_uninterrupted_run(svc, tmp_path):
    ds_id = make_feature_dataset("bob", tmp_path / "feat")
    mfas = {"depth": 2, "k": 3, "iterations": 2, "epochs": 1, "surrogate_hidden": 16, "surrogate_steps": 20}
    spec = {**job_spec(ds_id), "method": "mfas", "mfas": mfas}
    victim = make_job("bob", ds_id, spec)
    log = tmp_path / "workers.log"
    log.touch()
    job, done = _kill9_mid_search(svc, log, victim, "doomed-mfas")

    reference, ref, resumed = _rescue(svc, log, ds_id, spec, victim, "rescuer-mfas")
    assert ref.status == "succeeded" and ref.attempt == 1, ref.error
    candidates = _search_epochs(reference)
    assert job.status == "running" and job.stage == "search" and 2 <= len(done) < len(candidates), (job.stage, done)
    assert resumed.status == "succeeded" and resumed.attempt == 2, resumed.error
    assert resumed.result["genotype"] == ref.result["genotype"]
    assert resumed.result["metrics"] == ref.result["metrics"]
    # every candidate recorded once: the ones scored before the kill were not trained again
    assert _search_epochs(victim) == candidates == list(range(len(candidates)))
    with session_scope() as s:
        logs = s.scalars(select(JobLog.message).where(JobLog.job_id == victim)).all()
    assert any(m.startswith("resuming from checkpoints") and "mfas_scores.json" in m for m in logs)
