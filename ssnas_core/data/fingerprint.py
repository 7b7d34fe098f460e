"""Feature-cache plumbing: dataset fingerprints, cache keys, the cache lock, and the per-sample
guard that turns a sample whose data cannot be decoded into ``BadSample`` (left out, not fatal)."""

from __future__ import annotations

import fcntl
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from .raw import DataFormatError, RawDataset

FINGERPRINT_SAMPLES = 16


class BadSample(Exception):
    """Sample ``index`` of the raw dataset cannot be decoded (``problem`` says why)."""

    def __init__(self, index: int, problem: str):
        super().__init__(problem)
        self.index, self.problem = index, problem


def sample_or_bad(raw: RawDataset, i: int) -> dict[str, Any]:
    """``raw.sample(i)``; a sample that cannot be decoded raises BadSample (left out, not fatal)."""
    try:
        return raw.sample(i)
    except DataFormatError as exc:
        raise BadSample(i, str(exc).removeprefix(f"sample {raw.ids[i]!r}: ")) from exc


def _hash_value(h: Any, value: Any) -> None:
    if isinstance(value, str):
        h.update(value.encode("utf-8"))
    elif isinstance(value, tuple):  # audio
        h.update(np.ascontiguousarray(value[0], dtype=np.float32).tobytes())
        h.update(str(value[1]).encode())
    elif hasattr(value, "tobytes") and hasattr(value, "mode"):  # PIL image
        h.update(f"{value.mode}{value.size}".encode())
        h.update(value.tobytes())
    else:
        h.update(np.ascontiguousarray(value, dtype=np.float32).tobytes())


def dataset_fingerprint(raw: RawDataset) -> str:
    """sha256 of fields, labels, ids, split and the content of up to 16 spread-out samples."""
    h = hashlib.sha256()
    h.update(json.dumps([raw.fields, list(raw.label_names), raw.task]).encode())
    h.update("\n".join(raw.ids).encode())
    h.update(np.ascontiguousarray(raw.labels).tobytes())
    h.update(np.ascontiguousarray(raw.split).tobytes())
    n = len(raw)
    for i in sorted(set(np.linspace(0, n - 1, min(n, FINGERPRINT_SAMPLES)).astype(int).tolist())):
        sample = sample_or_bad(raw, i)
        for field in raw.fields:
            _hash_value(h, sample[field])
    return h.hexdigest()[:24]


def cache_key(fingerprint: str, backbones: dict[str, Any], specs: dict[str, Any],
              extractor_version: int) -> str:
    """The feature cache folder's name: (dataset, backbone specs and weights, extractor)."""
    parts = {f: [specs[f].to_json(), bb.describe()] for f, bb in backbones.items()}
    blob = json.dumps([extractor_version, fingerprint, parts], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


class CacheLock:
    """An exclusive advisory lock file (released on close or process exit)."""

    def __init__(self, path: Path):
        self._f = open(path, "a+")
        fcntl.flock(self._f, fcntl.LOCK_EX)

    def __enter__(self) -> "CacheLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        fcntl.flock(self._f, fcntl.LOCK_UN)
        self._f.close()
