"""Pieces shared by the supernet and the discrete network: cell output and network output."""

from __future__ import annotations

import torch
from torch import nn


class CellOutput(nn.Module):
    """Concat of the last ``node_multiplier`` inner steps (projected back to C when more than
    one, ours), plus residual x, then LayerNorm([C, L]) (METHOD.md section 3)."""

    def __init__(self, C: int, L: int, node_multiplier: int):
        super().__init__()
        self.proj = nn.Conv1d(node_multiplier * C, C, 1) if node_multiplier > 1 else nn.Identity()
        self.norm = nn.LayerNorm([C, L])

    def forward(self, steps: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        out = self.proj(torch.cat(steps, dim=1)) if len(steps) > 1 else steps[0]
        return self.norm(out + x)


class NetworkOutput(nn.Module):
    """Concat of the last ``multiplier`` cells -> LayerNorm -> ReLU -> flatten: (B, m*C*L)."""

    def __init__(self, C: int, L: int, multiplier: int):
        super().__init__()
        self.norm = nn.LayerNorm([multiplier * C, L])
        self.dim = multiplier * C * L

    def forward(self, cells: list[torch.Tensor]) -> torch.Tensor:
        return torch.relu(self.norm(torch.cat(cells, dim=1))).flatten(1)


def mix(states: list[torch.Tensor], w: torch.Tensor) -> torch.Tensor:
    """Weighted sum over candidate states; w (n, 2) are softmaxed (none, skip) weights per edge.

    'none' contributes zero, so only the skip weight w[:, 1] scales each state.
    """
    out = states[0] * w[0, 1]
    for j in range(1, len(states)):
        out = out + states[j] * w[j, 1]
    return out


class ProjectionHead(nn.Module):
    """SimCLR projection head: fused -> hidden -> ReLU -> out (METHOD.md section 5, ours)."""

    def __init__(self, dim: int, hidden: int = 512, out: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, out))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)
