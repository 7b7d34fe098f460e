"""Worker-facing job-row helpers: claim (SKIP LOCKED), stale reclaim, reaper, finish."""

from __future__ import annotations

from datetime import timedelta

from api_factories import make_dataset, make_job
from sqlalchemy import select

from store import jobs as rt
from store.db import SessionLocal, session_scope
from store.tables import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Job, JobLog, utcnow


def _job(job_id: str) -> Job:
    with session_scope() as s:
        return s.get(Job, job_id)


def test_claim_once_then_only_when_heartbeat_is_stale(db):
    job = make_job("alice", make_dataset("alice"))
    with session_scope() as s:
        claimed = rt.claim_job(s, job, "w1")
        assert claimed.status == RUNNING and claimed.attempt == 1 and claimed.worker == "w1"
    with session_scope() as s:
        assert rt.claim_job(s, job, "w2") is None  # live heartbeat: not claimable
    with session_scope() as s:
        s.get(Job, job).heartbeat_at = utcnow() - timedelta(hours=1)
    with session_scope() as s:
        again = rt.claim_job(s, job, "w2")
        assert again.attempt == 2 and again.worker == "w2"
    with session_scope() as s:
        assert rt.heartbeat(s, job, attempt=1) is True  # w1 lost ownership
        assert rt.heartbeat(s, job, stage="search", progress=0.5, eta_s=12, attempt=2) is False
    got = _job(job)
    assert (got.stage, got.progress, got.eta_s) == ("search", 0.5, 12)


def test_claim_skips_a_row_locked_by_another_transaction(db):
    job = make_job("alice", make_dataset("alice"))
    holder = SessionLocal()
    try:
        holder.scalar(select(Job).where(Job.id == job).with_for_update())
        with session_scope() as s:
            assert rt.claim_job(s, job, "w2") is None  # returns at once instead of waiting
    finally:
        holder.rollback()
        holder.close()
    with session_scope() as s:
        assert rt.claim_job(s, job, "w2") is not None


def test_reaper_requeues_lost_then_fails_after_max_attempts(db):
    ds = make_dataset("alice")
    old = utcnow() - timedelta(hours=1)
    lost = make_job("alice", ds, status=RUNNING, attempt=1, max_attempts=3, heartbeat_at=old)
    spent = make_job("alice", ds, status=RUNNING, attempt=3, max_attempts=3, heartbeat_at=old)
    live = make_job("alice", ds, status=RUNNING, attempt=1, heartbeat_at=utcnow())
    with session_scope() as s:
        out = rt.requeue_lost(s)
    assert (lost, "cpu") in out and all(j != spent and j != live for j, _ in out)
    assert _job(lost).status == QUEUED
    assert _job(spent).status == FAILED and "heartbeat stopped" in _job(spent).error
    assert _job(live).status == RUNNING


def test_claim_of_cancel_requested_queued_job_cancels_it(db):
    job = make_job("alice", make_dataset("alice"), cancel_requested=True)
    with session_scope() as s:
        assert rt.claim_job(s, job, "w1") is None
    assert _job(job).status == CANCELLED


def test_finish_and_model_row(db):
    job = make_job("alice", make_dataset("alice"), status=RUNNING)
    with session_scope() as s:
        rt.finish_job(s, job, SUCCEEDED, result={"genotype": {"x": 1}})
    got = _job(job)
    assert got.status == SUCCEEDED and got.progress == 1.0 and got.finished_at is not None
    assert got.stage == "done"
    assert got.result == {"genotype": {"x": 1}}


def test_takeover_of_a_job_whose_worker_died_is_logged_and_bounded_by_max_attempts(db):
    ds = make_dataset("alice")
    fresh = utcnow()
    job = make_job("alice", ds, status=RUNNING, attempt=1, max_attempts=2, heartbeat_at=fresh, worker="h:1")
    with session_scope() as s:  # owner alive: a duplicate delivery does nothing
        assert rt.claim_job(s, job, "w2", takeover=lambda j: None) is None
    with session_scope() as s:
        again = rt.claim_job(s, job, "w2", takeover=lambda j: f"worker {j.worker} died")
        assert again.attempt == 2 and again.worker == "w2"
    with session_scope() as s:  # the last attempt died too: failed with the reason, not looping
        assert rt.claim_job(s, job, "w3", takeover=lambda j: f"worker {j.worker} died") is None
    got = _job(job)
    assert got.status == FAILED and got.error == "worker w2 died; giving up after 2 attempts"
    with session_scope() as s:
        logs = s.scalars(select(JobLog.message).where(JobLog.job_id == job).order_by(JobLog.seq)).all()
    assert logs == ["worker h:1 died: job resumed by w2 (attempt 2)",
                    "failed: worker w2 died; giving up after 2 attempts"]


def test_the_state_machine_s_one_meaning_of_attempts_and_one_ownership_check(db):
    """create and retry grant job_max_attempts from the current attempt, a hand-back gives its
    attempt back, only the owning attempt may write, and a loss at the ceiling fails the job."""
    import pytest

    from store.errors import Conflict
    from store.settings import get_settings

    n = get_settings().job_max_attempts
    ds = make_dataset("alice")
    with session_scope() as s:
        job = rt.create(s, "alice", ds, {"method": "ssl", "run": {}}, "cpu").id
    assert (_job(job).attempt, _job(job).max_attempts) == (0, n)
    with session_scope() as s:
        assert rt.claim_job(s, job, "w1").attempt == 1
    with session_scope() as s:
        with pytest.raises(rt.LostOwnership):
            rt.beat(s, job, attempt=2)  # not the owning attempt: nothing written
        assert rt.beat(s, job, attempt=1, stage="search", progress=0.2) is False
    with session_scope() as s:  # a stopping worker hands it back: not a loss
        assert rt.hand_back(s, job, 1, "worker w1 shutting down: job requeued") == "cpu"
    got = _job(job)
    assert (got.status, got.worker, got.attempt, got.max_attempts) == (QUEUED, None, 1, n + 1)
    with session_scope() as s:
        assert rt.claim_job(s, job, "w2").attempt == 2
        with pytest.raises(rt.LostOwnership):
            rt.hand_back(s, job, 1, "stale")
    with session_scope() as s:
        rt.cancel(s, s.get(Job, job))  # running: the worker finishes it as cancelled
    assert _job(job).cancel_requested and _job(job).status == RUNNING
    with session_scope() as s:
        assert rt.beat(s, job, attempt=2) is True
        rt.finish_job(s, job, CANCELLED)
        rt.cancel(s, s.get(Job, job))  # cancelling a cancelled job: a no-op
        with pytest.raises(Conflict):
            rt.cancel(s, s.get(Job, make_job("alice", ds, status=SUCCEEDED)))
    with session_scope() as s:
        undo = rt.retry(s, s.get(Job, job))
        row = s.get(Job, job)
        assert (row.status, row.max_attempts, row.cancel_requested) == (QUEUED, 2 + n, False)
        undo(row)  # the doorbell could not be sent: back as it was
        assert (row.status, row.max_attempts) == (CANCELLED, n + 1)
    with session_scope() as s:
        with pytest.raises(Conflict):
            rt.retry(s, s.get(Job, make_job("alice", ds, status=RUNNING)))
