"""HTTP helpers for the end-to-end tests."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

import httpx

TERMINAL = ("succeeded", "failed", "cancelled")


def zip_folder(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f.name)
    return buf.getvalue()


def upload(client: httpx.Client, name: str, data: bytes) -> dict:
    r = client.post("/datasets", files={"file": (f"{name}.zip", data, "application/zip")},
                    data={"name": name})
    assert r.status_code == 201, r.text
    return r.json()


def poll(client: httpx.Client, job_id: str, until: Callable[[dict], bool], timeout_s: float = 180,
         seen: list | None = None) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        r = client.get(f"/jobs/{job_id}")
        assert r.status_code == 200, r.text
        job = r.json()
        if seen is not None:
            seen.append(job)
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job stuck: {job}"
        time.sleep(0.1)


def done(job: dict[str, Any]) -> bool:
    return job["status"] in TERMINAL
