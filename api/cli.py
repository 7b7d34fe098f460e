"""Admin CLI: ``python -m api keys create --owner NAME``, ``keys list``, ``keys revoke PREFIX``,
``python -m api migrate`` (alembic upgrade head on SSNAS_DATABASE_URL).

Which database: ``SSNAS_DATABASE_URL`` when set; else, when ``<data-dir>/pg`` exists (``ssnas serve
--data-dir DIR`` keeps its Postgres there; ``--data-dir`` defaults to SSNAS_DATA_DIR or ``.ssnas``),
that running server; else the settings' default (SQLite in the data directory)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sqlalchemy import select

from store.db import session_scope
from store.tables import ApiKey

from .auth import create_key, revoke_key

ROOT = Path(__file__).resolve().parent.parent


def migrate(url: str | None = None) -> None:
    """Bring the database schema to the newest revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "head")


class NoServer(RuntimeError):
    """``<data-dir>/pg`` holds an embedded Postgres that is not running."""


def embedded_database_url(data_dir: Path) -> str | None:
    """The URL of ``ssnas serve``'s Postgres in ``data_dir/pg`` (from its postmaster.pid), None
    when there is no such folder; NoServer when the server is not running."""
    pg = data_dir / "pg"
    if not pg.is_dir():
        return None
    pid_file = pg / "postmaster.pid"
    lines = pid_file.read_text().splitlines() if pid_file.exists() else []
    alive = False
    if len(lines) >= 5 and lines[0].strip().isdigit():
        try:
            os.kill(int(lines[0]), 0)
            alive = True
        except PermissionError:
            alive = True
        except OSError:
            alive = False
    if not alive:
        raise NoServer(f"{pg} holds the Postgres of 'ssnas serve --data-dir {data_dir}', but it is not running: "
                       f"start 'ssnas serve --data-dir {data_dir}' (or set SSNAS_DATABASE_URL to another database)")
    socket_dir, port = lines[4].strip(), lines[3].strip()
    if socket_dir:
        return f"postgresql+psycopg://postgres:@/ssnas?host={socket_dir}"
    return f"postgresql+psycopg://postgres:@127.0.0.1:{port}/ssnas"


def _use_database(data_dir: str | None) -> str:
    """Point the settings at the database this command should use; returns its description."""
    from store.db import reset_engines
    from store.settings import get_settings

    if os.environ.get("SSNAS_DATABASE_URL"):
        return "SSNAS_DATABASE_URL"
    root = Path(data_dir or os.environ.get("SSNAS_DATA_DIR") or ".ssnas")
    url = embedded_database_url(root)
    if url is not None:
        os.environ["SSNAS_DATABASE_URL"] = url
        get_settings.cache_clear()
        reset_engines()
        return f"the ssnas serve database in {root / 'pg'}"
    return get_settings().database_url


def _keys(args: argparse.Namespace) -> int:
    with session_scope() as s:
        if args.action == "create":
            row, key = create_key(s, args.owner, args.name or "")
            print(key)
            print(f"owner={row.owner_id} prefix={row.prefix} (store the key now; it is not "
                  "shown again)", file=sys.stderr)
        elif args.action == "list":
            q = select(ApiKey).order_by(ApiKey.created_at)
            if args.owner:
                q = q.where(ApiKey.owner_id == args.owner)
            for k in s.scalars(q):
                state = "revoked" if k.revoked_at else "active"
                print(f"{k.prefix}\t{k.owner_id}\t{k.name}\t{k.created_at:%Y-%m-%d %H:%M}\t{state}")
        else:
            n = revoke_key(s, args.prefix)
            print(f"revoked {n} key(s)")
            return 0 if n else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None,
                        help="the data directory of 'ssnas serve' (default: SSNAS_DATA_DIR or .ssnas); "
                             "its Postgres is used unless SSNAS_DATABASE_URL is set")
    sub = parser.add_subparsers(dest="cmd", required=True)
    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="action",
                                                                        required=True)
    create = keys.add_parser("create", help="create a key and print it once")
    create.add_argument("--owner", required=True, help="owner name (isolates their data)")
    create.add_argument("--name", default="", help="a label for the key")
    lst = keys.add_parser("list", help="list keys (prefixes only)")
    lst.add_argument("--owner", default=None)
    rev = keys.add_parser("revoke", help="revoke the key(s) with this prefix")
    rev.add_argument("prefix")
    sub.add_parser("migrate", help="alembic upgrade head on SSNAS_DATABASE_URL")
    args = parser.parse_args(argv)
    try:
        _use_database(args.data_dir)
    except NoServer as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.cmd == "migrate":
        migrate()
        return 0
    return _keys(args)
