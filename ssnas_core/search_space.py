"""The two-level supernet with architecture weights alpha, beta, gamma (METHOD.md section 3).

alpha[i]      (2, N + i, 2)  cell i: slot x / slot y, candidate state, op in (none, skip)
beta[i][k]    (2, 2 + k, 2)  cell i, inner step k: slot a / slot b, candidate, (none, skip)
gamma[i]      (node_steps, P) cell i: primitive op per inner step
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from .cells import CellOutput, NetworkOutput, mix
from .config import SearchSpaceConfig
from .data.features import NodeSpec
from .fastnet import ViewStack, supernet_forward
from .genotype import CellGenotype, Genotype
from .nodes import InputNodes
from .ops import build_op


class MixedOp(nn.Module):
    def __init__(self, space: SearchSpaceConfig):
        super().__init__()
        self.names = list(space.primitives)
        self.ops = nn.ModuleList(build_op(p, space.C, space.L, space.dropout) for p in self.names)

    def forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        for name, op, wk in zip(self.names, self.ops, w):
            if name != "zero":  # contributes exactly zero; skip the work
                out = out + wk * op(x, y)
        return out


class SearchCell(nn.Module):
    def __init__(self, space: SearchSpaceConfig):
        super().__init__()
        self.mixed = nn.ModuleList(MixedOp(space) for _ in range(space.node_steps))
        self.out = CellOutput(space.C, space.L, space.node_multiplier)
        self.node_multiplier = space.node_multiplier

    def forward(self, x, y, betas: list[torch.Tensor], gamma: torch.Tensor) -> torch.Tensor:
        inner = [x, y]
        for k, op in enumerate(self.mixed):
            wb = F.softmax(betas[k], dim=-1)  # (2, 2 + k, 2)
            a, b = mix(inner, wb[0]), mix(inner, wb[1])
            inner.append(op(a, b, F.softmax(gamma[k], dim=-1)))
        return self.out(inner[-self.node_multiplier:], x)


class SuperNet(nn.Module):
    """Input nodes -> `steps` searchable cells -> fused vector (B, multiplier*C*L)."""

    def __init__(self, nodes: tuple[NodeSpec, ...], space: SearchSpaceConfig):
        super().__init__()
        self.space, self.node_specs = space, tuple(nodes)
        n, s = len(nodes), space
        self.inputs = InputNodes([nd.shape for nd in nodes], s.C, s.L, s.dropout)
        self.cells = nn.ModuleList(SearchCell(s) for _ in range(s.steps))
        self.output = NetworkOutput(s.C, s.L, s.multiplier)
        self.alphas = nn.ParameterList(nn.Parameter(1e-3 * torch.randn(2, n + i, 2)) for i in range(s.steps))
        self.betas = nn.ParameterList(
            nn.Parameter(1e-3 * torch.randn(2, 2 + k, 2)) for _ in range(s.steps) for k in range(s.node_steps))
        self.gammas = nn.ParameterList(
            nn.Parameter(1e-3 * torch.randn(s.node_steps, len(s.primitives))) for _ in range(s.steps))

    @property
    def out_dim(self) -> int:
        return self.output.dim

    def arch_parameters(self) -> list[nn.Parameter]:
        return [*self.alphas, *self.betas, *self.gammas]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def forward(self, nodes: list[torch.Tensor]) -> torch.Tensor:
        """Input nodes (list of (B, *shape)) -> fused (B, multiplier*C*L), by the position-major engine."""
        return supernet_forward(self, ViewStack.single(nodes))

    def forward_views(self, stack: ViewStack) -> torch.Tensor:
        """Every view of ``stack`` -> (V * B, multiplier*C*L), as ``forward`` on the views concatenated."""
        return supernet_forward(self, stack)

    def reference_forward(self, nodes: list[torch.Tensor]) -> torch.Tensor:
        """The module-by-module forward (METHOD.md section 3 as written); ``forward`` computes the same."""
        states = self.inputs(nodes)
        ns = self.space.node_steps
        for i, cell in enumerate(self.cells):
            wa = F.softmax(self.alphas[i], dim=-1)  # (2, N + i, 2)
            x, y = mix(states, wa[0]), mix(states, wa[1])
            states.append(cell(x, y, list(self.betas[i * ns:(i + 1) * ns]), self.gammas[i]))
        return self.output(states[-self.space.multiplier:])

    @torch.no_grad()
    def genotype(self, cover_modalities: bool = False) -> Genotype:
        return derive(self, cover_modalities)


def _pick_two(w: torch.Tensor) -> tuple[int, int]:
    """w (2, n, 2) softmaxed: slot x = strongest skip of row 0; slot y = strongest *different*
    candidate of row 1 (METHOD.md section 3, ours)."""
    x = int(w[0, :, 1].argmax())
    y_scores = w[1, :, 1].clone()
    if len(y_scores) > 1:
        y_scores[x] = -1.0
    return x, int(y_scores.argmax())


def derive(net: SuperNet, cover_modalities: bool = False) -> Genotype:
    """The discrete genotype: per slot the strongest candidate, per inner step the strongest op.
    With ``cover_modalities``, a genotype that leaves a modality unread is then repaired by
    ``cover`` (see there)."""
    genotype = _derive_argmax(net)
    return cover(net, genotype) if cover_modalities else genotype


@torch.no_grad()
def cover(net: SuperNet, genotype: Genotype) -> Genotype:
    """Make the derived network read every modality (ours; README "Method").

    While some modality is unread, one cell input slot is re-pointed to an input node of that
    modality: among the slots whose change leaves every modality read so far still read, the
    (slot, node) pair that costs the least architecture weight (skip weight of the current choice
    minus that of the node, in that slot's softmax) wins. The alphas still rank the inputs within a
    modality and choose the slot; only the unimodal outcome is ruled out: a *fusion* network is
    what the user asked for, and at C = 192 on movies23 the self-supervised search's alphas favoured
    the poster by margins below 0.05 (README, results). A genotype that already reads every
    modality is returned unchanged."""
    kinds = sorted({nd.modality for nd in net.node_specs})
    n = len(net.node_specs)
    weights = [F.softmax(a, dim=-1)[..., 1] for a in net.alphas]  # per cell (2, n + i) skip weights
    for _ in kinds:
        read = set(genotype.modalities_read())
        missing = [m for m in kinds if m not in read]
        if not missing:
            break
        best: tuple[float, Genotype] | None = None
        for cell, w in enumerate(weights):
            for slot in (0, 1):
                current = genotype.edges[2 * cell + slot][1]
                for j in range(n):
                    if net.node_specs[j].modality != missing[0]:
                        continue
                    edges = list(genotype.edges)
                    edges[2 * cell + slot] = ("skip", j)
                    if edges[2 * cell][1] == edges[2 * cell + 1][1]:
                        continue
                    cand = replace(genotype, edges=tuple(edges))
                    if not read | {missing[0]} <= set(cand.modalities_read()):
                        continue
                    cost = float(w[slot, current] - w[slot, j])
                    if best is None or cost < best[0]:
                        best = (cost, cand)
        if best is None:  # no single re-pointed slot adds it without losing another: leave as is
            break
        genotype = best[1]
    return genotype


def _derive_argmax(net: SuperNet) -> Genotype:
    s, n = net.space, len(net.node_specs)
    edges, cells = [], []
    for i in range(s.steps):
        x, y = _pick_two(F.softmax(net.alphas[i], dim=-1))
        edges += [("skip", x), ("skip", y)]
        inner_edges, inner_ops = [], []
        for k in range(s.node_steps):
            a, b = _pick_two(F.softmax(net.betas[i * s.node_steps + k], dim=-1))
            inner_edges += [("skip", a), ("skip", b)]
            g = F.softmax(net.gammas[i][k], dim=-1).clone()
            for j, name in enumerate(s.primitives):
                if name == "zero":
                    g[j] = -1.0  # a derived step never chooses 'zero' (as DARTS drops 'none')
            inner_ops.append(s.primitives[int(g.argmax())])
        concat = tuple(range(2 + s.node_steps - s.node_multiplier, 2 + s.node_steps))
        cells.append(CellGenotype(tuple(inner_edges), tuple(inner_ops), concat))
    return Genotype(tuple(edges), tuple(cells), tuple(range(n + s.steps - s.multiplier, n + s.steps)),
                    s, net.node_specs)
