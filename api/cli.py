"""Admin CLI: ``python -m api keys create --owner NAME``, ``keys list``, ``keys revoke PREFIX``,
``python -m api migrate`` (alembic upgrade head on SSNAS_DATABASE_URL)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import select

from .auth import create_key, revoke_key
from .db import session_scope
from .tables import ApiKey

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
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
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
    if args.cmd == "migrate":
        migrate()
        return 0
    return _keys(args)
