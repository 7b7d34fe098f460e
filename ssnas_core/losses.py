"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al. 2020, eq. 1).

For a batch of N samples with two views, z1 and z2 (N, D): the 2N embeddings are
L2-normalised; for anchor i its positive is the other view of the same sample and the
2N - 2 other embeddings are negatives:

    l(i, j) = -log( exp(s_ij / tau) / sum_{k != i} exp(s_ik / tau) ),  s = cosine similarity

The loss is the mean of l over all 2N anchors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """z1, z2: (N, D) -> scalar loss."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0).float(), dim=1)  # (2N, D)
    sim = z @ z.t() / temperature  # (2N, 2N)
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.arange(2 * n, device=z.device).roll(n)  # i -> i + n, i + n -> i (no host copy)
    return F.cross_entropy(sim, targets)
