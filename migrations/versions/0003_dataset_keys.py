"""dataset files by storage key; feature caches in their dataset's folder

``datasets.path`` was an absolute path on the API's host; it becomes the key relative to the
storage root (``datasets/<id>/...``), which every worker resolves on its own mount of the storage
volume (``store.storage.resolve``). ``datasets.features_path`` (written, never read) is dropped:
a dataset's feature caches now live in ``datasets/<id>/features`` and go with the dataset. The
caches that workers built before this revision (under ``<work_dir>/features``) are no longer
used: their storage charges are dropped here, and the folder may be deleted.

A path that is not under a ``datasets/<id>/`` folder cannot be converted and is left as it is
(the job that uses it fails with "not a storage key").

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 03:00:00
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import PurePosixPath

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")
datasets = sa.table("datasets", sa.column("id", sa.String), sa.column("path", sa.Text))
charges = sa.table("storage_charges", sa.column("kind", sa.String))


def path_to_key(dataset_id: str, path: str) -> str | None:
    """``.../datasets/<id>/rest`` -> ``datasets/<id>/rest``; None when ``path`` is not there."""
    if not PurePosixPath(path).is_absolute():
        return path  # already a key
    marker = f"/datasets/{dataset_id}"
    at = path.rfind(marker + "/")
    if at < 0:
        return marker[1:] if path.endswith(marker) else None
    return path[at + 1:]


def upgrade() -> None:
    conn = op.get_bind()
    for row in conn.execute(sa.select(datasets.c.id, datasets.c.path)).all():
        key = path_to_key(row.id, row.path)
        if key is None:
            log.warning("dataset %s: %s is not under a datasets/<id>/ folder; left as it is", row.id, row.path)
        elif key != row.path:
            conn.execute(datasets.update().where(datasets.c.id == row.id).values(path=key))
    conn.execute(charges.delete().where(charges.c.kind == "features"))
    with op.batch_alter_table('datasets') as batch:
        batch.drop_column('features_path')


def downgrade() -> None:
    from store.settings import get_settings

    with op.batch_alter_table('datasets') as batch:
        batch.add_column(sa.Column('features_path', sa.Text(), nullable=True))
    root = str(get_settings().storage_dir.resolve())
    conn = op.get_bind()
    for row in conn.execute(sa.select(datasets.c.id, datasets.c.path)).all():
        if not PurePosixPath(row.path).is_absolute():
            conn.execute(datasets.update().where(datasets.c.id == row.id).values(path=f"{root}/{row.path}"))
