"""The upload-format guide: api/README.md carries it verbatim, and its worked examples load."""

import json
import re
from pathlib import Path

import numpy as np

from ssnas_core.data.detect import inspect
from ssnas_core.data.formats import GUIDE
from tests.core.data.dataset_factories import image_bytes, write_zip

ROOT = Path(__file__).resolve().parents[3]


def test_api_readme_holds_the_guide_verbatim():
    assert GUIDE in (ROOT / "api" / "README.md").read_text()


def _images() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {"img/1.jpg": image_bytes(rng), "img/2.png": image_bytes(rng, fmt="PNG")}


def test_the_generic_csv_example_loads(tmp_path):
    csv = re.search(r"```\n(id,poster:image.*?)```", GUIDE, re.S).group(1)
    summary = inspect(write_zip(tmp_path / "m.zip", {"manifest.csv": csv.encode(), **_images()}),
                      deep=True)
    assert summary["format"] == "generic" and summary["num_samples"] == 2
    assert summary["fields"] == {"poster": "image", "plot": "text"}
    assert summary["label_names"] == ["Crime", "Romance", "Thriller"]
    assert summary["split_counts"] == {"train": 1, "dev": 0, "test": 1}


def test_the_generic_jsonl_example_loads(tmp_path):
    line = re.search(r"`(\{\"id\": \"m1\".*?\})`", GUIDE).group(1)
    row2 = dict(json.loads(line), id="m2", poster="img/2.png", labels=["Romance"], split="test")
    body = (line + "\n" + json.dumps(row2) + "\n").encode()
    summary = inspect(write_zip(tmp_path / "m.zip", {"manifest.jsonl": body, **_images()}), deep=True)
    assert summary["fields"] == {"poster": "image", "plot": "text"} and summary["num_samples"] == 2


def test_the_mmimdb_raw_example_loads(tmp_path):
    meta = re.search(r"`dataset/0001.json` = `(\{.*?\})`", GUIDE, re.S).group(1).replace("\n", " ")
    members = {"dataset/0001.json": meta.encode(), "dataset/0001.jpeg": _images()["img/1.jpg"]}
    summary = inspect(write_zip(tmp_path / "raw.zip", members), deep=True)
    assert summary["format"] == "mmimdb_raw" and summary["label_names"] == ["Crime", "Thriller"]


def test_the_feature_manifest_example_is_a_valid_manifest():
    from ssnas_core.data.features import Manifest

    text = re.search(r"- `manifest.json`: `(\{.*?\})`\n", GUIDE, re.S).group(1)
    man = Manifest.from_json(json.loads(text.replace("\n", " ")))
    assert [n.name for n in man.nodes] == ["img", "txt"] and man.num_samples == 1000
