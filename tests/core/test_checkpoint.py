import subprocess
import sys

import numpy as np
import torch

from ssnas_core.checkpoint import load_model, save_model
from ssnas_core.config import SearchSpaceConfig
from ssnas_core.genotype import Genotype, bmnas_mmimdb
from ssnas_core.model import Classifier, FusionNet
from ssnas_core.predict import Predictor


def _small_model():
    g = bmnas_mmimdb()
    d = g.to_json()
    d["space"] = {**d["space"], "C": 8, "L": 4}
    torch.manual_seed(3)
    return Classifier(FusionNet(Genotype.from_json(d)), 23).eval()


def test_checkpoint_round_trip_gives_identical_logits(tmp_path):
    model = _small_model()
    nodes = [torch.randn(4, *n.shape) for n in model.fusion.genotype.nodes]
    path = tmp_path / "m.safetensors"
    meta = {"label_names": [f"g{i}" for i in range(23)], "task": "multilabel", "threshold": 0.3, "seed": 3}
    save_model(path, model, meta)
    loaded, meta = load_model(path)
    assert torch.equal(model(nodes), loaded(nodes))
    assert meta["threshold"] == 0.3 and meta["seed"] == 3 and "torch" in meta["versions"]
    assert path.read_bytes()[:8] != b"\x80\x02\x8a\x0a"  # not a pickle
    pred = Predictor.load(path)
    probs = pred.predict_features({n.name: x.numpy() for n, x in zip(model.fusion.genotype.nodes, nodes)})
    assert np.allclose(probs, torch.sigmoid(model(nodes)).detach().numpy(), atol=1e-6)
    assert len(pred.labels(probs)) == 4


def test_space_config_validation():
    import pytest

    from ssnas_core.config import ConfigError
    with pytest.raises(ConfigError, match="perfect square"):
        SearchSpaceConfig(L=15)


def test_import_boundary():
    code = ("import sys, ssnas_core, ssnas_core.pipeline, ssnas_core.cli, ssnas_core.predict;"
            "web = ('fastapi', 'starlette', 'sqlalchemy', 'celery', 'redis', 'alembic');"
            "bad = [m for m in web if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
