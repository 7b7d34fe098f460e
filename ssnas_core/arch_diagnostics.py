"""What the architecture weights say about a search: margins, modality pushes, warnings.

- margin of a slot: softmax skip weight of the derived candidate minus that of the runner-up
  (for slot y the runner-up among candidates other than slot x's choice, as ``derive`` picks);
  for an inner op, the top-two margin of softmax(gamma) among the non-zero primitives;
- push by modality: minus the gradient of the loss on the skip-vs-none logit difference of
  every input-node candidate, summed over slots and cells and grouped by the node's modality
  (positive: the architecture steps move that modality's taps up);
- warnings: a genotype that reads one modality of several, or a choice whose margin is below
  ``SearchConfig.noise_margin`` (decided by initialisation noise, not by the objective).
"""

from __future__ import annotations

from collections import defaultdict

import torch
import torch.nn.functional as F

from .genotype import Genotype


def _top_two(w: torch.Tensor, exclude: int | None = None) -> float:
    w = w.clone()
    if exclude is not None and len(w) > 1:
        w[exclude] = -1.0
    if len(w) < 2 or (exclude is not None and len(w) < 3):
        return 1.0  # a forced choice
    top = torch.topk(w, 2).values
    return float(top[0] - top[1])


@torch.no_grad()
def margins(net) -> dict[str, list[float]]:
    """Per-cell margins of slot x, slot y and each inner op (see the module docstring)."""
    out: dict[str, list[float]] = {"edge": [], "op": []}
    s = net.space
    for i in range(s.steps):
        w = F.softmax(net.alphas[i], dim=-1)[..., 1]  # (2, n + i) skip weights
        x = int(w[0].argmax())
        out["edge"] += [_top_two(w[0]), _top_two(w[1], exclude=x)]
        for k in range(s.node_steps):
            g = F.softmax(net.gammas[i][k], dim=-1)
            keep = [j for j, p in enumerate(s.primitives) if p != "zero"]
            out["op"].append(_top_two(g[keep]))
    return out


class PushMeter:
    """Accumulates the architecture gradient on input-node edges, by modality, over steps."""

    def __init__(self, net):
        self.net, self.n = net, len(net.node_specs)
        self.modalities = [nd.modality for nd in net.node_specs]
        self.acc: torch.Tensor | None = None  # (n,) float64 per input node, summed over steps

    @torch.no_grad()
    def add(self) -> None:
        """Adds this step's push on the device (no per-element reads, so no device syncs)."""
        for a in self.net.alphas:
            if a.grad is None:
                continue
            d = -(a.grad[:, : self.n, 1] - a.grad[:, : self.n, 0]).sum(dim=0).double()  # (n,)
            self.acc = d if self.acc is None else self.acc + d

    def take(self) -> dict[str, float]:
        total: dict[str, float] = defaultdict(float)
        if self.acc is not None:
            for j, v in enumerate(self.acc.tolist()):
                total[self.modalities[j]] += v
        self.acc = None
        return {f"arch_push_{m}": v for m, v in sorted(total.items())}


def cover_warning(read_argmax: list[str], read: list[str]) -> str:
    """The search result's line when the modality cover changed the argmax genotype."""
    return (f"the strongest architecture weights read only {read_argmax}; the derivation re-pointed a cell "
            f"input so that the network reads {read} (search.cover_modalities)")


def warnings_for(genotype: Genotype, margin: dict[str, list[float]], noise: float) -> list[str]:
    """Human-readable warnings about a derived genotype (empty when there is nothing to say)."""
    out = []
    kinds = sorted({n.modality for n in genotype.nodes})
    read = genotype.modalities_read()
    if len(kinds) > 1 and len(read) < len(kinds):
        out.append(f"the derived network reads only {read} of the modalities {kinds}")
    low = [m for m in margin["edge"] if m < noise]
    if low:
        out.append(f"{len(low)} of {len(margin['edge'])} cell input choices have a margin below {noise} "
                   f"(smallest {min(low):.4f}): decided by noise, not by the search")
    return out
