"""Where bytes live: dataset files under the storage directory, checkpoints as chunk rows.

Dataset files are recorded by *key*: a path relative to the storage root (``storage_dir``, a
shared volume in a cluster), ``datasets/<id>/...``; the API writes them and every worker reads
them through ``resolve``, wherever it mounts the volume. A dataset's feature cache (extracted by a
worker from a raw upload) lives in the same folder, ``datasets/<id>/features``, so it is removed
with the dataset.

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
    from .quotas import check_blob

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


def storage_root() -> Path:
    return Path(get_settings().storage_dir).resolve()


def dataset_dir(dataset_id: str) -> Path:
    """The folder that holds one dataset's upload, its extracted form and its feature cache."""
    return storage_root() / "datasets" / dataset_id


def features_dir(dataset_id: str, root: Path | None = None) -> Path:
    """The dataset's feature caches (one per backbone choice), removed with the dataset."""
    return (root or storage_root()) / "datasets" / dataset_id / "features"


def to_key(path: str | os.PathLike, root: Path | None = None) -> str:
    """The storage key of a path under the storage root; ValueError for a path outside it."""
    root = root or storage_root()
    rel = Path(path).resolve().relative_to(root)  # ValueError when outside
    return rel.as_posix()


def resolve(key: str, root: Path | None = None) -> Path:
    """The path of a storage key on this machine; ValueError for what is not a key (an absolute
    path, or one that climbs out of the root)."""
    rel = Path(key)
    if not key or rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"not a storage key: {key!r}")
    return (root or storage_root()) / rel


def remove_tree(path: str | os.PathLike | None) -> None:
    """Remove a file or folder if it exists (cleanup never raises)."""
    if not path:
        return
    p = Path(path)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)
