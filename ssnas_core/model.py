"""The discrete fusion network built from a genotype, and the full classifier.

Only the input nodes a cell reads are reshaped; cells apply their chosen ops; the output
is the same LayerNorm/ReLU/flatten of the concatenated last cells as in the supernet.
"""

from __future__ import annotations

import torch
from torch import nn

from .cells import CellOutput, NetworkOutput
from .genotype import CellGenotype, Genotype
from .nodes import NodeReshape
from .ops import build_op


class FoundCell(nn.Module):
    def __init__(self, cell: CellGenotype, C: int, L: int, dropout: float):
        super().__init__()
        self.cell = cell
        self.ops = nn.ModuleList(build_op(op, C, L, dropout) for op in cell.inner_steps)
        self.out = CellOutput(C, L, len(cell.inner_concat))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        inner = [x, y]
        for k, op in enumerate(self.ops):
            (_, a), (_, b) = self.cell.inner_edges[2 * k], self.cell.inner_edges[2 * k + 1]
            inner.append(op(inner[a], inner[b]))
        return self.out([inner[i] for i in self.cell.inner_concat], x)


class FusionNet(nn.Module):
    """Input nodes (list, in the genotype's node order) -> fused vector (B, multiplier*C*L)."""

    def __init__(self, genotype: Genotype):
        super().__init__()
        self.genotype = genotype
        s = genotype.space
        self.used = genotype.used_inputs()
        self.inputs = nn.ModuleDict(
            {str(i): NodeReshape(genotype.nodes[i].shape, s.C, s.L, s.dropout) for i in self.used})
        self.cells = nn.ModuleList(FoundCell(c, s.C, s.L, s.dropout) for c in genotype.steps)
        self.output = NetworkOutput(s.C, s.L, len(genotype.concat))

    @property
    def out_dim(self) -> int:
        return self.output.dim

    def forward(self, nodes: list[torch.Tensor]) -> torch.Tensor:
        n = self.genotype.num_inputs
        states: dict[int, torch.Tensor] = {i: self.inputs[str(i)](nodes[i]) for i in self.used}
        for c, cell in enumerate(self.cells):
            (_, x), (_, y) = self.genotype.edges[2 * c], self.genotype.edges[2 * c + 1]
            states[n + c] = cell(states[x], states[y])
        return self.output([states[i] for i in self.genotype.concat])


class Classifier(nn.Module):
    """A fusion network (discrete, or any module with ``out_dim``) plus a linear head."""

    def __init__(self, fusion: nn.Module, num_labels: int, dropout: float = 0.0):
        super().__init__()
        self.fusion = fusion
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(fusion.out_dim, num_labels))

    def forward(self, nodes: list[torch.Tensor]) -> torch.Tensor:
        return self.head(self.fusion(nodes))
