"""/predict served by uvicorn with N API processes, variants side by side (issue 14).

Starts the API (``launcher.processes.start_api``, the way ``ssnas serve`` does) on a fresh database
of the local Postgres, with the checkpoint of bench/predict_profile.py (default offline backbones,
C=64, L=16, 23 labels), once per variant and round, variants interleaved. Per run: warm-up, one
client (p50/p99), then 8 clients back to back for --seconds: throughput, and the CPU of the API
side (API processes plus the prediction process, if any) per prediction, with the resident memory
of the API side after the run (RSS summed, and PSS, which counts shared pages once).

Variants (``--variants``, comma-separated):
  inproc    each API process loads its own backbones (the behaviour before issue 14)
  cow       the backbones loaded before the fork, shared copy-on-write (bench/prefork_api.py)
  server    one prediction process (``python -m api.predict_server``) fed by the API processes

A variant may carry settings: ``server:SSNAS_PREDICT_BATCH=8`` (``:``-separated ``NAME=VALUE``).

Memory: ``unique_mb`` counts each resident page of the API side once (shared library pages and
pages shared copy-on-write included once), ``rss_sum_mb`` adds up the processes' RSS.

    python bench/predict_service.py [--variants inproc,server] [--rounds 2] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

import httpx  # noqa: E402
import psutil  # noqa: E402
from predict_profile import WORK, bench_model  # noqa: E402
from service_clients import pct, predict_clients, predict_single, resident_mb, rss_peak  # noqa: E402

from api.predict_server import stats  # noqa: E402

PG = os.environ.get("SSNAS_BENCH_PG", "postgres@127.0.0.1:5432")


def make_db() -> str:
    import uuid

    import psycopg

    name = f"ssnas_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"postgresql://{PG}/test", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_db(name: str) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://{PG}/test", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed(env: dict[str, str], checkpoint: Path) -> tuple[str, str]:
    """Migrate, then an API key and a Model row holding ``checkpoint``; returns (key, model id)."""
    os.environ.update(env)
    from api.auth import create_key
    from api.cli import migrate
    from ssnas_core.checkpoint import read_meta
    from store.db import reset_engines, session_scope
    from store.jobs import create_model
    from store.settings import get_settings
    from store.storage import put_file_blob
    from store.tables import Dataset, Job

    get_settings.cache_clear()
    reset_engines()
    migrate(env["SSNAS_DATABASE_URL"])
    meta = read_meta(checkpoint)
    with session_scope() as s:
        _, key = create_key(s, "bench", "bench")
        ds = Dataset(owner_id="bench", name="b", format="features", path="/none", size=1, sha256="0" * 64,
                     summary={"format": "features"})
        s.add(ds)
        s.flush()
        job = Job(owner_id="bench", dataset_id=ds.id, status="succeeded", spec={"method": "ssl", "run": {}},
                  queue="cpu", result={"genotype": meta["genotype"]})
        s.add(job)
        s.flush()
        ck = put_file_blob(s, checkpoint, "bench", job.id, "model")
        model = create_model(s, job, meta["genotype"], {}, meta["label_names"], meta["threshold"], ck.id,
                             meta["nodes"], meta["backbones"])
        return key, model.id


def api_side(proc) -> list[psutil.Process]:
    root = psutil.Process(proc.pid)
    return [root, *root.children(recursive=True)]


def cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            total += sum(p.cpu_times()[:2])
        except psutil.Error:
            pass
    return total


def run_variant(variant: str, base_env: dict[str, str], key: str, model_id: str, inputs: list[dict],
                args: argparse.Namespace, port: int) -> dict:
    from launcher.processes import child_env, start_api, stop

    kind, *sets = variant.split(":")
    env = child_env(base_env | {"SSNAS_PREDICT_THREADS": str(max(1, (os.cpu_count() or 1) // args.api_workers))}
                    | dict(x.split("=", 1) for x in sets))
    extra = []
    if kind == "server":
        env.pop("SSNAS_PREDICT_THREADS")  # the prediction process has the cores to itself
        sock = Path(tempfile.mkdtemp(prefix="ssnas-predict-")) / "predict.sock"
        env["SSNAS_PREDICT_SERVER"] = str(sock)
        from launcher.processes import spawn

        log = open(WORK / f"predict-server-{variant}.log", "ab")
        extra.append(spawn([sys.executable, "-m", "api.predict_server"], env, log))
        from launcher.processes import wait_for

        wait_for(sock.exists, 300, "the prediction process", extra[-1])
    log = open(WORK / f"api-{variant}.log", "ab")
    url = f"http://127.0.0.1:{port}"
    if kind == "cow":
        from launcher.processes import http_ok, spawn, wait_ready

        api = spawn([sys.executable, str(REPO / "bench" / "prefork_api.py"), "--port", str(port),
                     "--workers", str(args.api_workers)], env, log)
        wait_ready(lambda: http_ok(f"{url}/health"), 300, "the pre-forked API", api)
    else:
        api = start_api(env, "127.0.0.1", port, log, args.api_workers)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
            for i in range(4 * args.api_workers):  # every API process (and the model) warmed up
                c.post(f"/models/{model_id}/predict", json={"inputs": {
                    "poster": {"base64": __import__("base64").b64encode(inputs[i % len(inputs)]["poster"]).decode()},
                    "plot": inputs[i % len(inputs)]["plot"]}}).raise_for_status()
            procs = api_side(api) + [q for p in extra for q in api_side(p)]
            single = predict_single(c, model_id, inputs, n=args.single, warmup=2)
            sock = env.get("SSNAS_PREDICT_SERVER")
            ledger0 = stats(sock) if sock else None
            cpu0, own0 = cpu_s(procs), time.process_time()
            with rss_peak([q.pid for q in procs]) as peak:
                multi = predict_clients(url, f"Bearer {key}", model_id, inputs, args.clients, args.seconds)
            cpu = cpu_s(procs) - cpu0
            own = time.process_time() - own0
            ledger1 = stats(sock) if sock else None
            time.sleep(3)  # at rest after the run (a predicting process trims its heap after 1 s idle)
            mem = resident_mb([q.pid for q in procs]) | {"rss_sum_peak_under_load_mb": peak.mb}
    finally:
        stop(api, timeout_s=10)
        for p in extra:
            stop(p, timeout_s=10)
    n = max(multi["requests"], 1)
    split = None
    if ledger0 and ledger1:
        split = {k: round((ledger1[k] - ledger0[k]) / n, 1) for k in ("decode", "backbones", "fusion")}
        split["http"] = round(cpu * 1000 / n - sum(split.values()), 1)
        split["mean_batch"] = round((ledger1["samples"] - ledger0["samples"])
                                    / max(ledger1["batches"] - ledger0["batches"], 1), 2)
    return {"variant": variant, "single": single, "clients": multi, "cpu_ms_split": split,
            "api_side_cpu_ms_per_prediction": round(cpu * 1000 / n, 1),
            "client_cpu_ms_per_prediction": round(own * 1000 / n, 1),
            "memory_after": mem, "loadavg": os.getloadavg()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variants", default="inproc,server")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--single", type=int, default=60)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--api-workers", type=int, default=2)
    p.add_argument("--port", type=int, default=8793)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "predict_service.json")
    a = p.parse_args()
    import service_data as D

    inputs = D.movie_inputs(D.movies_subset(REPO / "bench" / "work" / "svc" / "movies160.zip"), 30)
    checkpoint = bench_model(WORK / "model.safetensors")
    db = make_db()
    data = Path(tempfile.mkdtemp(prefix="ssnas-bench-"))
    env = {"SSNAS_DATABASE_URL": f"postgresql+psycopg://{PG}/{db}", "SSNAS_DATA_DIR": str(data),
           "SSNAS_BROKER_URL": "redis://127.0.0.1:6379/11", "SSNAS_LOG_JSON": "true"}
    runs = []
    try:
        key, model_id = seed(env, checkpoint)
        for r in range(a.rounds):
            for v in a.variants.split(","):
                row = run_variant(v, env, key, model_id, inputs, a, a.port) | {"round": r}
                print(json.dumps(row), flush=True)
                runs.append(row)
    finally:
        drop_db(db)
    summary = {}
    for v in a.variants.split(","):
        rows = [r for r in runs if r["variant"] == v]
        summary[v] = {k: round(float(pct([_get(r, k) for r in rows], 50)), 1) for k in (
            "clients.throughput_per_s", "api_side_cpu_ms_per_prediction", "single.p50_ms", "single.p99_ms",
            "clients.p50_ms", "memory_after.rss_sum_mb", "memory_after.unique_mb")}
    out = {"command": "python bench/predict_service.py " + " ".join(sys.argv[1:]),
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "api_workers": a.api_workers,
           "clients": a.clients, "seconds": a.seconds, "median_over_rounds": summary, "runs": runs,
           "cpus": os.cpu_count(), "platform": platform.platform()}
    print(json.dumps(summary, indent=1))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {a.out}")
    return 0


def _get(row: dict, dotted: str) -> float:
    for k in dotted.split("."):
        row = row[k]
    return row  # type: ignore[return-value]


if __name__ == "__main__":
    raise SystemExit(main())
