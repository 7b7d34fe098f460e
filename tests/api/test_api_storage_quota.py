"""The storage quota holds under concurrency and counts everything an owner stores (issue 10
item 2): parallel uploads reserve their bytes atomically, a failed upload gives them back, and
checkpoints and feature caches count toward the quota too."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from api_factories import create_database, drop_database, make_dataset, make_features_zip, make_job, pg_url
from conftest import REDIS_URL
from live_api import live_api
from sqlalchemy import func, select

from store import quotas
from store.db import session_scope
from store.storage import put_blob
from store.tables import Checkpoint, Dataset, StorageCharge


@pytest.fixture
def own_db():
    name = create_database("ssnas_quota")
    try:
        yield name
    finally:
        drop_database(name)


def test_parallel_uploads_never_exceed_the_quota(own_db, tmp_path):
    """20 parallel uploads of one ~35 KB dataset against room for 3 (real uvicorn + Postgres)."""
    data = make_features_zip(tmp_path, n=200).read_bytes()
    quota = int(len(data) * 3.5)
    with live_api(tmp_path, pg_url(own_db), REDIS_URL, SSNAS_MAX_STORAGE_BYTES=str(quota)) as (url, key):
        def upload(i: int) -> httpx.Response:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
                return c.post("/datasets", files={"file": (f"f{i}.zip", data)})

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(upload, range(20)))
        codes = sorted(r.status_code for r in results)
        assert set(codes) <= {201, 413}, [r.text for r in results if r.status_code not in (201, 413)]
        assert codes.count(201) == 3, codes
        refused = next(r for r in results if r.status_code == 413)
        assert "storage quota exceeded" in refused.json()["detail"]
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as c:
            listed = c.get("/datasets").json()
        assert listed["total"] == 3 and sum(d["size"] for d in listed["items"]) <= quota


def test_a_failed_upload_gives_its_reservation_back(client, alice, settings_env, tmp_path):
    data = make_features_zip(tmp_path, n=200).read_bytes()
    settings_env(SSNAS_MAX_STORAGE_BYTES=len(data) + 100)
    bad = client.post("/datasets", headers=alice, files={"file": ("junk.bin", b"\x00" * len(data))})
    assert bad.status_code == 415
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(StorageCharge)) == 0
    ok = client.post("/datasets", headers=alice, files={"file": ("f.zip", data)})
    assert ok.status_code == 201, ok.text
    again = client.post("/datasets", headers=alice, files={"file": ("f.zip", data)})
    assert again.status_code == 413 and "storage quota exceeded" in again.json()["detail"]


def test_chunked_upload_without_length_is_reserved_as_it_streams(client, alice, settings_env, tmp_path):
    data = make_features_zip(tmp_path, n=200).read_bytes()
    settings_env(SSNAS_MAX_STORAGE_BYTES=len(data) // 2)

    def body():
        for i in range(0, len(data), 4096):
            yield data[i:i + 4096]

    r = client.post("/datasets?filename=f.zip", headers={**alice, "Content-Type": "application/octet-stream"},
                    content=body())
    assert r.status_code == 413 and "storage quota exceeded" in r.json()["detail"]
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Dataset)) == 0
        assert s.scalar(select(func.count()).select_from(StorageCharge)) == 0


def test_checkpoints_count_and_past_the_quota_are_refused(db, settings_env):
    settings_env(SSNAS_MAX_STORAGE_BYTES=3000)
    job = make_job("alice", make_dataset("alice"))  # the dataset row: 10 bytes
    with session_scope() as s:
        put_blob(s, io.BytesIO(b"a" * 1000), "alice", job, "search_state")
    with session_scope() as s:
        assert quotas.storage_used(s, "alice") == 1010
        # a new version of the job's state replaces the old one: only the new one counts
        replace_blob_of(s, b"b" * 2500, job, "search_state")
    with pytest.raises(quotas.StorageQuotaExceeded, match="storage quota exceeded"):
        with session_scope() as s:
            put_blob(s, io.BytesIO(b"c" * 1000), "alice", job, "model")
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Checkpoint)) == 1  # the refused one rolled back
        assert quotas.storage_used(s, "alice") == 2510


def replace_blob_of(session, data: bytes, job: str, kind: str) -> None:
    from sqlalchemy import delete

    new = put_blob(session, io.BytesIO(data), "alice", job, kind)
    session.execute(delete(Checkpoint).where(Checkpoint.job_id == job, Checkpoint.id != new.id))


def test_feature_caches_count_and_block_new_jobs(client, alice, settings_env, tmp_path):
    settings_env(SSNAS_MAX_STORAGE_BYTES=1000)
    ds = make_dataset("alice")  # 10 bytes
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "features.h5").write_bytes(b"x" * 2000)
    with session_scope() as s:
        quotas.charge_features(s, "alice", ds, str(cache), quotas.folder_bytes(cache))
    with session_scope() as s:
        assert quotas.storage_used(s, "alice") == 2010
    r = client.post("/jobs", headers=alice, json={"dataset_id": ds})
    assert r.status_code == 413 and "so a new job cannot start" in r.json()["detail"]
    assert client.delete(f"/datasets/{ds}", headers=alice).status_code == 204
    with session_scope() as s:
        assert quotas.storage_used(s, "alice") == 0
