"""Summary nodes: one extra input node per modality that carries every tap of its backbone.

Issue 9's ceiling study found the label information of movies23 spread over the earlier taps
(an MLP on every pooled tap beats one on the last taps by 2-5 points), while the
self-supervised search derives cells that read the deepest taps only: instance
discrimination favours the inputs with the most per-sample variation. A summary node gives the
search a candidate that holds all of a modality's taps at once: every tap of the modality
global-average-pooled (maps) or taken as is (vectors), concatenated, then standardised per
dimension with the train split's mean and standard deviation (no labels are read). It is a
vector node named ``<modality>.summary``, placed first among its modality's nodes (late
fusion's "last tap of each modality" is unchanged), and only for modalities with two taps or more
(with ``space.summary_nodes="vectors"``, only for those whose taps are all vectors).

The statistics travel in the manifest (``info["summary_nodes"]``) and in model checkpoints,
so a predictor rebuilds the summaries from the backbones' taps (``add_summaries``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .features import FeatureDataset, NodeSpec

SUFFIX = ".summary"
INFO_KEY = "summary_nodes"
_ROWS = 1024


def summary_name(modality: str) -> str:
    return modality + SUFFIX


def _vector(a: np.ndarray) -> np.ndarray:
    """(B, C, H, W) -> (B, C) by global average pooling; (B, d) as is."""
    return a.mean(axis=(2, 3)) if a.ndim == 4 else a


def _taps(specs: tuple[NodeSpec, ...], of: str = "all") -> dict[str, list[NodeSpec]]:
    """The modalities with two taps or more, with their taps in manifest order; with
    ``of="vectors"`` only those whose taps are all vectors."""
    by: dict[str, list[NodeSpec]] = {}
    for s in specs:
        if not s.name.endswith(SUFFIX):
            by.setdefault(s.modality, []).append(s)
    return {m: taps for m, taps in by.items()
            if len(taps) >= 2 and (of == "all" or all(len(t.shape) == 1 for t in taps))}


def fit_summaries(ds: FeatureDataset, of: str = "all") -> list[dict[str, Any]]:
    """Per-dimension mean and std of each summary on the train split (float64 sums, one pass)."""
    taps, train = _taps(ds.node_specs, of), ds.split_indices("train")
    if len(train) == 0:
        raise ValueError("summary nodes need a train split to standardise on")
    sums = {m: 0.0 for m in taps}
    sq = {m: 0.0 for m in taps}
    for lo in range(0, len(train), _ROWS):
        g = ds.get(train[lo:lo + _ROWS])
        for m, specs in taps.items():
            v = np.concatenate([_vector(g[s.name]) for s in specs], axis=1).astype(np.float64)
            sums[m] = sums[m] + v.sum(0)
            sq[m] = sq[m] + (v * v).sum(0)
    out = []
    for m, specs in taps.items():
        mean = sums[m] / len(train)
        std = np.sqrt(np.maximum(sq[m] / len(train) - mean * mean, 0.0)) + 1e-6
        out.append({"modality": m, "of": [s.name for s in specs],
                    "mean": [float(x) for x in mean], "std": [float(x) for x in std]})
    return out


def extended_specs(specs: tuple[NodeSpec, ...], summaries: list[dict[str, Any]]) -> tuple[NodeSpec, ...]:
    """``specs`` with each summary node placed first among its modality's nodes."""
    dims = {s["modality"]: len(s["mean"]) for s in summaries}
    out: list[NodeSpec] = []
    for m in dict.fromkeys(s.modality for s in specs):
        if m in dims:
            out.append(NodeSpec(summary_name(m), m, (dims[m],)))
        out += [s for s in specs if s.modality == m and not s.name.endswith(SUFFIX)]
    return tuple(out)


def add_summaries(nodes: dict[str, np.ndarray], summaries: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Adds the summary arrays to a batch of node arrays (name -> (B, *shape)); missing taps raise KeyError."""
    out = dict(nodes)
    for s in summaries:
        v = np.concatenate([_vector(np.asarray(nodes[n], dtype=np.float32)) for n in s["of"]], axis=1)
        out[summary_name(s["modality"])] = ((v - np.asarray(s["mean"], dtype=np.float32))
                                            / np.asarray(s["std"], dtype=np.float32)).astype(np.float32)
    return out


class SummarizedDataset:
    """A feature dataset seen with its summary nodes (computed on read; nothing is written)."""

    def __init__(self, base: FeatureDataset, summaries: list[dict[str, Any]]):
        self.base, self.summaries = base, summaries
        self.manifest = replace(base.manifest, nodes=extended_specs(base.node_specs, summaries),
                                info={**base.manifest.info, INFO_KEY: summaries})

    def __getattr__(self, name: str) -> Any:  # labels, split, ids, path, ... of the stored features
        return getattr(self.base, name)

    def __len__(self) -> int:
        return len(self.base)

    @property
    def node_specs(self) -> tuple[NodeSpec, ...]:
        return self.manifest.nodes

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return add_summaries(self.base.get(indices), self.summaries)


def with_summary_nodes(ds: FeatureDataset, of: str = "all") -> FeatureDataset | SummarizedDataset:
    """``ds`` with summary nodes for the modalities ``of`` selects ("all" or "vectors", see
    ``_taps``); unchanged where none qualifies, or already summarised."""
    if isinstance(ds, SummarizedDataset) or any(s.name.endswith(SUFFIX) for s in ds.node_specs):
        return ds
    if not _taps(ds.node_specs, of):
        return ds
    return SummarizedDataset(ds, fit_summaries(ds, of))
