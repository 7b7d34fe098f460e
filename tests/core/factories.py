"""Small generated feature datasets for core tests (no external data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ssnas_core.data.features import FeatureDataset, Manifest, NodeSpec, write_features

DEFAULT_NODES = (NodeSpec("img_a", "image", (8, 4, 4)), NodeSpec("img_b", "image", (16, 2, 2)),
                 NodeSpec("txt_a", "text", (12,)), NodeSpec("txt_b", "text", (6,)))


def make_features(path: Path, n: int = 240, num_labels: int = 4, seed: int = 0,
                  nodes: tuple[NodeSpec, ...] = DEFAULT_NODES, task: str = "multilabel",
                  noise: float = 0.5, splits: tuple[float, float] = (0.6, 0.2)) -> FeatureDataset:
    """A two-modality dataset whose labels are recoverable from the features.

    Each label has a random prototype per node; a sample's node features are the sum of its
    labels' prototypes plus Gaussian noise. Multi-label: 1-2 labels per sample;
    multi-class: exactly one.
    """
    rng = np.random.default_rng(seed)
    if task == "multilabel":
        y = np.zeros((n, num_labels), np.uint8)
        y[np.arange(n), rng.integers(num_labels, size=n)] = 1
        extra = rng.random(n) < 0.4
        y[np.flatnonzero(extra), rng.integers(num_labels, size=int(extra.sum()))] = 1
        hot = y.astype(np.float32)
    else:
        y = rng.integers(num_labels, size=n).astype(np.int64)
        hot = np.eye(num_labels, dtype=np.float32)[y]
    arrays = {}
    for spec in nodes:
        proto = rng.normal(size=(num_labels, *spec.shape)).astype(np.float32)
        arrays[spec.name] = np.tensordot(hot, proto, axes=1) + noise * rng.normal(size=(n, *spec.shape))
    cut1, cut2 = int(splits[0] * n), int((splits[0] + splits[1]) * n)
    split = np.zeros(n, np.uint8)
    split[cut1:cut2], split[cut2:] = 1, 2
    manifest = Manifest(nodes=nodes, label_names=tuple(f"label{k}" for k in range(num_labels)), task=task,
                        num_samples=n, info={"source": "generated"})
    return write_features(path, manifest, arrays, y, split, ids=[f"s{i}" for i in range(n)])
