"""Row and file factories for service tests (also usable by tests/worker/)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from api.auth import create_key
from api.db import session_scope
from api.tables import QUEUED, Dataset, Job

LABELS = ("drama", "comedy", "horror")


def make_key(owner: str) -> dict[str, str]:
    """A fresh API key for ``owner`` as request headers."""
    with session_scope() as s:
        _, key = create_key(s, owner, "test")
    return {"Authorization": f"Bearer {key}"}


def make_feature_dir(path: Path, n: int = 40, dims: tuple[int, int] = (8, 6), seed: int = 0) -> Path:
    """A small valid feature directory: nodes img (d0,), txt (d1,), 3 multi-labels."""
    from ssnas_core.data.features import Manifest, NodeSpec, write_features

    rng = np.random.default_rng(seed)
    nodes = (NodeSpec("img", "image", (dims[0],)), NodeSpec("txt", "text", (dims[1],)))
    man = Manifest(nodes=nodes, label_names=LABELS, task="multilabel", num_samples=n,
                   info={"source": "test"})
    arrays = {"img": rng.normal(size=(n, dims[0])).astype(np.float32),
              "txt": rng.normal(size=(n, dims[1])).astype(np.float32)}
    labels = (rng.random((n, len(LABELS))) < 0.4).astype(np.uint8)
    split = np.array([0, 0, 1, 2] * (n // 4) + [0] * (n % 4), dtype=np.uint8)
    write_features(path, man, arrays, labels, split, ids=[f"s{i}" for i in range(n)], dtype="float32")
    return path


def zip_dir(src: Path, out: Path, top: str = "") -> Path:
    """Zip a folder (stored, so large members stream without deflate cost)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(src.rglob("*")):
            if f.is_file():
                zf.write(f, (top + "/" if top else "") + f.relative_to(src).as_posix())
    return out


def make_features_zip(tmp: Path, n: int = 40, top: str = "feats") -> Path:
    d = make_feature_dir(tmp / f"fd_{n}_{top or 'root'}", n)
    return zip_dir(d, tmp / f"features_{n}_{top or 'root'}.zip", top)


def make_dataset(owner: str, path: str = "/nonexistent", fmt: str = "features") -> str:
    """A Dataset row without an upload (for job tests)."""
    with session_scope() as s:
        row = Dataset(owner_id=owner, name="t", format=fmt, path=path, size=10, sha256="0" * 64,
                      summary={"format": fmt, "label_names": list(LABELS)})
        s.add(row)
        s.flush()
        return row.id


def make_job(owner: str, dataset_id: str, status: str = QUEUED, **kw) -> str:
    """A Job row in any state, without going through the broker."""
    with session_scope() as s:
        job = Job(owner_id=owner, dataset_id=dataset_id, status=status,
                  spec={"method": "ssl", "run": {}}, queue="cpu", **kw)
        s.add(job)
        s.flush()
        return job.id
