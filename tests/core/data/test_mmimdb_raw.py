import copy
import json

import numpy as np
import pytest
from PIL import Image

from ssnas_core.data.mmimdb_raw import load_mmimdb_raw
from ssnas_core.data.raw import DataFormatError, RawDataset
from ssnas_core.data.safety import UnsafeArchiveError
from tests.core.data.dataset_factories import GENRES, make_mmimdb_raw_zip, mmimdb_raw_members, write_zip


def _rejected(ds):
    return {r["id"]: r["problem"] for r in ds.report.rejected}


def test_zip_loads_with_split_genre_order_and_longest_plot(tmp_path):
    ds = load_mmimdb_raw(make_mmimdb_raw_zip(tmp_path / "a.zip", n=30))
    assert isinstance(ds, RawDataset)
    assert ds.fields == {"poster": "image", "plot": "text"}
    assert ds.label_names == GENRES[:5] and ds.task == "multilabel"
    assert ds.split_counts() == {"train": 18, "dev": 3, "test": 9}
    assert ds.ids[0] == "0001000" and ds.split[0] == 0 and ds.split[-1] == 2
    s = ds.sample(2)
    assert s["plot"] == "the longest plot of movie number 2"
    assert isinstance(s["poster"], Image.Image) and s["poster"].mode == "RGB"
    assert s["poster"].size == (12, 18)
    meta = json.loads(mmimdb_raw_members(30)["dataset/0001002.json"])
    assert [GENRES[k] for k in np.flatnonzero(ds.labels[2])] == \
        [g for g in GENRES[:5] if g in meta["genres"]]
    assert ds.report.to_json() == {"total": 30, "kept": 30, "rejected": []}


def test_folder_under_a_top_level_directory(tmp_path):
    root = tmp_path / "upload"
    for name, data in mmimdb_raw_members(10).items():
        path = root / "mmimdb" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    ds = load_mmimdb_raw(root)
    assert len(ds) == 10 and ds.label_names == GENRES[:5]
    assert ds.sample(0)["poster"].size == (12, 18)


def test_without_split_and_genres_json(tmp_path):
    path = make_mmimdb_raw_zip(tmp_path / "a.zip", n=50, split=False, genres_json=False)
    ds = load_mmimdb_raw(path, seed=3)
    assert ds.split_counts() == {"train": 30, "dev": 5, "test": 15}
    np.testing.assert_array_equal(ds.split, load_mmimdb_raw(path, seed=3).split)
    assert not np.array_equal(ds.split, load_mmimdb_raw(path, seed=4).split)
    counts = ds.labels.sum(0).astype(int)
    assert (np.diff(counts) <= 0).all()  # most frequent genre first
    assert sorted(ds.label_names) == sorted(GENRES[:5])


def test_per_sample_problems_are_reported_not_dropped(tmp_path):
    m = mmimdb_raw_members(20)
    m["dataset/0001001.json"] = b"{not json"
    m["dataset/0001002.json"] = json.dumps({"plot": [], "genres": ["Drama"]}).encode()
    m["dataset/0001003.json"] = json.dumps({"plot": ["p"]}).encode()
    m["dataset/0001004.json"] = json.dumps({"plot": ["p"], "genres": ["Drama", "Polka"]}).encode()
    del m["dataset/0001005.jpeg"]
    m["dataset/0001006.jpeg"] = b""
    m["dataset/0009999.json"] = json.dumps({"plot": ["p"], "genres": ["Drama"]}).encode()
    m["dataset/0009999.jpeg"] = m["dataset/0001000.jpeg"]
    del m["dataset/0001007.json"]
    ds = load_mmimdb_raw(write_zip(tmp_path / "a.zip", m))
    problems = _rejected(ds)
    assert problems["0001001"].startswith("dataset/0001001.json: invalid JSON")
    assert problems["0001002"].startswith("missing plot")
    assert problems["0001003"] == ('missing labels (key "genres": a list of names; keys found: '
                                   "'plot')")
    assert problems["0001004"] == "unknown genres ['Polka'] (not in genres.json)"
    assert problems["0001005"].startswith("missing poster dataset/0001005.jpeg (or .jpg, .png, .webp")
    assert problems["0001006"] == "empty poster dataset/0001006.jpeg"
    assert problems["0001007"] == "poster without dataset/0001007.json"
    assert problems["0009999"] == "not listed in split.json"
    assert len(problems) == 8
    assert len(ds) == 13 and ds.report.total == 21 and ds.report.kept == 13
    assert not set(problems) & set(ds.ids)


def test_split_json_ids_without_movie_are_counted(tmp_path):
    m = mmimdb_raw_members(10)
    split = json.loads(m["split.json"])
    split["test"].append("0005555")
    m["split.json"] = json.dumps(split).encode()
    ds = load_mmimdb_raw(write_zip(tmp_path / "a.zip", m))
    assert _rejected(ds) == {"0005555": "listed in split.json but has no dataset JSON"}
    assert len(ds) == 10


def test_unreadable_poster_is_named_lazily_and_rejected_deep(tmp_path):
    m = mmimdb_raw_members(10)
    m["dataset/0001003.jpeg"] = m["dataset/0001003.jpeg"][:60]
    path = write_zip(tmp_path / "a.zip", m)
    ds = load_mmimdb_raw(path)
    assert len(ds) == 10
    with pytest.raises(DataFormatError, match="sample '0001003': poster dataset/0001003.jpeg is not an image "
                       "Pillow can read: the image data is truncated"):
        ds.sample(3)
    deep = load_mmimdb_raw(path, deep=True)
    assert len(deep) == 9 and list(_rejected(deep)) == ["0001003"]


@pytest.mark.parametrize("name, data, match", [
    ("split.json", b'{"train": ["0001000"], "test": ["0001000"]}', "in both"),
    ("split.json", b'{"training": []}', "must map train/dev/test"),
    ("split.json", b"[1, 2]", "must map train/dev/test"),
    ("genres.json", b'["Drama", "Drama"]', "distinct genre names"),
    ("genres.json", b"{oops", "invalid JSON"),
])
def test_malformed_side_files_are_fatal(tmp_path, name, data, match):
    m = mmimdb_raw_members(5)
    m[name] = data
    with pytest.raises(DataFormatError, match=match):
        load_mmimdb_raw(write_zip(tmp_path / "a.zip", m))


def test_archive_without_movies_or_all_rejected_is_fatal(tmp_path):
    with pytest.raises(DataFormatError, match="no dataset/ folder"):
        load_mmimdb_raw(write_zip(tmp_path / "a.zip", {"readme.txt": b"hi"}))
    m = {k: v for k, v in mmimdb_raw_members(3).items() if not k.endswith(".jpeg")}
    with pytest.raises(DataFormatError, match="no usable samples"):
        load_mmimdb_raw(write_zip(tmp_path / "b.zip", m))


def test_hostile_names_reject_the_whole_archive(tmp_path):
    m = mmimdb_raw_members(5)
    m["dataset/../../escape.json"] = b"{}"
    with pytest.raises(UnsafeArchiveError, match="path traversal"):
        load_mmimdb_raw(write_zip(tmp_path / "a.zip", m))


def test_copies_reopen_the_archive_and_bad_index_raises(tmp_path):
    ds = load_mmimdb_raw(make_mmimdb_raw_zip(tmp_path / "a.zip", n=5))
    ds.sample(0)
    twin = copy.deepcopy(ds)  # what a spawned worker process gets: no open handle inside
    assert twin.archive._zf is None
    assert twin.sample(1)["plot"] == ds.sample(1)["plot"]
    with pytest.raises(IndexError):
        ds.sample(5)


@pytest.mark.realdata
def test_movies23_loads_fast_with_the_published_counts(shared_data):
    ds = load_mmimdb_raw(shared_data / "movies23" / "mmimdb_style.zip")
    assert len(ds.label_names) == 23 and ds.label_names[0] == "Drama"
    assert ds.split_counts() == {"train": 3999, "dev": 636, "test": 1961}
    assert ds.report.rejected == [] and ds.report.total == 6596
    assert ds.labels.sum(1).max() == 3 and ds.labels.sum(1).min() == 1
    i = ds.ids.index("0114709")
    s = ds.sample(i)
    assert s["plot"].startswith("Led by Woody")
    assert s["poster"].size[0] == 185
    assert [ds.label_names[k] for k in np.flatnonzero(ds.labels[i])] == \
        ["Comedy", "Adventure", "Animation"]


def test_posters_are_read_by_content_whatever_their_extension(tmp_path):
    from tests.core.data.dataset_factories import image_bytes

    rng = np.random.default_rng(5)
    m = mmimdb_raw_members(6)
    del m["dataset/0001000.jpeg"]
    m["dataset/0001000.webp"] = image_bytes(rng, (9, 7), "WEBP")  # X.webp when X.jpeg is absent
    m["dataset/0001001.jpeg"] = image_bytes(rng, (9, 7), "PNG")  # a PNG named .jpeg
    del m["dataset/0001002.jpeg"]
    m["dataset/0001002.poster"] = image_bytes(rng, (9, 7), "GIF")  # an unknown extension
    ds = load_mmimdb_raw(write_zip(tmp_path / "a.zip", m), deep=True)
    assert ds.report.rejected == [] and len(ds) == 6
    assert [ds.sample(i)["poster"].size for i in range(3)] == [(9, 7)] * 3


def test_posters_that_are_no_images_are_rejected_at_deep_check_in_plain_words(tmp_path):
    m = mmimdb_raw_members(6)
    m["dataset/0001001.jpg"] = m.pop("dataset/0001001.jpeg")
    m["dataset/0001001.jpg"] = b"<html><body>Access denied</body></html>"
    m["dataset/0001002.jpeg"] = b'<svg xmlns="http://www.w3.org/2000/svg"/>'
    ds = load_mmimdb_raw(write_zip(tmp_path / "a.zip", m), deep=True)
    assert _rejected(ds) == {
        "0001001": "poster dataset/0001001.jpg is not an image Pillow can read: it is an HTML "
                   "page (a saved web page or an error page instead of the picture?)",
        "0001002": "poster dataset/0001002.jpeg is not an image Pillow can read: SVG is not "
                   "supported (vector graphics; convert it to PNG or JPEG)"}
    assert len(ds) == 4


def test_genres_written_as_one_string_are_explained(tmp_path):
    m = mmimdb_raw_members(4)
    m["dataset/0001001.json"] = json.dumps({"plot": "p", "genres": "Comedy, Romance"}).encode()
    ds = load_mmimdb_raw(write_zip(tmp_path / "a.zip", m))
    assert _rejected(ds)["0001001"] == ('genres must be a list of names, e.g. ["Comedy", '
                                        '"Romance"], not the text \'Comedy, Romance\'')


def test_deep_check_streams_posters_instead_of_reading_them_whole(tmp_path, monkeypatch):
    m = mmimdb_raw_members(8)
    m["dataset/0001002.jpeg"] = b"<svg xmlns='http://www.w3.org/2000/svg'/>"
    ds = load_mmimdb_raw(write_zip(tmp_path / "a.zip", m))
    monkeypatch.setattr(ds.archive, "read", lambda name: pytest.fail(f"{name} read whole"))
    ds.validate_all()
    assert len(ds) == 7 and _rejected(ds) == {"0001002": "poster dataset/0001002.jpeg is not an "
                                              "image Pillow can read: SVG is not supported "
                                              "(vector graphics; convert it to PNG or JPEG)"}
