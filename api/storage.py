"""Where bytes live: dataset files under the storage directory, checkpoints as chunk rows.

Checkpoints are streamed into ``checkpoint_chunks`` one ~1 MiB row at a time and read back
one row per query, so neither direction ever holds a whole blob in memory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from .settings import get_settings
from .tables import Checkpoint, CheckpointChunk

CHUNK_BYTES = 1024 * 1024


class BlobError(RuntimeError):
    """A stored blob is incomplete or does not match its recorded sha256."""


def put_blob(session: Session, fileobj: BinaryIO, owner_id: str, job_id: str | None, kind: str,
             chunk_bytes: int = CHUNK_BYTES) -> Checkpoint:
    """Stream ``fileobj`` into chunk rows; returns the complete Checkpoint (caller commits)."""
    ckpt = Checkpoint(owner_id=owner_id, job_id=job_id, kind=kind, complete=False)
    session.add(ckpt)
    session.flush()
    hasher, size, seq = hashlib.sha256(), 0, 0
    while data := fileobj.read(chunk_bytes):
        hasher.update(data)
        size += len(data)
        # a Core insert: no ORM object keeps the chunk's bytes alive after it is sent
        session.execute(insert(CheckpointChunk).values(checkpoint_id=ckpt.id, seq=seq, data=data))
        seq += 1
    ckpt.size, ckpt.sha256, ckpt.complete = size, hasher.hexdigest(), True
    session.flush()
    from .services.quotas import check_blob

    check_blob(session, ckpt)  # 413 (StorageQuotaExceeded) past the owner's quota
    return ckpt


def put_file_blob(session: Session, path: str | os.PathLike, owner_id: str, job_id: str | None,
                  kind: str) -> Checkpoint:
    """``put_blob`` from a file on disk."""
    with open(path, "rb") as fh:
        return put_blob(session, fh, owner_id, job_id, kind)


def get_blob_stream(session: Session, checkpoint_id: str) -> Iterator[bytes]:
    """Yield the blob's chunks in order, one row per query; raises BlobError if incomplete."""
    ckpt = session.get(Checkpoint, checkpoint_id)
    if ckpt is None or not ckpt.complete:
        raise BlobError(f"checkpoint {checkpoint_id} is missing or incomplete")
    seq = 0
    while (data := read_chunk(session, checkpoint_id, seq)) is not None:
        yield data
        seq += 1


def read_chunk(session: Session, checkpoint_id: str, seq: int) -> bytes | None:
    """Chunk ``seq`` of a blob, or None past its last chunk."""
    data = session.scalar(select(CheckpointChunk.data).where(
        CheckpointChunk.checkpoint_id == checkpoint_id, CheckpointChunk.seq == seq))
    return None if data is None else bytes(data)


def read_blob_to_file(session: Session, checkpoint_id: str, path: str | os.PathLike) -> Path:
    """Write the blob to ``path`` atomically (tmp + rename) after checking size and sha256."""
    ckpt = session.get(Checkpoint, checkpoint_id)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    hasher, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as fh:
            for data in get_blob_stream(session, checkpoint_id):
                hasher.update(data)
                size += len(data)
                fh.write(data)
        if size != ckpt.size or hasher.hexdigest() != ckpt.sha256:
            raise BlobError(f"checkpoint {checkpoint_id}: size/sha256 mismatch "
                            f"({size} bytes, expected {ckpt.size})")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def delete_blob(session: Session, checkpoint_id: str) -> None:
    session.execute(delete(CheckpointChunk).where(CheckpointChunk.checkpoint_id == checkpoint_id))
    session.execute(delete(Checkpoint).where(Checkpoint.id == checkpoint_id))


def dataset_dir(dataset_id: str) -> Path:
    """The folder that holds one dataset's upload (and its extracted form)."""
    return Path(get_settings().storage_dir).resolve() / "datasets" / dataset_id


def remove_tree(path: str | os.PathLike | None) -> None:
    """Remove a file or folder if it exists (cleanup never raises)."""
    if not path:
        return
    p = Path(path)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)
