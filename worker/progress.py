"""From training-loop events to the job row: stage, progress, ETA, metrics, heartbeat, cancel.

Progress and ETA come from ``eta.EtaModel`` once the job's plan is known (after its features
open: ``set_plan``), with the machine's stage-rate profile, which ``save_profile`` updates when
the job succeeds; before that (feature extraction) from fixed stage shares and this attempt's pace.

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
from pathlib import Path
from typing import Callable

from sqlalchemy.orm import Session

from ssnas_core.callbacks import ProgressEvent, StopRequested
from ssnas_core.config import RunConfig
from store import jobs as job_runtime
from store.db import session_scope
from store.jobs import LostOwnership, beat  # noqa: F401 - the worker's writes go through beat

from .dbretry import with_db_retry
from .eta import EtaModel, Profile, StagePlan
from .shutdown import ShutdownRequested, shutdown_requested

log = logging.getLogger("ssnas.worker")
METRIC_STAGES = ("search", "pretrain", "finetune", "evaluate")
FLAG_CHECK_S = 0.2  # how often a training step looks for the worker's shutdown flag


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


def job_plan(features, cfg: RunConfig, spec: dict) -> tuple[dict[str, StagePlan], str]:
    """The stages of this job in units (sample passes) per epoch and planned epochs, and the
    search's kind (ssl, supervised, mfas; "none" for methods without a search)."""
    from ssnas_core.finetune import finetune_fits
    from ssnas_core.pipeline import split_indices

    n = {k: float(len(v)) for k, v in split_indices(features, cfg).items()}
    sub, method = n["labeled"] + n["dev_labeled"], spec.get("method", "ssl")
    plan, kind = {}, "none"
    if method == "mfas":
        from ssnas_core.baselines.mfas import planned_evaluations

        from .baselines import mfas_config

        mc, kind = mfas_config(spec), "mfas"
        plan["search"] = StagePlan(mc.epochs * sub, float(planned_evaluations(mc)))
    elif method in ("ssl", "supervised"):
        kind = cfg.search.mode
        plan["search"] = StagePlan(n["train"] + n["dev"] if kind == "ssl" else sub, float(cfg.search.epochs))
        if kind == "ssl" and cfg.pretrain.epochs > 0:
            plan["pretrain"] = StagePlan(n["train"], float(cfg.pretrain.epochs))
    # a pretrained network is finetuned up to three ways (finetune.probe "auto"), each a fit
    pretrained = cfg.search.mode == "ssl" and (cfg.pretrain.epochs > 0 or method not in ("ssl", "supervised"))
    plan["finetune"] = StagePlan(sub, float(cfg.finetune.epochs), finetune_fits(cfg, pretrained))
    # evaluation (with the threshold choice), the baseline panel and saving cost about the same
    # per job at these sizes (sklearn and I/O overheads): one unit each
    plan["evaluate"] = StagePlan(1.0, 1.0)
    plan["baselines"] = StagePlan(1.0, 1.0)
    plan["saving"] = StagePlan(1.0, 1.0)
    return plan, kind


class JobProgress:
    """The callback for one job attempt (see module docstring).

    ``on_epoch_end(session, event)`` runs inside the transaction that records an epoch's metrics:
    the worker saves that epoch's checkpoint there, so metrics and checkpoint land together.
    """

    def __init__(self, job_id: str, attempt: int, cfg: RunConfig, with_features: bool,
                 on_epoch_end: Callable[[Session, ProgressEvent], None] | None = None,
                 min_interval_s: float = 1.0, search_cost: float | None = None,
                 profile_path: Path | None = None):
        self.job_id, self.attempt, self.cfg = job_id, attempt, cfg
        self.spans = stage_spans(cfg, with_features, search_cost)  # until the plan is known
        self.profile_path, self.model, self.started = profile_path, None, time.monotonic()
        self._progress = 0.0
        self.on_epoch_end = on_epoch_end
        self.min_interval_s = min_interval_s
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self.shutdown = threading.Event()
        self.last_event = time.monotonic()
        self._stage: str | None = None  # the last stage recorded on the row
        self._reached: str | None = None  # the last stage an event came from
        self._last_write = 0.0
        self._t0: float | None = None
        self._p0 = 0.0
        self._last_flag_check = 0.0

    @property
    def stage(self) -> str | None:
        """The stage this attempt was last in (a failure is recorded in it, even when the write
        that would have recorded it is what failed, e.g. its checkpoint past the storage quota)."""
        return self._reached or self._stage

    def set_plan(self, features, spec: dict, extracted: bool) -> None:
        """From here on progress and ETA come from ``eta.EtaModel`` with this machine's profile
        (a plan that cannot be made leaves the fixed shares in place: the method says why)."""
        try:
            plan, kind = job_plan(features, self.cfg, spec)
        except (ValueError, KeyError) as exc:
            log.warning("no ETA plan: %s", exc, extra={"job_id": self.job_id})
            return
        now = time.monotonic()
        done = {"features": (now - self.started, float(len(features)))} if extracted else None
        profile = Profile.load(self.profile_path) if self.profile_path else Profile()
        self.model = EtaModel(plan, profile, self.cfg.finetune.patience, kind, t0=self.started, now=now, done=done)

    def save_profile(self) -> None:
        """The job succeeded: its stage rates join this machine's profile (best effort)."""
        if self.model is None or self.profile_path is None:
            return
        try:
            self.model.finish()
            self.model.profile.save(self.profile_path)
        except OSError:
            log.exception("could not save the ETA profile", extra={"job_id": self.job_id})

    def estimate(self, event: ProgressEvent) -> tuple[float, float | None]:
        """(progress over the whole job, seconds left or None); progress never goes back."""
        if self.model is not None:
            progress, eta = self.model.update(event)
        else:
            progress = self.overall(event)
            eta = self.eta(progress)
        self._progress = max(self._progress, progress)
        return self._progress, eta

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
        self._reached = event.stage
        if self.last_event - self._last_flag_check >= FLAG_CHECK_S:  # a stop hands the job back at once
            self._last_flag_check = self.last_event
            if shutdown_requested():
                self.shutdown.set()
        if not event.end_of_epoch:  # a finished epoch is recorded (metrics + state) before stopping
            self.check_stop()
        changed = event.stage != self._stage
        if changed and self._stage == "features":
            self._t0 = None  # extraction runs at its own pace: time the training stages afresh
        progress, eta = self.estimate(event)
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
        self._reached = stage
        event = ProgressEvent(stage, 0, 1, 0, 1)
        progress, eta = self.estimate(event)
        self.write(event, progress, eta)
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
