"""Inputs for bench/service_latency.py, written under bench/work/ (never committed).

- ``movies_subset``: a small MM-IMDB-raw-style zip cut from ../shared/data/movies23 (real posters
  and plots; internal benchmarking only, see that pack's README), to train the model /predict uses;
- ``big_feature_zip``: a ~1 GB zipped feature folder (one float16 vector node), a valid upload;
- ``tiny_feature_zip``: a 200-sample feature folder for job-start latency.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

from ssnas_core.data.features import FeatureWriter, Manifest, NodeSpec

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SSNAS_SHARED_DATA", REPO.parent / "shared" / "data"))


def movies_subset(out: Path, per_split: dict[str, int] | None = None) -> Path:
    """The first ids of each split of movies23 as an MM-IMDB-raw zip (cached)."""
    if out.exists():
        return out
    per_split = per_split or {"train": 90, "dev": 40, "test": 30}
    src = zipfile.ZipFile(SHARED / "movies23" / "mmimdb_style.zip")
    split = json.loads(src.read("split.json"))
    keep = {s: sorted(split[s])[:n] for s, n in per_split.items()}
    tmp = out.with_suffix(".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr("genres.json", src.read("genres.json"))
        zf.writestr("split.json", json.dumps(keep))
        for ids in keep.values():
            for i in ids:
                zf.writestr(f"dataset/{i}.json", src.read(f"dataset/{i}.json"), zipfile.ZIP_DEFLATED)
                zf.writestr(f"dataset/{i}.jpeg", src.read(f"dataset/{i}.jpeg"), zipfile.ZIP_STORED)
    tmp.replace(out)
    return out


def movie_inputs(subset: Path, n: int = 4) -> list[dict]:
    """(poster JPEG bytes, plot text) of the subset's first test movies."""
    with zipfile.ZipFile(subset) as zf:
        ids = json.loads(zf.read("split.json"))["test"][:n]
        out = []
        for i in ids:
            meta = json.loads(zf.read(f"dataset/{i}.json"))
            out.append({"poster": zf.read(f"dataset/{i}.jpeg"), "plot": max(meta["plot"], key=len)})
        return out


def _feature_zip(out: Path, n: int, dim: int, seed: int, rows_per_write: int = 16384) -> Path:
    if out.exists():
        return out
    rng = np.random.default_rng(seed)
    folder = out.with_suffix(".dir")
    shutil.rmtree(folder, ignore_errors=True)
    manifest = Manifest(nodes=(NodeSpec("x", "vector", (dim,)), NodeSpec("y", "vector", (8,))),
                        label_names=("a", "b", "c"), task="multilabel", num_samples=n,
                        info={"source": "bench/service_data.py (random)"})
    split = np.zeros(n, np.uint8)
    split[int(0.6 * n):int(0.8 * n)], split[int(0.8 * n):] = 1, 2
    with FeatureWriter(folder, manifest) as w:
        for lo in range(0, n, rows_per_write):
            hi = min(n, lo + rows_per_write)
            labels = (rng.random((hi - lo, 3)) < 0.4).astype(np.uint8)
            labels[np.arange(hi - lo), rng.integers(3, size=hi - lo)] = 1
            x = rng.normal(size=(hi - lo, dim)).astype(np.float16) + labels.sum(1, keepdims=True)
            y = rng.normal(size=(hi - lo, 8)).astype(np.float32) + labels @ rng.normal(size=(3, 8))
            w.write(lo, {"x": x, "y": y}, labels, split[lo:hi], [f"r{i}" for i in range(lo, hi)])
    tmp = out.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f.name)
    tmp.replace(out)
    shutil.rmtree(folder)
    return out


def big_feature_zip(out: Path, gigabytes: float = 1.0) -> Path:
    """About ``gigabytes`` GB of float16 rows (1024-d) in a stored (uncompressed) zip."""
    n = int(gigabytes * 1e9 / (1024 * 2 + 8 * 2 + 3 + 1 + 16))
    return _feature_zip(out, n, 1024, seed=1)


def tiny_feature_zip(out: Path) -> Path:
    return _feature_zip(out, 200, 16, seed=2)

