"""One job's baseline panel (its method, then the baselines, verdict and warnings that
GET /jobs/{id} shows under ``result``): offline through the worker's own steps on a feature
directory, or over HTTP against a running service (``--api``: upload or an existing dataset,
POST /jobs, poll GET /jobs/{id}, the finished job's ``result``).

    python bench/panel_job.py FEATURES [--method ssl] [--set finetune.label_fraction=0.1 ...]
        [--out bench/results/panel_<name>.json]
    python bench/panel_job.py --api http://127.0.0.1:8000 --key-file .ssnas/api_key \
        (--upload DATA.zip | --dataset-id ID) [--method ssl] [--set ...] --out FILE

Prints the model's test metrics beside every baseline and writes the result as JSON (over HTTP
also the dataset as the API shows it, every poll's stage, progress and ETA, and the job's logs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssnas_core.config import RunConfig  # noqa: E402
from ssnas_core.data.features import FeatureDataset  # noqa: E402

RUN = {"space": {"C": 16, "L": 4}, "search": {"epochs": 3, "batch_size": 128}, "pretrain": {"epochs": 2},
       "finetune": {"epochs": 20, "label_fraction": 0.1}, "seed": 0, "device": "auto"}


def _set(d: dict, key: str, value: str) -> None:
    *path, last = key.split(".")
    for k in path:
        d = d.setdefault(k, {})
    d[last] = json.loads(value) if value[:1] in "0123456789-[{tf" else value


class _Quiet:
    """The job's progress callback, minus the database: stage marks and cancel checks only."""

    def __call__(self, event) -> None:
        pass

    def mark(self, stage: str) -> None:
        print(f"stage {stage}", flush=True)

    def check_stop(self) -> None:
        pass


def show(panel: dict, method: str) -> None:
    """The model's test metrics beside every baseline's, at the key the verdict compares."""
    compared = panel["verdict"]["weighted_f1"]["key"]
    key = compared.split("@")[-1] if "@" in compared else ""
    names = ("weighted_f1", "micro_f1", "macro_f1")
    rows = [(f"model ({method})", panel["test_metrics"])] + [(n, b["test"]) for n, b in panel["baselines"].items()]
    print(f"{'':28s} " + " ".join(f"{m + '@' + key if key else m:>16s}" for m in names))
    for name, m in rows:
        vals = [m.get(f"{k}@{key}" if key else k, m.get(k)) for k in names]
        print(f"{name:28s} " + " ".join(f"{v:16.4f}" if v is not None else f"{'-':>16s}" for v in vals))
    for line in panel["warnings"]:
        print("warning:", line)


def eta_check(polls: list[dict]) -> dict:
    """The ETA the API showed when progress first reached 10/25/50 %, against the time that was
    actually left (to the first poll that saw the job finished: up to one poll interval late)."""
    end, out = polls[-1]["t_s"], {}
    for target in (0.10, 0.25, 0.50):
        hit = next((p for p in polls if p["progress"] >= target and p["eta_s"] is not None), None)
        if hit is not None and end > hit["t_s"]:
            out[f"{target:.2f}"] = {"t_s": hit["t_s"], "stage": hit["stage"], "eta_s": round(hit["eta_s"], 1),
                                    "left_s": round(end - hit["t_s"], 1),
                                    "eta_over_actual": round(hit["eta_s"] / (end - hit["t_s"]), 3)}
    return out


def over_http(args: argparse.Namespace, run: dict) -> dict:
    """Upload (or reuse) the dataset, POST /jobs, poll GET /jobs/{id} until it ends; the finished
    job as the API shows it, with every poll and the job's log lines."""
    import httpx

    key = Path(args.key_file).read_text().strip() if args.key_file else None
    run.pop("device", None)  # a job's device is the top-level field
    http = httpx.Client(base_url=args.api, headers={"Authorization": f"Bearer {key}"} if key else {}, timeout=3600)
    out: dict = {}
    if args.upload:
        t = time.perf_counter()
        with open(args.upload, "rb") as fh:
            r = http.post("/datasets", params={"filename": Path(args.upload).name}, content=fh,
                          headers={"Content-Type": "application/octet-stream"})
        r.raise_for_status()
        out["upload_s"] = round(time.perf_counter() - t, 1)
        args.dataset_id = r.json()["id"]
    out["dataset"] = http.get(f"/datasets/{args.dataset_id}").raise_for_status().json()
    body = {"dataset_id": args.dataset_id, "method": args.method, "run": run,
            **({"modality": args.modality} if args.modality else {})}
    r = http.post("/jobs", json=body)
    if r.status_code != 202:
        raise SystemExit(f"POST /jobs: {r.status_code} {r.text}")
    job_id, t0, polls, last = r.json()["id"], time.perf_counter(), [], None
    print(f"job {job_id} queued", flush=True)
    while True:
        job = http.get(f"/jobs/{job_id}").raise_for_status().json()
        now = round(time.perf_counter() - t0, 1)
        polls.append({"t_s": now, "status": job["status"], "stage": job["stage"],
                      "progress": job["progress"], "eta_s": job["eta_s"]})
        if (job["stage"], job["status"]) != last or len(polls) % 6 == 0:
            print(json.dumps(polls[-1]), flush=True)
            last = (job["stage"], job["status"])
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(args.poll_s)
    logs = http.get(f"/jobs/{job_id}/logs", params={"limit": 500}).raise_for_status().json()["items"]
    return {**out, "request": body, "job": job, "eta_check": eta_check(polls), "polls": polls,
            "logs": [f"{x['level']}: {x['message']}" for x in logs]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("features", nargs="?", help="a feature directory (offline; not with --api)")
    ap.add_argument("--api", help="URL of a running service: run the job over HTTP")
    ap.add_argument("--key-file", help="file holding the API key (ssnas serve: <data-dir>/api_key)")
    ap.add_argument("--upload", help="--api: upload this dataset file first")
    ap.add_argument("--dataset-id", help="--api: a dataset the service already holds")
    ap.add_argument("--poll-s", type=float, default=10.0)
    ap.add_argument("--method", default="ssl")
    ap.add_argument("--modality")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out")
    args = ap.parse_args()
    if bool(args.api) == bool(args.features) or (args.api and not (args.upload or args.dataset_id)):
        ap.error("give FEATURES, or --api with --upload or --dataset-id")
    run = json.loads(json.dumps(RUN))
    for kv in args.set:
        _set(run, *kv.split("=", 1))
    command = "python bench/panel_job.py " + " ".join(sys.argv[1:])
    if args.api:
        t = time.perf_counter()
        got = over_http(args, run)
        job = got["job"]
        if job["status"] != "succeeded":
            print(f"job {job['status']} in stage {job['stage']}: {job['error']}")
        elif job.get("result"):
            show(job["result"], args.method)
        out = {"command": command, "wall_s": round(time.perf_counter() - t, 1), **got}
        path = Path(args.out or ROOT / "bench" / "results" / f"panel_http_{args.method}.json")
        path.write_text(json.dumps(out, indent=1))
        print(f"wrote {path}")
        return
    from store.spec import read_spec
    from worker.baselines import job_result, run_method
    from worker.tasks import build_config

    spec = read_spec({"method": args.method, "run": run, **({"modality": args.modality} if args.modality else {})})
    cfg: RunConfig = build_config(spec)
    ds = FeatureDataset(args.features)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as wd:
        result = run_method(ds, cfg, spec, Path(wd), _Quiet())
        t1 = time.perf_counter()
        meta, panel = job_result(ds, cfg, spec, result)
    t2 = time.perf_counter()
    show(panel, args.method)
    out = {"command": command, "features": str(args.features),
           "samples": len(ds), "config": cfg.to_dict(), "threshold": meta.get("threshold"),
           "thresholds": meta.get("thresholds"), "method_s": round(t1 - t0, 1), "panel_s": round(t2 - t1, 1),
           **panel}
    path = Path(args.out or ROOT / "bench" / "results" / f"panel_{Path(args.features).parent.name}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path} (method {t1 - t0:.0f} s, panel {t2 - t1:.1f} s)")


if __name__ == "__main__":
    main()
