import h5py
import numpy as np
import pytest
from PIL import Image

from ssnas_core.data.mmimdb_h5 import OFFICIAL_BOUNDS, caffe_to_pil, load_mmimdb_h5, pil_to_caffe, split_codes
from ssnas_core.data.raw import DataFormatError, RawDataset
from tests.core.data.dataset_factories import GENRES, make_mmimdb_h5


def test_loads_layout_with_images_and_text_vectors(tmp_path):
    path = make_mmimdb_h5(tmp_path / "multimodal_imdb.hdf5", n=40)
    ds = load_mmimdb_h5(path)
    assert isinstance(ds, RawDataset)
    assert ds.fields == {"text_vec": "vector", "image": "image"}
    assert ds.label_names == GENRES and ds.task == "multilabel"
    assert len(ds) == 40 and ds.labels.shape == (40, 23) and ds.ids[3] == "0000003"
    s = ds.sample(5)
    assert isinstance(s["image"], Image.Image) and s["image"].size == (10, 16)
    with h5py.File(path) as f:
        np.testing.assert_allclose(s["text_vec"], f["features"][5])
        assert s["text_vec"].dtype == np.float32 and s["text_vec"].shape == (300,)
        np.testing.assert_array_equal(ds.labels, f["genres"][:])
    assert ds.report.to_json() == {"total": 40, "kept": 40, "rejected": []}


def test_caffe_bgr_round_trip_gives_the_rgb_picture():
    rgb = np.random.default_rng(0).integers(0, 256, (16, 10, 3), dtype=np.uint8)
    caffe = np.rint(pil_to_caffe(Image.fromarray(rgb))).astype(np.int16)
    assert caffe.shape == (3, 16, 10)
    # channel 0 is blue minus 103.939
    np.testing.assert_allclose(caffe[0], rgb[..., 2] - 103.939, atol=0.5)
    back = np.asarray(caffe_to_pil(caffe))
    assert np.abs(back.astype(int) - rgb).max() <= 1


@pytest.mark.parametrize("image, fields", [
    ("vgg_features", {"text_vec": "vector", "vgg": "vector"}),
    ("both", {"text_vec": "vector", "image": "image", "vgg": "vector"}),
    ("none", {"text_vec": "vector"}),
])
def test_image_side_choice(tmp_path, image, fields):
    ds = load_mmimdb_h5(make_mmimdb_h5(tmp_path / "m.h5", n=20), image=image)
    assert ds.fields == fields
    assert set(ds.sample(0)) == set(fields)


def test_auto_falls_back_to_vgg_features(tmp_path):
    ds = load_mmimdb_h5(make_mmimdb_h5(tmp_path / "m.h5", n=20, images=False))
    assert ds.fields == {"text_vec": "vector", "vgg": "vector"}
    assert ds.sample(1)["vgg"].shape == (64,)


def test_split_official_scaled_and_explicit(tmp_path):
    full = split_codes(25959, None)
    assert [int((full == c).sum()) for c in range(3)] == [15552, 2608, 7799]
    assert full[OFFICIAL_BOUNDS[0] - 1] == 0 and full[OFFICIAL_BOUNDS[0]] == 1
    assert full[OFFICIAL_BOUNDS[1]] == 2
    path = make_mmimdb_h5(tmp_path / "m.h5", n=100)
    ds = load_mmimdb_h5(path)
    assert ds.split_counts() == {"train": 60, "dev": 10, "test": 30}
    assert (np.diff(ds.split.astype(int)) >= 0).all()  # contiguous row ranges
    assert load_mmimdb_h5(path, split_bounds=(50, 80)).split_counts() == \
        {"train": 50, "dev": 30, "test": 20}
    with pytest.raises(DataFormatError, match="split bounds"):
        load_mmimdb_h5(path, split_bounds=(90, 120))


def test_fuel_split_attribute_is_used(tmp_path):
    path = make_mmimdb_h5(tmp_path / "m.h5", n=30)
    table = np.array([(b"train", b"features", 0, 20), (b"dev", b"features", 20, 25),
                      (b"test", b"features", 25, 30)],
                     dtype=[("split", "S5"), ("source", "S15"), ("start", "<i8"), ("stop", "<i8")])
    with h5py.File(path, "a") as f:
        f.attrs["split"] = table
    assert load_mmimdb_h5(path).split_counts() == {"train": 20, "dev": 5, "test": 5}


def test_bad_rows_are_rejected_and_reported(tmp_path):
    path = make_mmimdb_h5(tmp_path / "m.h5", n=30)
    with h5py.File(path, "a") as f:
        f["features"][2, 7] = np.nan
        f["vgg_features"][4, 0] = np.inf
        g = f["genres"]
        g[6] = 0
        row = g[8]
        row[0] = 2
        g[8] = row
    ds = load_mmimdb_h5(path, image="both")
    rejected = {r["id"]: r["problem"] for r in ds.report.rejected}
    assert rejected == {"0000002": "non-finite values in 'features'",
                        "0000004": "non-finite values in 'vgg_features'",
                        "0000006": "missing labels (no genre)",
                        "0000008": "labels are not 0/1"}
    assert len(ds) == 26 and ds.report.kept == 26 and ds.report.total == 30
    assert "0000002" not in ds.ids
    i = ds.ids.index("0000003")  # rows stay aligned after rejection
    with h5py.File(path) as f:
        np.testing.assert_allclose(ds.sample(i)["text_vec"], f["features"][3])


def _rewrite(path, key, data):
    with h5py.File(path, "a") as f:
        attrs = dict(f[key].attrs)
        del f[key]
        f[key] = data
        for k, v in attrs.items():
            f[key].attrs[k] = v


@pytest.mark.parametrize("key, data, match", [
    ("features", np.zeros((29, 300), np.float32), "features: shape"),
    ("features", np.zeros((30, 300, 1), np.float32), "features: shape"),
    ("images", np.zeros((30, 1, 4, 4), np.int16), "expected \\(N, 3, H, W\\)"),
    ("features", np.array(["x"] * 30, dtype=h5py.string_dtype()), "features: shape"),
])
def test_wrong_shapes_are_fatal(tmp_path, key, data, match):
    path = make_mmimdb_h5(tmp_path / "m.h5", n=30)
    _rewrite(path, key, data)
    with pytest.raises(DataFormatError, match=match):
        load_mmimdb_h5(path)


def test_missing_target_names_or_mismatch_is_fatal(tmp_path):
    path = make_mmimdb_h5(tmp_path / "m.h5", n=20)
    with h5py.File(path, "a") as f:
        f["genres"].attrs["target_names"] = np.array(GENRES[:5], dtype=h5py.string_dtype())
    with pytest.raises(DataFormatError, match="5 target_names .* for 23 genre columns"):
        load_mmimdb_h5(path)
    with h5py.File(path, "a") as f:
        del f["genres"].attrs["target_names"]
    with pytest.raises(DataFormatError, match="target_names"):
        load_mmimdb_h5(path)


def test_missing_features_and_non_hdf5_and_truncated_are_fatal(tmp_path):
    path = make_mmimdb_h5(tmp_path / "m.h5", n=20)
    data = path.read_bytes()
    with h5py.File(path, "a") as f:
        del f["features"]
    with pytest.raises(DataFormatError, match="no dataset 'features'"):
        load_mmimdb_h5(path)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"hello world" * 10)
    with pytest.raises(DataFormatError, match="not a readable HDF5"):
        load_mmimdb_h5(junk)
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(DataFormatError):
        load_mmimdb_h5(cut)


def test_image_request_without_images_is_fatal(tmp_path):
    path = make_mmimdb_h5(tmp_path / "m.h5", n=20, images=False)
    with pytest.raises(DataFormatError, match="no dataset 'images'"):
        load_mmimdb_h5(path, image="images")


def test_non_finite_float_image_fails_at_sample_time_naming_it(tmp_path):
    path = make_mmimdb_h5(tmp_path / "m.h5", n=20)
    with h5py.File(path, "a") as f:
        imgs = f["images"][:].astype(np.float32)
        imgs[3, 0, 0, 0] = np.nan
        del f["images"]
        f["images"] = imgs
    ds = load_mmimdb_h5(path)
    with pytest.raises(DataFormatError, match="sample '0000003': image row holds non-finite"):
        ds.sample(3)
    ds.validate_all()
    assert len(ds) == 19 and ds.report.rejected[0]["id"] == "0000003"
