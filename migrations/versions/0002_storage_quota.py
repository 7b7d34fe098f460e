"""storage quota: per-owner lock rows and storage charges (uploads in flight, feature caches)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('storage_owners',
    sa.Column('owner_id', sa.String(length=128), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('owner_id', name=op.f('pk_storage_owners'))
    )
    op.create_table('storage_charges',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('owner_id', sa.String(length=128), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('dataset_id', sa.String(length=36), nullable=True),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_storage_charges')),
    sa.UniqueConstraint('owner_id', 'key', name=op.f('uq_storage_charges_owner_id_key'))
    )
    op.create_index(op.f('ix_storage_charges_dataset_id'), 'storage_charges', ['dataset_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_storage_charges_dataset_id'), table_name='storage_charges')
    op.drop_table('storage_charges')
    op.drop_table('storage_owners')
