"""A job whose worker died is taken over by the next delivery of its message, not after the
reaper's timeout; and the job rows, not the broker, are the truth for queued work at a worker's start.

Each worker here runs with a reaper timeout of 10 minutes, so only these paths can revive a job."""

from __future__ import annotations

import os
import signal
import socket
from datetime import timedelta

import psutil
from sqlalchemy import select
from svc_fixtures import celery_worker, job_row, job_spec, make_feature_dataset, make_job, send, terminal, wait_job

from store.db import session_scope
from store.tables import JobLog, JobMetric, utcnow

NO_REAPER = {"SSNAS_HEARTBEAT_TIMEOUT_S": "600"}


def _search_epochs(job_id):
    with session_scope() as s:
        return s.scalars(select(JobMetric.epoch).where(
            JobMetric.job_id == job_id, JobMetric.stage == "search")).all()


def _logs(job_id):
    with session_scope() as s:
        return s.scalars(select(JobLog.message).where(JobLog.job_id == job_id).order_by(JobLog.seq)).all()


def _dead_pid() -> int:
    pid = 4_000_000
    while psutil.pid_exists(pid):
        pid -= 1
    return pid


def test_kill9_of_the_pool_child_is_taken_over_by_the_redelivered_message(svc, tmp_path):
    ds_id = make_feature_dataset("dora", tmp_path / "feat")
    spec = job_spec(ds_id, search={"epochs": 6})
    victim, reference = make_job("dora", ds_id, spec), make_job("dora", ds_id, spec)
    log = tmp_path / "worker.log"
    log.touch()
    with celery_worker(svc, log, name="prefork", pool="prefork", **NO_REAPER) as proc:
        send(victim)
        job = wait_job(victim, lambda j: terminal(j) or len(_search_epochs(victim)) >= 2, 120, poll_s=0.05)
        assert job.status == "running", job.error
        child = psutil.Process(proc.pid).children()[0]
        assert job.worker == f"{socket.gethostname()}:{child.pid}"
        os.kill(child.pid, signal.SIGKILL)
        resumed = wait_job(victim, lambda j: j.attempt == 2 or terminal(j), 90)
        assert resumed.status == "running" and resumed.worker != job.worker, resumed.error
        send(reference)
        ref = wait_job(reference, terminal, 180)
        resumed = wait_job(victim, terminal, 180)
    assert ref.status == resumed.status == "succeeded", (ref.error, resumed.error)
    assert resumed.result["genotype"] == ref.result["genotype"]
    logs = _logs(victim)
    assert any(f"worker {job.worker} died (its process is gone): job resumed" in m for m in logs), logs
    assert any(m.startswith("resuming from checkpoints") for m in logs), logs


def test_a_starting_worker_sends_queued_and_orphaned_jobs_again(svc, tmp_path):
    ds_id = make_feature_dataset("dora", tmp_path / "feat")
    spec = job_spec(ds_id)
    # queued, but its message was lost with the broker (never sent here)
    queued = make_job("dora", ds_id, spec)
    # running on a process of this host that is gone (a killed ssnas serve), heartbeat still fresh
    orphan = make_job("dora", ds_id, spec, status="running", attempt=1, heartbeat_at=utcnow(),
                      worker=f"{socket.gethostname()}:{_dead_pid()}")
    # on another host, heartbeat a minute old (the reaper would wait 10 minutes): taken over
    remote = make_job("dora", ds_id, spec, status="running", attempt=1, worker="elsewhere:123",
                      heartbeat_at=utcnow() - timedelta(seconds=60))
    # on a live process of this host, slow to beat: left alone (a hung one is the reaper's)
    alive = make_job("dora", ds_id, spec, status="running", attempt=1, heartbeat_at=utcnow() - timedelta(seconds=60),
                     worker=f"{socket.gethostname()}:{os.getpid()}")
    log = tmp_path / "worker.log"
    log.touch()
    with celery_worker(svc, log, name="starting", **NO_REAPER):
        done = {j: wait_job(j, terminal, 180) for j in (queued, orphan, remote)}
        still = job_row(alive)
    assert [(done[j].status, done[j].attempt) for j in (queued, orphan, remote)] == [
        ("succeeded", 1), ("succeeded", 2), ("succeeded", 2)], [done[j].error for j in done]
    assert any("died (its process is gone): job resumed" in m for m in _logs(orphan))
    assert any("worker elsewhere:123 died (no heartbeat for more than" in m for m in _logs(remote))
    assert still.status == "running" and still.attempt == 1
