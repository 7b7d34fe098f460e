"""Summary nodes (space.summary_nodes, issue 9): the nodes, their statistics, a whole run with
them, and prediction from the taps alone with the checkpoint's statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ssnas_core.cli import main as cli_main
from ssnas_core.config import ConfigError, RunConfig
from ssnas_core.data.features import NodeSpec
from ssnas_core.data.summary import INFO_KEY, SummarizedDataset, with_summary_nodes
from ssnas_core.pipeline import prepare_features, run_pipeline
from ssnas_core.predict import PredictError, Predictor

TINY = {"space": {"C": 8, "L": 4, "summary_nodes": True}, "search": {"epochs": 2, "batch_size": 32},
        "pretrain": {"epochs": 1, "batch_size": 32},
        "finetune": {"epochs": 2, "batch_size": 16, "min_dev_samples": 24, "probe": "full"}}


def test_each_modality_gets_a_standardised_summary_of_all_its_taps(tiny_features):
    ds = with_summary_nodes(tiny_features)
    assert [n.name for n in ds.node_specs] == ["image.summary", "img_a", "img_b", "text.summary", "txt_a", "txt_b"]
    assert ds.node_specs[0] == NodeSpec("image.summary", "image", (8 + 16,))
    assert ds.node_specs[3] == NodeSpec("text.summary", "text", (12 + 6,))
    train, test = ds.split_indices("train"), ds.split_indices("test")
    got, raw = ds.get(train), tiny_features.get(train)
    np.testing.assert_allclose(got["image.summary"].mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(got["image.summary"].std(0), 1, atol=1e-3)
    # the first 8 dimensions are img_a pooled over its 4 x 4 map, standardised
    a = raw["img_a"].mean(axis=(2, 3))
    np.testing.assert_allclose(got["image.summary"][:, :8], (a - a.mean(0)) / a.std(0), atol=1e-3)
    assert np.array_equal(ds.get(test)["txt_b"], tiny_features.get(test)["txt_b"])  # the taps are untouched
    assert ds.labels is tiny_features.labels and len(ds) == len(tiny_features)
    assert with_summary_nodes(ds) is ds  # idempotent
    assert ds.manifest.info[INFO_KEY][1]["of"] == ["txt_a", "txt_b"]


def test_a_modality_with_one_tap_gets_no_summary(tmp_path):
    from factories import make_features

    one = make_features(tmp_path / "f", n=60, nodes=(NodeSpec("i", "image", (4,)), NodeSpec("t", "text", (3,))))
    assert with_summary_nodes(one) is one
    assert prepare_features(one, RunConfig.from_dict({"space": {"summary_nodes": True}})) is one


def test_summary_nodes_are_the_default_and_can_be_turned_off(tiny_features):
    assert prepare_features(tiny_features, RunConfig()).node_specs[0].name == "image.summary"
    off = RunConfig.from_dict({"space": {"summary_nodes": False}})
    assert prepare_features(tiny_features, off) is tiny_features


def test_vectors_mode_summarises_only_modalities_whose_taps_are_all_vectors(tiny_features):
    cfg = RunConfig.from_dict({"space": {"summary_nodes": "vectors"}})
    ds = prepare_features(tiny_features, cfg)
    # the image modality's taps are feature maps: no pooled summary beside them
    assert [n.name for n in ds.node_specs] == ["img_a", "img_b", "text.summary", "txt_a", "txt_b"]
    assert [s["modality"] for s in ds.manifest.info[INFO_KEY]] == ["text"]
    got = ds.get(tiny_features.split_indices("test"))
    assert got["text.summary"].shape[1] == 12 + 6 and "image.summary" not in got


@pytest.mark.parametrize("value,normal", [(True, "all"), (False, "none"), ("vectors", "vectors"), ("all", "all")])
def test_summary_nodes_reads_true_and_false_as_all_and_none(value, normal):
    assert RunConfig.from_dict({"space": {"summary_nodes": value}}).space.summary_nodes == normal


@pytest.mark.parametrize("bad", ["maps", "", 1, None])
def test_an_unknown_summary_nodes_value_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="summary_nodes"):
        RunConfig.from_dict({"space": {"summary_nodes": bad}})


def test_a_run_with_summary_nodes_predicts_from_the_taps_alone(tiny_features, tmp_path):
    cfg = RunConfig.from_dict({**TINY, "seed": 3})
    res = run_pipeline(tiny_features, cfg, tmp_path / "run")
    nodes = [n["name"] for n in res["genotype"]["nodes"]]
    assert "image.summary" in nodes and "text.summary" in nodes
    pred = Predictor.load(res["checkpoint"])
    test = tiny_features.split_indices("test")
    taps = tiny_features.get(test)  # what the backbones give: no summary nodes
    probs = pred.predict_features(taps)
    ref = pred.predict_features(SummarizedDataset(tiny_features, pred.summaries).get(test))
    np.testing.assert_allclose(probs, ref, atol=1e-6)
    # the evaluation of the saved model matches the run's own test metrics
    out = tmp_path / "eval.json"
    assert cli_main(["evaluate", "--checkpoint", res["checkpoint"], "--features", str(tiny_features.path),
                     "--split", "test", "--out", str(out)]) == 0
    got = json.loads(out.read_text())["metrics"]
    assert got["weighted_f1@0.5"] == pytest.approx(res["metrics"]["test"]["weighted_f1@0.5"], abs=1e-9)
    with pytest.raises(PredictError, match="missing input node 'txt_a'"):
        pred.predict_features({k: v for k, v in taps.items() if k != "txt_a"})
