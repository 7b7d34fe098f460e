"""Finetuning with a classifier head on the labeled fraction, selection on a dev subset
of the same fraction, and the one evaluation on test (METHOD.md sections 1, 6, 7).

A pretrained fusion network can be adapted three ways (``FinetuneConfig.probe``, ours):
"full" finetuning; a linear "probe" on its frozen embedding (the embedding is computed once,
in eval mode); "lp_ft", the probe followed by full finetuning from the probe's head (linear
probing then finetuning, Kumar et al. 2022). "auto" runs all three and keeps the best on the
labeled dev subset. The decision threshold is then chosen on the same dev subset
(``threshold_select``), never on test.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .callbacks import Callback, ProgressEvent, no_callback
from .config import RunConfig
from .data.features import FeatureDataset
from .device import autocast
from .loader import Batches
from .metrics import evaluate_probs, multilabel_metrics, select_threshold, selection_score
from .model import Classifier
from .objectives import predict, supervised_loss, to_probs
from .schedule import epoch_seed


class _Embedded:
    """The frozen fusion embedding of some rows, as one tensor, with their labels."""

    def __init__(self, fusion: nn.Module, ds: FeatureDataset, idx: np.ndarray, device: torch.device):
        fusion.eval()
        parts, labels = [], []
        with torch.no_grad():
            for nodes, y in Batches(ds, idx, 256, device=device):
                parts.append(fusion(nodes).float())
                labels.append(y)
        self.x, self.y = torch.cat(parts), torch.cat(labels)


def _modes(cfg: RunConfig, pretrained: bool) -> list[str]:
    if not pretrained:
        return ["full"]
    return ["full", "probe", "lp_ft"] if cfg.finetune.probe == "auto" else [cfg.finetune.probe]


def _fresh(modes: list[str]) -> list[str]:
    """The fits from the initial network (lp_ft needs the probe first); lp_ft then fits once more."""
    return [m for m in ("probe", "full") if m in modes or (m == "probe" and "lp_ft" in modes)]


def finetune_fits(cfg: RunConfig, pretrained: bool) -> int:
    """How many fits of up to ``finetune.epochs`` epochs ``run_finetune`` runs (each may stop early)."""
    modes = _modes(cfg, pretrained)
    return len(_fresh(modes)) + ("lp_ft" in modes)


class _Trainer:
    """One finetuning loop with early stopping on dev weighted F1 (at ``finetune.threshold``)."""

    def __init__(self, ds, cfg: RunConfig, device, labeled_idx, dev_idx, callback, offset: int, total: int):
        self.ds, self.cfg, self.device, self.callback = ds, cfg, device, callback
        self.labeled_idx, self.dev_idx, self.offset, self.total = labeled_idx, dev_idx, offset, total
        self.task = ds.manifest.task
        self.ema: AveragedModel | None = None  # the weight average of the running full fit

    def fit(self, model: Classifier, params, lr: float, step, score, tag: str, average: bool = False) -> dict:
        """``average``: score, stop and keep the weight average that ``full_step`` updates
        (``finetune.ema`` / ``ema_epochs``; buffers included)."""
        fc = self.cfg.finetune
        opt = torch.optim.Adam(params, lr=lr, weight_decay=fc.weight_decay)
        best = {"score": -1.0, "epoch": -1, "state": None}
        history = []
        decay = self.ema_decay() if average else 0.0
        self.ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
                    if decay > 0 else None)
        for epoch in range(fc.epochs):
            torch.manual_seed(epoch_seed(self.cfg.seed, "finetune_dropout", epoch))
            loss = step(model, opt, epoch)
            kept = self.ema.module if self.ema is not None else model
            s = score(kept)
            history.append({"epoch": epoch, "loss": loss, "dev_weighted_f1": s, "mode": tag})
            metrics = {"epoch": float(epoch), "loss": loss, "dev_weighted_f1": s}
            self.callback(ProgressEvent("finetune", self.offset + epoch, self.total, 1, 1, metrics, True))
            if s > best["score"]:
                best = {"score": s, "epoch": epoch, "state": copy.deepcopy(kept.state_dict())}
            elif epoch - best["epoch"] >= fc.patience:
                break
        self.ema = None
        model.load_state_dict(best["state"])
        self.offset += fc.epochs
        return {"best_epoch": best["epoch"], "dev_weighted_f1": best["score"], "history": history}

    def ema_decay(self) -> float:
        """The per-step decay of the weight average of full fits (``finetune.ema`` / ``ema_epochs``)."""
        fc = self.cfg.finetune
        if fc.ema == 0 and fc.ema_epochs > 0:
            return max(0.0, 1.0 - 1.0 / (fc.ema_epochs * max(1, len(self.full_batches(0)))))
        return fc.ema

    # -- full finetuning over the feature batches ------------------------------------------
    def full_batches(self, epoch: int) -> Batches:
        return Batches(self.ds, self.labeled_idx, self.cfg.finetune.batch_size, shuffle=True, drop_last=True,
                       device=self.device, seed=epoch_seed(self.cfg.seed, "finetune", epoch))

    def full_step(self, model, opt, epoch) -> float:
        batches = self.full_batches(epoch)
        model.train()
        total = 0.0
        for nodes, y in batches:
            opt.zero_grad(set_to_none=True)
            with autocast(self.device, self.cfg.amp):
                loss = supervised_loss(model(nodes), y, self.task)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), self.cfg.search.grad_clip)
            opt.step()
            if self.ema is not None:
                self.ema.update_parameters(model)
            total += loss.item()
        return total / max(1, len(batches))

    def full_score(self, model) -> float:
        model.eval()
        probs, y = predict(model, Batches(self.ds, self.dev_idx, 256, device=self.device), self.task)
        return selection_score(self.task, y, probs, self.cfg.finetune.threshold)

    # -- the linear probe on cached embeddings ---------------------------------------------
    def probe_step(self, train: _Embedded):
        fc = self.cfg.finetune

        def step(model, opt, epoch) -> float:
            order = torch.from_numpy(np.random.default_rng(epoch_seed(self.cfg.seed, "probe", epoch))
                                     .permutation(len(train.y)))
            model.head.train()
            total, n = 0.0, max(1, len(order) // fc.batch_size)
            for b in range(n):
                rows = order[b * fc.batch_size:(b + 1) * fc.batch_size] if len(order) > fc.batch_size else order
                opt.zero_grad(set_to_none=True)
                loss = supervised_loss(model.head(train.x[rows]), train.y[rows], self.task)
                loss.backward()
                opt.step()
                total += loss.item()
            return total / n
        return step

    def probe_score(self, dev: _Embedded):
        def score(model) -> float:
            model.head.eval()
            with torch.no_grad():
                probs = to_probs(model.head(dev.x), self.task).cpu().numpy()
            return selection_score(self.task, dev.y.cpu().numpy(), probs, self.cfg.finetune.threshold)
        return score


def run_finetune(ds: FeatureDataset, fusion: nn.Module, cfg: RunConfig, device: torch.device, *,
                 labeled_idx: np.ndarray, dev_idx: np.ndarray, callback: Callback = no_callback,
                 pretrained: bool = False) -> tuple[Classifier, dict]:
    """Train on ``labeled_idx``, keep the best dev epoch (and, for a pretrained ``fusion``, the best
    adaptation of ``finetune.probe``), then choose the threshold on dev. Returns (model, info)."""
    fc, modes = cfg.finetune, _modes(cfg, pretrained)
    fresh = _fresh(modes)
    t = _Trainer(ds, cfg, device, labeled_idx, dev_idx, callback, 0, fc.epochs * finetune_fits(cfg, pretrained))
    results: dict[str, tuple[Classifier, dict]] = {}
    probe = None
    for mode in fresh:
        torch.manual_seed(epoch_seed(cfg.seed, "finetune_init", 0))
        model = Classifier(copy.deepcopy(fusion), ds.manifest.num_labels).to(device)
        if mode == "full":
            results["full"] = model, t.fit(model, model.parameters(), fc.lr, t.full_step, t.full_score, "full",
                                           average=True)
            continue
        train, dev = _Embedded(model.fusion, ds, labeled_idx, device), _Embedded(model.fusion, ds, dev_idx, device)
        probe = model, t.fit(model, model.head.parameters(), fc.probe_lr, t.probe_step(train),
                             t.probe_score(dev), "probe")
        if "probe" in modes:
            results["probe"] = probe
    if "lp_ft" in modes:
        model = copy.deepcopy(probe[0])
        results["lp_ft"] = model, t.fit(model, model.parameters(), fc.lr, t.full_step, t.full_score, "lp_ft",
                                        average=True)
    chosen = max(modes, key=lambda m: results[m][1]["dev_weighted_f1"])  # first of equals, in order of modes
    model, info = results[chosen]
    model.eval()
    probs, y_dev = predict(model, Batches(ds, dev_idx, 256, device=device), ds.manifest.task)
    threshold = select_threshold(ds.manifest.task, y_dev, probs, fc.threshold_select, fc.threshold)
    info = {**info, "mode": chosen, "modes": {m: r[1]["dev_weighted_f1"] for m, r in results.items()},
            "history": [h for m in modes for h in results[m][1]["history"]], "threshold": threshold,
            "labeled_samples": int(len(labeled_idx)), "dev_samples": int(len(dev_idx))}
    return model, info


def evaluate_splits(model: nn.Module, ds: FeatureDataset, idx: dict[str, np.ndarray], device: torch.device,
                    threshold: float | list[float] | None) -> dict[str, dict[str, float]]:
    """Metrics on the labeled dev subset and on test (``idx`` from ``pipeline.split_indices``)."""
    return {"dev": evaluate(model, ds, idx["dev_labeled"], device, threshold),
            "test": evaluate(model, ds, idx["test"], device, threshold)}


def evaluate(model: nn.Module, ds: FeatureDataset, idx: np.ndarray, device: torch.device,
             threshold: float | list[float] | None = None) -> dict[str, float]:
    """All metrics of METHOD.md section 7 on ``idx`` (both thresholds for multi-label, plus
    ``@sel`` at the selected ``threshold`` when given)."""
    model.eval()
    probs, y = predict(model, Batches(ds, idx, 256, device=device), ds.manifest.task)
    out = evaluate_probs(ds.manifest.task, y, probs)
    if threshold is not None and ds.manifest.task == "multilabel":
        out |= {f"{k}@sel": v for k, v in multilabel_metrics(y, probs, np.asarray(threshold)).items()}
    return out
