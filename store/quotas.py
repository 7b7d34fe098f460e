"""Per-owner limits: bytes stored and jobs queued or running.

Storage counts uploaded datasets, checkpoints (search state, models), the worker's feature caches
of the owner's datasets and uploads still in flight. Every decision that adds bytes is made under
the owner's lock (an UPDATE of their ``storage_owners`` row, held until the transaction ends), so
concurrent uploads cannot each see the same free space: an upload reserves its bytes before it
streams (its Content-Length, or step by step), the reservation is released on failure and
replaced by the Dataset row on success.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import PayloadTooLarge, TooManyRequests
from .settings import Settings, get_settings
from .tables import ACTIVE, Checkpoint, Dataset, Job, StorageCharge, StorageOwner, utcnow

UPLOAD, FEATURES = "upload", "features"
STALE_RESERVATION = timedelta(hours=1)  # an upload reservation untouched this long is ignored


class StorageQuotaExceeded(PayloadTooLarge):
    """413: the owner's datasets, checkpoints, feature caches and uploads would pass the quota."""


def lock_owner(session: Session, owner_id: str) -> None:
    """Take the owner's storage lock until this transaction ends (creating their row once)."""
    stmt = update(StorageOwner).where(StorageOwner.owner_id == owner_id).values(updated_at=utcnow())
    if session.execute(stmt).rowcount:
        return
    try:
        with session.begin_nested():
            session.add(StorageOwner(owner_id=owner_id))
    except IntegrityError:  # created meanwhile by another transaction: lock that row
        session.execute(stmt)


def storage_used(session: Session, owner_id: str, without: str | None = None) -> int:
    """Bytes held by this owner (without the charge ``key`` ``without``)."""
    ds = session.scalar(select(func.coalesce(func.sum(Dataset.size), 0)).where(Dataset.owner_id == owner_id))
    ck = session.scalar(select(func.coalesce(func.sum(Checkpoint.size), 0)).where(Checkpoint.owner_id == owner_id))
    fresh = or_(StorageCharge.kind != UPLOAD, StorageCharge.updated_at > utcnow() - STALE_RESERVATION)
    q = select(func.coalesce(func.sum(StorageCharge.bytes), 0)).where(StorageCharge.owner_id == owner_id, fresh)
    if without is not None:
        q = q.where(StorageCharge.key != without)
    return int(ds) + int(ck) + int(session.scalar(q))


def _exceeded(used: int, adding: int, settings: Settings, what: str,
              verb: str = "start") -> StorageQuotaExceeded:
    left = max(settings.max_storage_bytes - used, 0)
    need = f", and {what} needs {adding}" if adding else f", so {what} cannot {verb}"
    return StorageQuotaExceeded(
        f"storage quota exceeded: you use {used} of {settings.max_storage_bytes} bytes (datasets, "
        f"checkpoints, feature caches and uploads in progress), {left} left{need}; "
        "delete datasets or jobs to free space")


def upload_key(dataset_id: str) -> str:
    return f"{UPLOAD}:{dataset_id}"


def reserve_upload(session: Session, owner_id: str, dataset_id: str, total: int, settings: Settings) -> int:
    """Grow the upload's reservation to ``total`` bytes (the caller commits, and rolls back on
    an error, which ends the owner's lock); 413 past the quota or the upload limit. Returns the
    bytes now reserved."""
    if total > settings.max_upload_bytes:
        raise PayloadTooLarge(f"upload larger than the maximum of {settings.max_upload_bytes} bytes")
    key = upload_key(dataset_id)
    lock_owner(session, owner_id)
    used = storage_used(session, owner_id, without=key)
    if used + total > settings.max_storage_bytes:
        raise _exceeded(used, total, settings, "this upload")
    row = session.scalar(select(StorageCharge).where(StorageCharge.owner_id == owner_id, StorageCharge.key == key))
    if row is None:
        session.add(StorageCharge(owner_id=owner_id, key=key, kind=UPLOAD, dataset_id=dataset_id, bytes=total))
    else:
        row.bytes, row.updated_at = total, utcnow()
    session.flush()
    return total


def space_left(session: Session, owner_id: str, dataset_id: str, settings: Settings) -> int:
    """Bytes the owner may still add beside this upload's own reservation."""
    return max(settings.max_storage_bytes - storage_used(session, owner_id, without=upload_key(dataset_id)), 0)


def release_upload(session: Session, owner_id: str, dataset_id: str) -> None:
    session.execute(delete(StorageCharge).where(StorageCharge.owner_id == owner_id,
                                                StorageCharge.key == upload_key(dataset_id)))


def record_dataset(session: Session, row: Dataset, settings: Settings) -> None:
    """Add the Dataset row in place of its reservation, under the owner's lock (413 if the
    quota no longer has room, e.g. a reservation that went stale); the caller commits."""
    key = upload_key(row.id)
    lock_owner(session, row.owner_id)
    used = storage_used(session, row.owner_id, without=key)
    if used + row.size > settings.max_storage_bytes:
        raise _exceeded(used, row.size, settings, "this upload")
    session.execute(delete(StorageCharge).where(StorageCharge.owner_id == row.owner_id, StorageCharge.key == key))
    session.add(row)


def check_blob(session: Session, ckpt: Checkpoint) -> None:
    """After a checkpoint's bytes are in: 413 (StorageQuotaExceeded) if it takes the owner past
    the quota. Older versions of the same job and kind do not count: they are being replaced."""
    settings = get_settings()
    lock_owner(session, ckpt.owner_id)
    used = storage_used(session, ckpt.owner_id)
    if ckpt.job_id is not None:
        used -= int(session.scalar(select(func.coalesce(func.sum(Checkpoint.size), 0)).where(
            Checkpoint.job_id == ckpt.job_id, Checkpoint.kind == ckpt.kind, Checkpoint.id != ckpt.id)))
    if used > settings.max_storage_bytes:
        raise _exceeded(used - ckpt.size, ckpt.size, settings, f"the job's {ckpt.kind} checkpoint")


def folder_bytes(path: str | os.PathLike) -> int:
    """Bytes of the regular files under ``path`` (symlinks not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = Path(root) / name
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def charge_features(session: Session, owner_id: str, dataset_id: str, path: str, size: int) -> None:
    """Record (or update) the owner's feature cache ``path`` of ``dataset_id``: it exists on disk,
    so it is charged even past the quota; ``check_storage`` then says whether the job may go on."""
    key = f"{FEATURES}:{path}"[:512]
    lock_owner(session, owner_id)
    row = session.scalar(select(StorageCharge).where(StorageCharge.owner_id == owner_id, StorageCharge.key == key))
    if row is None:
        session.add(StorageCharge(owner_id=owner_id, key=key, kind=FEATURES, dataset_id=dataset_id, bytes=size))
    else:
        row.bytes, row.updated_at = size, utcnow()


def check_storage(session: Session, owner_id: str, what: str = "a new job", verb: str = "start") -> None:
    """413 when the owner already holds more than the quota (``what`` cannot ``verb``)."""
    settings = get_settings()
    used = storage_used(session, owner_id)
    if used > settings.max_storage_bytes:
        raise _exceeded(used, 0, settings, what, verb)


def drop_dataset_charges(session: Session, dataset_id: str) -> None:
    session.execute(delete(StorageCharge).where(StorageCharge.dataset_id == dataset_id))


def check_job_quota(session: Session, owner_id: str, settings: Settings) -> None:
    """429 when the owner already has ``max_queued_jobs`` jobs queued or running."""
    active = session.scalar(select(func.count()).select_from(Job).where(
        Job.owner_id == owner_id, Job.status.in_(ACTIVE)))
    if active >= settings.max_queued_jobs:
        raise TooManyRequests(
            f"too many unfinished jobs: you have {active} queued or running and the limit is "
            f"{settings.max_queued_jobs}; wait for one to finish or cancel one",
            headers={"Retry-After": "30"})
