"""API keys: ``ssnas_<prefix>_<secret>``; only the sha256 of the whole key is stored.

Keys are 160+ bits of randomness, so a fast hash is enough (no password stretching needed);
the lookup is by the hash's unique index, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.tables import ApiKey, utcnow

KEY_PREFIX = "ssnas_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, owner_id: str, name: str = "") -> tuple[ApiKey, str]:
    """Create a key for ``owner_id``; returns (row, plaintext key shown once)."""
    if not owner_id or len(owner_id) > 128:
        raise ValueError("owner must be 1-128 characters")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
    row = ApiKey(owner_id=owner_id, name=name, key_hash=hash_key(key), prefix=prefix)
    session.add(row)
    session.flush()
    return row, key


class _OwnerCache:
    """Key hash -> owner for a few seconds, so polling clients cost one query less.

    A revoked key keeps working in other processes for at most ``ttl_s`` (SSNAS_AUTH_CACHE_S).
    """

    def __init__(self, max_items: int = 10_000):
        self.max_items, self._items, self._lock = max_items, {}, threading.Lock()

    def get(self, digest: str, ttl_s: float) -> str | None:
        hit = self._items.get(digest)
        return hit[0] if hit and time.monotonic() - hit[1] < ttl_s else None

    def put(self, digest: str, owner: str) -> None:
        with self._lock:
            if len(self._items) >= self.max_items:
                self._items.clear()
            self._items[digest] = (owner, time.monotonic())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


owner_cache = _OwnerCache()


def owner_for_key(session: Session, key: str, cache_s: float = 0.0) -> str | None:
    """The owner of an active key, or None (answers from the cache if younger than cache_s)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    digest = hash_key(key)
    if cache_s > 0 and (owner := owner_cache.get(digest, cache_s)) is not None:
        return owner
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
        return None
    if cache_s > 0:
        owner_cache.put(digest, row.owner_id)
    return row.owner_id


def revoke_key(session: Session, prefix: str) -> int:
    """Revoke every active key with this prefix; returns how many."""
    rows = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix,
                                                ApiKey.revoked_at.is_(None))).all()
    for row in rows:
        row.revoked_at = utcnow()
    owner_cache.clear()
    return len(rows)
