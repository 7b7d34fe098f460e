"""``ssnas.run_job(job_id)``: one job attempt from claim to a terminal row.

The task takes only the job id and re-reads everything from the row. It is idempotent per
(job, attempt): ``claim_job`` lets exactly one delivery move the row to ``running`` with a new
attempt number, and every later write checks that the row still carries that attempt, so a
duplicate or stale delivery does nothing. Flow: claim -> restore the workdir from the database
-> features (cached) -> ``ssnas_core.pipeline.run_pipeline`` with ``JobProgress`` -> model
checkpoint blob + Model row + ``succeeded``; a cancel stops at the next step (``cancelled``),
an error ends in ``failed`` with its message. torch is imported only inside the task.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import os
import shutil
import socket
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import signals

from ssnas_core.callbacks import StopRequested
from ssnas_core.config import ConfigError, RunConfig
from store import jobs as job_runtime
from store import quotas
from store.db import reset_engines, session_scope
from store.jobs import LostOwnership
from store.settings import get_settings
from store.spec import read_spec
from store.storage import to_key
from store.tables import CANCELLED, FAILED, SUCCEEDED, Dataset

from .celery_app import TASK_NAME, app
from .datasets import DatasetInfo, DatasetUnavailable, left_out_note, needs_extraction, open_features
from .dbretry import with_db_retry
from .gpus import GpuLease, lease_first_free, visible_gpu_ids
from .orphans import takeover_reason, worker_name
from .outcomes import finish, release, store_result
from .progress import Heartbeat, JobProgress
from .settings import get_worker_settings
from .shutdown import ShutdownRequested, clear_flag, request_shutdown, shutdown_requested
from .state import WorkdirSync, restore_workdir

log = logging.getLogger("ssnas.worker")


@dataclass(frozen=True)
class Claim:
    job_id: str
    attempt: int
    owner_id: str
    spec: Any  # the stored JSON; a JobSpec once read (``execute``)
    dataset: DatasetInfo | None


@app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)
def run_job(job_id: str) -> dict[str, Any]:
    """Run (or resume) one job; the job row records the outcome."""
    return execute(job_id)


def claim(job_id: str) -> Claim | None:
    return with_db_retry(lambda: _claim(job_id), "the claim")


def _claim(job_id: str) -> Claim | None:
    with session_scope() as s:
        job = job_runtime.claim_job(s, job_id, worker_name(), takeover_reason)
        if job is None:
            return None
        row = s.get(Dataset, job.dataset_id) if job.dataset_id else None
        dataset = DatasetInfo.from_row(row) if row is not None else None
        job_runtime.append_log(s, job_id, "info",
                               f"attempt {job.attempt}/{job.max_attempts} started on {worker_name()}")
        return Claim(job.id, job.attempt, job.owner_id, dict(job.spec or {}), dataset)


def build_config(spec: Any) -> RunConfig:
    """The job's RunConfig: the spec's own (``store.spec.JobSpec.run``, complete as the API built
    it), with its threads capped at this machine's cores."""
    return cap_threads(read_spec(spec).run_config())


def cap_threads(cfg: RunConfig) -> RunConfig:
    """``num_threads`` at most this machine's cores: more only thrash (and, by the thousand,
    exhaust the process limits of every later job)."""
    cores = os.cpu_count() or 1
    if cfg.num_threads is not None and cfg.num_threads > cores:
        log.info("num_threads %d capped at this worker's %d cores", cfg.num_threads, cores)
        return dataclasses.replace(cfg, num_threads=cores)
    return cfg


def execute(job_id: str) -> dict[str, Any]:
    """Claim and run ``job_id``; returns a small summary (Celery stores no result)."""
    claimed = claim(job_id)
    if claimed is None:
        log.info("job not claimable (finished, cancelled or owned)", extra={"job_id": job_id})
        return {"job_id": job_id, "skipped": True}
    try:
        from .baselines import search_cost as method_search_cost

        claimed = dataclasses.replace(claimed, spec=read_spec(claimed.spec))
        cfg = build_config(claimed.spec)
        search_cost = method_search_cost(claimed.spec)  # None: the pipeline's own search
    except ConfigError as exc:
        finish(claimed, FAILED, error=f"invalid job spec: {exc}")
        return {"job_id": job_id, "status": FAILED}
    ws = get_worker_settings()
    with_features = claimed.dataset is not None and needs_extraction(claimed.dataset)
    progress = JobProgress(job_id, claimed.attempt, cfg, with_features,
                           min_interval_s=ws.progress_min_interval_s, search_cost=search_cost,
                           profile_path=Path(get_settings().work_dir) / "eta" / f"{socket.gethostname()}.json")
    heart = Heartbeat(progress, ws.heartbeat_interval_s, ws.stall_timeout_s)
    heart.start()
    # per attempt: a hung old attempt on a shared volume never writes into the new one's files
    workdir = Path(get_settings().work_dir).resolve() / "jobs" / job_id / f"attempt-{claimed.attempt}"
    try:
        status = run_attempt(claimed, cfg, workdir, progress)
    finally:
        heart.stop()
        if not shutdown_requested():  # stopping: the process exits next, nothing to free (the
            free_device()             # gc.collect took 2.6 s of a 5 s stop on a loaded machine)
        shutil.rmtree(workdir, ignore_errors=True)  # the database holds the state
        with contextlib.suppress(OSError):
            workdir.parent.rmdir()  # the job's folder, once no attempt uses it
    return {"job_id": job_id, "attempt": claimed.attempt, "status": status}


def run_attempt(c: Claim, cfg: RunConfig, workdir: Path, progress: JobProgress) -> str:
    """The body of one attempt; maps every outcome to a terminal status (or none when lost)."""
    sync, lease = None, None
    try:
        restored = with_db_retry(lambda: _restore(c.job_id, workdir), "the restore")
        if restored:
            with session_scope() as s:
                job_runtime.append_log(s, c.job_id, "info", f"resuming from checkpoints {restored}")
        sync = WorkdirSync(c.job_id, c.owner_id, workdir)
        progress.on_epoch_end = sync
        if c.dataset is None:
            raise DatasetUnavailable("the job's dataset was deleted")
        progress.mark("features")  # a failure from here on is recorded in a stage
        device, lease = prepare_torch(cfg)
        features, fpath = open_features(c.dataset, c.spec.to_row().get("backbones"), device, progress)
        if needs_extraction(c.dataset):
            note = left_out_note(features)  # the samples the features leave out, for the job's log
            size = quotas.folder_bytes(fpath)
            with_db_retry(lambda: _charge_features(c, to_key(fpath), size, note), "recording the feature cache")
            with session_scope() as s:  # past the owner's storage quota: stop with its message
                quotas.check_storage(s, c.owner_id, "this job", "go on past its features")
        from ssnas_core.pipeline import prepare_features

        from .baselines import job_result, run_method

        features = prepare_features(features, cfg)  # the summary nodes, when the job's space has them
        progress.set_plan(features, c.spec.to_row(), extracted=needs_extraction(c.dataset))
        log_protocol_notes(c.job_id, features, cfg)
        result = run_method(features, cfg, c.spec, workdir, progress)
        progress.mark("baselines")
        meta, summary = job_result(features, cfg, c.spec, result)
        progress.mark("saving")
        with_db_retry(lambda: store_result(c, cfg, result, features, sync, meta, summary), "saving the result")
        progress.save_profile()  # this machine's stage rates, for the next jobs' ETA
        return SUCCEEDED
    except LostOwnership:
        log.warning("lost ownership; leaving the job to its new attempt", extra={"job_id": c.job_id})
        return "lost"
    except ShutdownRequested:
        return release(c, sync)
    except StopRequested:
        return finish(c, CANCELLED, error="cancelled by request", sync=sync, stage=progress.stage)
    except Exception as exc:
        log.exception("job failed", extra={"job_id": c.job_id})
        return finish(c, FAILED, error=describe(exc), sync=sync, detail=traceback.format_exc(),
                      stage=progress.stage)
    finally:
        if lease is not None:
            lease.release()


def log_protocol_notes(job_id: str, features, cfg: RunConfig) -> None:
    """Where the data cannot meet the protocol, said in the job's log before the work starts
    (and in its result at the end)."""
    from ssnas_core.baselines.panel import protocol_notes

    notes = protocol_notes(features, cfg)
    if notes:
        with session_scope() as s:
            for note in notes:
                job_runtime.append_log(s, job_id, "warning", note)


def _restore(job_id: str, workdir: Path) -> list[str]:
    with session_scope() as s:
        return restore_workdir(s, job_id, workdir)


def _charge_features(c: Claim, key: str, size: int, note: str | None) -> None:
    """The cache is the dataset's (in its folder), and counts toward its owner's storage (charged
    even past the quota: it is on disk)."""
    with session_scope() as s:
        quotas.charge_features(s, c.owner_id, c.dataset.id, key, size)
        if note:
            job_runtime.append_log(s, c.job_id, "warning", note)


def describe(exc: BaseException) -> str:
    """A one-line reason for the job row; input errors keep their own message."""
    if isinstance(exc, (ValueError, DatasetUnavailable, quotas.StorageQuotaExceeded)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def prepare_torch(cfg: RunConfig) -> tuple[str, GpuLease | None]:
    """Threads and device inside the task (CUDA is first touched here, after any fork).

    With several GPUs visible and a job on plain "cuda"/"auto", the job leases a free GPU and
    makes it the current device; ``cfg.device`` stays as it is, so a resumed job's state matches.
    """
    import torch

    from ssnas_core.device import resolve_device

    threads = cfg.num_threads or get_worker_settings().worker_threads
    if threads:
        torch.set_num_threads(threads)
    device, lease = resolve_device(cfg.device), None
    if device.type == "cuda" and device.index is None and torch.cuda.device_count() > 1:
        lease = lease_first_free(visible_gpu_ids(), Path(get_settings().work_dir) / "gpu-locks")
        if lease is not None:
            torch.cuda.set_device(lease.index)
    return str(device), lease


def free_device() -> None:
    """Drop cached GPU memory so the next job on this worker starts with a clean device."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


@signals.worker_init.connect
def _preload(**_kwargs) -> None:
    """Import torch before "ready" (and before the pool forks: no CUDA init, no threads yet), so the
    first job does not wait for it."""
    clear_flag()
    import ssnas_core.pipeline  # noqa: F401


@signals.worker_shutting_down.connect
def _on_shutdown(**_kwargs) -> None:
    request_shutdown()


@signals.worker_process_init.connect
def _after_fork(**_kwargs) -> None:
    reset_engines()  # never share database connections across a fork


@signals.worker_ready.connect
def _start_reaper(**_kwargs) -> None:
    from .reaper import resend_at_start, start_reaper_thread

    try:  # the rows are the truth: queued work whose message Redis lost is sent again now
        resend_at_start()
    except Exception:  # database or broker away: the reaper's passes catch up
        log.exception("re-sending queued jobs at start failed")
    start_reaper_thread()


@signals.after_setup_logger.connect
def _setup_logging(**_kwargs) -> None:
    from store.logs import configure_logging

    s = get_settings()
    configure_logging(s.log_level, s.log_json)
