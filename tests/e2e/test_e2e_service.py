"""The service over HTTP with real processes: upload -> job -> poll -> genotype -> weights ->
predict, and cancel of a running job followed by a retry that resumes from its checkpoint."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
from helpers_e2e import done, poll, upload, zip_folder

from ssnas_core.data.features import FeatureDataset
from ssnas_core.predict import Predictor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from factories import make_features  # noqa: E402

RUN = {"space": {"C": 8, "L": 4}, "search": {"batch_size": 32}, "pretrain": {"batch_size": 32},
       "finetune": {"batch_size": 16, "min_dev_samples": 24}, "num_threads": 1}


def _job(client, dataset_id, **shortcuts):
    body = {"dataset_id": dataset_id, "method": "ssl", "device": "cpu", "seed": 3, "label_fraction": 0.5,
            "search_epochs": 2, "pretrain_epochs": 1, "finetune_epochs": 3, "run": RUN, **shortcuts}
    r = client.post("/jobs", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    return r.json()["id"]


def test_upload_search_poll_download_and_predict_over_http(stack, tmp_path):
    c = stack.client
    feats = make_features(tmp_path / "feat", n=200)
    ds = upload(c, "tiny", zip_folder(tmp_path / "feat"))
    assert ds["format"] == "features"
    job_id = _job(c, ds["id"])

    seen: list[dict] = []
    job = poll(c, job_id, done, seen=seen)
    assert job["status"] == "succeeded", job
    assert "running" in {j["status"] for j in seen}
    progress = [j["progress"] for j in seen if j["status"] == "running"]
    assert progress == sorted(progress) and job["progress"] == 1.0
    assert job["latest_metrics"]["stage"] == "evaluate"

    metrics = c.get(f"/jobs/{job_id}/metrics", params={"after": 0}).json()
    assert [m["stage"] for m in metrics["items"]][:3] == ["search", "search", "pretrain"]
    assert c.get(f"/jobs/{job_id}/metrics", params={"after": metrics["next_after"]}).json()["items"] == []

    genotype = c.get(f"/jobs/{job_id}/genotype").json()
    # the taps plus one summary node per modality (space.summary_nodes, the default); /predict below
    # gets the taps only and rebuilds the summaries with the checkpoint's statistics
    assert {n["name"] for n in genotype["nodes"]} == {"image.summary", "img_a", "img_b", "text.summary",
                                                      "txt_a", "txt_b"}
    assert c.get(f"/jobs/{job_id}/genotype.svg").text.lstrip().startswith(("<svg", "<?xml"))

    model = c.get(f"/models/{job['model_id']}").json()
    assert model["genotype"] == genotype and model["label_names"] == [f"label{k}" for k in range(4)]
    r = c.get(f"/models/{model['id']}/weights")
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == model["weights_sha256"]
    (tmp_path / "m.safetensors").write_bytes(r.content)
    local = Predictor.load(tmp_path / "m.safetensors")

    x = FeatureDataset(feats.path).get(np.arange(3))
    r = c.post(f"/models/{model['id']}/predict", json={"features": {k: v.tolist() for k, v in x.items()}})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    want = local.predict_features(x)
    got = np.array([[p["probabilities"][name] for name in model["label_names"]] for p in preds])
    np.testing.assert_allclose(got, want, atol=1e-5)
    for p, row in zip(preds, want):
        assert p["labels"] == [n for n, v in zip(model["label_names"], row) if v >= model["threshold"]]


def test_cancel_a_running_job_then_retry_resumes_from_its_checkpoint(stack, tmp_path):
    c = stack.client
    make_features(tmp_path / "feat", n=200, seed=5)
    ds = upload(c, "cancel-me", zip_folder(tmp_path / "feat"))
    job_id = _job(c, ds["id"], search_epochs=500)
    poll(c, job_id, lambda j: j["status"] == "running" and j["latest_metrics"] is not None)
    r = c.post(f"/jobs/{job_id}/cancel")
    assert r.status_code == 200 and r.json()["cancel_requested"] is True
    job = poll(c, job_id, done, timeout_s=30)
    assert job["status"] == "cancelled" and job["stage"] == "search"
    last_epoch = c.get(f"/jobs/{job_id}/metrics").json()["items"][-1]["epoch"]

    r = c.post(f"/jobs/{job_id}/retry")
    assert r.status_code == 202, r.text
    poll(c, job_id, lambda j: j["attempt"] == 2 and j["status"] == "running"
         and j["latest_metrics"] is not None and j["latest_metrics"]["epoch"] > last_epoch)
    logs = [item["message"] for item in c.get(f"/jobs/{job_id}/logs").json()["items"]]
    assert any(m.startswith("resuming from checkpoints") for m in logs), logs
    epochs = [m["epoch"] for m in c.get(f"/jobs/{job_id}/metrics").json()["items"]]
    assert epochs == list(range(len(epochs)))  # the retry continued, it did not start over
    c.post(f"/jobs/{job_id}/cancel")
    assert poll(c, job_id, done, timeout_s=30)["status"] == "cancelled"
