"""The main job end to end on this machine, over HTTP, with nothing but pip packages:

1. builds a real example dataset: Font Awesome Free icons (glyph image + name/search terms ->
   categories, multi-label; ``scripts/example_icons.py``), installing ``fontawesomefree`` if needed;
2. starts ``ssnas serve`` (Postgres + Redis from pip wheels, the API, one worker) under --data-dir,
   unless --url points at a running service;
3. uploads the dataset, submits a short self-supervised search, prints progress until it ends;
4. downloads the genotype (JSON + SVG) and the weights, and calls /predict on test icons.

    python scripts/quickstart.py [--data-dir .ssnas] [--port 8000] [--keep-running]
    python scripts/quickstart.py --url http://host:8000 --key ssnas_...   # an existing service
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import example_icons  # noqa: E402


def job_body(dataset_id: str, search_epochs: int) -> dict:
    """A short self-supervised search: BM-NAS space at C=64, L=16, 20% of train labels."""
    return {"dataset_id": dataset_id, "method": "ssl", "device": "auto", "seed": 0,
            "label_fraction": 0.2, "search_epochs": search_epochs, "pretrain_epochs": 2,
            "finetune_epochs": 12,
            "run": {"space": {"C": 64, "L": 16}, "search": {"batch_size": 64},
                    "pretrain": {"batch_size": 64}, "finetune": {"batch_size": 32}}}


def start_service(data_dir: Path, port: int) -> tuple[subprocess.Popen, str]:
    """``python -m launcher.serve`` in the background; returns (process, API key) once healthy."""
    from launcher.processes import child_env, http_ok, wait_for

    data_dir.mkdir(parents=True, exist_ok=True)
    out = data_dir / "serve.out"
    log = open(out, "ab")
    offset = out.stat().st_size
    proc = subprocess.Popen([sys.executable, "-m", "launcher.serve", "--data-dir", str(data_dir),
                             "--port", str(port)], cwd=str(REPO), env=child_env({}),
                            stdout=log, stderr=subprocess.STDOUT)
    print(f"[2/6] starting ssnas serve (logs: {out}, {data_dir / 'logs'}) ...", flush=True)
    wait_for(lambda: b"ssnas serve: ready" in out.read_bytes()[offset:], 300, "ssnas serve", proc)
    if not http_ok(f"http://127.0.0.1:{port}/health"):
        raise RuntimeError(f"ssnas serve is up but /health fails; see {data_dir / 'logs'}")
    return proc, (data_dir / "api_key").read_text().strip()


def upload(client: httpx.Client, path: Path) -> dict:
    with open(path, "rb") as fh:  # httpx streams the file object in the multipart body
        r = client.post("/datasets", files={"file": (path.name, fh, "application/zip")},
                        data={"name": "fontawesome-icons"}, timeout=600)
    r.raise_for_status()
    return r.json()


def follow(client: httpx.Client, job_id: str, t_post: float) -> dict:
    """Poll the job, print a line whenever its state changes; returns the final job."""
    last, t_running = None, None
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] == "running" and t_running is None:
            t_running = time.perf_counter()
            print(f"      running {t_running - t_post:.2f} s after POST /jobs", flush=True)
        m = job.get("latest_metrics") or {}
        shown = ", ".join(f"{k}={v:.3f}" for k, v in list((m.get("metrics") or {}).items())[:3])
        eta = f"ETA {job['eta_s']:.0f} s" if job.get("eta_s") is not None else "ETA ?"
        line = (f"      {job['status']:9s} {job.get('stage') or '-':9s} {100 * job['progress']:5.1f}% "
                f"{eta:10s} {m.get('stage', '')} {m.get('epoch', '')} {shown}")
        if line != last:
            print(line, flush=True)
            last = line
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(1.0)


def test_icons(zip_path: Path, n: int = 4) -> list[dict]:
    with zipfile.ZipFile(zip_path) as zf:
        rows = [json.loads(line) for line in zf.read("manifest.jsonl").decode().splitlines()]
        rows = [r for r in rows if r["split"] == "test"][:n]
        return [{**r, "png": zf.read(r["glyph"])} for r in rows]


def results(client: httpx.Client, job: dict, out: Path, zip_path: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    genotype = client.get(f"/jobs/{job['id']}/genotype").json()
    (out / "genotype.json").write_text(json.dumps(genotype, indent=1))
    (out / "genotype.svg").write_text(client.get(f"/jobs/{job['id']}/genotype.svg").text)
    print(f"[5/6] genotype: {out / 'genotype.json'} and {out / 'genotype.svg'}")
    model = client.get(f"/models/{job['model_id']}").json()
    with client.stream("GET", f"/models/{model['id']}/weights") as r, open(out / "model.safetensors", "wb") as fh:
        for chunk in r.iter_bytes():
            fh.write(chunk)
    print(f"      weights: {out / 'model.safetensors'} ({(out / 'model.safetensors').stat().st_size} bytes, "
          f"sha256 {model['weights_sha256'][:16]}...); test metrics: "
          + ", ".join(f"{k}={v:.3f}" for k, v in model["metrics"].get("test", {}).items() if "@0.5" in k))
    icons = test_icons(zip_path)
    batch = [{"glyph": {"base64": base64.b64encode(i["png"]).decode()}, "terms": i["terms"]} for i in icons]
    r = client.post(f"/models/{model['id']}/predict", json={"batch": batch})
    r.raise_for_status()
    print(f"[6/6] /predict on {len(icons)} test icons (threshold {model['threshold']}):")
    for icon, pred in zip(icons, r.json()["predictions"]):
        top = sorted(pred["probabilities"].items(), key=lambda kv: -kv[1])[:3]
        print(f"      {icon['id']:24s} predicted {pred['labels']}  true {icon['labels']}  top "
              + ", ".join(f"{k} {v:.2f}" for k, v in top))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", type=Path, default=Path(".ssnas"))
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--url", help="use a running service instead of starting ssnas serve")
    p.add_argument("--key", help="API key for --url")
    p.add_argument("--search-epochs", type=int, default=3)
    p.add_argument("--keep-running", action="store_true", help="leave ssnas serve running at the end")
    a = p.parse_args(argv)
    data_dir = a.data_dir.resolve()
    zip_path = data_dir / "examples" / "fontawesome-icons.zip"
    if not zip_path.exists():
        info = example_icons.build(zip_path)
        print(f"[1/6] example dataset: {info['samples']} icons, {len(info['labels'])} categories, "
              f"splits {info['splits']} -> {zip_path}")
    else:
        print(f"[1/6] example dataset: {zip_path} (already built)")
    proc = None
    try:
        if a.url:
            url, key = a.url.rstrip("/"), a.key
        else:
            proc, key = start_service(data_dir, a.port)
            url = f"http://127.0.0.1:{a.port}"
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
            ds = upload(client, zip_path)
            print(f"[3/6] uploaded dataset {ds['id']}: {ds['summary'].get('num_samples')} samples, "
                  f"format {ds['format']}")
            t_post = time.perf_counter()
            r = client.post("/jobs", json=job_body(ds["id"], a.search_epochs))
            r.raise_for_status()
            print(f"[4/6] job {r.json()['id']} submitted (self-supervised search); progress:")
            job = follow(client, r.json()["id"], t_post)
            if job["status"] != "succeeded":
                print(f"job ended {job['status']}: {job.get('error')}", file=sys.stderr)
                return 1
            results(client, job, data_dir / "quickstart", zip_path)
        if a.keep_running and proc is not None:
            print(f"service running at {url} (API key {key}); Ctrl-C to stop")
            proc.wait()
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(60)


if __name__ == "__main__":
    raise SystemExit(main())
