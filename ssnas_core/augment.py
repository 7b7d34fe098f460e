"""Feature-level views for SimCLR on cached features (METHOD.md section 5, ours).

Each component is named and configured in ``AugmentConfig``; a component with strength 0
is off. All randomness comes from the generator passed in, so a view is reproducible.
Inputs and outputs are lists of node tensors (B, *shape), one per input node.
"""

from __future__ import annotations

import torch

from .config import AugmentConfig


def _per_sample(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *([1] * (x.dim() - 1)))


def node_scale(nodes, s: float, g: torch.Generator):
    """Scale each node of each sample by U(1 - s, 1 + s)."""
    return [x * _per_sample(x, 1 + s * (2 * torch.rand(x.shape[0], generator=g, device=x.device) - 1))
            for x in nodes]


def gaussian_noise(nodes, sigma: float, g: torch.Generator):
    """Add N(0, (sigma * std)^2), std taken per sample and node, so the noise follows scale."""
    out = []
    for x in nodes:
        std = x.flatten(1).std(dim=1).clamp_min(1e-6)
        noise = torch.randn(x.shape, generator=g, device=x.device).mul_(_per_sample(x, sigma * std))
        out.append(noise.add_(x))
    return out


def feature_mask(nodes, p: float, g: torch.Generator):
    """Drop each feature (channel entry) with probability p, rescaling the kept ones."""
    masks = [torch.rand(x.shape, generator=g, device=x.device).ge_(p).mul_(1 / (1 - p)) for x in nodes]
    return [x * m for x, m in zip(nodes, masks)]


def modality_drop(nodes, p: float, modalities: list[str], g: torch.Generator):
    """With probability p per sample, zero every node of one randomly chosen modality."""
    kinds = sorted(set(modalities))
    if len(kinds) < 2:
        return nodes
    b, dev = nodes[0].shape[0], nodes[0].device
    drop = torch.rand(b, generator=g, device=dev) < p
    which = torch.randint(len(kinds), (b,), generator=g, device=dev)
    out = []
    for x, m in zip(nodes, modalities):
        keep = ~(drop & (which == kinds.index(m)))
        out.append(x * _per_sample(x, keep.to(x.dtype)))
    return out


def keep_modality(nodes, modalities: list[str], keep: str):
    """Every node of a modality other than ``keep`` zeroed, as ``modality_drop`` zeroes one."""
    return [x if m == keep else torch.zeros_like(x) for x, m in zip(nodes, modalities)]


class FeatureAugment:
    """Two views of a batch of node features."""

    def __init__(self, cfg: AugmentConfig, modalities: list[str]):
        self.cfg, self.modalities = cfg, list(modalities)
        self.kinds = sorted(set(self.modalities))

    def view(self, nodes: list[torch.Tensor], g: torch.Generator) -> list[torch.Tensor]:
        c = self.cfg
        if c.node_scale > 0:
            nodes = node_scale(nodes, c.node_scale, g)
        if c.gaussian_noise > 0:
            nodes = gaussian_noise(nodes, c.gaussian_noise, g)
        if c.feature_mask > 0:
            nodes = feature_mask(nodes, c.feature_mask, g)
        if c.modality_drop > 0:
            nodes = modality_drop(nodes, c.modality_drop, self.modalities, g)
        return nodes

    def __call__(self, nodes, g):
        """Both views, as ``view`` twice (the same draws from ``g``, in the same order), with fewer
        passes over the data: each node's std is taken once (the scale factors out of it), and the
        per-sample factors (scale, mask rescale, modality keep) are applied in one multiply."""
        c = self.cfg
        drop = c.modality_drop > 0 and len(self.kinds) > 1
        if not (c.node_scale > 0 or c.gaussian_noise > 0 or c.feature_mask > 0 or drop):
            return nodes, nodes
        std = [x.flatten(1).std(dim=1) for x in nodes] if c.gaussian_noise > 0 else None
        return self._fused_view(nodes, g, std, drop), self._fused_view(nodes, g, std, drop)

    def _fused_view(self, nodes, g, std, drop: bool):
        c, b, dev = self.cfg, nodes[0].shape[0], nodes[0].device
        scale = [1 + c.node_scale * (2 * torch.rand(x.shape[0], generator=g, device=dev) - 1) for x in nodes] \
            if c.node_scale > 0 else None
        noise = [torch.randn(x.shape, generator=g, device=dev) for x in nodes] if c.gaussian_noise > 0 else None
        masks = [torch.rand(x.shape, generator=g, device=dev) for x in nodes] if c.feature_mask > 0 else None
        if drop:
            dropped = torch.rand(b, generator=g, device=dev) < c.modality_drop
            which = torch.randint(len(self.kinds), (b,), generator=g, device=dev)
        out = []
        for i, (x, m) in enumerate(zip(nodes, self.modalities)):
            factor = torch.ones(b, dtype=x.dtype, device=dev)  # per sample: scale * mask rescale * keep
            if scale is not None:
                factor = factor * scale[i]
            if masks is not None:
                factor = factor * (1 / (1 - c.feature_mask))
            if drop:
                factor = factor * (~(dropped & (which == self.kinds.index(m)))).to(x.dtype)
            if noise is not None:  # (x s + n sigma std(x s)) = s (x + n sigma std(x s) / s)
                sd = c.gaussian_noise * (std[i] * scale[i] if scale is not None else std[i]).clamp_min(1e-6)
                t = torch.addcmul(x, noise[i], _per_sample(x, sd / scale[i] if scale is not None else sd))
            else:
                t = x * 1.0
            if masks is not None:
                t.mul_(masks[i].ge_(c.feature_mask))
            out.append(t.mul_(_per_sample(t, factor)))
        return out
