"""Raw-input SimCLR views: each component changes the value but keeps its type and size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ssnas_core.augment_raw import DEFAULT_RAW_VIEWS, RAW_AUGMENTS, RawAugmenter, make_augment

PLOT = "a retired thief is pulled back for one last job in rome with his old crew of friends"


def _image() -> Image.Image:
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, 40 * 30).reshape(40, 30)[..., None] * np.array([1.0, 0.6, 0.2])
    return Image.fromarray((base + rng.normal(0, 10, base.shape)).clip(0, 255).astype(np.uint8))


def _value(kind: str):
    if kind == "image":
        return _image()
    if kind == "text":
        return PLOT
    t = np.arange(4000) / 8000.0
    return (0.5 * np.sin(2 * np.pi * 440 * t).astype(np.float32), 8000)


@pytest.mark.parametrize("name", sorted(RAW_AUGMENTS))
def test_each_augmentation_changes_value_keeps_type(name):
    always = {"horizontal_flip": {"p": 1.0}, "color_jitter": {"p": 1.0}, "grayscale": {"p": 1.0},
              "word_dropout": {"p": 0.3}}
    aug = make_augment({"name": name, **always.get(name, {})})
    value = _value(aug.kind)
    out = aug(value, np.random.default_rng(3))
    assert type(out) is type(value)
    if aug.kind == "image":
        assert out.size == value.size and out.mode == "RGB"
        assert not np.array_equal(np.asarray(out), np.asarray(value))
    elif aug.kind == "text":
        assert out != value and out.split() and set(out.split()) <= set(value.split())
    else:
        assert out[1] == value[1] and out[0].shape == value[0].shape and out[0].dtype == np.float32
        assert not np.allclose(out[0], value[0])


def test_augmenter_is_seeded_and_recorded():
    fields = {"poster": "image", "plot": "text"}
    sample = {"poster": _image(), "plot": PLOT}
    aug = RawAugmenter()
    v1, v2 = aug.views(sample, fields, np.random.default_rng(0))
    w1, _ = aug.views(sample, fields, np.random.default_rng(0))
    assert v1["plot"] != v2["plot"] and v1["plot"] == w1["plot"]
    assert np.array_equal(np.asarray(v1["poster"]), np.asarray(w1["poster"]))
    assert sample["plot"] == PLOT  # the input sample is not modified
    rec = aug.to_json()
    assert [a["name"] for a in rec["text"]] == DEFAULT_RAW_VIEWS["text"]
    assert RawAugmenter(rec).to_json() == rec


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="unknown raw augmentation"):
        make_augment("blur")
    with pytest.raises(ValueError, match="bad parameters"):
        make_augment({"name": "grayscale", "q": 1})
    with pytest.raises(ValueError, match="do not apply"):
        RawAugmenter({"text": ["grayscale"]})
