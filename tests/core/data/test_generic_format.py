import io
import json
import wave

import numpy as np
import pytest
from PIL import Image

from ssnas_core.data.generic import load_generic
from ssnas_core.data.raw import DataFormatError, RawDataset
from ssnas_core.data.safety import UnsafeArchiveError
from ssnas_core.data.values import parse_vector, read_wav
from tests.core.data.dataset_factories import (
    csv_text,
    generic_members,
    image_bytes,
    make_generic_zip,
    wav_bytes,
    write_zip,
)

FIELDS = {"photo": "image", "caption": "text", "clip": "audio", "emb": "vector"}


def _rejected(ds):
    return {r["id"]: r["problem"] for r in ds.report.rejected}


@pytest.mark.parametrize("manifest", ["csv", "jsonl"])
def test_all_field_kinds_multilabel(tmp_path, manifest):
    ds = load_generic(make_generic_zip(tmp_path / "g.zip", n=20, manifest=manifest))
    assert isinstance(ds, RawDataset)
    assert ds.fields == FIELDS and ds.task == "multilabel"
    assert ds.label_names == ["bird", "cat", "dog"] and ds.labels.shape == (20, 3)
    assert ds.split_counts() == {"train": 12, "dev": 4, "test": 4}
    s = ds.sample(1)  # s1: labels dog|bird
    assert ds.labels[1].tolist() == [1, 0, 1]
    assert isinstance(s["photo"], Image.Image) and s["photo"].mode == "RGB"
    assert s["caption"] == "caption 1"
    wav, rate = s["clip"]
    assert rate == 8000 and wav.dtype == np.float32 and wav.shape == (400,)
    assert np.abs(wav).max() <= 1.0
    assert s["emb"].shape == (8,) and s["emb"].dtype == np.float32
    assert ds.report.to_json() == {"total": 20, "kept": 20, "rejected": []}


def test_single_label_without_split_column_and_inferred_kinds(tmp_path):
    rng = np.random.default_rng(0)
    members = {f"{i}.jpg": image_bytes(rng) for i in range(10)}
    rows = [{"pic": f"{i}.jpg", "note": f"text {i}", "label": "ab"[i % 2]} for i in range(10)]
    members["manifest.jsonl"] = "\n".join(json.dumps(r) for r in rows).encode()
    ds = load_generic(write_zip(tmp_path / "g.zip", members), seed=1)
    assert ds.fields == {"pic": "image", "note": "text"} and ds.task == "multiclass"
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [0, 1] * 5
    assert ds.ids == [str(i) for i in range(10)]
    assert ds.split_counts() == {"train": 6, "dev": 1, "test": 3}


def test_schema_json_orders_labels_and_rejects_unknown(tmp_path):
    m = generic_members(9, multilabel=False)
    m["schema.json"] = json.dumps({"label_names": ["dog", "cat"],
                                   "fields": {"caption": "text"}}).encode()
    ds = load_generic(write_zip(tmp_path / "g.zip", m))
    assert ds.label_names == ["dog", "cat"]
    assert set(_rejected(ds).values()) == {"unknown labels ['bird'] (not in schema.json)"}
    assert len(ds) == 6 and ds.report.total == 9


def test_per_sample_problems_are_reported(tmp_path):
    rng = np.random.default_rng(0)
    rows = json.loads("[" + ",".join(generic_members(12, manifest="jsonl")["manifest.jsonl"]
                                     .decode().splitlines()) + "]")
    members = {k: v for k, v in generic_members(12).items() if k != "manifest.csv"}
    rows[0]["emb:vector"][3] = "nan"
    rows[1]["emb:vector"] = [1.0, 2.0]
    rows[2]["emb:vector"] = ["a", "b"]
    rows[3]["labels"] = []
    rows[4]["split"] = "holdout"
    rows[5]["photo:image"] = "img/missing.png"
    rows[6]["caption:text"] = ""
    rows[7]["id"] = "s8"
    del rows[10]["split"]
    members["img/empty.png"] = b""
    rows[9]["photo:image"] = "img/empty.png"
    lines = [json.dumps(r) for r in rows] + ["{broken", "[1, 2]"]
    members["manifest.jsonl"] = "\n".join(lines).encode()
    members["audio/x.wav"] = wav_bytes(rng)
    ds = load_generic(write_zip(tmp_path / "g.zip", members))
    p = _rejected(ds)
    assert p["s0"] == "vector holds NaN or infinite values"
    assert p["s1"] == "vector 'emb' has 2 values, expected 8"
    assert p["s2"].startswith("vector holds a non-number")
    assert p["s3"] == "missing label"
    assert p["s4"] == "invalid split 'holdout' (train, dev or test)"
    assert p["s5"] == "'photo': file 'img/missing.png' not in the archive"
    assert p["s6"] == "missing 'caption'"
    assert p["s8"] == "duplicate id"
    assert p["s9"] == "'photo': file 'img/empty.png' is empty"
    assert p["12"].startswith("invalid JSON line") and p["13"] == "JSON line is not an object"
    assert p["s10"] == "missing split (other rows have one)"
    assert len(p) == 12 and len(ds) == 2 and ds.report.total == 14
    assert ds.ids == ["s8", "s11"]  # row 7 took id s8 first; the real s8 is the duplicate


def test_multi_label_value_in_single_label_column(tmp_path):
    m = generic_members(6, multilabel=False)
    text = m["manifest.csv"].decode().replace(",cat,", ",cat|dog,", 1)
    m["manifest.csv"] = text.encode()
    ds = load_generic(write_zip(tmp_path / "g.zip", m))
    assert list(_rejected(ds).values()) == \
        ["several labels ['cat', 'dog'] in the single-label column 'label'"]


def test_ragged_csv_row_is_rejected(tmp_path):
    m = generic_members(5)
    m["manifest.csv"] += b"s99,img/0.png,too,few\n"
    ds = load_generic(write_zip(tmp_path / "g.zip", m))
    assert list(_rejected(ds)) == ["5"] and "wrong number of columns" in _rejected(ds)["5"]


@pytest.mark.parametrize("value", ["../secret.png", "/etc/passwd", "img/../../x.png"])
def test_path_traversal_in_manifest_values_is_fatal(tmp_path, value):
    m = generic_members(4)
    m["manifest.csv"] = m["manifest.csv"].decode().replace("img/2.png", value).encode()
    with pytest.raises(UnsafeArchiveError, match="manifest value of 'photo'"):
        load_generic(write_zip(tmp_path / "g.zip", m))


@pytest.mark.parametrize("change, match", [
    (lambda m: m.pop("manifest.csv"), "no manifest.csv"),
    (lambda m: m.update({"sub/manifest.jsonl": b"{}"}), "several manifests"),
    (lambda m: m.update({"manifest.csv": csv_text([{"x:image": "a.png"}]).encode()}),
     "no 'label' or 'labels' column"),
    (lambda m: m.update({"manifest.csv": csv_text([{"x:photo": "a", "label": "a"}]).encode()}),
     "unknown field kinds"),
    (lambda m: m.update({"manifest.csv": csv_text([{"x": "a", "label": "a", "labels": "b"}])
                         .encode()}), "both 'label' and 'labels'"),
    (lambda m: m.update({"schema.json": b'{"label_names": ["a", "a"]}'}), "schema.json: malformed"),
])
def test_structural_problems_are_fatal(tmp_path, change, match):
    m = generic_members(4)
    change(m)
    with pytest.raises(DataFormatError, match=match):
        load_generic(write_zip(tmp_path / "g.zip", m))


def test_unreadable_files_fail_lazily_and_deep_rejects_them(tmp_path):
    m = generic_members(6)
    m["audio/2.wav"] = m["audio/2.wav"][:30]
    m["img/4.png"] = b"\x89PNG\r\n\x1a\n garbage"
    path = write_zip(tmp_path / "g.zip", m)
    ds = load_generic(path)
    with pytest.raises(DataFormatError, match="sample 's2': 'clip': file audio/2.wav is "
                       "(not a PCM WAV|a truncated WAV)"):
        ds.sample(2)
    with pytest.raises(DataFormatError, match="sample 's4': 'photo': file img/4.png is not an image "
                       "Pillow can read: the image data is truncated or corrupt"):
        ds.sample(4)
    deep = load_generic(path, deep=True)
    assert sorted(_rejected(deep)) == ["s2", "s4"] and len(deep) == 4


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_read_wav_sample_widths_and_stereo(width):
    buf = io.BytesIO()
    full = 1 << (8 * width - 1)
    ints = np.array([[0, full // 2], [-full // 2, -full]], dtype=np.int64)
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(width)
        w.setframerate(16000)
        if width == 1:
            raw = (ints + 128).astype(np.uint8).tobytes()
        else:
            raw = b"".join(int(v).to_bytes(width, "little", signed=True) for v in ints.ravel())
        w.writeframes(raw)
    x, rate = read_wav(buf.getvalue())
    assert rate == 16000
    np.testing.assert_allclose(x, [0.25, -0.75], atol=1e-6)


def test_parse_vector_forms():
    np.testing.assert_array_equal(parse_vector("[1, 2.5]"), [1, 2.5])
    np.testing.assert_array_equal(parse_vector("1 2;3"), [1, 2, 3])
    with pytest.raises(DataFormatError, match="NaN"):
        parse_vector([1, float("inf")])
    with pytest.raises(DataFormatError, match="non-empty"):
        parse_vector("[]")


def test_undeclared_file_fields_are_told_by_content_whatever_the_extension(tmp_path):
    rng = np.random.default_rng(0)
    members = {f"pics/{i}.poster": image_bytes(rng, fmt="WEBP") for i in range(4)}
    members.update({f"snd/{i}": wav_bytes(rng) for i in range(4)})
    rows = [{"pic": f"pics/{i}.poster", "voice": f"snd/{i}", "note": f"text {i}", "label": "ab"[i % 2]}
            for i in range(4)]
    members["manifest.jsonl"] = "\n".join(json.dumps(r) for r in rows).encode()
    ds = load_generic(write_zip(tmp_path / "g.zip", members), deep=True)
    assert ds.fields == {"pic": "image", "voice": "audio", "note": "text"}
    assert ds.sample(0)["pic"].mode == "RGB" and len(ds) == 4
    members["notes/0.dat"] = b"plain words"
    members["manifest.jsonl"] = json.dumps({"doc": "notes/0.dat", "label": "a"}).encode()
    with pytest.raises(DataFormatError, match="field 'doc': its values name files of the archive "
                                              "\\(e.g. 'notes/0.dat'\\) that are neither images nor WAV"):
        load_generic(write_zip(tmp_path / "h.zip", members))
