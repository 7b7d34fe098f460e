"""Finetuning with a classifier head on the labeled fraction, selection on a dev subset
of the same fraction, and the one evaluation on test (METHOD.md sections 1, 6, 7)."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .callbacks import Callback, ProgressEvent, no_callback
from .config import RunConfig
from .data.features import FeatureDataset
from .device import autocast
from .loader import Batches
from .metrics import evaluate_probs, selection_score
from .model import Classifier
from .objectives import predict, supervised_loss
from .schedule import epoch_seed


def run_finetune(ds: FeatureDataset, fusion: nn.Module, cfg: RunConfig, device: torch.device, *,
                 labeled_idx: np.ndarray, dev_idx: np.ndarray,
                 callback: Callback = no_callback) -> tuple[Classifier, dict]:
    """Train fusion + linear head on ``labeled_idx``; keep the epoch with the best dev weighted F1;
    stop after ``patience`` epochs without improvement. Returns (best model, info)."""
    fc, task = cfg.finetune, ds.manifest.task
    torch.manual_seed(epoch_seed(cfg.seed, "finetune_init", 0))
    model = Classifier(fusion, ds.manifest.num_labels).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=fc.lr, weight_decay=fc.weight_decay)
    dev = Batches(ds, dev_idx, 256, device=device)
    best = {"score": -1.0, "epoch": -1, "state": None}
    history = []
    for epoch in range(fc.epochs):
        torch.manual_seed(epoch_seed(cfg.seed, "finetune_dropout", epoch))
        batches = Batches(ds, labeled_idx, fc.batch_size, shuffle=True, drop_last=True, device=device,
                          seed=epoch_seed(cfg.seed, "finetune", epoch))
        model.train()
        total = 0.0
        for nodes, y in batches:
            opt.zero_grad(set_to_none=True)
            with autocast(device, cfg.amp):
                loss = supervised_loss(model(nodes), y, task)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.search.grad_clip)
            opt.step()
            total += loss.item()
        model.eval()
        probs, y_dev = predict(model, dev, task)
        score = selection_score(task, y_dev, probs, fc.threshold)
        history.append({"epoch": epoch, "loss": total / max(1, len(batches)), "dev_weighted_f1": score})
        callback(ProgressEvent("finetune", epoch, fc.epochs, 1, 1, history[-1] | {"epoch": float(epoch)}, True))
        if score > best["score"]:
            best = {"score": score, "epoch": epoch, "state": copy.deepcopy(model.state_dict())}
        elif epoch - best["epoch"] >= fc.patience:
            break
    model.load_state_dict(best["state"])
    model.eval()
    return model, {"best_epoch": best["epoch"], "dev_weighted_f1": best["score"], "history": history,
                   "labeled_samples": int(len(labeled_idx)), "dev_samples": int(len(dev_idx))}


def evaluate(model: nn.Module, ds: FeatureDataset, idx: np.ndarray, device: torch.device) -> dict[str, float]:
    """All metrics of METHOD.md section 7 on ``idx`` (both thresholds for multi-label)."""
    model.eval()
    probs, y = predict(model, Batches(ds, idx, 256, device=device), ds.manifest.task)
    return evaluate_probs(ds.manifest.task, y, probs)
