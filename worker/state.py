"""A job's working directory mirrored in the database, so any worker can resume it.

``ssnas_core.pipeline`` (and the MFAS baseline, ``run_mfas``) keeps its resumable state as files in
the workdir (written before each end-of-epoch event). After every epoch the changed files are
streamed into checkpoint rows (one kind per file name, older versions deleted once the new one is
complete); a worker that claims the job later rebuilds the workdir from those rows, never from a
local disk it may not share.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ssnas_core.names import STATE_FILES  # the resumable files of the pipeline and of run_mfas
from store import jobs as job_runtime
from store.db import after_commit
from store.storage import delete_blob, put_file_blob, read_blob_to_file
from store.tables import Checkpoint


def _signature(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def replace_blob(session: Session, path: Path, owner_id: str, job_id: str, kind: str) -> Checkpoint:
    """Store ``path`` as the job's only complete checkpoint of ``kind`` (older ones deleted)."""
    ckpt = put_file_blob(session, path, owner_id, job_id, kind)
    old = session.scalars(select(Checkpoint.id).where(
        Checkpoint.job_id == job_id, Checkpoint.kind == kind, Checkpoint.id != ckpt.id)).all()
    for ckpt_id in old:
        delete_blob(session, ckpt_id)
    return ckpt


def restore_workdir(session: Session, job_id: str, workdir: Path) -> list[str]:
    """Recreate ``workdir`` from the job's latest checkpoints; returns the restored file names."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    restored = []
    for name in STATE_FILES:
        ckpt = job_runtime.latest_checkpoint(session, job_id, name)
        if ckpt is not None:
            read_blob_to_file(session, ckpt.id, workdir / name)
            restored.append(name)
    return restored


class WorkdirSync:
    """Uploads the state files that changed since the last sync (or since the restore)."""

    def __init__(self, job_id: str, owner_id: str, workdir: Path):
        self.job_id, self.owner_id, self.workdir = job_id, owner_id, workdir
        self.seen = {n: _signature(workdir / n) for n in STATE_FILES if (workdir / n).exists()}

    def __call__(self, session: Session, _event=None) -> list[str]:
        stored: dict[str, tuple[int, int]] = {}
        for name in STATE_FILES:
            path = self.workdir / name
            if not path.exists():
                continue
            sig = _signature(path)
            if self.seen.get(name) == sig:
                continue
            replace_blob(session, path, self.owner_id, self.job_id, name)
            stored[name] = sig
        # counted as stored once committed: a rolled-back unit of work uploads them again
        after_commit(session, lambda: self.seen.update(stored))
        return list(stored)
