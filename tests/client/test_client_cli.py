"""The CLI against the real service: upload -> submit --watch -> download -> predict (single and
batch), every list/show command with --json, the key found in ssnas serve's data dir, and a
Ctrl-C that detaches from `jobs watch` without cancelling the job."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from media import TINY, label_counts, poster, write_archive, zip_folder

from ssnas_client import Client
from ssnas_client.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def js(capsys, *argv: str):
    rc, out, err = run(capsys, *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


@pytest.fixture
def cli_env(service, monkeypatch):
    monkeypatch.setenv("SSNAS_URL", service.url)
    monkeypatch.setenv("SSNAS_API_KEY", service.key)
    return service


def test_upload_submit_watch_download_predict(cli_env, capsys, tmp_path):
    archive = write_archive(tmp_path / "movies.zip")
    rc, quiet_id, _ = run(capsys, "datasets", "upload", str(archive), "-q")
    assert rc == 0 and js(capsys, "datasets", "show", quiet_id.strip())["name"] == "movies"  # the file's stem
    ds = js(capsys, "datasets", "upload", str(archive), "--name", "movies")
    assert ds["format"] == "generic" and ds["summary"]["num_samples"] == 60 and ds["name"] == "movies"
    assert ds["summary"]["label_counts"] == label_counts(60)  # per split and genre, for the dashboard
    assert ds["id"] in [d["id"] for d in js(capsys, "datasets", "list")["items"]]
    assert js(capsys, "datasets", "show", ds["id"])["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({**TINY, "device": "cpu", "seed": 1}))  # JSON is YAML
    rc, out, err = run(capsys, "jobs", "submit", "--dataset", ds["id"], "--config", str(cfg),
                       "--set", "search.epochs=1", "--set", "pretrain.epochs=1", "--set", "finetune.epochs=2",
                       "--label-fraction", "1.0", "--watch")
    assert rc == 0, err
    job_id = out.split("submitted job ")[1].split()[0]
    assert "succeeded" in out and "model" in out
    assert "running" in err and "[info] stage search" in err  # the live view and the job's log lines
    job = js(capsys, "jobs", "show", job_id)
    assert job["status"] == "succeeded" and job["spec"]["run"]["search"]["epochs"] == 1
    assert job["spec"]["run"]["space"]["C"] == 8 and job["spec"]["run"]["finetune"]["label_fraction"] == 1.0
    assert job_id in [j["id"] for j in js(capsys, "jobs", "list", "--status", "succeeded")["items"]]
    rc, out, _ = run(capsys, "jobs", "logs", job_id)
    assert rc == 0 and "stage finetune" in out
    assert run(capsys, "jobs", "watch", job_id, "-q")[:2] == (0, job["model_id"] + "\n")  # for $(...) in scripts

    files = js(capsys, "models", "download", job["model_id"], "-o", str(tmp_path / "out"))
    weights = Path(files["weights"])
    model = js(capsys, "models", "show", job["model_id"])
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == model["weights_sha256"] == files["sha256"]
    assert json.loads(Path(files["genotype"]).read_text()) == model["genotype"]
    assert Path(files["genotype_svg"]).read_text().lstrip().startswith("<svg")

    (tmp_path / "p.png").write_bytes(poster(["horror"], 3))
    pred = js(capsys, "predict", job["model_id"], "--poster", str(tmp_path / "p.png"), "--plot", "a haunted house")
    assert set(pred["predictions"][0]["probabilities"]) == {"action", "comedy", "drama", "horror"}
    rc, out, _ = run(capsys, "predict", job["model_id"], "--poster", str(tmp_path / "p.png"), "--plot", "x")
    assert rc == 0 and "labels:" in out and "horror" in out
    (tmp_path / "batch.csv").write_text("poster,plot\np.png,a haunted house\np.png,a funny wedding\n")
    batch = js(capsys, "predict", job["model_id"], "--batch", str(tmp_path / "batch.csv"))
    (tmp_path / "batch.jsonl").write_text('{"poster": "p.png", "plot": "a haunted house"}\n')
    one = js(capsys, "predict", job["model_id"], "--batch", str(tmp_path / "batch.jsonl"))
    assert len(batch["predictions"]) == 2 and one["predictions"][0]["labels"] == batch["predictions"][0]["labels"]
    a, b = one["predictions"][0]["probabilities"], batch["predictions"][0]["probabilities"]
    assert all(abs(a[k] - b[k]) < 1e-4 for k in a)  # the same file read from CSV and JSONL

    rc, out, err = run(capsys, "jobs", "show", "no-such-job", "--json")
    assert rc == 1 and json.loads(out)["status"] == 404 and "HTTP 404" in err
    rc, _, err = run(capsys, "datasets", "delete", ds["id"])
    assert rc == 0 and "deleted" in _ + err


def test_key_from_the_data_dir_and_errors_carry_the_api_message(service, capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("SSNAS_API_KEY", raising=False)
    (tmp_path / "api_key").write_text(service.key + "\n")
    assert js(capsys, "jobs", "list", "--url", service.url, "--data-dir", str(tmp_path))["total"] >= 0
    rc, out, err = run(capsys, "jobs", "list", "--url", service.url, "--key", "ssnas_bad_key", "--json")
    assert rc == 1 and json.loads(out)["status"] == 401 and "API key" in err
    rc, _, err = run(capsys, "jobs", "submit", "--dataset", "nope", "--url", service.url, "--key", service.key)
    assert rc == 1 and "HTTP 404" in err


def _submit_long(service, tmp_path) -> str:
    """A job that runs long enough to watch (many tiny epochs on generated features)."""
    sys.path.insert(0, str(ROOT / "tests" / "core"))
    from factories import make_features

    make_features(tmp_path / "feat", n=200)
    with Client(service.url, service.key) as c:
        ds = c.upload_dataset(zip_folder(tmp_path / "feat", tmp_path / "feat.zip"))
        return c.submit_job(ds.id, search_epochs=300, device="cpu", label_fraction=0.5,
                            run={"space": {"C": 8, "L": 4}, "search": {"batch_size": 32}, "num_threads": 1}).id


def test_ctrl_c_detaches_from_watch_and_the_job_keeps_running(service, tmp_path):
    job_id = _submit_long(service, tmp_path)
    env = {**os.environ, "SSNAS_URL": service.url, "SSNAS_API_KEY": service.key, "PYTHONPATH": str(ROOT)}
    # the `ssnas` console script's function: launcher.serve.cli hands non-serve commands to the client
    cmd = [sys.executable, "-c", "import sys; from launcher.serve import cli; sys.exit(cli())",
           "jobs", "watch", job_id, "--interval", "0.2"]
    err = tmp_path / "watch.err"
    # SIGINT as a terminal gives it: a suite started in the background (`cmd &`) ignores SIGINT, its children
    # inherit that, and Python then installs no KeyboardInterrupt handler
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=open(err, "wb"),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while b"running search" not in err.read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    finally:
        proc.kill() if proc.poll() is None else None
    text = err.read_text()
    assert f"detached from job {job_id}" in text and "keeps running" in text
    with Client(service.url, service.key) as c:
        job = c.get_job(job_id)
        assert job.status == "running" and not job.cancel_requested
        assert c.cancel_job(job_id).cancel_requested
        assert c.wait(job_id, interval_s=0.2, timeout_s=120).status == "cancelled"
    rc = subprocess.run(cmd[:3] + ["jobs", "retry", job_id, "--json"], env=env, capture_output=True, text=True)
    assert rc.returncode == 0 and json.loads(rc.stdout)["status"] == "queued", rc.stderr
    rc = subprocess.run(cmd[:3] + ["jobs", "cancel", job_id], env=env, capture_output=True, text=True)
    assert rc.returncode == 0 and job_id in rc.stdout
