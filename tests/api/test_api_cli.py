"""``python -m api keys ...`` finds the database of ``ssnas serve --data-dir DIR`` by itself
(issue 10 item 9), or says exactly what to do when that server is not running."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SSNAS_DATABASE_URL", "SSNAS_DATA_DIR")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "api", *args], env=env, capture_output=True, text=True,
                          cwd=str(REPO), timeout=120)


@pytest.fixture
def data_dir():
    """A folder the embedded Postgres' own system user can reach (pytest's tmp root is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="ssnas-cli-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_keys_use_the_embedded_server_of_the_data_dir(data_dir):
    import pgserver

    from api.cli import migrate

    tmp_path = data_dir
    server = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    try:
        server.psql("CREATE DATABASE ssnas;")
        uri = server.get_uri("ssnas")
        migrate(uri.replace("postgresql://", "postgresql+psycopg://", 1))
        made = _cli("--data-dir", str(tmp_path), "keys", "create", "--owner", "dora")
        assert made.returncode == 0, made.stderr
        prefix = made.stdout.strip().split("_")[1]
        listed = _cli("--data-dir", str(tmp_path), "keys", "list")
        assert listed.returncode == 0 and prefix in listed.stdout and "dora" in listed.stdout
        with psycopg.connect(uri) as conn:
            assert conn.execute("SELECT owner_id FROM api_keys WHERE prefix = %s", (prefix,)).fetchone() == ("dora",)
        assert not (tmp_path / "ssnas.db").exists()  # not a stray SQLite file beside it
    finally:
        server.cleanup()


def test_a_stopped_embedded_server_is_named_with_the_fix(tmp_path):
    (tmp_path / "pg").mkdir()
    out = _cli("--data-dir", str(tmp_path), "keys", "list")
    assert out.returncode == 2
    assert f"start 'ssnas serve --data-dir {tmp_path}'" in out.stderr and "SSNAS_DATABASE_URL" in out.stderr
