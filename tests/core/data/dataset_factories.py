"""Tiny datasets in every input format, for tests (importable: tests.core.data.dataset_factories).

make_mmimdb_h5(path, n)        multimodal_imdb.hdf5 layout (features, images, vgg_features,
                               genres + target_names, imdb_ids)
make_mmimdb_raw_zip(path, n)   raw MM-IMDB archive: genres.json, split.json, dataset/<id>.json/.jpeg
make_generic_zip(path, n)      generic manifest archive with image, text, audio and vector fields
make_avmnist_dir(path)         mnist.npz + fsdd.npz with the real packs' keys, tiny
write_zip(path, members)       a zip from {name: bytes}, for hand-made (hostile) archives
All are deterministic for a given ``seed`` and return the path they wrote.
"""

from __future__ import annotations

import io
import json
import wave
import zipfile
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from ssnas_core.data.mmimdb_h5 import pil_to_caffe

GENRES = ["Drama", "Comedy", "Romance", "Thriller", "Crime", "Action", "Adventure", "Horror",
          "Documentary", "Mystery", "Sci-Fi", "Fantasy", "Family", "Biography", "War", "History",
          "Music", "Animation", "Musical", "Western", "Sport", "Short", "Film-Noir"]


def image_bytes(rng: np.random.Generator, size: tuple[int, int] = (12, 18),
                fmt: str = "JPEG") -> bytes:
    """A small random RGB image (width, height) encoded as ``fmt``."""
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format=fmt)
    return buf.getvalue()


def wav_bytes(rng: np.random.Generator, n: int = 400, rate: int = 8000, channels: int = 1,
              width: int = 2) -> bytes:
    """A short random PCM WAV."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(rng.integers(0, 256, size=n * channels * width, dtype=np.uint8).tobytes())
    return buf.getvalue()


def multi_hot(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """(n, k) uint8 with 1 to 3 positives per row."""
    y = np.zeros((n, k), dtype=np.uint8)
    for i in range(n):
        y[i, rng.choice(k, size=int(rng.integers(1, 4)), replace=False)] = 1
    return y


def write_zip(path: str | Path, members: dict[str, bytes],
              compression: int = zipfile.ZIP_DEFLATED) -> Path:
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def make_mmimdb_h5(path: str | Path, n: int = 40, *, images: bool = True, vgg: bool = True,
                   image_hw: tuple[int, int] = (16, 10), seed: int = 0) -> Path:
    """multimodal_imdb.hdf5 layout with ``n`` movies; images are caffe-style int16."""
    path, rng = Path(path), np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f["features"] = rng.standard_normal((n, 300)).astype(np.float32)
        if vgg:
            f["vgg_features"] = rng.random((n, 64)).astype(np.float32)
        if images:
            h, w = image_hw
            pics = rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)
            f["images"] = np.stack([np.rint(pil_to_caffe(Image.fromarray(p))) for p in pics]
                                   ).astype(np.int16)
        g = f.create_dataset("genres", data=multi_hot(rng, n, len(GENRES)))
        g.attrs["target_names"] = np.array(GENRES, dtype=h5py.string_dtype())
        f["imdb_ids"] = np.array([f"{i:07d}" for i in range(n)], dtype=h5py.string_dtype())
    return path


def mmimdb_raw_members(n: int = 30, *, seed: int = 0, split: bool = True,
                       genres_json: bool = True) -> dict[str, bytes]:
    """Members of a raw MM-IMDB archive (edit before ``write_zip`` to make broken ones)."""
    rng = np.random.default_rng(seed)
    y = multi_hot(rng, n, 5)
    ids = [f"{1000 + i:07d}" for i in range(n)]
    members = {}
    if genres_json:
        members["genres.json"] = json.dumps(GENRES[:5]).encode()
    if split:
        a, b = int(n * 0.6), int(n * 0.7)
        members["split.json"] = json.dumps({"train": ids[:a], "dev": ids[a:b],
                                            "test": ids[b:]}).encode()
    for i, sid in enumerate(ids):
        meta = {"imdb id": sid, "title": f"Movie {i}",
                "plot": [f"short plot {i}", f"the longest plot of movie number {i}"],
                "genres": [GENRES[k] for k in np.flatnonzero(y[i])]}
        members[f"dataset/{sid}.json"] = json.dumps(meta).encode()
        members[f"dataset/{sid}.jpeg"] = image_bytes(rng)
    return members


def make_mmimdb_raw_zip(path: str | Path, n: int = 30, *, seed: int = 0, split: bool = True,
                        genres_json: bool = True) -> Path:
    return write_zip(path, mmimdb_raw_members(n, seed=seed, split=split, genres_json=genres_json))


def generic_members(n: int = 30, *, seed: int = 0, manifest: str = "csv",
                    multilabel: bool = True) -> dict[str, bytes]:
    """Members of a generic archive with fields photo:image, caption:text, clip:audio, emb:vector."""
    rng = np.random.default_rng(seed)
    classes = ["cat", "dog", "bird"]
    splits = ["train"] * int(n * 0.6) + ["dev"] * int(n * 0.2)
    splits += ["test"] * (n - len(splits))
    members, rows = {}, []
    for i in range(n):
        members[f"img/{i}.png"] = image_bytes(rng, fmt="PNG")
        members[f"audio/{i}.wav"] = wav_bytes(rng)
        labels = [classes[i % 3]] + ([classes[(i + 1) % 3]] if multilabel and i % 2 else [])
        rows.append({"id": f"s{i}", "photo:image": f"img/{i}.png", "caption:text": f"caption {i}",
                     "clip:audio": f"audio/{i}.wav",
                     "emb:vector": [round(float(v), 4) for v in rng.standard_normal(8)],
                     ("labels" if multilabel else "label"): labels if multilabel else labels[0],
                     "split": splits[i]})
    if manifest == "jsonl":
        members["manifest.jsonl"] = "\n".join(json.dumps(r) for r in rows).encode()
    else:
        members["manifest.csv"] = csv_text(rows).encode()
    return members


def csv_text(rows: list[dict]) -> str:
    """CSV of manifest rows: lists become 'a|b' (labels) or '[1.0, 2.0]' (vectors)."""
    header = list(rows[0])
    out = [",".join(header)]
    for r in rows:
        cells = []
        for key in header:
            v = r.get(key, "")
            if isinstance(v, list):
                v = "|".join(v) if key == "labels" else json.dumps(v)
            cells.append(f'"{v}"' if "," in str(v) else str(v))
        out.append(",".join(cells))
    return "\n".join(out) + "\n"


def make_generic_zip(path: str | Path, n: int = 30, *, seed: int = 0, manifest: str = "csv",
                     multilabel: bool = True) -> Path:
    return write_zip(path, generic_members(n, seed=seed, manifest=manifest,
                                           multilabel=multilabel))


def make_avmnist_dir(path: str | Path, n_train: int = 200, n_test: int = 50,
                     seed: int = 0) -> Path:
    """mnist.npz + fsdd.npz with the real packs' keys; 2 speakers x 10 digits x 12 utterances."""
    path, rng = Path(path), np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    np.savez(path / "mnist.npz",
             x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
             y_train=(np.arange(n_train) % 10).astype(np.uint8),
             x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
             y_test=(np.arange(n_test) % 10).astype(np.uint8))
    label, utt, names = [], [], []
    for spk in ("ann", "bob"):
        for d in range(10):
            for u in range(12):
                label.append(d), utt.append(u), names.append(f"{d}_{spk}_{u}.wav")
    lengths = rng.integers(50, 120, size=len(label))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    np.savez(path / "fsdd.npz",
             samples=rng.integers(-2000, 2000, offsets[-1], dtype=np.int16), offsets=offsets,
             label=np.array(label, np.uint8), utterance=np.array(utt, np.uint8),
             is_test=np.array(utt, np.uint8) <= 4, filename=np.array(names),
             sample_rate=np.int32(8000))
    return path
