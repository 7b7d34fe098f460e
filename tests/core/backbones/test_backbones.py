"""Every registered backbone: taps, shapes, determinism; the shipped weights really load."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from ssnas_core.backbones import (
    BackboneError,
    BackboneSpec,
    cached_backbone,
    get_backbone,
    list_backbones,
)
from ssnas_core.backbones.maxout_mlp import MaxoutMLP, load_maxout, save_maxout
from ssnas_core.backbones.melspec import log_mel, mel_filterbank
from ssnas_core.backbones.vgg19 import vgg19_features

SMALL = {"efficientnet_lite0": {"image_size": 64}, "vgg19": {"image_size": 64},
         "identity": {"dim": 7}}


def _value(kind: str, rng: np.random.Generator, i: int):
    if kind == "image":
        return Image.fromarray(rng.integers(0, 256, (50 + i, 40, 3), dtype=np.uint8))
    if kind == "text":
        return " ".join(["a movie about a dog", "space war", "love story in paris"][: i % 3 + 1])
    if kind == "audio":
        t = np.arange(4000 + 500 * i) / 8000.0
        return (0.3 * np.sin(2 * np.pi * (300 + 100 * i) * t).astype(np.float32), 8000)
    return rng.normal(size=300).astype(np.float32)


def _build(name: str):
    weights = "random" if name == "vgg19" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return get_backbone(name, weights=weights, **SMALL.get(name, {}))


@pytest.mark.parametrize("name", list_backbones())
def test_every_backbone_returns_its_taps(name):
    bb = _build(name)
    rng = np.random.default_rng(0)
    values = [_value(bb.kind, rng, i) for i in range(3)]
    if name == "identity":
        values = [rng.normal(size=7).astype(np.float32) for _ in range(3)]
    out = bb.forward(bb.collate([bb.preprocess(v) for v in values]))
    assert list(out) == bb.tap_names and len(bb.taps) >= 1
    for tap, shape in bb.taps:
        assert out[tap].shape == (3, *shape) and out[tap].dtype == torch.float32
        assert len(shape) == 1 or shape[1:] == (4, 4)
        assert torch.isfinite(out[tap]).all()
    again = bb.forward(bb.collate([bb.preprocess(v) for v in values[:1]]))
    for tap in out:  # batch composition does not change a sample's features
        assert torch.allclose(again[tap][0], out[tap][0], atol=1e-4)
    if name not in ("identity", "maxout_mlp"):
        assert any(not torch.allclose(out[t][0], out[t][1]) for t in out)
    assert bb.describe()["weights_id"]


def test_multi_depth_taps_documented():
    assert _build("efficientnet_lite0").tap_names == ["s4", "s5", "s6", "s7", "head"]
    assert _build("minilm").tap_names == ["l2", "l4", "l6"]
    assert _build("vgg19").tap_names == ["relu4_1", "relu4_4", "relu5_3", "pool5"]
    assert _build("maxout_mlp").taps == [("l1", (64,)), ("l2", (128,))]
    assert _build("audio_cnn").tap_names == ["mel", "c2", "c3", "c4"]


def test_efficientnet_shipped_weights_classify_a_real_photo():
    from sklearn.datasets import load_sample_image

    bb = get_backbone("efficientnet_lite0", image_size=224)
    x = bb.collate([bb.preprocess(Image.fromarray(load_sample_image("flower.jpg")))])
    with torch.inference_mode():
        logits = bb.module(x)
    top3 = logits[0].topk(3).indices.tolist()
    assert 985 in top3  # ImageNet class 985 = daisy: weights and preprocessing are right


def test_minilm_matches_reference_bert_outputs():
    bb = get_backbone("minilm")
    texts = ["A young boy discovers a dragon.", "A detective hunts a killer in the city.",
             "A boy befriends a dragon."]
    out = bb.forward(bb.collate([bb.preprocess(t) for t in texts]))
    # reference: transformers BertModel on the same weights, hidden_states[6/2] token mean
    assert np.allclose(out["l6"][0, :4], [-0.745975, 0.831314, -0.106618, -0.032988], atol=1e-4)
    assert np.allclose(out["l2"][0, :4], [0.129599, -0.107306, -0.309531, 0.139206], atol=1e-4)
    e = torch.nn.functional.normalize(out["l6"], dim=1)
    assert e[0] @ e[2] > e[0] @ e[1]  # paraphrase closer than an unrelated plot


def test_minilm_unpadded_cpu_batches_match_padded_ones():
    """On the CPU texts of a batch run without padding (forward_packed); the padded forward an
    accelerator runs gives the same token means."""
    bb = get_backbone("minilm")
    texts = ["A boy.", "A detective hunts a killer in a city that never sleeps, night after night.",
             "Two sisters open a bakery.", "x " * 300]
    ids = [bb.preprocess(t) for t in texts]
    out = bb.forward(bb.collate(ids))
    width = max(map(len, ids))
    pad = torch.zeros(len(ids), width, dtype=torch.long)
    mask = torch.zeros_like(pad)
    for j, row in enumerate(ids):
        pad[j, :len(row)], mask[j, :len(row)] = torch.tensor(row), 1
    with torch.inference_mode():
        states = bb.module(pad, mask)
    w = mask.unsqueeze(-1).float()
    for layer in (2, 4, 6):
        ref = (states[layer] * w).sum(1) / w.sum(1)
        assert torch.allclose(out[f"l{layer}"], ref, atol=1e-5), layer
    one = bb.forward(bb.collate(ids[1:2]))  # alone or in a batch: the same
    assert torch.allclose(one["l6"][0], out["l6"][1], atol=1e-5)


def test_maxout_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    module = MaxoutMLP(in_dim=300, hidden=(64, 128), k=5).eval()
    x = torch.randn(4, 300)
    save_maxout(module, tmp_path / "m.safetensors")
    back = load_maxout(tmp_path / "m.safetensors")
    assert torch.allclose(back(x)["l2"], module(x)["l2"])
    bb = get_backbone("maxout_mlp", weights=str(tmp_path / "m.safetensors"))
    assert bb.weights_id.startswith("sha256:")
    assert torch.allclose(bb.forward(x)["l1"], module(x)["l1"])
    with pytest.raises(BackboneError, match="300"):
        bb.preprocess(np.zeros(5))


def test_vgg19_needs_local_weights_and_loads_torchvision_layout(tmp_path):
    with pytest.raises(BackboneError, match="local weights file"):
        get_backbone("vgg19")
    feats = vgg19_features()
    torch.manual_seed(1)
    for p in feats.parameters():
        p.data.normal_(0, 0.05)
    state = {f"features.{k}": v for k, v in feats.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # torchvision files also hold the classifier
    torch.save(state, tmp_path / "vgg19.pth")
    bb = get_backbone("vgg19", weights=str(tmp_path / "vgg19.pth"), image_size=64, taps=["pool5"])
    x = torch.randn(2, 3, 64, 64)
    expected = torch.nn.functional.adaptive_max_pool2d(feats.eval()(x), 4)
    assert torch.allclose(bb.forward(x)["pool5"], expected, atol=1e-5)
    with pytest.warns(RuntimeWarning, match="RANDOM"):
        get_backbone("vgg19", weights="random", image_size=64)


def test_log_mel_puts_a_tone_in_the_right_band():
    fb = mel_filterbank(8000, 256, 64, 20.0, 4000.0)
    assert fb.shape == (64, 129) and float(fb.max()) <= 1.0 + 1e-6
    t = torch.arange(8000) / 8000.0
    low, high = (log_mel(torch.sin(2 * torch.pi * f * t), 8000).mean(1).argmax() for f in (300, 2500))
    assert low < high


def test_registry_errors_and_process_cache():
    with pytest.raises(BackboneError, match="unknown backbone"):
        get_backbone("resnet9000")
    with pytest.raises(BackboneError, match="bad options"):
        get_backbone("minilm", colour="red")
    with pytest.raises(BackboneError, match="unknown or empty taps"):
        get_backbone("minilm", taps=["l9"])
    spec = {"name": "audio_cnn", "options": {"taps": ["mel"]}}
    assert cached_backbone(spec) is cached_backbone(BackboneSpec.parse(spec))
    assert cached_backbone(spec).tap_names == ["mel"]
    with pytest.raises(BackboneError, match="unknown keys"):
        BackboneSpec.parse({"name": "minilm", "wieghts": "x"})
