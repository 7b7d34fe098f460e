"""Row and file factories for service tests (also usable by tests/worker/)."""

from __future__ import annotations

import os
import uuid
import zipfile
from pathlib import Path

import numpy as np
import psycopg

from api.auth import create_key
from store.db import session_scope
from store.tables import QUEUED, Dataset, Job

# the real Postgres of the test machine (trust auth); databases are created per test session
PG_HOST = os.environ.get("SSNAS_TEST_PG", "postgres@127.0.0.1:5432")


def pg_url(name: str, driver: str = "postgresql+psycopg") -> str:
    return f"{driver}://{PG_HOST}/{name}"


def create_database(prefix: str = "ssnas_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url("test", "postgresql"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(pg_url("test", "postgresql"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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


def make_model(owner: str, tmp: Path, nodes: list[tuple[str, str, tuple[int, ...]]],
               backbones: dict | None = None, threshold: float = 0.5) -> str:
    """A Model row with a real (untrained, seeded) checkpoint stored as chunk rows."""
    import torch

    from ssnas_core.checkpoint import save_model
    from ssnas_core.config import SearchSpaceConfig
    from ssnas_core.data.features import NodeSpec
    from ssnas_core.genotype import CellGenotype, Genotype
    from ssnas_core.model import Classifier, FusionNet
    from store.jobs import create_model
    from store.storage import put_file_blob

    torch.manual_seed(0)
    specs = tuple(NodeSpec(*n) for n in nodes)
    n = len(specs)
    cell = lambda op: CellGenotype((("skip", 0), ("skip", 1)), (op,), (2,))  # noqa: E731
    g = Genotype(edges=(("skip", 0), ("skip", n - 1), ("skip", n - 1), ("skip", n)),
                 steps=(cell("concat_fc"), cell("linear_glu")), concat=(n, n + 1),
                 space=SearchSpaceConfig(C=8, L=4), nodes=specs)
    model = Classifier(FusionNet(g), len(LABELS)).eval()
    path = tmp / f"model_{uuid.uuid4().hex[:6]}.safetensors"
    meta = {"label_names": list(LABELS), "task": "multilabel", "threshold": threshold}
    if backbones:
        meta["backbones"] = backbones
    save_model(path, model, meta)
    ds = make_dataset(owner)
    job_id = make_job(owner, ds, status="succeeded", result={"genotype": g.to_json()})
    with session_scope() as s:
        ck = put_file_blob(s, path, owner, job_id, "model")
        m = create_model(s, s.get(Job, job_id), g.to_json(), {"test": {"f1_weighted": 0.5}},
                         list(LABELS), threshold, ck.id,
                         [{"name": a, "modality": b, "shape": list(c)} for a, b, c in nodes],
                         backbones)
        return m.id


def make_poster_plot_model(owner: str, tmp: Path, poster_spec: dict) -> str:
    """A model over a real image backbone's taps (``poster_spec``) plus a 4-d identity plot vector."""
    from ssnas_core.backbones.registry import cached_backbone

    nodes = [(f"poster.efficientnet_lite0.{t}", "image", shape) for t, shape in cached_backbone(poster_spec).taps]
    nodes.append(("plot.identity.vec", "plot", (4,)))
    return make_model(owner, tmp, nodes, {"poster": poster_spec, "plot": {
        "name": "identity", "weights": None, "options": {"dim": 4}}})
