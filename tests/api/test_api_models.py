"""/models: metadata, streamed weights, /predict on features, JSON raw inputs and multipart."""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
import pytest
from api_factories import LABELS, make_model
from PIL import Image

from store.db import session_scope
from store.tables import Checkpoint, Model

VEC_NODES = [("a.identity.vec", "vector", (8,)), ("b.identity.vec", "vector", (6,))]
VEC_BACKBONES = {"a": {"name": "identity", "weights": None, "options": {"dim": 8}},
                 "b": {"name": "identity", "weights": None, "options": {"dim": 6}}}


@pytest.fixture
def vec_model(db, tmp_path):
    return make_model("alice", tmp_path, VEC_NODES, VEC_BACKBONES, threshold=0.5)


def _local_probs(model_id: str, tmp_path, nodes: dict) -> np.ndarray:
    from ssnas_core.predict import Predictor
    from store.storage import read_blob_to_file

    with session_scope() as s:
        path = read_blob_to_file(s, s.get(Model, model_id).checkpoint_id, tmp_path / "local.st")
    return Predictor.load(path).predict_features(nodes)


def test_model_metadata_and_streamed_weights(client, alice, bob, vec_model):
    r = client.get(f"/models/{vec_model}", headers=alice)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["label_names"] == list(LABELS) and body["threshold"] == 0.5
    assert [n["name"] for n in body["node_specs"]] == [n for n, _, _ in VEC_NODES]
    w = client.get(f"/models/{vec_model}/weights", headers=alice)
    assert w.status_code == 200 and w.headers["content-type"] == "application/octet-stream"
    digest = hashlib.sha256(w.content).hexdigest()
    assert digest == body["weights_sha256"] == w.headers["x-checksum-sha256"]
    assert len(w.content) == body["weights_size"]
    with session_scope() as s:
        assert s.get(Checkpoint, s.get(Model, vec_model).checkpoint_id).sha256 == digest
    assert client.get("/models", headers=alice).json()["items"][0]["id"] == vec_model
    job = client.get(f"/jobs/{body['job_id']}", headers=alice).json()
    assert job["model_id"] == vec_model and job["status"] == "succeeded"
    assert client.get(f"/models/{vec_model}", headers=bob).status_code == 404
    assert client.get(f"/models/{vec_model}/weights", headers=bob).status_code == 404
    assert client.get("/models", headers=bob).json()["items"] == []


def test_predict_on_features_matches_the_checkpoint(client, alice, vec_model, tmp_path):
    rng = np.random.default_rng(1)
    feats = {"a.identity.vec": rng.normal(size=(3, 8)), "b.identity.vec": rng.normal(size=(3, 6))}
    r = client.post(f"/models/{vec_model}/predict", headers=alice,
                    json={"features": {k: v.tolist() for k, v in feats.items()}})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["label_names"] == list(LABELS) and len(out["predictions"]) == 3
    want = _local_probs(vec_model, tmp_path, feats)
    got = np.array([[p["probabilities"][k] for k in LABELS] for p in out["predictions"]])
    np.testing.assert_allclose(got, want, atol=1e-5)
    for p, row in zip(out["predictions"], want):
        assert p["labels"] == [k for k, v in zip(LABELS, row) if v > 0.5]


def test_predict_raw_json_single_and_batch(client, alice, vec_model, tmp_path):
    a, b = np.linspace(-1, 1, 8), np.linspace(0, 2, 6)
    one = client.post(f"/models/{vec_model}/predict", headers=alice,
                      json={"inputs": {"a": a.tolist(), "b": b.tolist()}})
    assert one.status_code == 200, one.text
    batch = client.post(f"/models/{vec_model}/predict", headers=alice,
                        json={"batch": [{"a": a.tolist(), "b": b.tolist()}] * 2}).json()
    want = _local_probs(vec_model, tmp_path, {"a.identity.vec": a[None], "b.identity.vec": b[None]})
    for p in one.json()["predictions"] + batch["predictions"]:
        np.testing.assert_allclose([p["probabilities"][k] for k in LABELS], want[0], atol=1e-5)


@pytest.mark.parametrize("body, needle", [
    ({"features": {"a.identity.vec": [[1.0] * 7], "b.identity.vec": [[1.0] * 6]}}, "expected shape"),
    ({"features": {"a.identity.vec": [[1.0] * 8]}}, "missing input node"),
    ({"inputs": {"a": [1.0] * 8}}, "lack the fields"),
    ({"inputs": {"a": {"base64": "!!"}, "b": [1.0] * 6}}, "base64"),
    ({"inputs": {"a": [1.0] * 8}, "features": {}}, "exactly one"),
    ({"bogus": 1}, "invalid predict request"),
])
def test_predict_bad_inputs_are_422(client, alice, vec_model, body, needle):
    r = client.post(f"/models/{vec_model}/predict", headers=alice, json=body)
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"]


def test_predict_raw_on_a_features_only_model_is_422(client, alice, db, tmp_path):
    mid = make_model("alice", tmp_path, VEC_NODES, backbones=None)
    r = client.post(f"/models/{mid}/predict", headers=alice, json={"inputs": {"a": [1.0] * 8}})
    assert r.status_code == 422 and "precomputed features" in r.json()["detail"]


def test_predict_multipart_poster_through_its_backbone(client, alice, bob, db, tmp_path):
    from ssnas_core.backbones.registry import cached_backbone

    spec = {"name": "efficientnet_lite0", "weights": None, "options": {}}
    taps = cached_backbone(spec).taps
    nodes = [(f"poster.efficientnet_lite0.{t}", "image", shape) for t, shape in taps]
    mid = make_model("alice", tmp_path, nodes, {"poster": spec})
    buf = io.BytesIO()
    Image.new("RGB", (64, 96), (200, 30, 30)).save(buf, format="PNG")
    png = buf.getvalue()
    r = client.post(f"/models/{mid}/predict", headers=alice,
                    files=[("poster", ("p.png", png, "image/png")),
                           ("poster", ("q.png", png, "image/png"))])
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert len(preds) == 2 and preds[0]["probabilities"] == preds[1]["probabilities"]
    js = client.post(f"/models/{mid}/predict", headers=alice,
                     json={"inputs": {"poster": {"base64": base64.b64encode(png).decode()}}})
    got = js.json()["predictions"][0]["probabilities"]
    np.testing.assert_allclose([got[k] for k in LABELS],
                               [preds[0]["probabilities"][k] for k in LABELS], atol=1e-5)
    bad = client.post(f"/models/{mid}/predict", headers=alice,
                      files=[("poster", ("x.png", b"not an image", "image/png"))])
    assert bad.status_code == 422 and "poster" in bad.json()["detail"]
    assert client.post(f"/models/{mid}/predict", headers=bob, files=[("poster", ("p.png", png))]
                       ).status_code == 404
