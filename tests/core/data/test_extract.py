"""Feature extraction: round trip, resume after an interrupt, cache reuse, errors, real pack."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ssnas_core.backbones import BackboneError
from ssnas_core.data.extract import build_features, dataset_fingerprint, extract_one
from ssnas_core.data.features import MANIFEST, FeatureDataset, FeatureFormatError
from ssnas_core.data.raw import DataFormatError, LoadReport, RawDataset

BACKBONES = {"poster": {"name": "efficientnet_lite0", "options": {"image_size": 64, "taps": ["s6", "head"]}},
             "speech": {"name": "audio_cnn", "options": {"taps": ["mel", "c4"]}}}


class TinyRaw:
    """An in-memory RawDataset with one field of every kind."""

    def __init__(self, n: int = 10, seed: int = 0, words: str = "a heist in rome"):
        rng = np.random.default_rng(seed)
        self.fields = {"poster": "image", "plot": "text", "speech": "audio", "vec": "vector"}
        self.label_names, self.task = ["a", "b", "c"], "multilabel"
        self.ids = [f"m{i:03d}" for i in range(n)]
        self.labels = rng.integers(0, 2, (n, 3)).astype(np.uint8)
        self.split = (np.arange(n) % 3).astype(np.uint8)
        self.report = LoadReport(total=n, kept=n)
        self.info = {"format": "tiny"}
        self._img = rng.integers(0, 256, (n, 30, 20, 3), dtype=np.uint8)
        self._vec = rng.normal(size=(n, 5)).astype(np.float32)
        self._words = words
        self.calls = 0

    def __len__(self) -> int:
        return len(self.ids)

    def sample(self, i: int) -> dict:
        self.calls += 1
        t = np.arange(2000 + 100 * i) / 8000.0
        return {"poster": Image.fromarray(self._img[i]),
                "plot": f"{self._words} number {i}",
                "speech": (0.2 * np.sin(2 * np.pi * (200 + 50 * i) * t).astype(np.float32), 8000),
                "vec": self._vec[i]}


def test_tiny_raw_is_a_raw_dataset():
    assert isinstance(TinyRaw(), RawDataset)


def test_round_trip_matches_extract_one(tmp_path):
    raw = TinyRaw()
    events = []
    threads = torch.get_num_threads()
    fd = build_features(raw, BACKBONES, tmp_path, callback=events.append, batch_size=4)
    assert torch.get_num_threads() == threads  # field-parallel mode restores the thread count
    names = [n.name for n in fd.node_specs]
    assert names == ["poster.efficientnet_lite0.s6", "poster.efficientnet_lite0.head",
                     "plot.minilm.l2", "plot.minilm.l4", "plot.minilm.l6",
                     "speech.audio_cnn.mel", "speech.audio_cnn.c4", "vec.identity.vec"]
    assert {n.modality for n in fd.node_specs} == set(raw.fields)
    assert fd.manifest.nodes[0].shape == (192, 4, 4)
    assert fd.ids == raw.ids and (fd.labels == raw.labels).all() and (fd.split == raw.split).all()
    assert [e.step for e in events] == [1, 2, 3] and events[-1].progress == 1.0
    info = fd.manifest.info
    assert info["source_format"] == "tiny" and info["backbones"]["vec"]["options"] == {"dim": 5}
    assert info["backbone_details"]["plot"]["weights_id"].startswith("sha256:")
    got = fd.get(np.array([7, 2]))
    direct = extract_one([raw.sample(7), raw.sample(2)], info["backbones"])
    for name in names:
        assert np.allclose(got[name], direct[name], rtol=2e-3, atol=2e-3), name
    assert np.allclose(got["vec.identity.vec"][0], raw._vec[7], atol=1e-3)


def test_interrupted_extraction_resumes(tmp_path):
    raw = TinyRaw()

    def stop_after_two(event):
        if event.step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_features(raw, BACKBONES, tmp_path, callback=stop_after_two, batch_size=3)
    partial = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(partial) == 1 and not (partial[0] / MANIFEST).exists()
    with pytest.raises(FeatureFormatError, match="incomplete"):
        FeatureDataset(partial[0])
    steps = []
    resumed = build_features(raw, BACKBONES, tmp_path, callback=lambda e: steps.append(e.step),
                             batch_size=3)
    assert steps == [3, 4]  # rows 0-5 were kept; only rows 6-9 were extracted again
    fresh = build_features(raw, BACKBONES, tmp_path / "fresh", batch_size=10)
    a, b = resumed.get(np.arange(10)), fresh.get(np.arange(10))
    for name in a:
        assert np.allclose(a[name], b[name], rtol=2e-3, atol=2e-3), name


def test_second_run_is_served_from_the_cache(tmp_path):
    raw = TinyRaw()
    first = build_features(raw, BACKBONES, tmp_path, batch_size=5)
    events = []
    second = build_features(TinyRaw(), BACKBONES, tmp_path, callback=events.append)
    assert second.path == first.path and events == []
    other_data = build_features(TinyRaw(words="a love story"), BACKBONES, tmp_path, batch_size=10)
    other_taps = build_features(raw, BACKBONES | {"plot": {"name": "minilm", "options": {"taps": ["l6"]}}},
                                tmp_path, batch_size=10)
    assert len({first.path, other_data.path, other_taps.path}) == 3
    assert [n.name for n in other_taps.node_specs if n.modality == "plot"] == ["plot.minilm.l6"]
    assert json.loads((first.path / MANIFEST).read_text())["info"]["cache_key"] == first.path.name


def test_fingerprint_sees_content_changes():
    assert dataset_fingerprint(TinyRaw()) == dataset_fingerprint(TinyRaw())
    assert dataset_fingerprint(TinyRaw()) != dataset_fingerprint(TinyRaw(words="other"))


def test_bad_backbone_choices_and_bad_samples_are_clear_errors(tmp_path):
    raw = TinyRaw(n=4)
    with pytest.raises(BackboneError, match="unknown fields"):
        build_features(raw, {"nope": "minilm"}, tmp_path)
    with pytest.raises(BackboneError, match="takes text values"):
        build_features(raw, BACKBONES | {"poster": "minilm"}, tmp_path)
    raw._vec = np.zeros((4, 6), np.float32)
    raw._vec[2] = np.nan
    with pytest.raises(DataFormatError, match="sample 'm002': its features hold NaN or infinite "
                                              "values \\(node 'vec.identity.vec'\\)"):
        build_features(raw, BACKBONES, tmp_path, batch_size=4)  # TinyRaw cannot leave it out
    with pytest.raises(DataFormatError, match="lack the fields"):
        extract_one([{"plot": "x"}], {"poster": "efficientnet_lite0", "plot": "minilm"})


def test_a_sample_that_cannot_be_decoded_is_left_out_and_reported(tmp_path):
    """A poster that passed upload but fails to decode at extraction (a file changed on disk, a
    decoder difference) costs that sample only: the extraction starts again without it."""
    from ssnas_core.data.generic import load_generic
    from tests.core.data.dataset_factories import generic_members, write_zip

    m = generic_members(8)
    m["img/3.png"] = m["img/3.png"][:40]  # truncated: fails when decoded
    raw = load_generic(write_zip(tmp_path / "g.zip", m))
    assert len(raw) == 8  # not decoded yet (no deep check)
    backbones = {"photo": {"name": "efficientnet_lite0", "options": {"image_size": 64, "taps": ["s6"]}},
                 "clip": {"name": "audio_cnn", "options": {"taps": ["c4"]}}, "caption": None}
    fd = build_features(raw, backbones, tmp_path / "cache", batch_size=3)
    assert fd.ids == ["s0", "s1", "s2", "s4", "s5", "s6", "s7"]
    report = fd.manifest.info["load_report"]
    assert report["kept"] == 7 and [r["id"] for r in report["rejected"]] == ["s3"]
    assert report["rejected"][0]["problem"].startswith(
        "'photo': file img/3.png is not an image Pillow can read: the image data is truncated")
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()] == [fd.path.name]


@pytest.mark.realdata
def test_movies23_sample_extracts(shared_data, tmp_path):
    from ssnas_core.data.mmimdb_raw import load_mmimdb_raw

    raw = load_mmimdb_raw(shared_data / "movies23" / "mmimdb_style.zip")
    mask = np.zeros(len(raw), bool)
    mask[:6] = True
    raw.keep(mask)
    fd = build_features(raw, None, tmp_path, batch_size=6)
    shapes = {n.name: n.shape for n in fd.node_specs}
    assert shapes["poster.efficientnet_lite0.s7"] == (320, 4, 4)
    assert shapes["plot.minilm.l6"] == (384,)
    assert fd.manifest.info["source_format"] == "mmimdb_raw" and fd.labels.shape == (6, 23)
    x = fd.get(np.arange(6))["poster.efficientnet_lite0.head"]
    assert np.isfinite(x).all() and x.std() > 0
