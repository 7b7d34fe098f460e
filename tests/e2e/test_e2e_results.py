"""Results over HTTP: every method of the science table ends with a model, test metrics beside
the baseline panel and a working /predict; a job on data where a constant predictor is optimal
warns; GET /jobs lists each finished job's model, latest metrics and result."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_e2e import done, poll, upload, zip_folder

from ssnas_core.data.features import FeatureDataset, Manifest, NodeSpec, write_features
from ssnas_core.predict import Predictor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from factories import make_features  # noqa: E402

RUN = {"space": {"C": 8, "L": 4}, "search": {"batch_size": 32}, "pretrain": {"batch_size": 32},
       "finetune": {"batch_size": 16, "min_dev_samples": 24}, "num_threads": 1}
METHODS = [("ssl", {}), ("supervised", {}), ("mfas", {"mfas": {"depth": 2, "k": 2, "iterations": 1, "epochs": 1}}),
           ("late_fusion", {}), ("unimodal", {"modality": "text"}), ("random", {})]


def _submit(c, dataset_id, method="ssl", run=RUN, **extra):
    body = {"dataset_id": dataset_id, "method": method, "device": "cpu", "seed": 3, "label_fraction": 0.5,
            "search_epochs": 2, "pretrain_epochs": 1, "finetune_epochs": 3, "run": run, **extra}
    r = c.post("/jobs", json=body)
    assert r.status_code == 202, r.text
    return r.json()["id"]


@pytest.fixture(scope="module")
def feats(stack, tmp_path_factory):
    path = tmp_path_factory.mktemp("results") / "feat"
    make_features(path, n=200, seed=11)
    return path, upload(stack.client, "results", zip_folder(path))["id"]


@pytest.mark.parametrize("method, extra", METHODS, ids=[m for m, _ in METHODS])
def test_every_method_ends_with_a_model_a_result_and_predict(stack, feats, tmp_path, method, extra):
    c, (path, ds_id) = stack.client, feats
    job = poll(c, _submit(c, ds_id, method, **extra), done, timeout_s=300)
    assert job["status"] == "succeeded", job
    res = job["result"]
    assert res["method"] == method and res["model_id"] == job["model_id"] is not None
    assert {"weighted_f1@0.5", "micro_f1@0.3", "macro_f1@0.5"} <= set(res["test_metrics"])
    assert {"trivial_all", "trivial_topk", "trivial_most_frequent", "probe_image", "probe_text",
            "probe_concat"} == set(res["baselines"])
    assert set(res["verdict"]) == {"weighted_f1", "micro_f1", "macro_f1"}
    for v in res["verdict"].values():
        assert sorted(v["beats"] + v["loses_to"]) == sorted(res["baselines"])
    assert res["modalities_read"] == (["text"] if method == "unimodal" else res["modalities_read"])
    assert job["warnings"] == res["warnings"]
    logs = [i["message"] for i in c.get(f"/jobs/{job['id']}/logs").json()["items"]]
    assert all(any(w in m for m in logs) for w in res["warnings"])

    model = c.get(f"/models/{job['model_id']}").json()
    assert model["threshold"] == res["threshold"]
    r = c.get(f"/models/{model['id']}/weights")
    assert hashlib.sha256(r.content).hexdigest() == model["weights_sha256"]
    (tmp_path / "m.safetensors").write_bytes(r.content)
    local = Predictor.load(tmp_path / "m.safetensors")
    x = FeatureDataset(path).get(np.arange(4))
    r = c.post(f"/models/{model['id']}/predict", json={"features": {k: v.tolist() for k, v in x.items()}})
    assert r.status_code == 200, r.text
    out = r.json()
    got = np.array([[p["probabilities"][n] for n in model["label_names"]] for p in out["predictions"]])
    np.testing.assert_allclose(got, local.predict_features(x), atol=1e-5)
    assert out["threshold"] == res["threshold"]
    assert [p["labels"] for p in out["predictions"]] == local.labels(got)


def _constant_labels(path: Path, n: int = 200) -> Path:
    """Noise features; labels a and b on every sample, c and d never: predicting the two most
    frequent labels is exact, so no model can beat the constant predictor."""
    rng = np.random.default_rng(5)
    nodes = (NodeSpec("img", "image", (4, 2, 2)), NodeSpec("txt", "text", (6,)))
    arrays = {s.name: rng.normal(size=(n, *s.shape)).astype(np.float32) for s in nodes}
    y = np.zeros((n, 4), np.uint8)
    y[:, :2] = 1
    split = np.repeat(np.array([0, 1, 2], np.uint8), [120, 40, 40])
    man = Manifest(nodes=nodes, label_names=("a", "b", "c", "d"), task="multilabel", num_samples=n)
    write_features(path, man, arrays, y, split, ids=[f"m{i}" for i in range(n)])
    return path


def test_a_job_where_a_constant_predictor_is_optimal_warns(stack, tmp_path):
    c = stack.client
    ds = upload(c, "constant", zip_folder(_constant_labels(tmp_path / "const")))
    run = {**RUN, "finetune": {**RUN["finetune"], "min_dev_samples": 48}}  # the dev split has 40
    job = poll(c, _submit(c, ds["id"], "late_fusion", run=run), done, timeout_s=300)
    assert job["status"] == "succeeded", job
    res = job["result"]
    assert res["verdict"]["weighted_f1"]["best_value"] == 1.0
    assert res["verdict"]["weighted_f1"]["loses_to"]  # a tie is not a win
    assert any("does not beat the best baseline on weighted_f1" in w for w in job["warnings"])
    assert any("fewer than the minimum dev subset of 48" in w for w in res["protocol"])
    assert any("cannot be learned: c, d" in w for w in res["protocol"])
    logs = c.get(f"/jobs/{job['id']}/logs").json()["items"]
    assert any(i["level"] == "warning" and "does not beat" in i["message"] for i in logs)

    listed = {j["id"]: j for j in c.get("/jobs", params={"status": "succeeded", "limit": 100}).json()["items"]}
    assert listed[job["id"]]["model_id"] == job["model_id"]
    assert listed[job["id"]]["latest_metrics"] == job["latest_metrics"] is not None
    assert listed[job["id"]]["result"] == res and listed[job["id"]]["warnings"] == job["warnings"]


@pytest.mark.parametrize("extra, needle", [({"method": "unimodal"}, "needs a modality"),
                                           ({"method": "late_fusion", "modality": "text"}, "only method 'unimodal'"),
                                           ({"method": "unimodal", "modality": "audio"}, "is not in dataset")])
def test_a_unimodal_job_needs_one_of_the_datasets_modalities(stack, feats, extra, needle):
    r = stack.client.post("/jobs", json={"dataset_id": feats[1], "device": "cpu", **extra})
    assert r.status_code == 422 and needle in r.text, r.text
