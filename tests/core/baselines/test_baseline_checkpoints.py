"""Baseline networks (late fusion, unimodal head, MFAS net) saved as model checkpoints rebuild
from the file alone, and /predict's Predictor applies the checkpoint's (per-label) thresholds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssnas_core.baselines.late_fusion import late_fusion, late_fusion_all, unimodal
from ssnas_core.baselines.mfas import MFASNet
from ssnas_core.checkpoint import load_model, save_model
from ssnas_core.data.features import NodeSpec
from ssnas_core.model import Classifier
from ssnas_core.predict import Predictor

NODES = (NodeSpec("img_a", "image", (8, 4, 4)), NodeSpec("img_b", "image", (16, 2, 2)),
         NodeSpec("txt_a", "text", (12,)), NodeSpec("txt_b", "text", (6,)))
META = {"label_names": ["a", "b", "c"], "task": "multilabel", "threshold": 0.5}


def _fusions():
    torch.manual_seed(0)
    return {"late_fusion": late_fusion(NODES, hidden=16), "late_fusion_all": late_fusion_all(NODES, hidden=16),
            "unimodal": unimodal(NODES, "text", hidden=16),
            "mfas": MFASNet(((1, 0, 2), (0, 1, 0)), [0, 1], [2, 3], [n.shape[0] for n in NODES], 16, NODES)}


@pytest.mark.parametrize("kind", ["late_fusion", "late_fusion_all", "unimodal", "mfas"])
def test_a_baseline_checkpoint_rebuilds_its_network(tmp_path, kind):
    model = Classifier(_fusions()[kind], 3)
    x = [torch.randn(5, *n.shape) for n in NODES]
    model.train()
    model(x)  # move the batch-norm statistics away from their initial values
    model.eval()
    save_model(tmp_path / "m.safetensors", model, META)
    loaded, meta = load_model(tmp_path / "m.safetensors")
    assert type(loaded.fusion) is type(model.fusion) and torch.equal(loaded(x), model(x))
    assert [n["name"] for n in meta["nodes"]] == [n.name for n in NODES]
    assert meta["genotype"] == model.fusion.describe(NODES)
    pred = Predictor.load(tmp_path / "m.safetensors")
    assert pred.node_specs == NODES
    probs = pred.predict_features({n.name: v.numpy() for n, v in zip(NODES, x)})
    np.testing.assert_allclose(probs, torch.sigmoid(model(x)).detach().numpy(), atol=1e-6)


def test_predictor_applies_per_label_thresholds_when_the_checkpoint_has_them(tmp_path):
    model = Classifier(_fusions()["late_fusion"], 3).eval()
    save_model(tmp_path / "g.safetensors", model, {**META, "threshold": 0.4})
    save_model(tmp_path / "p.safetensors", model, {**META, "threshold": 0.4, "thresholds": [0.1, 0.5, 0.9]})
    probs = np.array([[0.2, 0.45, 0.95], [0.05, 0.6, 0.5]])
    assert Predictor.load(tmp_path / "g.safetensors").labels(probs) == [["b", "c"], ["b", "c"]]
    assert Predictor.load(tmp_path / "p.safetensors").labels(probs) == [["a", "c"], ["b"]]
