"""Alembic: upgrade head on an empty database reproduces the ORM schema (no drift)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from api_factories import create_database, drop_database, pg_url
from sqlalchemy import create_engine, inspect

from api.cli import migrate
from api.tables import Base


def _diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()


def test_upgrade_head_on_empty_postgres_has_no_drift():
    name = create_database("ssnas_migr")
    try:
        url = pg_url(name)
        migrate(url)
        engine = create_engine(url)
        tables = set(inspect(engine).get_table_names())
        engine.dispose()
        assert set(Base.metadata.tables) <= tables and "alembic_version" in tables
        assert _diff(url) == []
    finally:
        drop_database(name)


def test_upgrade_head_on_empty_sqlite_has_no_drift(tmp_path):
    url = f"sqlite:///{tmp_path / 'ssnas.db'}"
    migrate(url)
    assert _diff(url) == []
