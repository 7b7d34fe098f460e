"""Per-owner limits: bytes stored (datasets + checkpoints) and jobs queued or running."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import TooManyRequests
from ..settings import Settings
from ..tables import ACTIVE, Checkpoint, Dataset, Job


def storage_used(session: Session, owner_id: str) -> int:
    """Bytes held by this owner: uploaded datasets plus stored checkpoints."""
    ds = session.scalar(select(func.coalesce(func.sum(Dataset.size), 0))
                        .where(Dataset.owner_id == owner_id))
    ck = session.scalar(select(func.coalesce(func.sum(Checkpoint.size), 0))
                        .where(Checkpoint.owner_id == owner_id))
    return int(ds) + int(ck)


def upload_limit(session: Session, owner_id: str, settings: Settings) -> tuple[int, str]:
    """(bytes this upload may have, the 413 message if it goes past them)."""
    used = storage_used(session, owner_id)
    left = settings.max_storage_bytes - used
    if left < settings.max_upload_bytes:
        return max(left, 0), (f"storage quota exceeded: you use {used} of {settings.max_storage_bytes}"
                              f" bytes, so an upload may have at most {max(left, 0)} bytes; "
                              "delete datasets to free space")
    return settings.max_upload_bytes, (f"upload larger than the maximum of "
                                       f"{settings.max_upload_bytes} bytes")


def check_job_quota(session: Session, owner_id: str, settings: Settings) -> None:
    """429 when the owner already has ``max_queued_jobs`` jobs queued or running."""
    active = session.scalar(select(func.count()).select_from(Job).where(
        Job.owner_id == owner_id, Job.status.in_(ACTIVE)))
    if active >= settings.max_queued_jobs:
        raise TooManyRequests(
            f"too many unfinished jobs: you have {active} queued or running and the limit is "
            f"{settings.max_queued_jobs}; wait for one to finish or cancel one",
            headers={"Retry-After": "30"})
