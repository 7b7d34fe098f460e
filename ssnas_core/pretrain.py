"""Contrastive pretraining of the derived network (METHOD.md section 1, step 4).

The discrete fusion network plus a projection head is trained with NT-Xent on two feature
views of every train sample (labels unread). Adam with a single cosine decay per run.
State is saved after each epoch; a resumed run continues where it stopped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .augment import FeatureAugment
from .callbacks import Callback, ProgressEvent, no_callback
from .cells import ProjectionHead
from .checkpoint import load_tensors, optimizer_from_flat, optimizer_to_flat, save_tensors, strip_prefix, with_prefix
from .config import RunConfig
from .data.features import FeatureDataset
from .device import autocast
from .genotype import Genotype
from .loader import Batches
from .model import FusionNet
from .objectives import contrastive_loss
from .schedule import cosine_restart_lr, epoch_seed, seeded_generator, set_lr


def run_pretrain(ds: FeatureDataset, genotype: Genotype, cfg: RunConfig, device: torch.device, *,
                 train_idx: np.ndarray, state_path: Path | None = None,
                 callback: Callback = no_callback) -> tuple[FusionNet, list[dict]]:
    pc = cfg.pretrain
    torch.manual_seed(epoch_seed(cfg.seed, "pretrain_init", 0))
    fusion = FusionNet(genotype).to(device)
    head = ProjectionHead(fusion.out_dim, cfg.ssl.proj_hidden, cfg.ssl.proj_dim).to(device)
    params = list(fusion.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=pc.lr, weight_decay=pc.weight_decay)
    augment = FeatureAugment(cfg.ssl.augment, [n.modality for n in ds.node_specs])
    epoch, history = 0, []
    if state_path is not None and Path(state_path).exists():
        tensors, meta = load_tensors(state_path, device)
        fusion.load_state_dict(strip_prefix("fusion", tensors))
        head.load_state_dict(strip_prefix("head", tensors))
        optimizer_from_flat(opt, "opt", tensors, meta["opt"])
        epoch, history = meta["epoch"], meta["history"]
    while epoch < pc.epochs:
        torch.manual_seed(epoch_seed(cfg.seed, "pretrain_dropout", epoch))
        batches = Batches(ds, train_idx, pc.batch_size, shuffle=True, drop_last=True, device=device,
                          seed=epoch_seed(cfg.seed, "pretrain", epoch), with_labels=False,
                          max_batches=pc.max_batches_per_epoch)
        g = seeded_generator(epoch_seed(cfg.seed, "pretrain_views", epoch), device)
        fusion.train(), head.train()
        total = 0.0
        for i, (nodes, _) in enumerate(batches):
            set_lr(opt, cosine_restart_lr(epoch * len(batches) + i, pc.epochs * len(batches), pc.lr, pc.lr * 1e-3))
            opt.zero_grad(set_to_none=True)
            with autocast(device, cfg.amp):
                loss = contrastive_loss(fusion, head, augment, nodes, g, cfg.ssl)
            loss.backward()
            nn.utils.clip_grad_norm_(params, cfg.search.grad_clip)
            opt.step()
            total += loss.item()
            if (i + 1) % 10 == 0:
                callback(ProgressEvent("pretrain", epoch, pc.epochs, i + 1, len(batches), {"loss": total / (i + 1)}))
        history.append({"epoch": epoch, "loss": total / max(1, len(batches))})
        epoch += 1
        if state_path is not None:
            to, mo = optimizer_to_flat(opt, "opt")
            save_tensors(state_path, {**with_prefix("fusion", fusion.state_dict()),
                                      **with_prefix("head", head.state_dict()), **to},
                         {"kind": "pretrain_state", "epoch": epoch, "history": history, "opt": mo})
        callback(ProgressEvent("pretrain", epoch - 1, pc.epochs, 1, 1, {"loss": history[-1]["loss"]}, True))
    return fusion, history
