"""Checkpoints as chunk rows: streamed in and out, sha256 and size checked."""

from __future__ import annotations

import hashlib
import io
import os

import pytest
from sqlalchemy import func, select, update

from store.db import session_scope
from store.storage import BlobError, get_blob_stream, put_blob, read_blob_to_file
from store.tables import Checkpoint, CheckpointChunk

SIZE = 5 * 1024 * 1024 + 12345


def test_blob_round_trip_in_chunks(db, tmp_path):
    data = os.urandom(SIZE)
    with session_scope() as s:
        ck = put_blob(s, io.BytesIO(data), "alice", None, "model")
        ck_id = ck.id
    with session_scope() as s:
        ck = s.get(Checkpoint, ck_id)
        assert ck.complete and ck.size == SIZE and ck.sha256 == hashlib.sha256(data).hexdigest()
        n = s.scalar(select(func.count()).where(CheckpointChunk.checkpoint_id == ck_id))
        assert n == 6
        sizes = [len(c) for c in get_blob_stream(s, ck_id)]
        assert max(sizes) == 1024 * 1024 and sum(sizes) == SIZE
        out = read_blob_to_file(s, ck_id, tmp_path / "m.safetensors")
    assert out.read_bytes() == data


def test_corrupt_blob_is_refused_and_leaves_no_file(db, tmp_path):
    with session_scope() as s:
        ck_id = put_blob(s, io.BytesIO(b"a" * 3000), "alice", None, "model", chunk_bytes=1000).id
    with session_scope() as s:
        s.execute(update(CheckpointChunk).where(CheckpointChunk.checkpoint_id == ck_id,
                                                CheckpointChunk.seq == 1).values(data=b"b" * 1000))
    with session_scope() as s, pytest.raises(BlobError, match="sha256"):
        read_blob_to_file(s, ck_id, tmp_path / "x.bin")
    assert list(tmp_path.iterdir()) == []


def test_incomplete_blob_is_not_streamed(db):
    with session_scope() as s:
        s.add(Checkpoint(id="c1", owner_id="alice", kind="model", complete=False))
    with session_scope() as s, pytest.raises(BlobError):
        list(get_blob_stream(s, "c1"))
