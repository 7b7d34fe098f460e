"""Datasets: streamed upload -> validation by the format validators -> row; list, get, delete.

Nothing half-written stays: the upload lives in its own folder, removed on any failure before
the row is committed (and after the row is deleted).
"""

from __future__ import annotations

import json
import logging
import time
import zipfile
from pathlib import Path

from fastapi import Request
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from store.quotas import (
    STALE_RESERVATION,
    UPLOAD,
    StorageQuotaExceeded,
    drop_dataset_charges,
    record_dataset,
    release_upload,
    reserve_upload,
    space_left,
)
from store.settings import Settings
from store.storage import dataset_dir, remove_tree, to_key
from store.tables import ACTIVE, Dataset, Job, StorageCharge, new_id, utcnow

from ..deps import Db
from ..errors import Conflict, Invalid, UnsupportedMediaType
from ..memory import release_freed_memory
from ..schemas import DatasetList, DatasetOut
from ..upload import receive_upload
from .archives import extract_zip, zipped_folder_format
from .owned import get_owned

log = logging.getLogger("ssnas.datasets")


def inspect_upload(path: Path) -> dict:
    """The validator's summary of ``path``; 415 for an unknown format, 422 for invalid content.

    Every sample is decoded (``deep``: each image in full, JPEG at 1/8 scale; every feature
    row checked for NaN/inf), one at a time: samples that fail are listed in the summary's
    ``report.rejected`` (jobs leave them out); a feature file with bad rows is refused."""
    from ssnas_core.data.detect import UnknownFormatError, inspect
    from ssnas_core.data.features import FeatureFormatError
    from ssnas_core.data.raw import DataFormatError

    try:
        summary = inspect(path, deep=True)
    except UnknownFormatError as exc:
        raise UnsupportedMediaType(f"unknown dataset format: {exc}") from exc
    except (DataFormatError, FeatureFormatError) as exc:
        raise Invalid(f"invalid dataset: {exc}") from exc
    except (OSError, ValueError, KeyError) as exc:  # unreadable content the validator missed
        log.warning("validator failed", exc_info=True)
        raise Invalid(f"invalid dataset: could not read it ({type(exc).__name__}: {exc})") from exc
    return json.loads(json.dumps(summary, default=str))


def _validate_and_place(received_path: Path, root: Path, limit: int) -> tuple[dict, Path]:
    """Validate the upload. A zipped folder format (features, avmnist) is extracted first:
    the validators know those formats as folders, and workers memory-map the files."""
    from ssnas_core.data.raw import DataFormatError

    try:
        folder = zipped_folder_format(received_path)
        if folder is not None:
            try:
                target = extract_zip(received_path, root / "data", limit, top=folder[1])
            except (zipfile.BadZipFile, DataFormatError, EOFError) as exc:
                raise Invalid(f"invalid dataset: broken {folder[0]} zip ({exc})") from exc
            received_path.unlink()
            return inspect_upload(target), target
        return inspect_upload(received_path), received_path
    finally:
        release_freed_memory()  # the validator's temporaries (HDF5 caches, id strings)


def _reserve(session: Session, owner_id: str, dataset_id: str, total: int, settings: Settings) -> int:
    try:
        reserved = reserve_upload(session, owner_id, dataset_id, total, settings)
    except BaseException:
        session.rollback()  # ends the owner's lock at once
        raise
    session.commit()
    return reserved


def _release(session: Session, owner_id: str, dataset_id: str) -> None:
    release_upload(session, owner_id, dataset_id)
    session.commit()


def _record(session: Session, row: Dataset, settings: Settings) -> DatasetOut:
    record_dataset(session, row, settings)
    session.commit()
    return DatasetOut.model_validate(row)


class UploadBudget:
    """The upload's storage reservation, grown ahead of the bytes in STEP pieces (one database
    round trip per piece); the exact size is tried when a piece would not fit."""

    STEP = 8 << 20

    def __init__(self, db: Db, owner_id: str, dataset_id: str, settings: Settings):
        self.db, self.owner_id, self.dataset_id, self.settings = db, owner_id, dataset_id, settings
        self.reserved = 0

    async def cover(self, size: int, slack: bool = True) -> None:
        if size <= self.reserved:
            return
        want = min(size + self.STEP, self.settings.max_upload_bytes) if slack else size
        args = (self.owner_id, self.dataset_id)
        try:
            self.reserved = await self.db.run(_reserve, *args, max(want, size), self.settings)
        except StorageQuotaExceeded:
            if want <= size:
                raise
            self.reserved = await self.db.run(_reserve, *args, size, self.settings)

    async def release(self) -> None:
        if self.reserved:
            try:
                await self.db.run(_release, self.owner_id, self.dataset_id)
            except Exception:  # noqa: BLE001 - database gone: the reservation goes stale by itself
                log.warning("could not release an upload reservation", exc_info=True)


async def create_dataset(request: Request, db: Db, owner_id: str, settings: Settings) -> DatasetOut:
    """Stream the body to storage (its bytes reserved against the owner's quota as they come),
    validate it, and record a Dataset row in place of the reservation."""
    dataset_id = new_id()
    root = dataset_dir(dataset_id)
    budget = UploadBudget(db, owner_id, dataset_id, settings)
    try:
        got = await receive_upload(request, root / "upload", settings.max_upload_bytes,
                                   f"upload larger than the maximum of {settings.max_upload_bytes} bytes",
                                   buffering=settings.upload_chunk_bytes, budget=budget)
        left = await db.run(space_left, owner_id, dataset_id, settings)  # bounds a zip's extraction
        summary, path = await run_in_threadpool(_validate_and_place, got.path, root,
                                                min(left, settings.max_upload_bytes))
        name = (got.fields.get("name") or Path(got.filename).stem or "dataset")[:255]
        row = Dataset(id=dataset_id, owner_id=owner_id, name=name, format=summary["format"],
                      path=to_key(path), size=got.size, sha256=got.sha256, summary=summary)
        out = await db.run(_record, row, settings)
    except BaseException:
        remove_tree(root)
        await budget.release()
        raise
    log.info("dataset stored", extra={"dataset_id": dataset_id, "bytes": got.size})
    return out


def get_dataset(session: Session, owner_id: str, dataset_id: str, lock: bool = False) -> Dataset:
    return get_owned(session, Dataset, owner_id, dataset_id, "dataset", lock)


def read_dataset(session: Session, owner_id: str, dataset_id: str) -> DatasetOut:
    return DatasetOut.model_validate(get_dataset(session, owner_id, dataset_id))


def list_datasets(session: Session, owner_id: str, limit: int = 50, offset: int = 0) -> DatasetList:
    where = Dataset.owner_id == owner_id
    total = session.scalar(select(func.count()).select_from(Dataset).where(where))
    rows = session.scalars(select(Dataset).where(where).order_by(Dataset.created_at.desc(), Dataset.id)
                           .limit(limit).offset(offset))
    return DatasetList(items=[DatasetOut.model_validate(r) for r in rows], total=int(total), limit=limit,
                       offset=offset)


def delete_dataset(session: Session, owner_id: str, dataset_id: str) -> None:
    """Delete the row and its files (the upload and the workers' feature caches of it, all in its
    folder, and the caches' storage charges); 409 while a queued or running job uses it."""
    row = get_dataset(session, owner_id, dataset_id, lock=True)
    busy = session.scalar(select(func.count()).select_from(Job).where(
        Job.dataset_id == dataset_id, Job.status.in_(ACTIVE)))
    if busy:
        raise Conflict(f"dataset {dataset_id} is used by {busy} queued or running job(s); "
                       "cancel them or wait for them to finish")
    drop_dataset_charges(session, dataset_id)
    session.delete(row)
    session.commit()
    remove_tree(dataset_dir(dataset_id))


def sweep_orphan_uploads(session: Session, min_age_s: float = 3600.0) -> list[str]:
    """Remove upload folders with no Dataset row (a process killed mid-upload), once they are
    older than ``min_age_s`` (younger ones may be uploads in flight). Returns the removed ids."""
    root = dataset_dir("x").parent
    if not root.is_dir():
        return []
    now, removed = time.time(), []
    candidates = [p for p in root.iterdir() if p.is_dir() and now - p.stat().st_mtime > min_age_s]
    known = set(session.scalars(select(Dataset.id).where(Dataset.id.in_([p.name for p in candidates]))))
    for p in candidates:
        if p.name not in known:
            remove_tree(p)
            removed.append(p.name)
    if removed:
        log.info("removed %d orphan upload folder(s): %s", len(removed), removed)
    session.execute(delete(StorageCharge).where(StorageCharge.kind == UPLOAD,
                                                StorageCharge.updated_at < utcnow() - STALE_RESERVATION))
    session.commit()
    return removed
