"""A 200 MB upload through a real uvicorn server leaves its resident memory flat.

The server's peak RSS (VmHWM, reset through /proc/<pid>/clear_refs after a warm-up upload, and
RSS sampled every 10 ms) must stay within 40 MB of its RSS before the upload, whatever the upload size: the body is
streamed to disk in pieces, hashed on the way, the zipped feature folder is extracted in
pieces too, and the validator reads the per-sample columns (400k ids here) in bounded pieces
(all ids at once as Python strings cost ~60 MB of heap for 400k samples).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from api_factories import LABELS, make_features_zip, make_key, zip_dir

ROOT = Path(__file__).resolve().parents[2]
BIG_ROWS, BIG_DIM = 400_000, 125  # float32: 200 MB of features, 400k samples (ids, labels, split)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@pytest.fixture
def server(db, tmp_path):
    port = _free_port()
    env = {**os.environ, "SSNAS_DATABASE_URL": db, "SSNAS_DATA_DIR": str(tmp_path / "srv"),
           "SSNAS_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.main:create_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(url + "/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _big_features_zip(tmp: Path) -> Path:
    from ssnas_core.data.features import Manifest, NodeSpec, write_features

    man = Manifest(nodes=(NodeSpec("big", "vector", (BIG_DIM,)),), label_names=LABELS,
                   task="multilabel", num_samples=BIG_ROWS)
    x = np.random.default_rng(0).standard_normal((BIG_ROWS, BIG_DIM), dtype=np.float32)
    labels = np.zeros((BIG_ROWS, len(LABELS)), np.uint8)
    split = (np.arange(BIG_ROWS) % 3).astype(np.uint8)
    ids = [f"sample-{i:07d}" for i in range(BIG_ROWS)]
    write_features(tmp / "bigfeat", man, {"big": x}, labels, split, ids, dtype="float32").close()
    del x
    return zip_dir(tmp / "bigfeat", tmp / "big.zip", "bigfeat")


def test_large_upload_keeps_server_memory_flat(server, tmp_path):
    url, pid = server
    headers = make_key("alice")
    with open(make_features_zip(tmp_path, n=40), "rb") as fh:  # warm-up: imports, pools
        assert httpx.post(url + "/datasets", headers=headers, files={"file": ("w.zip", fh)},
                          timeout=60).status_code == 201
    big = _big_features_zip(tmp_path)
    size = big.stat().st_size
    assert size > 200 * 10**6
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
        hwm_reset = True
    except OSError:
        hwm_reset = False  # then only the sampled RSS counts
    before = _status_kb(pid, "VmRSS")
    sampled, done = [before], threading.Event()

    def sample() -> None:
        while not done.is_set():
            sampled.append(_status_kb(pid, "VmRSS"))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        with open(big, "rb") as fh:
            r = httpx.post(url + "/datasets", headers=headers, files={"file": ("big.zip", fh)},
                           timeout=600)
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - t0
    peak = max(max(sampled), _status_kb(pid, "VmHWM") if hwm_reset else 0)
    assert r.status_code == 201, r.text
    assert r.json()["size"] == size and r.json()["summary"]["num_samples"] == BIG_ROWS
    h = hashlib.sha256()
    with open(big, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    assert r.json()["sha256"] == h.hexdigest()
    growth_mb = (peak - before) / 1024
    print(f"upload {size / 1e6:.0f} MB in {seconds:.1f} s; server RSS {before / 1024:.0f} MB, "
          f"peak growth {growth_mb:.1f} MB")
    assert growth_mb < 40, f"server peak RSS grew by {growth_mb:.1f} MB during a {size} B upload"
