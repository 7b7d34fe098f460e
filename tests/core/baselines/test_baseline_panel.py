"""The baseline panel: trivial predictors and logistic probes on the job's split, the verdict,
the warnings and the protocol notes."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from ssnas_core.baselines.panel import (
    architecture_modalities,
    baseline_panel,
    panel_warnings,
    protocol_notes,
    verdict,
    weighted_f1,
)
from ssnas_core.config import RunConfig
from ssnas_core.data.features import Manifest, NodeSpec, write_features

CFG = RunConfig.from_dict({"finetune": {"label_fraction": 0.5, "min_dev_samples": 24}})


def _noise_labels(tmp_path, n=200):
    """Text features carry the labels, image features are noise."""
    rng = np.random.default_rng(0)
    y = (rng.random((n, 3)) < 0.4).astype(np.uint8)
    nodes = (NodeSpec("img", "image", (4, 2, 2)), NodeSpec("txt", "text", (6,)))
    arrays = {"img": rng.normal(size=(n, 4, 2, 2)).astype(np.float32),
              "txt": np.concatenate([y * 3.0, rng.normal(size=(n, 3))], 1).astype(np.float32)}
    split = np.repeat(np.array([0, 1, 2], np.uint8), [120, 40, 40])
    man = Manifest(nodes=nodes, label_names=("a", "b", "c"), task="multilabel", num_samples=n)
    return write_features(tmp_path / "f", man, arrays, y, split, ids=[str(i) for i in range(n)])


def test_weighted_f1_matches_sklearn():
    rng = np.random.default_rng(1)
    for _ in range(5):
        y, p = rng.random((30, 5)) < 0.3, rng.random((30, 5)) < 0.5
        y[:, 1] = False
        assert abs(weighted_f1(y, p) - f1_score(y, p, average="weighted", zero_division=0)) < 1e-12


def test_panel_fits_trivials_and_probes_on_the_same_split(tmp_path):
    ds = _noise_labels(tmp_path)
    panel = baseline_panel(ds, CFG)
    assert set(panel) == {"trivial_all", "trivial_topk", "trivial_most_frequent", "probe_image", "probe_text",
                          "probe_concat"}
    w = {n: b["test"]["weighted_f1@sel"] for n, b in panel.items()}
    assert w["probe_text"] > 0.9 and w["probe_concat"] > 0.9 and w["probe_image"] < 0.8
    assert panel["trivial_all"]["test"]["weighted_f1@0.5"] == panel["trivial_all"]["test"]["weighted_f1@0.3"]
    assert all(0.05 <= b["threshold"] <= 0.95 for b in panel.values())


def test_verdict_and_warnings_name_what_the_model_loses_to(tmp_path):
    ds = _noise_labels(tmp_path)
    panel = baseline_panel(ds, CFG)
    model = {k: 0.7 for k in panel["probe_text"]["test"]}
    v = verdict("multilabel", model, panel)
    assert set(v) == {"weighted_f1", "micro_f1", "macro_f1"} and v["weighted_f1"]["key"] == "weighted_f1@sel"
    assert "probe_text" in v["weighted_f1"]["loses_to"] and "probe_text" not in v["weighted_f1"]["beats"]
    lines = panel_warnings(v, ["image"], ["image", "text"])
    assert any("does not beat the best baseline on weighted_f1@sel" in s for s in lines)
    assert any("ignores text" in s for s in lines)
    assert panel_warnings(v, ["text"], ["image", "text"], expect_one=True)[-1].startswith("the model does not")
    perfect = {k: 1.01 for k in model}
    assert panel_warnings(verdict("multilabel", perfect, panel), ["image", "text"], ["image", "text"]) == []


def test_modalities_of_each_architecture_kind(tmp_path):
    nodes = _noise_labels(tmp_path).node_specs
    assert architecture_modalities({"late_fusion": ["txt"], "hidden": 8}, nodes) == ["text"]
    assert architecture_modalities({"mfas": [[0, 0, 1]], "nodes": [["img", "txt", 1]]}, nodes) == ["image", "text"]


def test_protocol_notes_name_a_short_dev_split_and_unlearnable_labels(tmp_path):
    ds = _noise_labels(tmp_path)
    assert protocol_notes(ds, CFG) == []
    notes = protocol_notes(ds, RunConfig.from_dict({"finetune": {"label_fraction": 0.5, "min_dev_samples": 64}}))
    assert len(notes) == 1 and "fewer than the minimum dev subset of 64" in notes[0]
    y = np.asarray(ds.labels).copy()
    y[:, 2] = 0
    ds2 = write_features(tmp_path / "g", ds.manifest, ds.get(np.arange(len(ds))), y, ds.split,
                         ids=[str(i) for i in range(len(ds))])
    assert any("cannot be learned: c" in n for n in protocol_notes(ds2, CFG))
