"""A job's dataset as node features: the uploaded (and, for a zip, extracted) feature folder
itself, or features extracted from a raw upload with frozen backbones.

The dataset's files are read through its storage key (``store.storage.resolve``: the storage
root is a volume every worker mounts). Extraction goes through
``ssnas_core.data.extract.build_features`` into the dataset's own ``features`` folder
(``store.storage.features_dir``, removed with the dataset): it keys its cache by (dataset
fingerprint, backbones + weights, extractor version), resumes a half-written cache and locks it
against a second writer, so every job on the same upload and backbones shares one extraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssnas_core.callbacks import Callback
from ssnas_core.data.features import MANIFEST, FeatureDataset
from store.storage import features_dir, resolve


class DatasetUnavailable(RuntimeError):
    """The job's dataset was deleted or its files are missing."""


@dataclass(frozen=True)
class DatasetInfo:
    """What the worker needs from a Dataset row (read inside the claim transaction)."""

    id: str
    format: str
    path: str  # storage key
    sha256: str
    rejected: tuple[tuple[str, str], ...] = ()  # (id, problem): left out by upload validation

    @classmethod
    def from_row(cls, row: Any) -> "DatasetInfo":
        if row is None:
            raise DatasetUnavailable("the job's dataset was deleted")
        report = (row.summary or {}).get("report") or {}
        rejected = tuple((str(r.get("id")), str(r.get("problem")))
                         for r in report.get("rejected") or [] if isinstance(r, dict))
        return cls(row.id, row.format, row.path, row.sha256, rejected)


def needs_extraction(info: DatasetInfo) -> bool:
    return info.format != "features"


def open_features(info: DatasetInfo, backbones: dict[str, Any] | None, device: str, callback: Callback,
                  root: Path | None = None) -> tuple[FeatureDataset, Path]:
    """The job's FeatureDataset and the folder it lives in (``root``: the storage root, default
    the configured one)."""
    try:
        path = resolve(info.path, root)
    except ValueError as exc:
        raise DatasetUnavailable(f"dataset {info.id}: {exc}") from exc
    if not path.exists():
        raise DatasetUnavailable(f"dataset {info.id}: stored files are missing ({path})")
    if not needs_extraction(info):
        if not (path / MANIFEST).exists():
            raise DatasetUnavailable(f"dataset {info.id}: {path} is not an extracted feature folder")
        return FeatureDataset(path), path
    from ssnas_core.data.detect import open_raw
    from ssnas_core.data.extract import build_features

    raw = open_raw(path).exclude(dict(info.rejected))  # the samples upload validation rejected
    features = build_features(raw, backbones, features_dir(info.id, root), callback=callback,
                              device=device)
    return features, Path(features.path)


def left_out_note(features: FeatureDataset) -> str | None:
    """A job log line naming the samples the features leave out (rejected at upload or unreadable
    at extraction), or None when every sample is in."""
    report = features.manifest.info.get("load_report") or {}
    rejected = report.get("rejected") or []
    if not rejected:
        return None
    total = int(report.get("total") or 0) or len(features) + len(rejected)
    dropped = total - int(report.get("kept", len(features)))
    shown = "; ".join(f"{r.get('id')}: {r.get('problem')}" for r in rejected[:3])
    return (f"{dropped} of {total} samples are left out of this job's data, e.g. {shown} "
            "(rejected at upload, or unreadable at feature extraction)")
