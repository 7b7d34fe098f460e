"""Load generators and probes for bench/service_latency.py (HTTP clients, RSS sampling)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import threading
import time
from datetime import datetime
from typing import Callable, Iterator

import httpx
import numpy as np

TERMINAL = ("succeeded", "failed", "cancelled")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def wait_job(c: httpx.Client, job_id: str, timeout_s: float, until=lambda j: j["status"] in TERMINAL,
             poll_s: float = 0.5) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = c.get(f"/jobs/{job_id}").json()
        if until(job) or time.monotonic() > deadline:
            return job
        time.sleep(poll_s)


def job_start(c: httpx.Client, body: dict, idle_s: float = 3.0) -> dict:
    """One trial: POST a long job, time until it shows running, cancel it, wait until it ended."""
    t0 = time.perf_counter()
    r = c.post("/jobs", json=body)
    r.raise_for_status()
    post_s = time.perf_counter() - t0
    job_id = r.json()["id"]
    job = wait_job(c, job_id, 30, lambda j: j["status"] != "queued", poll_s=0.005)
    client_s = time.perf_counter() - t0
    c.post(f"/jobs/{job_id}/cancel")
    wait_job(c, job_id, 60, poll_s=0.1)
    time.sleep(idle_s)  # the worker finishes its clean-up: the next trial starts on an idle worker
    created, started = (datetime.fromisoformat(job[k]) for k in ("created_at", "started_at"))
    return {"client_s": client_s, "post_s": post_s, "server_s": (started - created).total_seconds(),
            "status": job["status"]}


def _predict_body(inputs: list[dict], i: int) -> dict:
    x = inputs[i % len(inputs)]
    return {"inputs": {"poster": {"base64": base64.b64encode(x["poster"]).decode()}, "plot": x["plot"]}}


def predict_single(c: httpx.Client, model_id: str, inputs: list[dict], n: int, warmup: int) -> dict:
    bodies = [_predict_body(inputs, i) for i in range(n + warmup)]
    lat = []
    for i, body in enumerate(bodies):
        t0 = time.perf_counter()
        r = c.post(f"/models/{model_id}/predict", json=body)
        r.raise_for_status()
        if i >= warmup:
            lat.append((time.perf_counter() - t0) * 1000)
    return {"requests": n, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": max(lat)}


def predict_clients(base_url, auth: str, model_id: str, inputs: list[dict], clients: int,
                    seconds: float) -> dict:
    """``clients`` threads posting back to back for ``seconds``; throughput and latency."""
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def run(k: int) -> None:
        with httpx.Client(base_url=base_url, headers={"Authorization": auth}, timeout=60) as c:
            i = k
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    ok = c.post(f"/models/{model_id}/predict", json=_predict_body(inputs, i)).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    lat.append((time.perf_counter() - t0) * 1000) if ok else None
                    errors[0] += 0 if ok else 1
                i += clients

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "seconds": wall, "requests": len(lat), "errors": errors[0],
            "throughput_per_s": len(lat) / wall, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}


async def _http_get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One keep-alive GET on an open connection; returns the status (body read and dropped)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


def poll_clients(base_url, auth: str, job_id: str, clients: int, seconds: float, interval: float) -> dict:
    """``clients`` keep-alive connections, each GET /jobs/{id} every ``interval`` s (random phase).

    A bare asyncio HTTP/1.1 client (a few microseconds per request) instead of httpx, whose
    per-request cost on the same two cores as the server would be measured as server latency.
    Every response is checked for status 200; anything else, or a broken connection, is an error.
    """
    url = httpx.URL(str(base_url))
    request = (f"GET /jobs/{job_id} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
               f"Authorization: {auth}\r\nAccept: application/json\r\n\r\n").encode()

    async def main() -> tuple[list[float], int]:
        lat: list[float] = []
        errors = 0
        stop_at = time.perf_counter() + seconds

        async def one() -> None:
            nonlocal errors
            reader, writer = await asyncio.open_connection(url.host, url.port)
            await asyncio.sleep(random.random() * interval)
            try:
                while time.perf_counter() < stop_at:
                    t0 = time.perf_counter()
                    try:
                        ok = await _http_get(reader, writer, request) == 200
                    except (OSError, asyncio.IncompleteReadError, ValueError):
                        ok = False
                        writer.close()
                        reader, writer = await asyncio.open_connection(url.host, url.port)
                    dt = time.perf_counter() - t0
                    if ok:
                        lat.append(dt * 1000)
                    else:
                        errors += 1
                    await asyncio.sleep(max(0.0, interval - dt))
            finally:
                writer.close()

        await asyncio.gather(*(one() for _ in range(clients)))
        return lat, errors

    lat, errors = asyncio.run(main())
    return {"requests": len(lat), "errors": errors, "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95),
            "p99_ms": pct(lat, 99), "max_ms": max(lat) if lat else None,
            "throughput_per_s": len(lat) / seconds, "client": "asyncio keep-alive HTTP/1.1"}


class _Rss:
    baseline_mb = peak_mb = 0.0

    @property
    def mb(self) -> int:
        return round(self.peak_mb)


@contextlib.contextmanager
def _sampled(measure: Callable[[], float], every_s: float) -> Iterator[_Rss]:
    """``measure()`` (MB) at the start (baseline) and every ``every_s`` while the block runs (peak)."""
    out = _Rss()
    out.baseline_mb = out.peak_mb = measure()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every_s):
            out.peak_mb = max(out.peak_mb, measure())

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        yield out
    finally:
        done.set()
        t.join()


@contextlib.contextmanager
def rss_sampler(pid: int | None, every_s: float = 0.02) -> Iterator[_Rss]:
    """Baseline and peak resident memory (MB) of ``pid`` and its children while the block runs."""
    if pid is None:
        yield _Rss()
        return
    import psutil

    proc = psutil.Process(pid)
    with _sampled(lambda: sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 1e6,
                  every_s) as out:
        yield out


def rss_peak(pids: list[int], every_s: float = 1.0):
    """The highest RSS sum of ``pids`` (``.mb``, whole MB) sampled every ``every_s`` while the block runs."""
    import psutil

    def total() -> float:
        n = 0
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                n += psutil.Process(pid).memory_info().rss
        return n / 1e6

    return _sampled(total, every_s)


def resident_mb(pids: list[int]) -> dict:
    """Resident memory of a group of processes after the fact, three ways (MB):

    rss_sum_mb   each process's RSS added up (pages shared between them counted once per process);
    pss_sum_mb   proportional set sizes added up (a page shared by n processes, these or others,
                 counts 1/n per process);
    unique_mb    the physical pages the group keeps resident, each counted once (from
                 /proc/PID/pagemap; needs root to see page frame numbers, else None).
    """
    import psutil

    rss = pss = 0
    frames: set[int] = set()
    seen_frames = True
    for pid in pids:
        try:
            info = psutil.Process(pid).memory_full_info()
        except psutil.Error:
            continue
        rss, pss = rss + info.rss, pss + info.pss
        try:
            frames |= _frames(pid)
        except OSError:
            seen_frames = False
    unique = len(frames) * 4096 / 1e6 if seen_frames and frames else None
    return {"rss_sum_mb": round(rss / 1e6), "pss_sum_mb": round(pss / 1e6),
            "unique_mb": round(unique) if unique is not None else None, "processes": len(pids)}


def _frames(pid: int) -> set[int]:
    """Page frame numbers of the resident pages of ``pid`` (empty without root: PFNs read 0)."""
    page = 4096
    out: set[int] = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pm:
        for line in maps:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if "[vsyscall]" in line or hi <= lo:
                continue
            pm.seek(lo // page * 8)
            data = pm.read((hi - lo) // page * 8)
            x = np.frombuffer(data, dtype=np.uint64)
            present = x[(x >> np.uint64(63)) == 1] & np.uint64((1 << 55) - 1)
            present = present[present != 0]
            out.update(present.tolist())
    if not out:
        raise OSError("no page frame numbers visible (not root?)")
    return out
