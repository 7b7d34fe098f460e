"""``Client``: every route of the ssnas API as a method with typed results.

    from ssnas_client import Client
    with Client("http://127.0.0.1:8000", key) as c:
        ds = c.upload_dataset("data.zip")
        job = c.submit_job(ds.id, method="ssl", search_epochs=3)
        job = c.wait(job.id)
        c.download_model(job.model_id, "out/")
        print(c.predict(job.model_id, {"poster": Path("p.jpg"), "plot": "..."}).predictions)

No torch and no service code is imported: only httpx and the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

from .errors import ChecksumMismatch
from .http import Transport
from .types import Cursor, Dataset, Job, LogLine, Metric, Model, Page, PredictResult

Progress = Callable[[int], None]  # called with the number of bytes just sent / received


class _CountingFile:
    """A file object for httpx's multipart writer that reports every chunk it reads."""

    def __init__(self, fh: BinaryIO, on_read: Progress | None):
        self.fh, self.on_read = fh, on_read

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        if data and self.on_read:
            self.on_read(len(data))
        return data

    def seek(self, *a: Any) -> int:
        return self.fh.seek(*a)

    def tell(self) -> int:
        return self.fh.tell()

    def fileno(self) -> int:
        return self.fh.fileno()


def encode_value(value: Any) -> Any:
    """A predict input: a ``Path`` or ``bytes`` becomes ``{"base64": ...}``; others stay as they are."""
    if isinstance(value, Path):
        value = value.read_bytes()
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    return value


class Client:
    """The ssnas service at ``url`` with API key ``key`` (see ``Transport`` for retries)."""

    def __init__(self, url: str, key: str | None, timeout: float = 120.0, retries: int = 5,
                 max_wait_s: float = 30.0):
        self.t = Transport(url, key, timeout, retries, max_wait_s)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def close(self) -> None:
        self.t.close()

    # -- health -------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self.t.json("GET", "/health", ok=(503,))

    # -- datasets -----------------------------------------------------------------------------
    def upload_dataset(self, path: str | Path, name: str | None = None,
                       progress: Progress | None = None) -> Dataset:
        """Upload a file (multipart, streamed from disk); ``progress`` gets bytes sent."""
        path = Path(path)
        data = {"name": name} if name else None
        with open(path, "rb") as fh:
            files = {"file": (path.name, _CountingFile(fh, progress), "application/octet-stream")}
            r = self.t.request("POST", "/datasets", files=files, data=data)
        return Dataset.from_json(r.json())

    def list_datasets(self, limit: int = 50, offset: int = 0) -> Page:
        d = self.t.json("GET", "/datasets", params={"limit": limit, "offset": offset})
        return Page.of(d, Dataset)

    def get_dataset(self, dataset_id: str) -> Dataset:
        return Dataset.from_json(self.t.json("GET", f"/datasets/{dataset_id}"))

    def delete_dataset(self, dataset_id: str) -> None:
        self.t.request("DELETE", f"/datasets/{dataset_id}")

    # -- jobs ---------------------------------------------------------------------------------
    def submit_job(self, dataset_id: str, method: str = "ssl", **spec: Any) -> Job:
        """POST /jobs with ``dataset_id``, ``method`` and any other JobCreate field
        (``label_fraction``, ``search_epochs``, ``run={...}``, ``device``, ``seed``, ...)."""
        body = {"dataset_id": dataset_id, "method": method,
                **{k: v for k, v in spec.items() if v is not None}}
        return Job.from_json(self.t.json("POST", "/jobs", json=body))

    def list_jobs(self, status: str | None = None, limit: int = 50, offset: int = 0) -> Page:
        params = {"limit": limit, "offset": offset, **({"status": status} if status else {})}
        d = self.t.json("GET", "/jobs", params=params)
        return Page.of(d, Job)

    def get_job(self, job_id: str) -> Job:
        return Job.from_json(self.t.json("GET", f"/jobs/{job_id}"))

    def poll_job(self, job_id: str, etag: str | None = None) -> tuple[Job | None, str | None]:
        """GET /jobs/{id} with ``If-None-Match``: (None, etag) while unchanged, else (job, new etag)."""
        headers = {"If-None-Match": etag} if etag else {}
        r = self.t.request("GET", f"/jobs/{job_id}", headers=headers, ok=(304,))
        if r.status_code == 304:
            return None, etag
        return Job.from_json(r.json()), r.headers.get("etag")

    def wait(self, job_id: str, interval_s: float = 1.0, timeout_s: float | None = None) -> Job:
        """Poll (with ETags) until the job is succeeded, failed or cancelled."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        job, etag = self.poll_job(job_id)
        while not job.done:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout_s} s")
            time.sleep(interval_s)
            new, etag = self.poll_job(job_id, etag)
            job = new or job
        return job

    def job_metrics(self, job_id: str, after: int = 0, limit: int = 500) -> Cursor:
        d = self.t.json("GET", f"/jobs/{job_id}/metrics", params={"after": after, "limit": limit})
        return Cursor.of(d, Metric)

    def job_logs(self, job_id: str, after: int = 0, limit: int = 500) -> Cursor:
        d = self.t.json("GET", f"/jobs/{job_id}/logs", params={"after": after, "limit": limit})
        return Cursor.of(d, LogLine)

    def iter_metrics(self, job_id: str) -> Iterator[Metric]:
        """Every metric row of a job, following the cursor to the end."""
        after = 0
        while True:
            page = self.job_metrics(job_id, after)
            yield from page.items
            if not page.items:
                return
            after = page.next_after

    def cancel_job(self, job_id: str) -> Job:
        return Job.from_json(self.t.json("POST", f"/jobs/{job_id}/cancel"))

    def retry_job(self, job_id: str) -> Job:
        return Job.from_json(self.t.json("POST", f"/jobs/{job_id}/retry"))

    def genotype(self, job_id: str) -> dict[str, Any]:
        return self.t.json("GET", f"/jobs/{job_id}/genotype")

    def genotype_svg(self, job_id: str) -> str:
        return self.t.request("GET", f"/jobs/{job_id}/genotype.svg").text

    # -- models -------------------------------------------------------------------------------
    def list_models(self) -> list[Model]:
        return [Model.from_json(x) for x in self.t.json("GET", "/models")["items"]]

    def get_model(self, model_id: str) -> Model:
        return Model.from_json(self.t.json("GET", f"/models/{model_id}"))

    def download_weights(self, model_id: str, dest: str | Path, progress: Progress | None = None) -> str:
        """Stream the checkpoint to ``dest``; check its sha256 against ``X-Checksum-SHA256``
        (the partial file is removed on a mismatch). Returns the sha256."""
        dest, digest = Path(dest), hashlib.sha256()
        tmp = dest.with_name(dest.name + ".part")
        r = self.t.stream_get(f"/models/{model_id}/weights")
        try:
            expected = r.headers.get("x-checksum-sha256", "")
            with open(tmp, "wb") as fh:
                for chunk in r.iter_bytes(1 << 20):
                    fh.write(chunk)
                    digest.update(chunk)
                    if progress:
                        progress(len(chunk))
        finally:
            r.close()
        if expected and digest.hexdigest() != expected:
            tmp.unlink(missing_ok=True)
            raise ChecksumMismatch(f"model {model_id}: sha256 {digest.hexdigest()} != announced {expected}")
        os.replace(tmp, dest)
        return digest.hexdigest()

    def predict(self, model_id: str, inputs: dict[str, Any]) -> PredictResult:
        """One raw sample: field -> text, list (vector), ``Path``/``bytes`` (image, audio)."""
        body = {"inputs": {k: encode_value(v) for k, v in inputs.items()}}
        return PredictResult.from_json(self.t.json("POST", f"/models/{model_id}/predict", json=body))

    def predict_batch(self, model_id: str, samples: list[dict[str, Any]]) -> PredictResult:
        body = {"batch": [{k: encode_value(v) for k, v in s.items()} for s in samples]}
        return PredictResult.from_json(self.t.json("POST", f"/models/{model_id}/predict", json=body))

    def predict_features(self, model_id: str, features: dict[str, Any]) -> PredictResult:
        body = {"features": features}
        return PredictResult.from_json(self.t.json("POST", f"/models/{model_id}/predict", json=body))
