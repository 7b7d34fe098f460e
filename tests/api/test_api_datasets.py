"""POST/GET/DELETE /datasets: streamed upload, validation statuses, cleanup, isolation."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from api_factories import make_dataset, make_features_zip, make_job

from store.settings import get_settings


def _dataset_dirs() -> list[Path]:
    root = Path(get_settings().storage_dir) / "datasets"
    return sorted(root.iterdir()) if root.exists() else []


def _upload(client, headers, path: Path, name: str | None = None):
    data = {"name": name} if name else {}
    with open(path, "rb") as fh:
        return client.post("/datasets", headers=headers, files={"file": (path.name, fh)}, data=data)


def test_upload_features_zip_records_summary_hash_and_files(client, alice, tmp_path):
    z = make_features_zip(tmp_path, n=40)
    r = _upload(client, alice, z, name="tiny")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["format"] == "features" and body["name"] == "tiny"
    assert body["sha256"] == hashlib.sha256(z.read_bytes()).hexdigest()
    assert body["size"] == z.stat().st_size
    assert body["summary"]["num_samples"] == 40
    assert body["summary"]["split_counts"] == {"train": 20, "dev": 10, "test": 10}
    assert body["summary"]["label_names"] == ["drama", "comedy", "horror"]
    from store.db import session_scope
    from store.storage import resolve
    from store.tables import Dataset

    with session_scope() as s:
        key = s.get(Dataset, body["id"]).path
    assert key.startswith(f"datasets/{body['id']}/") and not Path(key).is_absolute()  # a storage key
    path = resolve(key)
    assert (path / "manifest.json").is_file() and (path / "features.h5").is_file()
    assert not (path.parent.parent / "upload" / z.name).exists()  # the zip was replaced by its folder
    assert client.get(f"/datasets/{body['id']}", headers=alice).json()["id"] == body["id"]
    assert [d["id"] for d in client.get("/datasets", headers=alice).json()["items"]] == [body["id"]]


def test_raw_octet_stream_upload(client, alice, tmp_path):
    z = make_features_zip(tmp_path, n=16, top="")
    r = client.post("/datasets?filename=feats.zip", headers={**alice, "Content-Type":
                    "application/octet-stream"}, content=z.read_bytes())
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "feats"


def test_unknown_format_is_415_and_leaves_nothing(client, alice, tmp_path):
    f = tmp_path / "noise.bin"
    f.write_bytes(b"\x00\x01 not a dataset" * 1000)
    r = _upload(client, alice, f)
    assert r.status_code == 415, r.text
    assert "unknown dataset format" in r.json()["detail"]
    assert _dataset_dirs() == []
    assert client.get("/datasets", headers=alice).json()["items"] == []


def test_invalid_content_is_422_with_validator_message(client, alice, tmp_path):
    z = tmp_path / "bad.zip"
    with zipfile.ZipFile(z, "w") as zf:  # a generic archive whose manifest names a missing file
        zf.writestr("manifest.csv", "id,split,labels,image\na,train,x,missing.png\n")
    r = _upload(client, alice, z)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("invalid dataset:")
    assert _dataset_dirs() == []


def test_broken_feature_folder_is_422(client, alice, tmp_path):
    z = tmp_path / "broken.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("f/manifest.json", "{not json")
        zf.writestr("f/features.h5", b"garbage")
    r = _upload(client, alice, z)
    assert r.status_code == 422, r.text
    assert _dataset_dirs() == []


def test_oversize_upload_is_413_and_leaves_nothing(client, alice, tmp_path, settings_env):
    settings_env(SSNAS_MAX_UPLOAD_BYTES=4096)
    f = tmp_path / "big.bin"
    f.write_bytes(b"x" * 100_000)
    r = _upload(client, alice, f)
    assert r.status_code == 413, r.text
    assert "maximum of 4096 bytes" in r.json()["detail"]
    assert _dataset_dirs() == []


def test_streamed_oversize_without_content_length_is_413(client, alice, settings_env):
    settings_env(SSNAS_MAX_UPLOAD_BYTES=10_000)

    def body():
        for _ in range(50):
            yield b"y" * 1000

    r = client.post("/datasets", headers={**alice, "Content-Type": "application/octet-stream"},
                    content=body())
    assert r.status_code == 413
    assert _dataset_dirs() == []


def test_storage_quota_is_413_with_usage(client, alice, tmp_path, settings_env):
    z = make_features_zip(tmp_path, n=40)
    assert _upload(client, alice, z).status_code == 201
    settings_env(SSNAS_MAX_STORAGE_BYTES=z.stat().st_size + 100)
    r = _upload(client, alice, z)
    assert r.status_code == 413
    assert "storage quota exceeded" in r.json()["detail"]
    assert len(_dataset_dirs()) == 1


def test_wrong_content_type_and_missing_file(client, alice):
    r = client.post("/datasets", headers={**alice, "Content-Type": "text/plain"}, content=b"x")
    assert r.status_code == 415
    r = client.post("/datasets", headers=alice, data={"name": "no file"},
                    files={"other": ("a.txt", b"")})
    assert r.status_code == 422


def test_owner_isolation_and_delete(client, alice, bob, tmp_path):
    ds = _upload(client, alice, make_features_zip(tmp_path, n=16)).json()["id"]
    assert client.get(f"/datasets/{ds}", headers=bob).status_code == 404
    assert client.delete(f"/datasets/{ds}", headers=bob).status_code == 404
    assert client.get("/datasets", headers=bob).json()["items"] == []
    job = make_job("alice", ds)
    r = client.delete(f"/datasets/{ds}", headers=alice)
    assert r.status_code == 409 and "used by 1" in r.json()["detail"]
    client.post(f"/jobs/{job}/cancel", headers=alice)
    # a worker's feature cache of the dataset (in its folder, charged to its owner) goes with it
    from store import quotas
    from store.db import session_scope
    from store.storage import features_dir, to_key
    from store.tables import StorageCharge

    cache = features_dir(ds) / "abc123"
    cache.mkdir(parents=True)
    (cache / "features.h5").write_bytes(b"x" * 100)
    with session_scope() as s:
        quotas.charge_features(s, "alice", ds, to_key(cache), 100)
    assert client.delete(f"/datasets/{ds}", headers=alice).status_code == 204
    assert not cache.exists()
    with session_scope() as s:
        assert s.query(StorageCharge).filter_by(dataset_id=ds).count() == 0
    assert client.get(f"/datasets/{ds}", headers=alice).status_code == 404
    assert _dataset_dirs() == []
    assert client.get(f"/jobs/{job}", headers=alice).json()["dataset_id"] is None


def test_orphan_upload_folders_are_swept_when_old(client, alice, tmp_path):
    import os
    import time

    from api.services.datasets import sweep_orphan_uploads
    from store.db import session_scope
    from store.storage import dataset_dir

    kept = _upload(client, alice, make_features_zip(tmp_path, n=16)).json()["id"]
    old, young = dataset_dir("orphan-old"), dataset_dir("orphan-young")
    for d in (old, young):
        (d / "upload").mkdir(parents=True)
        (d / "upload" / "part.bin").write_bytes(b"x" * 10)
    past = time.time() - 7200
    os.utime(old, (past, past))
    os.utime(dataset_dir(kept), (past, past))
    with session_scope() as s:
        assert sweep_orphan_uploads(s, min_age_s=3600) == ["orphan-old"]
    assert not old.exists() and young.exists() and dataset_dir(kept).exists()


def test_list_is_paged_newest_first_and_owner_scoped(client, alice, bob):
    ids = [make_dataset("alice") for _ in range(5)]
    make_dataset("bob")
    first = client.get("/datasets?limit=2", headers=alice).json()
    rest = client.get("/datasets?limit=2&offset=2", headers=alice).json()
    last = client.get("/datasets?limit=2&offset=4", headers=alice).json()
    assert first["total"] == rest["total"] == 5 and (first["limit"], rest["offset"]) == (2, 2)
    listed = [d["id"] for page in (first, rest, last) for d in page["items"]]
    assert listed == ids[::-1] and len(last["items"]) == 1
    assert client.get("/datasets?limit=0", headers=alice).status_code == 422
    assert client.get("/datasets", headers=bob).json()["total"] == 1
