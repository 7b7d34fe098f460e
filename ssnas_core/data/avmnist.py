"""AV-MNIST rebuilt from ``mnist.npz`` + ``fsdd.npz`` (shared/data/avmnist, see its README).

Pairing (as MFAS's AV-MNIST: an MNIST image with a spoken digit of the same class):
- every MNIST image gets one FSDD clip of the same digit, drawn uniformly with
  ``numpy.random.default_rng(seed)`` from that split's clip pool; clips are reused;
- train and dev pairs use FSDD *train* clips (utterance >= 5), test pairs only the official FSDD
  test clips (utterance 0-4). Within the train clips, dev draws from utterances 5-9 and train
  from utterances 10-49, so no dev clip is heard in training (all 6 speakers are in every split);
- split: test = the 10,000 MNIST test images; dev = a seeded random 5,000 of the 60,000 MNIST
  train images (``dev_size``; default one twelfth of MNIST train); train = the other 55,000.
The draw is made for all 70,000 images at once, so a sample's partner clip does not depend on
``limit``. ``limit`` keeps a seeded random subset of at most that many samples per split
(an int for every split, or {"train": n, "dev": n, "test": n}).

Fields: ``digit`` (image: the 28x28 grey digit as an RGB PIL image) and ``speech`` (audio:
float32 waveform in [-1, 1], 8000 Hz). Task multiclass, 10 classes "0".."9", labels (N,) int64.
Ids: ``mnist-train-00042+7_theo_12`` (MNIST split and index, FSDD file name).

Everything here is fatal: a missing file, missing keys, wrong shapes or dtypes, labels outside
0-9, or a digit with no clip in a pool raise DataFormatError (this is a fixed benchmark pack,
not an upload).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .raw import SPLIT_CODES, DataFormatError, LoadReport, RawBase

DEV_UTTERANCES = range(5, 10)  # FSDD train utterances reserved for dev pairs
MNIST_KEYS = {"x_train": 3, "y_train": 1, "x_test": 3, "y_test": 1}
FSDD_KEYS = {"samples": 1, "offsets": 1, "label": 1, "utterance": 1, "is_test": 1,
             "filename": 1, "sample_rate": 0}


def _load_npz(path: Path, keys: dict[str, int]) -> dict[str, np.ndarray]:
    if not path.exists():
        raise DataFormatError(f"{path}: missing")
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in keys if k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{path.name}: unreadable npz ({exc})") from exc
    for key, ndim in keys.items():
        if key not in out:
            raise DataFormatError(f"{path.name}: no array {key!r}")
        if out[key].ndim != ndim:
            raise DataFormatError(f"{path.name}: {key} has shape {out[key].shape}, "
                                  f"expected {ndim} dims")
    return out


def _check(mnist: dict, fsdd: dict) -> None:
    for s in ("train", "test"):
        x, y = mnist[f"x_{s}"], mnist[f"y_{s}"]
        if x.shape[1:] != (28, 28) or len(x) != len(y) or x.dtype != np.uint8:
            raise DataFormatError(f"mnist.npz: x_{s} {x.shape} {x.dtype} / y_{s} {y.shape}")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise DataFormatError(f"mnist.npz: y_{s} has labels outside 0-9")
    n = len(fsdd["label"])
    off = fsdd["offsets"]
    if len(off) != n + 1 or off[0] != 0 or off[-1] != len(fsdd["samples"]) or (np.diff(off) <= 0).any():
        raise DataFormatError("fsdd.npz: offsets do not delimit the samples")
    if any(len(fsdd[k]) != n for k in ("utterance", "is_test", "filename")):
        raise DataFormatError("fsdd.npz: per-clip arrays differ in length")


def _draw(rng: np.random.Generator, digits: np.ndarray, pool: np.ndarray,
          clip_labels: np.ndarray) -> np.ndarray:
    """For each digit, one clip index from ``pool`` with the same label."""
    out = np.empty(len(digits), dtype=np.int64)
    for d in range(10):
        where = np.flatnonzero(digits == d)
        clips = pool[clip_labels[pool] == d]
        if len(where) and not len(clips):
            raise DataFormatError(f"fsdd.npz: no clip of digit {d} for pairing")
        if len(where):
            out[where] = clips[rng.integers(0, len(clips), size=len(where))]
    return out


class AVMNIST(RawBase):
    """In-memory MNIST images and FSDD clips; pairs fixed at load time."""

    def __init__(self, images: np.ndarray, clips: np.ndarray, fsdd: dict, **kw: Any):
        super().__init__(fields={"digit": "image", "speech": "audio"}, **kw)
        self._images, self._clips = images, clips
        self._samples, self._offsets = fsdd["samples"], fsdd["offsets"]
        self._rate = int(fsdd["sample_rate"])

    def _load(self, row: int) -> dict[str, Any]:
        c = self._clips[row]
        wav = self._samples[self._offsets[c]:self._offsets[c + 1]].astype(np.float32) / 32768.0
        return {"digit": Image.fromarray(self._images[row], mode="L").convert("RGB"),
                "speech": (wav, self._rate)}


def _limits(limit: int | dict[str, int] | None) -> dict[str, int | None]:
    if limit is None or isinstance(limit, int):
        return {s: limit for s in SPLIT_CODES}
    return {s: limit.get(s) for s in SPLIT_CODES}


def load_avmnist(root: str | os.PathLike, *, seed: int = 0, dev_size: int | None = None,
                 limit: int | dict[str, int] | None = None) -> AVMNIST:
    """Pair MNIST with FSDD as described in the module docstring."""
    root = Path(root)
    mnist = _load_npz(root / "mnist.npz", MNIST_KEYS)
    fsdd = _load_npz(root / "fsdd.npz", FSDD_KEYS)
    _check(mnist, fsdd)
    n_train = len(mnist["y_train"])
    dev_size = round(n_train / 12) if dev_size is None else dev_size
    if not 0 < dev_size < n_train:
        raise DataFormatError(f"dev_size {dev_size} must be in (0, {n_train})")
    rng = np.random.default_rng(seed)
    dev_idx = np.sort(rng.permutation(n_train)[:dev_size])
    split = np.zeros(n_train + len(mnist["y_test"]), dtype=np.uint8)
    split[dev_idx], split[n_train:] = SPLIT_CODES["dev"], SPLIT_CODES["test"]
    digits = np.concatenate([mnist["y_train"], mnist["y_test"]]).astype(np.int64)
    is_test, utt, clip_labels = fsdd["is_test"], fsdd["utterance"], fsdd["label"]
    pools = {0: np.flatnonzero(~is_test & (utt >= DEV_UTTERANCES.stop)),
             1: np.flatnonzero(~is_test & np.isin(utt, list(DEV_UTTERANCES))),
             2: np.flatnonzero(is_test)}
    clips = np.empty(len(digits), dtype=np.int64)
    for code, pool in pools.items():
        where = np.flatnonzero(split == code)
        clips[where] = _draw(rng, digits[where], pool, clip_labels)
    keep = np.zeros(len(digits), dtype=bool)
    for name, cap in _limits(limit).items():
        where = np.flatnonzero(split == SPLIT_CODES[name])
        keep[where if cap is None else np.sort(rng.permutation(where)[:cap])] = True
    rows = np.flatnonzero(keep)
    names = [str(f).removesuffix(".wav") for f in fsdd["filename"]]
    ids = [f"mnist-{'train' if r < n_train else 'test'}-{r if r < n_train else r - n_train:05d}"
           f"+{names[clips[r]]}" for r in rows]
    images = np.concatenate([mnist["x_train"], mnist["x_test"]])
    report = LoadReport(total=len(rows))
    return AVMNIST(images, clips, fsdd, label_names=[str(d) for d in range(10)],
                   task="multiclass", ids=ids, labels=digits[rows], split=split[rows],
                   report=report, rows=rows,
                   info={"format": "avmnist", "source": str(root), "seed": seed,
                         "dev_size": dev_size, "limit": limit})
