import json

import h5py
import numpy as np
import pytest
from factories import make_features

from ssnas_core.data.features import FeatureDataset, FeatureFormatError, FeatureWriter, Manifest, NodeSpec


def test_round_trip_and_memory_mapping(tmp_path):
    ds = make_features(tmp_path / "f", n=50)
    again = FeatureDataset(tmp_path / "f")
    assert again.manifest == ds.manifest
    assert again.manifest.split_counts == {"train": 30, "dev": 10, "test": 10}
    assert all(isinstance(a, np.memmap) for a in again._nodes.values()), "nodes must be memory-mapped"
    idx = np.array([7, 3, 3, 42])
    got = again.get(idx)
    with h5py.File(tmp_path / "f" / "features.h5") as f:
        for name, arr in got.items():
            assert arr.dtype == np.float32
            assert np.array_equal(arr, f[f"nodes/{name}"][:][idx].astype(np.float32))


def test_chunked_files_fall_back_to_hdf5_slicing(tmp_path):
    make_features(tmp_path / "f", n=20)
    path = tmp_path / "f" / "features.h5"
    with h5py.File(path, "a") as f:  # rewrite one node chunked + compressed, as another tool might
        data = f["nodes/txt_a"][:]
        del f["nodes/txt_a"]
        f.create_dataset("nodes/txt_a", data=data, chunks=(4, 12), compression="gzip")
    ds = FeatureDataset(tmp_path / "f")
    assert not isinstance(ds._nodes["txt_a"], np.memmap)
    assert np.allclose(ds.get(np.array([5, 1, 5]))["txt_a"], data[[5, 1, 5]])


def test_incomplete_directory_is_rejected(tmp_path):
    man = Manifest((NodeSpec("v", "text", (3,)),), ("a", "b"), "multilabel", 10)
    w = FeatureWriter(tmp_path / "f", man)
    w.write(0, {"v": np.ones((4, 3))}, np.zeros((4, 2), np.uint8), np.zeros(4, np.uint8))
    w.close()
    assert w.rows_done == 4
    with pytest.raises(FeatureFormatError, match="incomplete"):
        FeatureDataset(tmp_path / "f")
    w = FeatureWriter(tmp_path / "f", man)  # resumes: rows_done is persisted
    assert w.rows_done == 4
    w.write(4, {"v": np.ones((6, 3))}, np.zeros((6, 2), np.uint8), np.full(6, 2, np.uint8))
    w.close()
    assert FeatureDataset(tmp_path / "f").manifest.split_counts == {"train": 4, "dev": 0, "test": 6}


def test_bad_inputs_are_named(tmp_path):
    man = Manifest((NodeSpec("v", "text", (3,)),), ("a",), "multilabel", 2)
    with FeatureWriter(tmp_path / "f", man) as w:
        with pytest.raises(FeatureFormatError, match="non-finite value in sample 1"):
            w.write(0, {"v": np.array([[1, 2, 3], [np.nan, 0, 0]])}, np.zeros((2, 1)), np.zeros(2))
        with pytest.raises(FeatureFormatError, match="expected"):
            w.write(0, {"v": np.ones((2, 4))}, np.zeros((2, 1)), np.zeros(2))
    with pytest.raises(FeatureFormatError, match="shape"):
        NodeSpec("bad", "image", (3, 4))
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "manifest.json").write_text(json.dumps({"nodes": []}))
    with pytest.raises(FeatureFormatError, match="malformed"):
        FeatureDataset(tmp_path / "g")
