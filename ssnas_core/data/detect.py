"""Tell which dataset format a path holds, summarise it, and open it.

Formats, checked in this order:
    features    a folder with manifest.json + features.h5 (``features.py``)
    avmnist     a folder with mnist.npz + fsdd.npz (``avmnist.py``)
    mmimdb_h5   an HDF5 file (by its signature) with ``features`` or ``genres``
    generic     a zip or folder with manifest.csv / manifest.jsonl (``generic.py``)
    mmimdb_raw  a zip or folder with dataset/<id>.json (``mmimdb_raw.py``)
A zip is recognised by its signature, not its name. Anything else raises UnknownFormatError
(the service answers 415) naming what is missing when it is close to a format
(``near_miss.py``); a recognised format with bad content raises DataFormatError (422).
"""

from __future__ import annotations

import os
from inspect import signature
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..names import FOLDER_FORMATS
from .avmnist import load_avmnist
from .features import SPLITS, FeatureDataset, FeatureFormatError
from .generic import MANIFESTS, load_generic
from .mmimdb_h5 import load_mmimdb_h5
from .mmimdb_raw import load_mmimdb_raw
from .near_miss import archive_hint, file_hint, hdf5_hint
from .raw import DataFormatError, RawBase, UnknownFormatError
from .safety import DEFAULT_LIMITS, Archive, Limits, is_zip_magic

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
SHARED_OPTIONS = ("seed", "limits", "deep")
LOADERS = {"mmimdb_h5": load_mmimdb_h5, "mmimdb_raw": load_mmimdb_raw,
           "generic": load_generic, "avmnist": load_avmnist}


def _archive_format(path: Path, limits: Limits) -> str:
    archive = Archive.open(path, limits)
    try:
        names = archive.names
        if any(n.rsplit("/", 1)[-1] in MANIFESTS and n.count("/") <= 1 for n in names):
            return "generic"
        if any(n.endswith(".json") and (n.startswith("dataset/") or "/dataset/" in n)
               for n in names):
            return "mmimdb_raw"
    finally:
        archive.close()
    raise UnknownFormatError(f"{path.name}: {archive_hint(names)}")


def detect_format(path: str | os.PathLike, limits: Limits = DEFAULT_LIMITS) -> str:
    """The format name of ``path`` (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{path}: no such file or folder")
    if path.is_dir():
        for fmt, markers in FOLDER_FORMATS.items():  # features, avmnist: known by their marker files
            if all((path / m).is_file() for m in markers):
                return fmt
        return _archive_format(path, limits)
    with open(path, "rb") as f:
        head = f.read(len(HDF5_SIGNATURE))
    if head == HDF5_SIGNATURE:
        try:
            with h5py.File(path, "r") as h5:
                if "features" in h5 or "genres" in h5:
                    return "mmimdb_h5"
                keys = list(h5.keys())
        except OSError as exc:
            raise DataFormatError(f"{path.name}: unreadable HDF5 file ({exc})") from exc
        raise UnknownFormatError(f"{path.name}: {hdf5_hint(keys)}")
    if is_zip_magic(path):
        return _archive_format(path, limits)
    with open(path, "rb") as f:
        raise UnknownFormatError(f"{path.name}: {file_hint(f.read(2048))}")


def _load(fmt: str, path: str | os.PathLike, kwargs: dict[str, Any]) -> RawBase:
    """Call the format's loader; the options shared by several loaders (seed, limits, deep)
    are dropped for loaders that do not take them, anything else goes through as given."""
    accepted = signature(LOADERS[fmt]).parameters
    kwargs = {k: v for k, v in kwargs.items() if k in accepted or k not in SHARED_OPTIONS}
    return LOADERS[fmt](path, **kwargs)


def open_raw(path: str | os.PathLike, **kwargs: Any) -> RawBase:
    """Open ``path`` with the loader of its format; kwargs go to that loader."""
    fmt = detect_format(path, kwargs.get("limits", DEFAULT_LIMITS))
    if fmt == "features":
        raise DataFormatError(f"{path}: a feature directory holds features, not raw samples")
    return _load(fmt, path, kwargs)


def _refuse_nonfinite(path: Path, ds: FeatureDataset) -> None:
    """DataFormatError naming the samples whose node values hold NaN or infinities."""
    bad = ds.nonfinite_rows()
    if not bad:
        return
    rows = np.unique(np.concatenate(list(bad.values())))
    ids = ds.ids if ds.ids_shape == (len(ds),) else [str(i) for i in range(len(ds))]
    where = "; ".join(f"node {name!r}: " + ", ".join(repr(ids[r]) for r in rs[:5])
                      + (f" and {len(rs) - 5} more" if len(rs) > 5 else "")
                      for name, rs in list(bad.items())[:5])
    raise DataFormatError(f"{path.name}: {len(rows)} of {len(ds)} samples hold NaN or infinite "
                          f"feature values ({where}); fix or drop those rows and upload again")


def _inspect_features(path: Path, deep: bool) -> dict[str, Any]:
    try:
        ds = FeatureDataset(path)
    except (FeatureFormatError, OSError, KeyError) as exc:
        raise DataFormatError(f"{path.name}: invalid feature directory ({exc})") from exc
    try:
        man, n = ds.manifest, len(ds)
        want = (n, man.num_labels) if man.task == "multilabel" else (n,)
        if ds.labels.shape != want or ds.split.shape != (n,) or ds.ids_shape != (n,):
            ids = ds.ids_shape[0] if ds.ids_shape else "scalar"
            raise DataFormatError(f"{path.name}: labels {ds.labels.shape} / split "
                                  f"{ds.split.shape} / ids {ids} do not fit {n} samples")
        if not np.isin(ds.split, [0, 1, 2]).all():
            raise DataFormatError(f"{path.name}: split codes outside 0/1/2")
        try:  # every id is read and decoded, in bounded pieces (all at once: ~150 B a sample at peak)
            for _ in ds.iter_ids():
                pass
        except UnicodeDecodeError as exc:
            raise DataFormatError(f"{path.name}: ids are not UTF-8 ({exc})") from exc
        if deep:
            _refuse_nonfinite(path, ds)
        return {"num_samples": n,
                "split_counts": {s: int((ds.split == i).sum()) for i, s in enumerate(SPLITS)},
                "fields": {s.name: s.modality for s in man.nodes}, "modalities": man.modalities,
                "nodes": [{"name": s.name, "modality": s.modality, "shape": list(s.shape)}
                          for s in man.nodes],
                "label_names": list(man.label_names), "task": man.task,
                "report": {"total": n, "kept": n, "rejected": []}}
    finally:
        ds.close()


def inspect(path: str | os.PathLike, *, deep: bool = False, **kwargs: Any) -> dict[str, Any]:
    """JSON-ready summary: format, num_samples, split_counts, fields, modalities, label_names,
    task, report. ``deep`` decodes every sample (slow; rejects unreadable ones in the report)."""
    path = Path(path)
    fmt = detect_format(path, kwargs.get("limits", DEFAULT_LIMITS))
    if fmt == "features":
        return {"format": fmt, **_inspect_features(path, deep)}
    ds = _load(fmt, path, kwargs)
    try:
        if deep:
            ds.validate_all()
        return {"format": fmt, **ds.summary()}
    finally:
        ds.close()
