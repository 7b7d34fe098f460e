import h5py
import numpy as np
import pytest

from ssnas_core.data.detect import detect_format, inspect, open_raw
from ssnas_core.data.features import Manifest, NodeSpec, write_features
from ssnas_core.data.raw import DataFormatError, UnknownFormatError
from ssnas_core.data.safety import UnsafeArchiveError
from tests.core.data.dataset_factories import (
    make_avmnist_dir,
    make_generic_zip,
    make_mmimdb_h5,
    make_mmimdb_raw_zip,
    mmimdb_raw_members,
    write_zip,
)

KEYS = {"format", "num_samples", "split_counts", "fields", "modalities", "label_names", "task",
        "report"}


def _features(path, n=12):
    man = Manifest(nodes=(NodeSpec("img", "image", (4, 2, 2)), NodeSpec("txt", "text", (5,))),
                   label_names=("a", "b"), task="multilabel", num_samples=n)
    rng = np.random.default_rng(0)
    nodes = {"img": rng.random((n, 4, 2, 2)), "txt": rng.random((n, 5))}
    labels = rng.integers(0, 2, (n, 2)).astype(np.uint8)
    split = np.array([0] * 8 + [1] * 2 + [2] * 2, dtype=np.uint8)
    write_features(path, man, nodes, labels, split, [f"x{i}" for i in range(n)]).close()
    return path


def test_each_format_is_detected_and_inspected(tmp_path):
    cases = {
        "mmimdb_h5": make_mmimdb_h5(tmp_path / "data.bin", n=20),  # by signature, not name
        "mmimdb_raw": make_mmimdb_raw_zip(tmp_path / "upload", n=10),
        "generic": make_generic_zip(tmp_path / "g.zip", n=10),
        "avmnist": make_avmnist_dir(tmp_path / "av"),
        "features": _features(tmp_path / "feat"),
    }
    for fmt, path in cases.items():
        assert detect_format(path) == fmt
        summary = inspect(path)
        assert set(summary) >= KEYS and summary["format"] == fmt
        assert sum(summary["split_counts"].values()) == summary["num_samples"]
    feat = inspect(cases["features"])
    assert feat["fields"] == {"img": "image", "txt": "text"} and feat["num_samples"] == 12
    assert feat["split_counts"] == {"train": 8, "dev": 2, "test": 2}
    raw = inspect(cases["mmimdb_raw"])
    assert raw["modalities"] == ["image", "text"] and raw["task"] == "multilabel"
    assert raw["report"] == {"total": 10, "kept": 10, "rejected": []}


def test_open_raw_dispatches_and_refuses_feature_dirs(tmp_path):
    ds = open_raw(make_generic_zip(tmp_path / "g.zip", n=10), seed=2)
    assert ds.fields["clip"] == "audio" and len(ds) == 10
    assert open_raw(make_avmnist_dir(tmp_path / "av"), limit=5).split_counts()["train"] == 5
    h5 = open_raw(make_mmimdb_h5(tmp_path / "m.h5", n=20), seed=1, deep=True, image="none")
    assert h5.fields == {"text_vec": "vector"}  # seed is not an option of this loader: dropped
    with pytest.raises(TypeError):
        open_raw(make_mmimdb_h5(tmp_path / "m2.h5", n=20), imag="none")  # a typo is not dropped
    with pytest.raises(DataFormatError, match="feature directory"):
        open_raw(_features(tmp_path / "feat"))


def test_inspect_deep_reports_unreadable_samples(tmp_path):
    m = mmimdb_raw_members(8)
    m["dataset/0001002.jpeg"] = b"\xff\xd8\xff garbage"
    path = write_zip(tmp_path / "a.zip", m)
    assert inspect(path)["report"]["rejected"] == []
    deep = inspect(path, deep=True)
    assert deep["num_samples"] == 7 and deep["report"]["rejected"][0]["id"] == "0001002"


@pytest.mark.parametrize("make", [
    lambda p: (p / "x.csv").write_text("a,b\n1,2\n") and p / "x.csv",
    lambda p: (p / "empty").mkdir() or p / "empty",
    lambda p: write_zip(p / "a.zip", {"readme.txt": b"hello"}),
])
def test_unknown_formats(tmp_path, make):
    with pytest.raises(UnknownFormatError):
        inspect(make(tmp_path))


def test_hdf5_without_mmimdb_datasets_is_unknown(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["something"] = np.zeros(3)
    with pytest.raises(UnknownFormatError, match="HDF5"):
        detect_format(tmp_path / "x.h5")


def test_bad_content_is_a_format_error_not_unknown(tmp_path):
    bomb = write_zip(tmp_path / "bomb.zip", {"dataset/1.json": bytes(4 << 20)})
    with pytest.raises(UnsafeArchiveError):
        inspect(bomb)
    cut = make_generic_zip(tmp_path / "g.zip", n=10)
    cut.write_bytes(cut.read_bytes()[:200])
    with pytest.raises(DataFormatError, match="not a readable zip") as err:
        inspect(cut)
    assert not isinstance(err.value, UnknownFormatError)
    feat = _features(tmp_path / "feat")
    with h5py.File(feat / "features.h5", "a") as f:
        f["split"][0] = 7
    with pytest.raises(DataFormatError, match="split codes"):
        inspect(feat)
    with pytest.raises(DataFormatError, match="no such"):
        inspect(tmp_path / "missing.zip")


@pytest.mark.realdata
def test_movies23_inspect(shared_data):
    summary = inspect(shared_data / "movies23" / "mmimdb_style.zip")
    assert summary["format"] == "mmimdb_raw" and len(summary["label_names"]) == 23
    assert summary["split_counts"] == {"train": 3999, "dev": 636, "test": 1961}
    assert summary["fields"] == {"poster": "image", "plot": "text"}


def _many_ids_features(path, n):
    man = Manifest(nodes=(NodeSpec("v", "text", (1,)),), label_names=("a", "b"), task="multilabel",
                   num_samples=n)
    split = (np.arange(n) % 3).astype(np.uint8)
    write_features(path, man, {"v": np.zeros((n, 1))}, np.zeros((n, 2), np.uint8), split,
                   [f"sample-{i:09d}" for i in range(n)]).close()
    return path


def test_feature_ids_are_validated_in_bounded_pieces(tmp_path):
    """The validator reads every id, but never all of them at once: 300k ids as Python strings
    take ~30 MB (~70 MB resident at peak for the 480k of the 1 GB service benchmark), and the
    API process ran this for each upload. tracemalloc counts Python objects and numpy buffers."""
    import tracemalloc

    n = 300_000
    feat = _many_ids_features(tmp_path / "feat", n)
    tracemalloc.start()
    try:
        summary = inspect(feat)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary["num_samples"] == n and summary["split_counts"] == {"train": n // 3, "dev": n // 3,
                                                                       "test": n // 3}
    assert peak < 8 * 2**20, f"inspect held {peak / 2**20:.1f} MB of Python/numpy memory at peak"


def test_feature_ids_are_all_read_and_decoded(tmp_path):
    feat = _features(tmp_path / "feat")
    with h5py.File(feat / "features.h5", "a") as f:
        f["ids"][11] = b"\xff\xfe"  # the last id, not UTF-8
    with pytest.raises(DataFormatError, match="not UTF-8"):
        inspect(feat)
    with h5py.File(feat / "features.h5", "a") as f:
        del f["ids"]
        f["ids"] = np.array([b"x"] * 11, dtype=object).astype(h5py.string_dtype())
    with pytest.raises(DataFormatError, match="ids 11 do not fit 12 samples"):
        inspect(feat)


def test_feature_directory_without_ids_uses_row_numbers(tmp_path):
    feat = _features(tmp_path / "feat")
    with h5py.File(feat / "features.h5", "a") as f:
        del f["ids"]
    summary = inspect(feat, deep=True)
    assert summary["num_samples"] == 12
    from ssnas_core.data.features import FeatureDataset

    ds = FeatureDataset(feat)
    assert ds.ids == [str(i) for i in range(12)] and ds.ids_shape == (12,)
    assert [x for piece in ds.iter_ids(5) for x in piece] == ds.ids


@pytest.mark.parametrize("key", ["labels", "split"])
def test_feature_directory_without_required_dataset_is_named(tmp_path, key):
    feat = _features(tmp_path / "feat")
    with h5py.File(feat / "features.h5", "a") as f:
        del f[key]
    with pytest.raises(DataFormatError, match=f"features.h5 has no '{key}' dataset \\(required: "
                                              "nodes/<name> per manifest node, labels, split; "
                                              "ids is optional\\)"):
        inspect(feat)


def test_nonfinite_feature_rows_are_named_by_sample(tmp_path):
    feat = _features(tmp_path / "feat")
    with h5py.File(feat / "features.h5", "a") as f:
        name = sorted(f["nodes"])[0]
        f[f"nodes/{name}"][3] = np.nan
        f[f"nodes/{name}"][7, 0] = np.inf
    assert inspect(feat)["num_samples"] == 12  # the shallow look does not read node values
    with pytest.raises(DataFormatError) as err:
        inspect(feat, deep=True)
    assert str(err.value) == (f"feat: 2 of 12 samples hold NaN or infinite feature values (node "
                              f"'{name}': 'x3', 'x7'); fix or drop those rows and upload again")
