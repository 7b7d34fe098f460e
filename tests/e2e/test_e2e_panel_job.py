"""bench/panel_job.py --api: one job through the service over HTTP (upload, POST /jobs, polls,
GET /jobs/{id}), its result (test metrics beside the baseline panel, verdict, warnings), the ETA
shown at 10/25/50 % and the command, written as JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers_e2e import zip_folder

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "core"))
sys.path.insert(0, str(ROOT / "bench"))
import panel_job  # noqa: E402
from factories import make_features  # noqa: E402


def test_panel_job_runs_a_job_over_http_and_writes_its_result(stack, tmp_path, monkeypatch):
    make_features(tmp_path / "feat", n=200, seed=5)
    (tmp_path / "feat.zip").write_bytes(zip_folder(tmp_path / "feat"))
    key = tmp_path / "key"
    key.write_text(stack.client.headers["Authorization"].removeprefix("Bearer "))
    out = tmp_path / "panel.json"
    tiny = ["space.C=8", "space.L=4", "search.epochs=2", "search.batch_size=32", "pretrain.epochs=1",
            "pretrain.batch_size=32", "finetune.epochs=3", "finetune.batch_size=16", "finetune.label_fraction=0.5",
            "finetune.min_dev_samples=24", "num_threads=1"]
    argv = ["--api", stack.url, "--key-file", str(key), "--upload", str(tmp_path / "feat.zip"), "--method", "ssl",
            "--poll-s", "0.3", "--out", str(out), *[a for kv in tiny for a in ("--set", kv)]]
    monkeypatch.setattr(sys, "argv", ["panel_job.py", *argv])
    panel_job.main()
    doc = json.loads(out.read_text())
    assert doc["command"].startswith("python bench/panel_job.py --api ") and doc["dataset"]["format"] == "features"
    job = doc["job"]
    assert job["status"] == "succeeded" and job["spec"]["run"]["space"]["C"] == 8
    result = job["result"]
    assert {"trivial_all", "trivial_topk", "trivial_most_frequent", "probe_concat"} <= set(result["baselines"])
    assert set(result["verdict"]) == {"weighted_f1", "micro_f1", "macro_f1"} and result["test_metrics"]
    assert job["warnings"] == result["warnings"]
    assert doc["polls"][-1]["status"] == "succeeded" and doc["upload_s"] > 0
    assert "info: stage baselines" in doc["logs"]
    for check in doc["eta_check"].values():  # the ETA shown at a target progress, and the time that was left
        assert check["eta_s"] >= 0 and check["left_s"] > 0


def test_eta_check_compares_the_eta_shown_with_the_time_left():
    polls = [{"t_s": 0.0, "progress": 0.0, "eta_s": None, "stage": None},
             {"t_s": 10.0, "progress": 0.12, "eta_s": 100.0, "stage": "search"},
             {"t_s": 30.0, "progress": 0.3, "eta_s": 60.0, "stage": "search"},
             {"t_s": 70.0, "progress": 0.6, "eta_s": 10.0, "stage": "finetune"},
             {"t_s": 90.0, "progress": 1.0, "eta_s": None, "stage": "done"}]
    got = panel_job.eta_check(polls)
    assert {k: v["eta_over_actual"] for k, v in got.items()} == {"0.10": 1.25, "0.25": 1.0, "0.50": 0.5}
