"""The generic feature format: one HDF5 file plus a small JSON manifest.

Layout of a feature directory::

    manifest.json   node names, modality and shape per node, label names, task, split counts
    features.h5     nodes/<name>  (N, *shape) float16 or float32, contiguous (memory-mappable)
                    labels        (N, K) uint8 multi-hot, or (N,) int64 class index
                    split         (N,) uint8: 0 train, 1 dev, 2 test
                    ids           (N,) utf-8 strings (optional: row numbers "0".."N-1")

Datasets are written contiguous and uncompressed so that readers can memory-map them
(``np.memmap`` at the dataset's file offset): a file larger than memory is read page by
page, never loaded whole. Compressed or chunked files (written by other tools) fall back
to HDF5 slicing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import h5py
import numpy as np

from ..names import DATAFILE, MANIFEST

SPLITS = ("train", "dev", "test")
FORMAT_VERSION = 1
ID_PIECE_ROWS = 4096  # ids decoded per piece by FeatureDataset.iter_ids (under 1 MB of str objects)


class FeatureFormatError(ValueError):
    """The feature directory is missing, incomplete or inconsistent."""


@dataclass(frozen=True)
class NodeSpec:
    """One input node: a feature map (C, H, W) or a vector (d,) from one modality."""

    name: str
    modality: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if len(self.shape) not in (1, 3) or min(self.shape) < 1:
            raise FeatureFormatError(f"node {self.name!r}: shape must be (d,) or (C, H, W), got {self.shape}")

    @property
    def channels(self) -> int:
        return self.shape[0]


@dataclass(frozen=True)
class Manifest:
    nodes: tuple[NodeSpec, ...]
    label_names: tuple[str, ...]
    task: str  # "multilabel" or "multiclass"
    num_samples: int
    split_counts: dict[str, int] = field(default_factory=dict)
    info: dict = field(default_factory=dict)  # provenance: source format, backbones, ...
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.task not in ("multilabel", "multiclass"):
            raise FeatureFormatError(f"task must be multilabel or multiclass, got {self.task!r}")
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names) or not names:
            raise FeatureFormatError(f"node names must be unique and non-empty: {names}")
        if not self.label_names:
            raise FeatureFormatError("label_names must not be empty")

    @property
    def modalities(self) -> list[str]:
        return list(dict.fromkeys(n.modality for n in self.nodes))

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    def to_json(self) -> dict:
        d = asdict(self)
        d["nodes"] = [asdict(n) | {"shape": list(n.shape)} for n in self.nodes]
        d["label_names"] = list(self.label_names)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Manifest":
        try:
            return cls(
                nodes=tuple(NodeSpec(n["name"], n["modality"], tuple(n["shape"])) for n in d["nodes"]),
                label_names=tuple(d["label_names"]),
                task=d["task"],
                num_samples=int(d["num_samples"]),
                split_counts=dict(d.get("split_counts", {})),
                info=dict(d.get("info", {})),
                version=int(d.get("version", FORMAT_VERSION)),
            )
        except (KeyError, TypeError) as exc:
            raise FeatureFormatError(f"manifest.json is malformed: {exc!r}") from exc


class FeatureWriter:
    """Writes a feature directory incrementally (resumable: ``rows_done`` is persisted).

    >>> with FeatureWriter(path, manifest) as w:
    ...     w.write(0, {"img0": a, "txt": b}, labels, split)
    """

    def __init__(self, path: str | os.PathLike, manifest: Manifest, dtype: str = "float16"):
        self.path = Path(path)
        self.manifest = manifest
        self.path.mkdir(parents=True, exist_ok=True)
        self._h5 = h5py.File(self.path / DATAFILE, "a")
        n = manifest.num_samples
        if "nodes" not in self._h5:
            for spec in manifest.nodes:
                ds = self._h5.create_dataset(f"nodes/{spec.name}", shape=(n, *spec.shape), dtype=dtype)
                ds[-1:] = 0  # allocate now so the contiguous block has a file offset
            if manifest.task == "multilabel":
                self._h5.create_dataset("labels", shape=(n, manifest.num_labels), dtype="uint8")
            else:
                self._h5.create_dataset("labels", shape=(n,), dtype="int64")
            self._h5.create_dataset("split", shape=(n,), dtype="uint8")
            self._h5.create_dataset("ids", shape=(n,), dtype=h5py.string_dtype())
            self._h5.attrs["rows_done"] = 0
            self._h5.attrs["complete"] = False

    @property
    def rows_done(self) -> int:
        if not self._h5.id.valid:
            return self._closed_rows
        return int(self._h5.attrs["rows_done"])

    def write(self, start: int, nodes: dict[str, np.ndarray], labels: np.ndarray,
              split: np.ndarray, ids: Iterable[str] | None = None) -> None:
        stop = start + len(labels)
        for spec in self.manifest.nodes:
            arr = np.asarray(nodes[spec.name])
            if arr.shape[1:] != spec.shape or len(arr) != len(labels):
                raise FeatureFormatError(f"node {spec.name}: got {arr.shape}, expected (B, {spec.shape})")
            if not np.isfinite(arr).all():
                bad = int(np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(1))[0])
                raise FeatureFormatError(f"node {spec.name}: non-finite value in sample {start + bad}")
            self._h5[f"nodes/{spec.name}"][start:stop] = arr
        self._h5["labels"][start:stop] = labels
        self._h5["split"][start:stop] = split
        if ids is not None:
            self._h5["ids"][start:stop] = list(ids)
        self._h5.attrs["rows_done"] = max(self.rows_done, stop)
        self._h5.flush()

    def close(self) -> None:
        if self._h5.id.valid:
            split = self._h5["split"][:]
            self._closed_rows = self.rows_done
            complete = self._closed_rows >= self.manifest.num_samples
            self._h5.attrs["complete"] = complete
            self._h5.close()
            if complete:
                counts = {s: int((split == i).sum()) for i, s in enumerate(SPLITS)}
                man = Manifest(**{**self.manifest.__dict__, "split_counts": counts})
                tmp = self.path / (MANIFEST + ".tmp")
                tmp.write_text(json.dumps(man.to_json(), indent=1))
                tmp.replace(self.path / MANIFEST)  # the manifest appears only when the data is whole

    def __enter__(self) -> "FeatureWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_features(path: str | os.PathLike, manifest: Manifest, nodes: dict[str, np.ndarray],
                   labels: np.ndarray, split: np.ndarray, ids: Iterable[str] | None = None,
                   dtype: str = "float16") -> "FeatureDataset":
    """Write in-memory arrays as a feature directory and open it."""
    with FeatureWriter(path, manifest, dtype=dtype) as w:
        w.write(0, nodes, labels, split, ids)
    return FeatureDataset(path)


def _decode_id(s: bytes | str) -> str:
    return s.decode() if isinstance(s, bytes) else str(s)


def _memmap(ds: h5py.Dataset, filename: Path) -> np.ndarray | h5py.Dataset:
    offset = ds.id.get_offset()
    if ds.chunks is not None or ds.compression is not None or offset is None:
        return ds
    return np.memmap(filename, mode="r", dtype=ds.dtype, shape=ds.shape, offset=offset)


class FeatureDataset:
    """Read access to a feature directory; node arrays are memory-mapped, not loaded."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        mpath = self.path / MANIFEST
        if not mpath.exists():
            raise FeatureFormatError(f"{self.path}: no {MANIFEST} (missing or incomplete feature directory)")
        self.manifest = Manifest.from_json(json.loads(mpath.read_text()))
        self._h5 = h5py.File(self.path / DATAFILE, "r")
        n = self.manifest.num_samples
        self._nodes = {}
        for spec in self.manifest.nodes:
            key = f"nodes/{spec.name}"
            if key not in self._h5 or self._h5[key].shape != (n, *spec.shape):
                self._h5.close()
                raise FeatureFormatError(f"{self.path}: node {spec.name} missing or not of shape {(n, *spec.shape)}")
            self._nodes[spec.name] = _memmap(self._h5[key], self.path / DATAFILE)
        self.labels = np.asarray(self._required("labels")[:])
        self.split = np.asarray(self._required("split")[:])
        ids = self._h5.get("ids")  # optional: the row numbers stand in for missing ids
        self._ids_ds: h5py.Dataset | None = ids if isinstance(ids, h5py.Dataset) else None
        self._ids: list[str] | None = None

    def _required(self, key: str) -> h5py.Dataset:
        obj = self._h5.get(key)
        if not isinstance(obj, h5py.Dataset):
            self._h5.close()
            raise FeatureFormatError(f"{DATAFILE} has no {key!r} dataset (required: nodes/<name> "
                                     "per manifest node, labels, split; ids is optional)")
        return obj

    def _id_rows(self, lo: int, hi: int) -> list[str]:
        if self._ids_ds is None:
            return [str(i) for i in range(lo, min(hi, len(self)))]
        return [_decode_id(s) for s in self._ids_ds[lo:hi]]

    @property
    def ids(self) -> list[str]:
        """The sample ids (the row numbers when the file has none), read on first use: reading
        them whole costs ~150 bytes a sample at peak (70 MB for 480k rows), which training never
        needs; ``iter_ids`` reads them in bounded pieces."""
        if self._ids is None:
            self._ids = self._id_rows(0, self.ids_shape[0] if self.ids_shape else 0)
        return self._ids

    @property
    def ids_shape(self) -> tuple[int, ...]:
        if self._ids_ds is None:
            return (len(self),)
        return tuple(self._ids_ds.shape or ())

    def iter_ids(self, rows: int = ID_PIECE_ROWS) -> Iterator[list[str]]:
        """The ids in pieces of at most ``rows``, each decoded as ``ids`` decodes it (strict UTF-8)."""
        if self._ids is not None:
            for lo in range(0, len(self._ids), rows):
                yield self._ids[lo:lo + rows]
            return
        for lo in range(0, self.ids_shape[0] if self.ids_shape else 0, rows):
            yield self._id_rows(lo, lo + rows)

    def __len__(self) -> int:
        return self.manifest.num_samples

    @property
    def node_specs(self) -> tuple[NodeSpec, ...]:
        return self.manifest.nodes

    def split_indices(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.split == SPLITS.index(name))

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Node arrays for ``indices`` as float32, in the order given."""
        indices = np.asarray(indices, dtype=np.int64)
        order = np.argsort(indices, kind="stable")
        sorted_idx = indices[order]
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        out = {}
        for name, arr in self._nodes.items():
            if isinstance(arr, np.ndarray):
                block = arr[sorted_idx]
            else:  # h5py needs increasing, unique indices
                uniq, inv = np.unique(sorted_idx, return_inverse=True)
                block = arr[uniq][inv]
            out[name] = np.asarray(block, dtype=np.float32)[inverse]
        return out

    def nonfinite_rows(self, max_bytes: int = 8 << 20) -> dict[str, np.ndarray]:
        """node name -> sorted rows holding NaN or infinite values (nodes without any left out).
        Read through HDF5 (not the memory map, whose touched pages would stay resident) in blocks
        of about ``max_bytes``, so memory stays bounded whatever the file size."""
        out = {}
        for name in self._nodes:
            ds = self._h5[f"nodes/{name}"]
            width = int(np.prod(ds.shape[1:]))
            step = max(1, max_bytes // max(1, width * ds.dtype.itemsize))
            bad = [lo + np.flatnonzero(~np.isfinite(ds[lo:lo + step].reshape(-1, width)).all(1))
                   for lo in range(0, len(self), step)]
            rows = np.concatenate(bad) if bad else np.empty(0, dtype=np.int64)
            if len(rows):
                out[name] = rows
        return out

    def close(self) -> None:
        self._h5.close()
