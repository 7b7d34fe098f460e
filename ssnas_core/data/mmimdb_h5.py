"""MM-IMDB's own HDF5 file (``multimodal_imdb.hdf5``, METHOD.md section 6), read lazily.

Datasets used (N rows, one per movie, in the official order):
    features      (N, 300)  mean word2vec of the plot          -> vector field ``text_vec``
    images        (N, 3, H, W) caffe-style: BGR, minus the ImageNet mean (256x160 in MM-IMDB)
                                                              -> image field ``image`` (RGB PIL)
    vgg_features  (N, 4096) VGG16 fc7                          -> vector field ``vgg``
    genres        (N, K) multi-hot; names in genres.attrs['target_names']
    imdb_ids      (N,) optional; row numbers are used when absent

Split, in order of precedence: ``split_bounds=(train_end, dev_end)`` if given; the Fuel
``split`` attribute on the root (how the original file records it); the official row ranges
train [0, 15552), dev [15552, 18160), test [18160, 25959) when N == 25959; otherwise the same
boundaries scaled to N (round(N * 15552 / 25959), round(N * 18160 / 25959)), so a small test
file in this layout gets MM-IMDB's proportions in the same row order.

Rows are read with h5py slicing when a sample is requested, so the file may be larger than
memory. Vector fields and labels are scanned once, in chunks, at load time.

Fatal: not an HDF5 file, missing ``features``/``genres``/``target_names``, the requested
image source missing, wrong ranks or row counts, non-numeric data, target_names not matching
the genre columns, duplicate ids, bad split bounds. Per sample (in ``report``): non-finite
values in a vector field, labels other than 0/1, no genre at all; a non-finite image row
raises DataFormatError naming the sample at ``sample(i)`` time and is rejected by
``validate_all`` (``deep=True``, what upload validation runs).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from PIL import Image

from .raw import DataFormatError, LoadReport, RawBase

OFFICIAL_ROWS = 25959
OFFICIAL_BOUNDS = (15552, 18160)
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
IMAGE_SOURCES = ("auto", "images", "vgg_features", "both", "none")


def caffe_to_pil(arr: np.ndarray) -> Image.Image:
    """(3, H, W) BGR mean-subtracted array -> RGB PIL image of size (W, H)."""
    bgr = np.asarray(arr, dtype=np.float32) + CAFFE_MEAN_BGR[:, None, None]
    if not np.isfinite(bgr).all():
        raise DataFormatError("image row holds non-finite values")
    rgb = np.clip(np.rint(bgr[::-1]), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return Image.fromarray(np.ascontiguousarray(rgb), mode="RGB")


def pil_to_caffe(im: Image.Image) -> np.ndarray:
    """Inverse of caffe_to_pil: RGB PIL -> (3, H, W) float32 BGR minus the mean."""
    rgb = np.asarray(im.convert("RGB"), dtype=np.float32).transpose(2, 0, 1)
    return rgb[::-1] - CAFFE_MEAN_BGR[:, None, None]


class MMIMDBH5(RawBase):
    """Rows of multimodal_imdb.hdf5; the file handle is reopened after a fork."""

    def __init__(self, path: Path, sources: dict[str, str], **kw: Any):
        fields = {f: ("image" if src == "images" else "vector") for f, src in sources.items()}
        super().__init__(fields=fields, **kw)
        self.path, self._sources = path, sources
        self._h5, self._pid = None, None

    def _handle(self) -> h5py.File:
        if self._h5 is None or self._pid != os.getpid():
            self._h5, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._h5

    def __getstate__(self) -> dict:  # worker processes reopen the file themselves
        return {**self.__dict__, "_h5": None, "_pid": None}

    def _load(self, row: int) -> dict[str, Any]:
        f, out = self._handle(), {}
        for name, src in self._sources.items():
            value = f[src][row]
            if src == "images":
                out[name] = caffe_to_pil(value)
            else:
                out[name] = np.asarray(value, dtype=np.float32)
        return out

    def validate_all(self, chunk: int = 256) -> "MMIMDBH5":
        """Reject the rows whose image holds NaN/inf (vector fields were scanned at load time).
        Integer images always decode; float ones are scanned ``chunk`` rows at a time."""
        for name, src in self._sources.items():
            ds = self._handle()[src]
            if src != "images" or not np.issubdtype(ds.dtype, np.floating):
                continue
            finite = _scan_rows(ds, chunk)[self.rows]
            for i in np.flatnonzero(~finite):
                self.report.reject(self.ids[i], f"{name!r}: image row holds non-finite values")
            if not finite.all():
                self.keep(finite)
        return self

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None


def _dataset(f: h5py.File, key: str, ndim: int, n: int | None) -> h5py.Dataset:
    if key not in f or not isinstance(f[key], h5py.Dataset):
        raise DataFormatError(f"{Path(f.filename).name}: no dataset {key!r}")
    ds = f[key]
    if ds.ndim != ndim or (n is not None and ds.shape[0] != n):
        raise DataFormatError(f"{key}: shape {ds.shape}, expected {ndim} dims"
                              + (f" with {n} rows" if n is not None else ""))
    if key != "imdb_ids" and not np.issubdtype(ds.dtype, np.number):
        raise DataFormatError(f"{key}: dtype {ds.dtype} is not numeric")
    return ds


def _names(attr: Any) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.asarray(attr).ravel()]


def _fuel_bounds(f: h5py.File) -> tuple[int, int] | None:
    """(train_end, dev_end) from a Fuel ``split`` root attribute, if the file has one."""
    table = f.attrs.get("split")
    names = getattr(getattr(table, "dtype", None), "names", None) or ()
    if not {"split", "start", "stop"} <= set(names):
        return None
    rows = {(r["split"].decode() if isinstance(r["split"], bytes) else str(r["split"])):
            (int(r["start"]), int(r["stop"])) for r in table}
    if "train" in rows and "dev" in rows:
        return rows["train"][1], rows["dev"][1]
    return None


def split_codes(n: int, bounds: tuple[int, int] | None) -> np.ndarray:
    """(n,) uint8 split by row ranges; bounds None -> official or proportionally scaled."""
    if bounds is None:
        if n == OFFICIAL_ROWS:
            bounds = OFFICIAL_BOUNDS
        else:
            bounds = tuple(round(n * b / OFFICIAL_ROWS) for b in OFFICIAL_BOUNDS)
    a, b = bounds
    if not 0 < a <= b < n:
        raise DataFormatError(f"split bounds {bounds} do not fit {n} rows")
    split = np.full(n, 2, dtype=np.uint8)
    split[:a], split[a:b] = 0, 1
    return split


def _scan_rows(ds: h5py.Dataset, chunk: int) -> np.ndarray:
    """(N,) bool: rows whose values are all finite, read ``chunk`` rows at a time."""
    ok = np.empty(ds.shape[0], dtype=bool)
    for s in range(0, ds.shape[0], chunk):
        block = np.asarray(ds[s:s + chunk]).reshape(min(chunk, ds.shape[0] - s), -1)
        ok[s:s + chunk] = np.isfinite(block).all(1)
    return ok


def _pick_sources(f: h5py.File, image: str) -> dict[str, str]:
    if image not in IMAGE_SOURCES:
        raise DataFormatError(f"image source must be one of {IMAGE_SOURCES}, got {image!r}")
    if image == "auto":
        image = "images" if "images" in f else ("vgg_features" if "vgg_features" in f else "none")
    sources = {"text_vec": "features"}
    if image in ("images", "both"):
        sources["image"] = "images"
    if image in ("vgg_features", "both"):
        sources["vgg"] = "vgg_features"
    return sources


def _check_rows(f: h5py.File, sources: dict[str, str], ids: list[str], report: LoadReport,
                chunk: int) -> np.ndarray:
    """(N,) bool of usable rows; shape errors are fatal, bad rows go to the report."""
    n = len(ids)
    ok = np.ones(n, dtype=bool)
    for src in sources.values():
        ds = _dataset(f, src, 4 if src == "images" else 2, n)
        if src == "images" and ds.shape[1] != 3:
            raise DataFormatError(f"images: shape {ds.shape}, expected (N, 3, H, W)")
        if src != "images":
            finite = _scan_rows(ds, chunk)
            for row in np.flatnonzero(ok & ~finite):
                report.reject(ids[row], f"non-finite values in {src!r}")
            ok &= finite
    labels = np.asarray(f["genres"][:])
    binary = ((labels == 0) | (labels == 1)).all(1)
    empty = binary & (labels.sum(1) == 0)
    for row in np.flatnonzero(ok & ~binary):
        report.reject(ids[row], "labels are not 0/1")
    for row in np.flatnonzero(ok & empty):
        report.reject(ids[row], "missing labels (no genre)")
    return ok & binary & ~empty


def _read(f: h5py.File, path: Path, image: str, split_bounds: tuple[int, int] | None,
          chunk: int) -> MMIMDBH5:
    genres = _dataset(f, "genres", 2, None)
    n, k = genres.shape
    if "target_names" not in genres.attrs:
        raise DataFormatError("genres: no attribute 'target_names' with the genre names")
    label_names = _names(genres.attrs["target_names"])
    if len(label_names) != k or len(set(label_names)) != k:
        raise DataFormatError(f"genres: {len(label_names)} target_names (distinct: "
                              f"{len(set(label_names))}) for {k} genre columns")
    sources = _pick_sources(f, image)
    ids = (_names(_dataset(f, "imdb_ids", 1, n)[:]) if "imdb_ids" in f
           else [str(i) for i in range(n)])
    if len(set(ids)) != n:
        raise DataFormatError("imdb_ids: duplicate ids")
    report = LoadReport(total=n)
    rows = np.flatnonzero(_check_rows(f, sources, ids, report, chunk))
    split = split_codes(n, split_bounds or _fuel_bounds(f))
    labels = np.asarray(genres[:])[rows].astype(np.uint8)
    return MMIMDBH5(path, sources, label_names=label_names, task="multilabel",
                    ids=[ids[r] for r in rows], labels=labels, split=split[rows],
                    report=report, rows=rows,
                    info={"format": "mmimdb_h5", "source": str(path), "image": sources})


def load_mmimdb_h5(path: str | os.PathLike, *, image: str = "auto",
                   split_bounds: tuple[int, int] | None = None, chunk: int = 4096,
                   deep: bool = False) -> MMIMDBH5:
    """Open multimodal_imdb.hdf5 (see the module docstring); ``image`` picks the image side.
    ``deep`` decodes every row once and moves the unreadable ones into the report."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            ds = _read(f, path, image, split_bounds, chunk)
    except OSError as exc:
        raise DataFormatError(f"{path.name}: not a readable HDF5 file ({exc})") from exc
    return ds.validate_all() if deep else ds
