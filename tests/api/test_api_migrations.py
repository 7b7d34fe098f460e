"""Alembic: upgrade head on an empty database reproduces the ORM schema (no drift)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from api_factories import create_database, drop_database, pg_url
from sqlalchemy import create_engine, inspect

from api.cli import migrate
from store.tables import Base


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


def test_upgrade_of_an_existing_database_turns_dataset_paths_into_storage_keys(tmp_path):
    """A database at revision 0002 (absolute dataset paths, a feature-cache column and charges)
    upgrades to head: paths under datasets/<id>/ become keys, others stay, the column and the old
    caches' charges go; downgrading gives absolute paths under the storage root back."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from api.cli import ROOT
    from store.settings import get_settings

    name = create_database("ssnas_migr_old")
    try:
        url = pg_url(name)
        cfg = Config(str(ROOT / "alembic.ini"))
        cfg.set_main_option("script_location", str(ROOT / "migrations"))
        cfg.set_main_option("sqlalchemy.url", url)
        command.upgrade(cfg, "0002")
        engine = create_engine(url)
        rows = {"d1": "/srv/ssnas/storage/datasets/d1/upload/movies.zip",
                "d2": "/srv/ssnas/storage/datasets/d2/data/feat", "d3": "/elsewhere/x.zip"}
        with engine.begin() as conn:
            for ds_id, path in rows.items():
                conn.execute(text(
                    "INSERT INTO datasets (id, owner_id, name, format, path, size, sha256, summary, "
                    "features_path, created_at) VALUES (:id, 'alice', 'n', 'generic', :path, 1, 'x', "
                    "'{}', '/work/features/abc', now())"), {"id": ds_id, "path": path})
            conn.execute(text(
                "INSERT INTO storage_charges (id, owner_id, key, kind, dataset_id, bytes, updated_at) VALUES "
                "('c1', 'alice', 'features:/work/features/abc', 'features', 'd1', 5, now()), "
                "('c2', 'alice', 'upload:d9', 'upload', 'd9', 7, now())"))
        migrate(url)
        with engine.connect() as conn:
            got = dict(conn.execute(text("SELECT id, path FROM datasets")).all())
            kinds = [r[0] for r in conn.execute(text("SELECT kind FROM storage_charges"))]
        assert got == {"d1": "datasets/d1/upload/movies.zip", "d2": "datasets/d2/data/feat",
                       "d3": "/elsewhere/x.zip"}
        assert kinds == ["upload"]
        assert "features_path" not in {c["name"] for c in inspect(engine).get_columns("datasets")}
        assert _diff(url) == []
        command.downgrade(cfg, "0002")
        with engine.connect() as conn:
            back = dict(conn.execute(text("SELECT id, path FROM datasets")).all())
        root = str(get_settings().storage_dir.resolve())
        assert back["d1"] == f"{root}/datasets/d1/upload/movies.zip" and back["d3"] == "/elsewhere/x.zip"
        engine.dispose()
    finally:
        drop_database(name)
