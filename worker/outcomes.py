"""How a job attempt ends: the result stored (succeeded), a terminal status recorded (failed,
cancelled), or the job handed back to the queue by a worker that is stopping. Each is one unit
of work on the database, run again while the database is briefly unreachable."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ssnas_core.config import RunConfig
from store import jobs as job_runtime
from store.db import session_scope
from store.jobs import LostOwnership, beat
from store.storage import put_file_blob
from store.tables import FAILED, SUCCEEDED, Job

from .dbretry import with_db_retry
from .orphans import worker_name
from .state import WorkdirSync

if TYPE_CHECKING:
    from .tasks import Claim

log = logging.getLogger("ssnas.worker")


def store_result(c: Claim, cfg: RunConfig, result: dict[str, Any], features, sync: WorkdirSync,
                 meta: dict[str, Any], panel: dict[str, Any]) -> None:
    """Model checkpoint blob + Model row + succeeded, in one transaction that we still own; the
    threshold is the checkpoint's (selected on the dev subset when the finetuning selects one);
    ``panel``: the baseline panel's result fields (``worker.baselines.job_result``)."""
    manifest = features.manifest
    threshold = float(meta.get("threshold", cfg.finetune.threshold))
    with session_scope() as s:
        beat(s, c.job_id, c.attempt, stage="saving")
        sync(s)
        ckpt = put_file_blob(s, Path(result["checkpoint"]), c.owner_id, c.job_id, "model")
        model = job_runtime.create_model(
            s, s.get(Job, c.job_id), result["genotype"], result["metrics"], list(manifest.label_names),
            threshold, ckpt.id,
            [{"name": n.name, "modality": n.modality, "shape": list(n.shape)} for n in manifest.nodes],
            manifest.info.get("backbones") or None)
        s.flush()
        summary = {"method": c.spec.method, "genotype": result["genotype"],
                   "metrics": result["metrics"], "model_id": model.id, "threshold": threshold,
                   "thresholds": meta.get("thresholds"), **panel,
                   "params": int(result.get("params", 0)),
                   "labeled_samples": int(result.get("labeled_samples", 0)),
                   "wall_time_s": float(result.get("wall_time_s", 0.0))}
        for line in [w for w in panel.get("warnings", []) if w not in panel.get("protocol", [])]:  # notes: at start
            job_runtime.append_log(s, c.job_id, "warning", line)
        job_runtime.append_log(s, c.job_id, "info", f"succeeded: model {model.id}")
        job_runtime.finish_job(s, c.job_id, SUCCEEDED, result=summary)


def finish(c: Claim, status: str, error: str | None = None, sync: WorkdirSync | None = None,
           detail: str | None = None, stage: str | None = None) -> str:
    """Record a terminal status if this attempt still owns the job, after saving the last state
    files (best effort: a failed upload must not leave the job running). ``stage``: the stage the
    attempt stopped in, kept on the row."""
    def save_state() -> None:
        with session_scope() as s:
            beat(s, c.job_id, c.attempt)
            sync(s)

    def record() -> None:
        with session_scope() as s:
            beat(s, c.job_id, c.attempt, stage=stage)
            job_runtime.append_log(s, c.job_id, "error" if status == FAILED else "info",
                                   f"{status}: {error}" + (f"\n{detail}" if detail else ""))
            job_runtime.finish_job(s, c.job_id, status, error=error)

    try:
        if sync is not None:
            try:
                with_db_retry(save_state, "storing the last state")
            except LostOwnership:
                raise
            except Exception:
                log.exception("could not store the last state", extra={"job_id": c.job_id})
        with_db_retry(record, f"recording {status}")
    except LostOwnership:
        return "lost"
    return status


def release(c: Claim, sync: WorkdirSync | None) -> str:
    """Put the job back to ``queued`` with its last state stored, and ring the doorbell again."""
    from store.broker import send_run_job
    from store.db import after_commit
    from store.tables import QUEUED

    def hand_back() -> None:
        with session_scope() as s:
            beat(s, c.job_id, c.attempt)
            if sync is not None:
                sync(s)
            queue = job_runtime.hand_back(s, c.job_id, c.attempt,
                                          f"worker {worker_name()} shutting down: job requeued")
            after_commit(s, lambda: send_run_job(c.job_id, queue))

    try:  # a short wait only: the worker is stopping; a job left running is taken over later
        with_db_retry(hand_back, "the hand-back", patience_s=3.0)
    except LostOwnership:
        return "lost"
    return QUEUED
