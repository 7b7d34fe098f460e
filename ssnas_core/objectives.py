"""Training objectives and batched inference shared by search, pretraining and finetuning."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .augment import FeatureAugment
from .losses import nt_xent


def contrastive_loss(fusion: Callable, head: Callable, augment: FeatureAugment,
                     nodes: list[torch.Tensor], g: torch.Generator, temperature: float) -> torch.Tensor:
    """Two feature views per sample through one forward pass of 2B samples, then NT-Xent."""
    b = nodes[0].shape[0]
    v1, v2 = augment(nodes, g)
    z = head(fusion([torch.cat([x1, x2]) for x1, x2 in zip(v1, v2)]))  # (2B, proj_dim)
    return nt_xent(z[:b], z[b:], temperature)


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
