"""Feature-level views for SimCLR on cached features (METHOD.md section 5, ours).

Each component is named and configured in ``AugmentConfig``; a component with strength 0
is off. All randomness comes from the generator passed in, so a view is reproducible.
Inputs and outputs are lists of node tensors (B, *shape), one per input node.

A view of node x (per sample b, with the components on):

    view(x)_b = (x_b + sigma * std(s_b x_b) / s_b * n_b) * m_b * s_b * k_b / (1 - p)

- node_scale: s_b ~ U(1 - s, 1 + s) (the view is s_b times the noisy, masked sample);
- gaussian_noise: n ~ N(0, 1) per element; the noise is sigma times the per-sample std of the
  scaled node (clamped at 1e-6), so it follows the scale;
- feature_mask: m = 1{u >= p} per element, u ~ U[0, 1) (dropout of features, kept ones rescaled);
- modality_drop: k_b = 0 for every node of one modality drawn at random, with probability
  ``modality_drop`` per sample, else 1.

On the CPU, the per-element draws come from ``rng`` streams seeded by one number drawn from the
generator per view (parallel, independent of the thread count), are laid out position-major
((B, H * W, C) for a (B, C, H, W) map), and both views of a node are written into one buffer
(B rows each) in that layout: the returned tensors are (B, *shape) views of it, which
``fastnet`` projects without a transposed copy and ``ViewStack`` joins without a concatenation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import rng
from .config import AugmentConfig


def _per_sample(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *([1] * (x.dim() - 1)))


def keep_modality(nodes, modalities: list[str], keep: str):
    """Every node of a modality other than ``keep`` zeroed, as ``modality_drop`` zeroes one."""
    return [x if m == keep else torch.zeros_like(x) for x, m in zip(nodes, modalities)]


def position_major(x: torch.Tensor) -> torch.Tensor:
    """(B, C, *S) -> a (B, prod S, C) view; a vector node (B, D) as it is."""
    return x.flatten(2).transpose(1, 2) if x.dim() > 2 else x


def from_position_major(o: torch.Tensor, shape) -> torch.Tensor:
    """Inverse of ``position_major`` for a node of ``shape`` (B, C, *S): a view of o."""
    return o.transpose(1, 2).unflatten(2, tuple(shape[2:])) if len(shape) > 2 else o


def sample_std(x: torch.Tensor) -> torch.Tensor:
    """Per-sample standard deviation (unbiased) of x (B, ...): two passes, as ``x.flatten(1).std(1)``."""
    flat = x.flatten(1)
    mean = flat.mean(dim=1, keepdim=True)
    return torch.linalg.vector_norm(flat - mean, dim=1) / math.sqrt(max(1, flat.shape[1] - 1))


@dataclass
class _Draws:
    """What one view draws from the generator: per node scale s and keep k (B,), and either one
    seed for the ``rng`` streams (CPU) or the noise and mask tensors themselves (other devices)."""
    scale: list[torch.Tensor] | None
    seed: int | None
    noise: list[torch.Tensor] | None
    masks: list[torch.Tensor] | None
    keep: list[torch.Tensor] | None


class FeatureAugment:
    """Two views of a batch of node features."""

    def __init__(self, cfg: AugmentConfig, modalities: list[str]):
        self.cfg, self.modalities = cfg, list(modalities)
        self.kinds = sorted(set(self.modalities))
        self.drop = cfg.modality_drop > 0 and len(self.kinds) > 1

    def _off(self) -> bool:
        c = self.cfg
        return not (c.node_scale > 0 or c.gaussian_noise > 0 or c.feature_mask > 0 or self.drop)

    def _draw(self, nodes, g: torch.Generator) -> _Draws:
        c, b, dev = self.cfg, nodes[0].shape[0], nodes[0].device
        scale = [1 + c.node_scale * (2 * torch.rand(b, generator=g, device=dev) - 1) for _ in nodes] \
            if c.node_scale > 0 else None
        seed = noise = masks = None
        if c.gaussian_noise > 0 or c.feature_mask > 0:
            if dev.type == "cpu":
                seed = rng.seed_from(g)
            else:
                noise = [torch.randn(position_major(x).shape, generator=g, device=dev) for x in nodes] \
                    if c.gaussian_noise > 0 else None
                masks = [torch.rand(position_major(x).shape, generator=g, device=dev).ge_(c.feature_mask)
                         for x in nodes] if c.feature_mask > 0 else None
        keep = None
        if self.drop:
            dropped = torch.rand(b, generator=g, device=dev) < c.modality_drop
            which = torch.randint(len(self.kinds), (b,), generator=g, device=dev)
            keep = [(~(dropped & (which == self.kinds.index(m)))).float() for m in self.modalities]
        return _Draws(scale, seed, noise, masks, keep)

    def _factors(self, d: _Draws, i: int, std: torch.Tensor | None, x: torch.Tensor):
        """Per sample of node i: the noise scale (or None) and the factor s * k / (1 - p)."""
        c = self.cfg
        s = d.scale[i] if d.scale is not None else None
        factor = torch.ones(x.shape[0], dtype=torch.float32, device=x.device) if s is None else s.float()
        if c.feature_mask > 0:
            factor = factor * (1 / (1 - c.feature_mask))
        if d.keep is not None:
            factor = factor * d.keep[i]
        sd = None
        if c.gaussian_noise > 0:
            sd = c.gaussian_noise * (std * s if s is not None else std).clamp_min(1e-6)
            sd = sd / s if s is not None else sd
        return sd, factor

    def view(self, nodes: list[torch.Tensor], g: torch.Generator) -> list[torch.Tensor]:
        """One view, as the formula in the module docstring reads (``__call__`` computes the same)."""
        if self._off():
            return nodes
        c, d = self.cfg, self._draw(nodes, g)
        out = []
        for i, x in enumerate(nodes):
            xp = position_major(x.float())
            sd, factor = self._factors(d, i, sample_std(x.float()) if c.gaussian_noise > 0 else None, x)
            t = xp
            if c.gaussian_noise > 0:
                n = rng.normal(xp.shape, d.seed, i) if d.seed is not None else d.noise[i]
                t = t + n * _per_sample(xp, sd)
            if c.feature_mask > 0:
                m = rng.keep_mask(xp.shape, c.feature_mask, d.seed, i, scale=1.0) if d.seed is not None \
                    else d.masks[i]
                t = t * m
            out.append(from_position_major((t * _per_sample(xp, factor)).contiguous(), x.shape))
        return out

    def __call__(self, nodes, g):
        """Both views, as ``view`` twice (the same draws from ``g``, in the same order). On the CPU
        each node's two views are computed chunk by chunk in parallel, in one pass each, into one
        position-major buffer; each node's std is taken once (the scale factors out of it)."""
        if self._off():
            return nodes, nodes
        if nodes[0].device.type != "cpu":
            return self.view(nodes, g), self.view(nodes, g)
        c = self.cfg
        draws = [self._draw(nodes, g), self._draw(nodes, g)]
        b, views = nodes[0].shape[0], len(draws)
        outs, tasks = [], []
        for i, x in enumerate(nodes):
            x = x.float()
            std = sample_std(x) if c.gaussian_noise > 0 else None
            xp = position_major(x)
            o = torch.empty((views * b, *xp.shape[1:]), dtype=torch.float32)
            outs.append(o)
            width = int(np.prod(xp.shape[1:], dtype=np.int64))
            for v, d in enumerate(draws):
                sd, factor = self._factors(d, i, std, x)
                cols = [None if t is None else t.numpy().reshape(-1, *([1] * (xp.dim() - 1))) for t in (sd, factor)]
                for k, (lo, hi) in enumerate(rng.row_chunks(b, width)):
                    tasks.append((o.numpy(), xp.numpy(), i, v, k, lo, hi, d.seed, *cols))
        p = c.feature_mask

        def work(task):
            o, xn, i, v, k, lo, hi, seed, sd, factor = task
            noise = rng.numpy_stream(seed, i, k, rng.NORMAL) if sd is not None else None
            masks = rng.numpy_stream(seed, i, k, rng.UNIFORM) if p > 0 else None
            width = xn[0].size
            for a, z in rng.row_groups(hi - lo, width):  # rows lo + a .. lo + z, a few at a time
                rows = slice(lo + a, lo + z)
                block = o[v * b + lo + a:v * b + lo + z]
                if noise is not None:
                    rng.normal_into(block.reshape(-1), noise)
                    np.multiply(block, sd[rows], out=block)
                    np.add(block, xn[rows], out=block)
                else:
                    np.copyto(block, xn[rows])
                if masks is not None:
                    keep = rng.keep_flags(masks, block.size, p).reshape(block.shape)
                    np.multiply(block, np.multiply(keep, factor[rows]), out=block)
                else:
                    np.multiply(block, factor[rows], out=block)

        rng.parallel(work, tasks)
        return tuple([from_position_major(o[v * b:(v + 1) * b], x.shape) for o, x in zip(outs, nodes)]
                     for v in range(views))
