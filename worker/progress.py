"""From training-loop events to the job row: stage, progress, ETA, metrics, heartbeat, cancel.

``JobProgress`` is the ``ssnas_core`` callback of one claimed job attempt. It writes progress to
the row (throttled), writes one metrics row per finished epoch in the same transaction as that
epoch's checkpoint, and raises ``StopRequested`` at the next step once ``cancel_requested`` is
set. ``Heartbeat`` is a daemon thread that keeps ``heartbeat_at`` fresh between events (a long
epoch, feature extraction) and stops beating when no event came for ``stall_timeout_s``, so a
hung job is seen as lost by the reaper instead of staying "running" forever.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import session_scope
from api.services import job_runtime
from api.tables import RUNNING, Job
from ssnas_core.callbacks import ProgressEvent, StopRequested
from ssnas_core.config import RunConfig

from .dbretry import with_db_retry
from .shutdown import ShutdownRequested, shutdown_requested

log = logging.getLogger("ssnas.worker")
METRIC_STAGES = ("search", "pretrain", "finetune", "evaluate")
FLAG_CHECK_S = 0.2  # how often a training step looks for the worker's shutdown flag


class LostOwnership(StopRequested):
    """This attempt no longer owns the job (the reaper requeued it; another worker may run it)."""


def beat(session: Session, job_id: str, attempt: int, **fields) -> bool:
    """Heartbeat (plus optional stage/progress/eta_s) if this attempt still owns the job.

    Returns cancel_requested; raises LostOwnership when the row moved on without us.
    """
    row = session.execute(select(Job.status, Job.attempt).where(Job.id == job_id)
                          .with_for_update()).one_or_none()
    if row is None or row.status != RUNNING or row.attempt != attempt:
        raise LostOwnership(f"job {job_id} attempt {attempt} is no longer ours ({row})")
    return job_runtime.heartbeat(session, job_id, **fields)


def stage_spans(cfg: RunConfig, with_features: bool,
                search_cost: float | None = None) -> dict[str, tuple[float, float]]:
    """Stage -> (start, end) share of the whole job, proportional to rough per-epoch costs
    (``search_cost``: the search's cost in those units when it is not the pipeline's search)."""
    cost = {"search": 2.0 * cfg.search.epochs if search_cost is None else search_cost,  # weight + arch pass
            "pretrain": float(cfg.pretrain.epochs) if cfg.search.mode == "ssl" else 0.0,
            "finetune": 0.5 * cfg.finetune.epochs}
    total = sum(cost.values())
    cost = {"features": 0.15 * total if with_features else 0.0, **cost,
            "evaluate": 0.02 * total, "baselines": 0.02 * total, "saving": 0.01 * total}
    total, start, spans = sum(cost.values()), 0.0, {}
    for stage, c in cost.items():
        spans[stage] = (start / total, (start + c) / total)
        start += c
    return spans


class JobProgress:
    """The callback for one job attempt (see module docstring).

    ``on_epoch_end(session, event)`` runs inside the transaction that records an epoch's metrics:
    the worker saves that epoch's checkpoint there, so metrics and checkpoint land together.
    """

    def __init__(self, job_id: str, attempt: int, cfg: RunConfig, with_features: bool,
                 on_epoch_end: Callable[[Session, ProgressEvent], None] | None = None,
                 min_interval_s: float = 1.0, search_cost: float | None = None):
        self.job_id, self.attempt = job_id, attempt
        self.spans = stage_spans(cfg, with_features, search_cost)
        self.on_epoch_end = on_epoch_end
        self.min_interval_s = min_interval_s
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self.shutdown = threading.Event()
        self.last_event = time.monotonic()
        self._stage: str | None = None
        self._last_write = 0.0
        self._t0: float | None = None
        self._p0 = 0.0
        self._last_flag_check = 0.0

    @property
    def stage(self) -> str | None:
        """The last stage recorded on the row by this attempt."""
        return self._stage

    def overall(self, event: ProgressEvent) -> float:
        lo, hi = self.spans.get(event.stage, (0.0, 0.0))
        return lo + (hi - lo) * event.progress

    def eta(self, progress: float) -> float | None:
        """Seconds left, extrapolated from this attempt's pace (None until there is a pace)."""
        now = time.monotonic()
        if self._t0 is None:
            self._t0, self._p0 = now, progress
            return None
        done = progress - self._p0
        if done < 0.005:
            return None
        return max(0.0, (now - self._t0) * (1.0 - progress) / done)

    def check_stop(self) -> None:
        if self.lost.is_set():
            raise LostOwnership(f"job {self.job_id} attempt {self.attempt} lost ownership")
        if self.cancel.is_set():
            raise StopRequested(f"job {self.job_id} cancelled")
        if self.shutdown.is_set():
            raise ShutdownRequested(f"worker shutting down: job {self.job_id} goes back to the queue")

    def __call__(self, event: ProgressEvent) -> None:
        self.last_event = time.monotonic()
        if self.last_event - self._last_flag_check >= FLAG_CHECK_S:  # a stop hands the job back at once
            self._last_flag_check = self.last_event
            if shutdown_requested():
                self.shutdown.set()
        if not event.end_of_epoch:  # a finished epoch is recorded (metrics + state) before stopping
            self.check_stop()
        changed = event.stage != self._stage
        if changed and self._stage == "features":
            self._t0 = None  # extraction runs at its own pace: time the training stages afresh
        progress = self.overall(event)
        eta = self.eta(progress)
        now = time.monotonic()
        if not (event.end_of_epoch or changed or now - self._last_write >= self.min_interval_s):
            return
        self.write(event, progress, eta)
        self._stage, self._last_write = event.stage, now
        self.check_stop()

    def write(self, event: ProgressEvent, progress: float, eta: float | None) -> None:
        def once() -> bool:
            with session_scope() as s:
                if event.end_of_epoch and self.on_epoch_end is not None:
                    self.on_epoch_end(s, event)
                if event.end_of_epoch and event.stage in METRIC_STAGES and event.metrics:
                    job_runtime.append_metric(s, self.job_id, event.stage, event.epoch,
                                              {k: float(v) for k, v in event.metrics.items()})
                if self._stage != event.stage:
                    job_runtime.append_log(s, self.job_id, "info", f"stage {event.stage}")
                return beat(s, self.job_id, self.attempt, stage=event.stage,
                            progress=round(progress, 4), eta_s=eta)

        try:
            cancel = with_db_retry(once, f"the {event.stage} progress write")
        except LostOwnership:
            self.lost.set()
            raise
        if cancel:
            self.cancel.set()

    def mark(self, stage: str) -> None:
        """Record a stage the pipeline does not report itself (e.g. "saving")."""
        self.check_stop()
        progress = self.spans.get(stage, (0.0, 0.0))[0]
        self.write(ProgressEvent(stage, 0, 1, 0, 1), progress, self.eta(progress))
        self._stage, self._last_write = stage, time.monotonic()


class Heartbeat(threading.Thread):
    """Beats every ``interval_s`` while the job's callback is alive; sets cancel/lost flags."""

    def __init__(self, progress: JobProgress, interval_s: float, stall_timeout_s: float):
        super().__init__(name=f"heartbeat-{progress.job_id[:8]}", daemon=True)
        self.progress, self.interval_s, self.stall_timeout_s = progress, interval_s, stall_timeout_s
        self._stop_event = threading.Event()

    def run(self) -> None:
        p = self.progress
        while not self._stop_event.wait(self.interval_s):
            if shutdown_requested():
                p.shutdown.set()
            if time.monotonic() - p.last_event > self.stall_timeout_s:
                log.warning("no progress for %.0f s: heartbeat withheld", self.stall_timeout_s,
                            extra={"job_id": p.job_id})
                continue
            try:
                with session_scope() as s:
                    if beat(s, p.job_id, p.attempt):
                        p.cancel.set()
            except LostOwnership:
                p.lost.set()
                return
            except Exception:  # a database hiccup: try again next interval
                log.exception("heartbeat failed", extra={"job_id": p.job_id})

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=self.interval_s + 5)
