"""`ssnas serve`: the embedded single-machine default (Postgres and Redis from pip wheels, the API,
one worker) starts from an empty folder, runs a job over HTTP, and leaves no process behind."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import psutil
from helpers_e2e import done, poll, upload, zip_folder

from launcher.processes import free_port, spawn, stop, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from factories import make_features  # noqa: E402


def test_ssnas_serve_runs_a_job_from_an_empty_folder_and_stops_cleanly(tmp_path):
    import os

    data, port = tmp_path / "d", free_port()
    out = tmp_path / "serve.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSNAS_")}  # no test services
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    serve = spawn([sys.executable, "-m", "launcher.serve", "--data-dir", str(data), "--port", str(port)],
                  env, open(out, "wb"))
    try:
        wait_for(lambda: b"ssnas serve: ready" in out.read_bytes(), 240, "ssnas serve", serve)
        children = psutil.Process(serve.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in children)
        assert "redis-server" in names and "uvicorn" in names and "celery" in names
        key = (data / "api_key").read_text().strip()
        assert key.startswith("ssnas_") and (data / "api_key").stat().st_mode & 0o077 == 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"},
                          timeout=60) as c:
            assert c.get("/health").json() == {"status": "ok", "database": "ok", "broker": "ok"}
            make_features(tmp_path / "feat", n=200)
            ds = upload(c, "tiny", zip_folder(tmp_path / "feat"))
            r = c.post("/jobs", json={"dataset_id": ds["id"], "device": "cpu", "search_epochs": 1,
                                      "pretrain_epochs": 1, "finetune_epochs": 2, "label_fraction": 0.5,
                                      "run": {"space": {"C": 8, "L": 4}, "search": {"batch_size": 32},
                                              "finetune": {"min_dev_samples": 24}, "num_threads": 1}})
            assert r.status_code == 202, r.text
            job = poll(c, r.json()["id"], done, timeout_s=180)
            assert job["status"] == "succeeded", job
            assert c.get(f"/models/{job['model_id']}/weights").status_code == 200
    finally:
        stop(serve, timeout_s=60)
    assert serve.returncode == 0 and b"ssnas serve: stopped in" in out.read_bytes()
    assert not [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert (data / "pg").is_dir() and (data / "storage").is_dir()
    postgres = [p for p in psutil.process_iter(["cmdline"]) if str(data / "pg") in " ".join(p.info["cmdline"] or [])]
    assert not postgres, "the embedded Postgres outlived ssnas serve"
