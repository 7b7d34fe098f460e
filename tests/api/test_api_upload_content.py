"""POST /datasets decodes every sample: unreadable images are listed per sample in the summary
(the upload keeps the rest), bad feature rows and misplaced label separators are refused with
the validator's words, a feature folder without ids is accepted."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from api_factories import make_feature_dir, zip_dir

from tests.core.data.dataset_factories import image_bytes, mmimdb_raw_members, write_zip

SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'


def _upload(client, headers, path: Path):
    with open(path, "rb") as fh:
        return client.post("/datasets", headers=headers, files={"file": (path.name, fh)})


def test_posters_that_are_not_images_are_rejected_per_sample(client, alice, tmp_path):
    m = mmimdb_raw_members(12)
    m["dataset/0001001.jpeg"] = b"just some text, saved as .jpeg"
    m["dataset/0001002.jpeg"] = SVG
    m["dataset/0001003.jpeg"] = b"<!DOCTYPE html><html><body>Not found</body></html>"
    m["dataset/0001004.jpeg"] = m["dataset/0001004.jpeg"][:200]  # truncated JPEG
    del m["dataset/0001005.jpeg"]
    m["dataset/0001005.webp"] = image_bytes(np.random.default_rng(0), (12, 18), "WEBP")
    r = _upload(client, alice, write_zip(tmp_path / "movies.zip", m))
    assert r.status_code == 201, r.text
    report = r.json()["summary"]["report"]
    problems = {x["id"]: x["problem"] for x in report["rejected"]}
    pre = "not an image Pillow can read: "
    assert problems == {
        "0001001": f"poster dataset/0001001.jpeg is {pre}it is a text file",
        "0001002": f"poster dataset/0001002.jpeg is {pre}SVG is not supported (vector graphics; "
                   "convert it to PNG or JPEG)",
        "0001003": f"poster dataset/0001003.jpeg is {pre}it is an HTML page (a saved web page or "
                   "an error page instead of the picture?)",
        "0001004": problems["0001004"]}
    assert problems["0001004"].startswith(f"poster dataset/0001004.jpeg is {pre}the image data is "
                                          "truncated or corrupt (")
    assert (report["total"], report["kept"]) == (12, 8)
    assert r.json()["summary"]["num_samples"] == 8


def test_an_upload_whose_every_poster_is_broken_is_422(client, alice, tmp_path):
    m = mmimdb_raw_members(3)
    for name in [n for n in m if n.endswith(".jpeg")]:
        m[name] = SVG
    r = _upload(client, alice, write_zip(tmp_path / "svgs.zip", m))
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(
        "invalid dataset: no usable samples: all 3 were rejected, e.g. 0001000: poster "
        "dataset/0001000.jpeg is not an image Pillow can read: SVG is not supported")


def test_feature_rows_with_nan_or_inf_are_refused_naming_the_samples(client, alice, tmp_path):
    d = make_feature_dir(tmp_path / "fd", n=20)
    with h5py.File(d / "features.h5", "a") as f:
        f["nodes/img"][4] = np.nan
        f["nodes/txt"][9, 2] = -np.inf
    r = _upload(client, alice, zip_dir(d, tmp_path / "nan.zip", "feats"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == (
        "invalid dataset: feats: 2 of 20 samples hold NaN or infinite feature values (node 'img': "
        "'s4'; node 'txt': 's9'); fix or drop those rows and upload again")


def test_a_feature_folder_without_ids_is_accepted(client, alice, tmp_path):
    d = make_feature_dir(tmp_path / "fd", n=16)
    with h5py.File(d / "features.h5", "a") as f:
        del f["ids"]
    r = _upload(client, alice, zip_dir(d, tmp_path / "noids.zip", "feats"))
    assert r.status_code == 201, r.text
    assert r.json()["summary"]["num_samples"] == 16


def test_labels_joined_with_commas_are_422_naming_the_separator(client, alice, tmp_path):
    rng = np.random.default_rng(0)
    labels = ["Comedy, Romance", "Drama", "Drama, Romance", "Comedy"]
    members = {f"{i}.png": image_bytes(rng, fmt="PNG") for i in range(4)}
    members["manifest.csv"] = ("poster,labels\n" + "".join(
        f'{i}.png,"{lab}"\n' for i, lab in enumerate(labels))).encode()
    r = _upload(client, alice, write_zip(tmp_path / "g.zip", members))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "labels look like lists joined with ','" in detail
    assert "separate the labels of a sample with '|', e.g. 'Comedy|Romance'" in detail


def test_upload_formats_are_documented_in_openapi(client):
    op = client.get("/openapi.json").json()["paths"]["/datasets"]["post"]
    text = op["description"]
    for needle in ("manifest.csv", "dataset/<id>.json", '"plot"', '"genres"', "split.json",
                   "features.h5", "WebP", "'|'", "multimodal_imdb.hdf5", "mnist.npz"):
        assert needle in text, needle


def test_a_zip_with_json_outside_dataset_folder_names_what_is_missing(client, alice, tmp_path):
    m = {k.removeprefix("dataset/"): v for k, v in mmimdb_raw_members(3).items()}
    r = _upload(client, alice, write_zip(tmp_path / "flat.zip", m))
    assert r.status_code == 415, r.text
    assert r.json()["detail"] == (
        "unknown dataset format: flat.zip: close to the MM-IMDB raw format: 3 <id>.json files in "
        "the top, but they must sit in a folder named dataset/ (dataset/<id>.json + "
        "dataset/<id>.jpeg)")
