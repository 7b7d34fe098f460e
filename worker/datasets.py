"""A job's dataset as node features: the uploaded feature folder itself, or features extracted
once from a raw upload with frozen backbones and cached under ``work_dir/features``.

The cache key is (upload sha256, backbone choice), so every job on the same upload and backbones
shares one extraction; a file lock keeps two workers on one machine (or one shared volume) from
writing the same cache at once, and the extractor itself resumes a half-written cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ssnas_core.callbacks import Callback
from ssnas_core.data.features import MANIFEST, FeatureDataset


class DatasetUnavailable(RuntimeError):
    """The job's dataset was deleted or its files are missing."""


@dataclass(frozen=True)
class DatasetInfo:
    """What the worker needs from a Dataset row (read inside the claim transaction)."""

    id: str
    format: str
    path: str
    sha256: str

    @classmethod
    def from_row(cls, row: Any) -> "DatasetInfo":
        if row is None:
            raise DatasetUnavailable("the job's dataset was deleted")
        return cls(row.id, row.format, row.path, row.sha256)


def needs_extraction(info: DatasetInfo) -> bool:
    return info.format != "features"


def cache_dir(work_dir: Path, info: DatasetInfo, backbones: dict[str, str] | None) -> Path:
    """work_dir/features/<sha256 prefix>-<backbone choice hash>."""
    choice = json.dumps(backbones or {}, sort_keys=True).encode()
    return Path(work_dir) / "features" / f"{info.sha256[:24]}-{hashlib.sha256(choice).hexdigest()[:12]}"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock held for the duration of the block (released on process death)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def open_features(info: DatasetInfo, backbones: dict[str, str] | None, work_dir: Path,
                  device: str, callback: Callback) -> tuple[FeatureDataset, str]:
    """The job's FeatureDataset and the folder it lives in."""
    path = Path(info.path)
    if not path.exists():
        raise DatasetUnavailable(f"dataset {info.id}: stored files are missing ({path})")
    if not needs_extraction(info):
        if not (path / MANIFEST).exists():
            raise DatasetUnavailable(f"dataset {info.id}: {path} is not an extracted feature folder")
        return FeatureDataset(path), str(path)
    from ssnas_core.data.detect import open_raw
    from ssnas_core.data.extract import build_features

    out = cache_dir(work_dir, info, backbones)
    with file_lock(out.with_name(out.name + ".lock")):
        if (out / MANIFEST).exists():
            return FeatureDataset(out), str(out)
        raw = open_raw(path)
        features = build_features(raw, backbones, out, callback=callback, device=device)
    return features, str(features.path)
