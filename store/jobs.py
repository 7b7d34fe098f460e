"""The job state machine: every change of a job row's status, attempt and ownership is here.

States and moves (who calls each)::

    create ------------------> queued                    (API: POST /jobs)
    claim       queued ------> running, attempt += 1     (worker; also a lost running job, below)
    beat        running -----> running                   (worker: heartbeat, stage, progress, ETA)
    finish      running -----> succeeded|failed|cancelled (worker)
    hand_back   running -----> queued                    (worker stopping: not a loss)
    cancel      queued ------> cancelled; running: cancel_requested, the worker then finishes it
                                                          (API: POST /jobs/{id}/cancel)
    retry       failed|cancelled -> queued               (API: POST /jobs/{id}/retry)
    requeue_lost running (heartbeat stale) -> queued, or failed when no attempt is left (reaper)

Ownership: ``attempt`` counts the claims of the job; the claim that set it owns the row while the
row is ``running`` with that attempt (``owns``). Every write of a worker goes through ``beat``,
which raises ``LostOwnership`` otherwise: a stale or duplicate delivery changes nothing.

Attempts, one meaning: ``max_attempts`` is the highest attempt number that a lost worker may leave
behind; the loss of an attempt numbered ``max_attempts`` or more fails the job (``out_of_attempts``)
instead of requeuing it. ``create`` and ``retry`` grant ``settings.job_max_attempts`` attempts from
the job's current attempt (``grant``); a hand-back gives the attempt it used back (it is not a
loss). Nothing else changes ``max_attempts``.

Like the whole ``store`` package, every function takes a Session and never commits: the caller
owns the unit of work (see ``store/__init__.py``).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ssnas_core.callbacks import StopRequested

from .errors import Conflict
from .settings import Settings, get_settings
from .tables import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    Checkpoint,
    Job,
    JobLog,
    JobMetric,
    Model,
    utcnow,
)


class LostOwnership(StopRequested):
    """This attempt no longer owns the job (the reaper requeued it; another worker may run it)."""


def owns(job: Job | None, attempt: int) -> bool:
    """The one ownership check: the row is running this attempt."""
    return job is not None and job.status == RUNNING and job.attempt == attempt


def grant(job: Job, settings: Settings | None = None) -> None:
    """Give the job ``job_max_attempts`` attempts from its current one (create, retry)."""
    job.max_attempts = (job.attempt or 0) + (settings or get_settings()).job_max_attempts


def out_of_attempts(job: Job) -> bool:
    """A lost attempt numbered ``max_attempts`` or more fails the job instead of requeuing it."""
    return job.attempt >= job.max_attempts


def finite_json(value: Any) -> Any:
    """``value`` made safe for a JSON column: NaN and infinities become None (Postgres refuses
    them, and JSON has no word for them), numpy scalars and arrays become Python values."""
    if isinstance(value, dict):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalar or array
        return finite_json(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _stale_before():
    return utcnow() - timedelta(seconds=get_settings().heartbeat_timeout_s)


def claim_job(session: Session, job_id: str, worker_name: str,
              takeover: Callable[[Job], str | None] | None = None) -> Job | None:
    """Take the job for this worker, or None if someone else has it or it is over.

    Claimable: queued and not cancel-requested, or running with a stale heartbeat (the task
    was redelivered after its worker died), or running where ``takeover(job)`` names a reason to
    take it over at once (the owning worker process is gone). Row locked with FOR UPDATE SKIP LOCKED
    on Postgres. A takeover is written to the job's log.
    """
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update(skip_locked=True))
    if job is None or job.status in TERMINAL:
        return None
    if job.cancel_requested:
        job.status, job.finished_at = CANCELLED, utcnow()
        return None
    reason = None
    if job.status == RUNNING:
        stale = job.heartbeat_at is None or _aware(job.heartbeat_at) < _stale_before()
        reason = (f"worker {job.worker} lost (no heartbeat for more than "
                  f"{get_settings().heartbeat_timeout_s:.0f} s)") if stale else takeover and takeover(job)
        if not reason:
            return None
        if out_of_attempts(job):  # a job that kills its worker must not loop forever
            job.status, job.finished_at = FAILED, utcnow()
            job.error = f"{reason}; giving up after {job.max_attempts} attempts"
            append_log(session, job.id, "error", f"failed: {job.error}")
            return None
    now = utcnow()
    job.status, job.worker, job.heartbeat_at = RUNNING, worker_name, now
    job.attempt += 1
    job.started_at = job.started_at or now
    job.error = None
    session.flush()
    if reason:
        append_log(session, job.id, "warning", f"{reason}: job resumed by {worker_name} (attempt {job.attempt})")
    return job


def _aware(ts):
    """SQLite returns naive datetimes; they are UTC."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=utcnow().tzinfo)


def heartbeat(session: Session, job_id: str, stage: str | None = None,
              progress: float | None = None, eta_s: float | None = None,
              attempt: int | None = None) -> bool:
    """Record liveness (and stage/progress/ETA when given); returns True when the run must stop:
    cancel requested, or (with ``attempt``) the row is no longer running this attempt."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        return True
    if attempt is not None and not owns(job, attempt):
        return True  # lost ownership: the reaper requeued it and someone else claimed it
    return _record_beat(session, job, stage, progress, eta_s)


def beat(session: Session, job_id: str, attempt: int, stage: str | None = None,
         progress: float | None = None, eta_s: float | None = None) -> bool:
    """A worker's write: heartbeat (plus stage/progress/ETA when given) if this attempt still owns
    the job, with the row locked until the caller's transaction ends. Returns cancel_requested;
    raises LostOwnership when the row moved on without us."""
    job = session.get(Job, job_id, populate_existing=True, with_for_update=True)
    if not owns(job, attempt):
        state = None if job is None else (job.status, job.attempt)
        raise LostOwnership(f"job {job_id} attempt {attempt} is no longer ours ({state})")
    return _record_beat(session, job, stage, progress, eta_s)


def _record_beat(session: Session, job: Job, stage: str | None, progress: float | None,
                 eta_s: float | None) -> bool:
    job.heartbeat_at = utcnow()
    if stage is not None:
        job.stage = stage
    if progress is not None and math.isfinite(progress):
        job.progress = float(min(max(progress, 0.0), 1.0))
    if eta_s is not None:  # a non-finite ETA is unknown (JSON responses cannot carry NaN)
        job.eta_s = float(eta_s) if math.isfinite(eta_s) else None
    session.flush()
    return bool(job.cancel_requested)


def append_metric(session: Session, job_id: str, stage: str, epoch: int,
                  metrics: dict[str, Any]) -> int:
    """Add one metric row with the next seq for this job (NaN/inf stored as null); returns the seq."""
    seq = 1 + session.scalar(select(func.coalesce(func.max(JobMetric.seq), 0))
                             .where(JobMetric.job_id == job_id))
    session.add(JobMetric(job_id=job_id, seq=seq, stage=stage, epoch=int(epoch),
                          metrics=finite_json(dict(metrics))))
    session.flush()
    return seq


def append_log(session: Session, job_id: str, level: str, message: str) -> int:
    seq = 1 + session.scalar(select(func.coalesce(func.max(JobLog.seq), 0))
                             .where(JobLog.job_id == job_id))
    session.add(JobLog(job_id=job_id, seq=seq, level=level, message=message[:10000]))
    session.flush()
    return seq


def finish_job(session: Session, job_id: str, status: str, error: str | None = None,
               result: dict[str, Any] | None = None) -> Job:
    """Move the job to succeeded, failed or cancelled (progress 1 on success)."""
    if status not in TERMINAL:
        raise ValueError(f"finish_job: status must be one of {TERMINAL}, got {status!r}")
    job = session.get(Job, job_id, populate_existing=True)
    job.status, job.finished_at, job.eta_s = status, utcnow(), None
    job.error = error
    if result is not None:
        job.result = finite_json(result)
    if status == SUCCEEDED:  # a finished job shows stage "done", not the last stage it ran
        job.progress, job.error, job.stage = 1.0, None, "done"
    session.flush()
    return job


def create_model(session: Session, job: Job, genotype: dict, metrics: dict,
                 label_names: list, threshold: float, checkpoint_id: str,
                 node_specs: list, backbones: dict | None) -> Model:
    model = Model(owner_id=job.owner_id, job_id=job.id, genotype=finite_json(genotype), metrics=finite_json(metrics),
                  label_names=list(label_names), threshold=float(threshold),
                  checkpoint_id=checkpoint_id, node_specs=list(node_specs), backbones=backbones)
    session.add(model)
    session.flush()
    return model


def latest_checkpoint(session: Session, job_id: str, kind: str) -> Checkpoint | None:
    """The newest complete checkpoint of this kind for the job (for resume)."""
    return session.scalar(select(Checkpoint).where(
        Checkpoint.job_id == job_id, Checkpoint.kind == kind, Checkpoint.complete.is_(True))
        .order_by(Checkpoint.created_at.desc()).limit(1))


def requeue_lost(session: Session) -> list[tuple[str, str]]:
    """Running jobs whose heartbeat stopped go back to the queue (or fail after max_attempts);
    queued jobs older than the timeout are re-sent too. Returns (job_id, queue) to enqueue."""
    stale = _stale_before()
    out: list[tuple[str, str]] = []
    lost = session.scalars(select(Job).where(
        Job.status == RUNNING, or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale))
        .with_for_update(skip_locked=True)).all()
    for job in lost:
        if job.cancel_requested:
            job.status, job.finished_at = CANCELLED, utcnow()
        elif out_of_attempts(job):
            job.status, job.finished_at = FAILED, utcnow()
            job.error = (f"worker lost {job.attempt} time(s) (heartbeat stopped for more than "
                         f"{get_settings().heartbeat_timeout_s:.0f} s); giving up after "
                         f"{job.max_attempts} attempts")
        else:
            job.status, job.worker = QUEUED, None
            out.append((job.id, job.queue))
    waiting = session.scalars(select(Job).where(
        Job.status == QUEUED, Job.updated_at < stale)).all()
    for job in waiting:
        job.updated_at = utcnow()  # re-sent at most once per timeout
        out.append((job.id, job.queue))
    session.flush()
    return list(dict.fromkeys(out))


def jobs_to_resend(session: Session, takeover: Callable[[Job], str | None]) -> list[tuple[str, str]]:
    """At a worker's (or ``ssnas serve``'s) start: every queued job, and every running job that
    ``takeover`` says was orphaned, as (job_id, queue) to send again. The row is the truth, not
    the broker: a message lost with Redis (or never sent while it was down) is sent again here;
    duplicates are harmless, as a claim succeeds once per attempt."""
    rows = session.scalars(select(Job).where(Job.status.in_((QUEUED, RUNNING)))
                           .order_by(Job.created_at)).all()
    out = []
    for job in rows:
        if job.status == QUEUED or takeover(job):
            out.append((job.id, job.queue))
    return out


def create(session: Session, owner_id: str, dataset_id: str, spec: dict[str, Any], queue: str,
           settings: Settings | None = None) -> Job:
    """A new queued job (flushed, not committed: the caller commits, then rings the doorbell)."""
    job = Job(owner_id=owner_id, dataset_id=dataset_id, status=QUEUED, spec=spec, queue=queue, attempt=0)
    grant(job, settings)
    session.add(job)
    session.flush()
    return job


def cancel(session: Session, job: Job) -> None:
    """Queued -> cancelled now (it never starts); running -> cancel_requested (the worker stops at
    its next step and finishes it as cancelled). Cancelling a cancelled job is a no-op; a
    finished one is 409. ``job`` locked by the caller."""
    if job.status == QUEUED:
        job.status, job.finished_at = CANCELLED, utcnow()
        job.cancel_requested = True
    elif job.status == RUNNING:
        job.cancel_requested = True
    elif job.status != CANCELLED:
        raise Conflict(f"job {job.id} already {job.status}; nothing to cancel")


_RETRY_RESETS = ("status", "error", "cancel_requested", "finished_at", "eta_s", "max_attempts")


def retry(session: Session, job: Job, settings: Settings | None = None) -> Callable[[Job], None]:
    """Failed or cancelled -> queued with fresh attempts (the worker resumes from the job's last
    checkpoints); 409 for any other status or when its dataset was deleted. Returns the undo
    (back to the row as it was) for a doorbell that cannot be sent. ``job`` locked by the caller."""
    if job.status not in (FAILED, CANCELLED):
        raise Conflict(f"job {job.id} is {job.status}; only failed or cancelled jobs can be retried")
    if job.dataset_id is None:
        raise Conflict(f"job {job.id}: its dataset was deleted; submit a new job")
    before = {k: getattr(job, k) for k in _RETRY_RESETS}
    job.status, job.error, job.cancel_requested = QUEUED, None, False
    job.finished_at, job.eta_s = None, None
    grant(job, settings)
    session.flush()

    def undo(row: Job) -> None:
        for k, v in before.items():
            setattr(row, k, v)

    return undo


def hand_back(session: Session, job_id: str, attempt: int, message: str) -> str:
    """A stopping worker puts its running attempt back to ``queued`` (not a loss: the attempt it
    used is given back); returns the queue to ring. LostOwnership if the attempt is no longer ours."""
    beat(session, job_id, attempt)
    job = session.get(Job, job_id)
    job.status, job.worker = QUEUED, None
    job.max_attempts += 1  # the next claim takes a new attempt number: this one was not lost
    append_log(session, job_id, "info", message)
    session.flush()
    return job.queue
