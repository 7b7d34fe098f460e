"""Late fusion and unimodal heads (METHOD.md section 8).

Late fusion: the last tap of each modality's backbone (the last node of that modality in
the feature manifest), brought to a vector, concatenated, then an MLP. A unimodal head is
the same module restricted to one modality. Maps (C, H, W) are global-average-pooled to C
(ours); every vector is batch-normalised first (ours), since backbones differ in scale.
The module has ``out_dim`` and ``forward(list of node tensors) -> (B, out_dim)``, so it
plugs into ``finetune.run_finetune`` like a searched fusion network.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.features import NodeSpec


def last_nodes(nodes: tuple[NodeSpec, ...], modalities: list[str] | None = None) -> list[int]:
    """Index of the last node of each modality (manifest order), optionally only ``modalities``."""
    last: dict[str, int] = {}
    for i, spec in enumerate(nodes):
        last[spec.modality] = i
    if modalities is None:
        return list(last.values())
    missing = [m for m in modalities if m not in last]
    if missing:
        raise ValueError(f"unknown modalities {missing}; the dataset has {list(last)}")
    return [last[m] for m in modalities]


def node_to_vector(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C) by global average pooling; (B, d) unchanged."""
    return x.mean(dim=(2, 3)) if x.dim() == 4 else x


class LateFusion(nn.Module):
    """Selected nodes -> pooled vectors -> BatchNorm -> concat -> Linear -> ReLU -> Dropout: (B, hidden)."""

    def __init__(self, nodes: tuple[NodeSpec, ...], use: list[int], hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        if not use:
            raise ValueError("late fusion needs at least one input node")
        self.use, self.nodes, self.dropout = list(use), tuple(nodes), float(dropout)
        dims = [nodes[i].shape[0] for i in self.use]
        self.norms = nn.ModuleList(nn.BatchNorm1d(d) for d in dims)
        self.mlp = nn.Sequential(nn.Linear(sum(dims), hidden), nn.ReLU(), nn.Dropout(dropout))
        self.out_dim = hidden

    def forward(self, nodes: list[torch.Tensor]) -> torch.Tensor:
        parts = [bn(node_to_vector(nodes[i])) for bn, i in zip(self.norms, self.use)]
        return self.mlp(torch.cat(parts, dim=1))

    def describe(self, nodes: tuple[NodeSpec, ...]) -> dict:
        return {"late_fusion": [nodes[i].name for i in self.use], "hidden": self.out_dim}

    def checkpoint_spec(self) -> dict:
        """What ``checkpoint.load_model`` needs to rebuild this module (with the node specs)."""
        return {"kind": "late_fusion", "use": self.use, "hidden": self.out_dim, "dropout": self.dropout}


def late_fusion(nodes: tuple[NodeSpec, ...], hidden: int = 256, dropout: float = 0.1) -> LateFusion:
    """Every modality's last tap."""
    return LateFusion(nodes, last_nodes(nodes), hidden, dropout)


def late_fusion_all(nodes: tuple[NodeSpec, ...], hidden: int = 256, dropout: float = 0.1) -> LateFusion:
    """Every tap of every modality (ours: a stronger control than the last taps, issue 9's
    ceiling study found the earlier taps carry label information the last ones lack)."""
    return LateFusion(nodes, list(range(len(nodes))), hidden, dropout)


def unimodal(nodes: tuple[NodeSpec, ...], modality: str, hidden: int = 256, dropout: float = 0.1) -> LateFusion:
    """One modality's last tap only."""
    return LateFusion(nodes, last_nodes(nodes, [modality]), hidden, dropout)
