"""Training objectives and batched inference shared by search, pretraining and finetuning."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .augment import FeatureAugment
from .config import SSLConfig
from .fastnet import ViewStack
from .losses import nt_xent


def _embed(fusion: Callable, head: Callable, views: list[list[torch.Tensor | None]]) -> list[torch.Tensor]:
    """Every view of the batch through one forward pass (BatchNorm sees them together).

    ``views[v][i]`` is node i of view v, None where the view zeroes it. A fusion network with
    ``forward_views`` (the supernet) projects a node shared by several views once."""
    stack = ViewStack.build(views)
    h = fusion.forward_views(stack) if hasattr(fusion, "forward_views") else fusion(stack.materialize())
    return list(head(h).split(stack.batch))  # len(views) x (B, proj_dim)


def _restrict(nodes: list[torch.Tensor], modalities: list[str], keep: str) -> list[torch.Tensor | None]:
    """``keep_modality`` with the zeroed nodes left as None (see ``_embed``)."""
    return [x if m == keep else None for x, m in zip(nodes, modalities)]


def contrastive_loss(fusion: Callable, head: Callable, augment: FeatureAugment,
                     nodes: list[torch.Tensor], g: torch.Generator, ssl: SSLConfig) -> torch.Tensor:
    """The self-supervised objective ``ssl.objective`` on two feature views of the batch.

    simclr:      NT(z1, z2), z_i the projected fused embedding of view i.
    cross_modal: (NT(z1, z2) + w * sum_m NT(z1, z2|m)) / (1 + w * M), where z2|m embeds view 2
                 with every modality but m zeroed. Plain instance discrimination lets the fused
                 embedding rest on the modality with the most per-sample variation; each
                 restricted term asks that one modality alone identify the sample's other view,
                 so the network must carry every modality (ours; METHOD.md section 5).
    cross_views: view 1 of modality m against view 2 of modality m' (m < m'), averaged.
    With a single modality every objective is plain SimCLR.
    """
    kinds, t = augment.kinds, ssl.temperature
    v1, v2 = augment(nodes, g)
    if ssl.objective == "simclr" or len(kinds) < 2:
        z1, z2 = _embed(fusion, head, [v1, v2])
        return nt_xent(z1, z2, t)
    if ssl.objective == "cross_modal":
        restricted = [_restrict(v2, augment.modalities, m) for m in kinds]
        z1, z2, *zm = _embed(fusion, head, [v1, v2, *restricted])
        cross = torch.stack([nt_xent(z1, z, t) for z in zm]).sum()
        w = ssl.cross_weight
        return (nt_xent(z1, z2, t) + w * cross) / (1 + w * len(kinds))
    views = [_restrict(v1 if i % 2 == 0 else v2, augment.modalities, m) for i, m in enumerate(kinds)]
    z = _embed(fusion, head, views)
    pairs = [(i, j) for i in range(len(kinds)) for j in range(i + 1, len(kinds))]
    return torch.stack([nt_xent(z[i], z[j], t) for i, j in pairs]).mean()


def supervised_loss(logits: torch.Tensor, labels: torch.Tensor, task: str) -> torch.Tensor:
    """Multi-label: BCE with logits on multi-hot labels; multi-class: cross-entropy."""
    if task == "multilabel":
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())
    return F.cross_entropy(logits.float(), labels.long())


def to_probs(logits: torch.Tensor, task: str) -> torch.Tensor:
    return torch.sigmoid(logits) if task == "multilabel" else torch.softmax(logits, dim=1)


@torch.no_grad()
def predict(model: Callable, batches, task: str) -> tuple[np.ndarray, np.ndarray]:
    """(probs (N, K), labels) over all batches, in batch order."""
    probs, labels = [], []
    for nodes, y in batches:
        probs.append(to_probs(model(nodes), task).float().cpu().numpy())
        labels.append(y.cpu().numpy())
    return np.concatenate(probs), np.concatenate(labels)
