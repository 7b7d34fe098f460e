"""Bilevel, first-order architecture search (METHOD.md sections 1-5).

Self-supervised (mode "ssl"): NT-Xent on two feature views; weights w on search-train
(the whole train split, labels unread), architecture (alpha, beta, gamma) on search-val
(the dev split, labels unread). Genotype of the epoch with the lowest val NT-Xent.
Supervised (mode "supervised", BM-NAS): BCE on the labeled fraction of train for w and on
the dev subset of the same fraction for the architecture; genotype of the epoch with the
best dev weighted F1.

Schedules (``SearchConfig.schedule``): "alternate" (DARTS; default) takes one architecture
step on a randomly drawn search-val batch after every weight step, so the number of
architecture updates follows the training set, not the size of search-val; "bmnas" makes one
pass over search-train for w (Adam, SGDR per batch), then one architecture step per
search-val batch (Adam, betas (0.5, 0.999)). Every epoch logs the margins of the derived
choices and the architecture push by modality (``arch_diagnostics``). Full search state is
saved after every epoch; a run resumed from it ends with the same genotype.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .arch_diagnostics import PushMeter, cover_warning, margins, warnings_for
from .augment import FeatureAugment
from .callbacks import Callback, ProgressEvent, no_callback
from .cells import ProjectionHead
from .checkpoint import load_tensors, optimizer_from_flat, optimizer_to_flat, save_tensors, strip_prefix, with_prefix
from .config import ConfigError, RunConfig
from .data.features import FeatureDataset
from .device import autocast, matmul_precision
from .genotype import Genotype
from .loader import Batches, load_rows, read_ahead
from .metrics import selection_score
from .objectives import contrastive_loss, predict, supervised_loss
from .schedule import cosine_restart_lr, epoch_seed, seeded_generator, set_lr
from .search_space import SuperNet, cover

REPORT_EVERY = 10  # batches between progress events


@dataclass
class SearchResult:
    genotype: Genotype
    best_epoch: int
    history: list[dict]
    warnings: list[str]


class _Search:
    def __init__(self, ds: FeatureDataset, cfg: RunConfig, device: torch.device,
                 train_idx: np.ndarray, val_idx: np.ndarray):
        self.ds, self.cfg, self.device, self.sc = ds, cfg, device, cfg.search
        self.task, self.ssl = ds.manifest.task, cfg.search.mode == "ssl"
        torch.manual_seed(cfg.seed)
        self.net = SuperNet(ds.node_specs, cfg.space).to(device)
        out = ProjectionHead(self.net.out_dim, cfg.ssl.proj_hidden, cfg.ssl.proj_dim) if self.ssl \
            else nn.Linear(self.net.out_dim, ds.manifest.num_labels)
        self.head = out.to(device)
        self.augment = FeatureAugment(cfg.ssl.augment, [n.modality for n in ds.node_specs])
        self.w_params = self.net.weight_parameters() + list(self.head.parameters())
        self.opt_w = torch.optim.Adam(self.w_params, lr=self.sc.w_lr, weight_decay=self.sc.w_weight_decay)
        self.opt_a = torch.optim.Adam(self.net.arch_parameters(), lr=self.sc.lr_arch,
                                      betas=self.sc.arch_betas, weight_decay=self.sc.arch_weight_decay)
        self.train_idx, self.val_idx = train_idx, val_idx
        self.epoch, self.history, self.best = 0, [], None
        self.alternate = self.sc.schedule == "alternate"
        self.push = PushMeter(self.net)
        self.steps = len(self.batches(train_idx, 0, "search_w")) + (
            0 if self.alternate else len(self.batches(val_idx, 0, "search_a")))

    # -- batches and losses -------------------------------------------------------------
    def batches(self, idx, epoch: int, stage: str, shuffle: bool = True, drop_last: bool = True):
        return Batches(self.ds, idx, self.sc.batch_size, shuffle=shuffle, drop_last=drop_last,
                       seed=epoch_seed(self.cfg.seed, stage, epoch), device=self.device,
                       with_labels=not self.ssl, max_batches=self.sc.max_batches_per_epoch)

    def loss(self, nodes, labels, g) -> torch.Tensor:
        with autocast(self.device, self.cfg.amp):
            if self.ssl:
                return contrastive_loss(self.net, self.head, self.augment, nodes, g, self.cfg.ssl)
            return supervised_loss(self.head(self.net(nodes)), labels, self.task)

    def _train_only(self, params_on: list[nn.Parameter]) -> None:
        on = {id(p) for p in params_on}
        for p in [*self.w_params, *self.net.arch_parameters()]:
            p.requires_grad_(id(p) in on)

    # -- one epoch ----------------------------------------------------------------------
    def weight_pass(self, callback: Callback) -> float:
        e = self.epoch
        batches = self.batches(self.train_idx, e, "search_w")
        g = seeded_generator(epoch_seed(self.cfg.seed, "views_w", e), self.device)
        self.net.train(), self.head.train()
        arch = self._arch_batches() if self.alternate else None
        total, arch_total = 0.0, 0.0
        for i, (nodes, labels) in enumerate(batches):
            self._train_only(self.w_params)
            set_lr(self.opt_w, cosine_restart_lr(e * len(batches) + i, len(batches), self.sc.w_lr, self.sc.w_lr_min))
            self.opt_w.zero_grad(set_to_none=True)
            loss = self.loss(nodes, labels, g)
            loss.backward()
            nn.utils.clip_grad_norm_(self.w_params, self.sc.grad_clip)
            self.opt_w.step()
            total += loss.item()
            if arch is not None:
                arch_total += self.arch_step(*next(arch), g)
            if (i + 1) % REPORT_EVERY == 0:
                callback(ProgressEvent("search", e, self.sc.epochs, i + 1, self.steps,
                                       {"train_loss": total / (i + 1)}))
        self._train_only(self.w_params + self.net.arch_parameters())
        self.arch_loss = arch_total / max(1, len(batches))
        return total / max(1, len(batches))

    def _arch_batches(self):
        """Endless search-val batches drawn at random (seeded per epoch, so a resumed run repeats them)."""
        rng = np.random.default_rng(epoch_seed(self.cfg.seed, "search_a_draw", self.epoch))
        size = min(self.sc.batch_size, len(self.val_idx))
        draws = (rng.choice(self.val_idx, size=size, replace=False) for _ in iter(int, 1))
        return read_ahead(lambda idx: load_rows(self.ds, idx, not self.ssl, self.device), draws)

    def arch_step(self, nodes, labels, g) -> float:
        self._train_only(self.net.arch_parameters())
        self.opt_a.zero_grad(set_to_none=True)
        loss = self.loss(nodes, labels, g)
        loss.backward()
        self.push.add()
        self.opt_a.step()
        return loss.item()

    def arch_pass(self, callback: Callback) -> float:
        if self.alternate:
            return self.arch_loss
        e = self.epoch
        batches = self.batches(self.val_idx, e, "search_a")
        g = seeded_generator(epoch_seed(self.cfg.seed, "views_a", e), self.device)
        total = 0.0
        for i, (nodes, labels) in enumerate(batches):
            total += self.arch_step(nodes, labels, g)
            if (i + 1) % REPORT_EVERY == 0:
                callback(ProgressEvent("search", e, self.sc.epochs, self.steps - len(batches) + i + 1, self.steps,
                                       {"arch_loss": total / (i + 1)}))
        self._train_only(self.w_params + self.net.arch_parameters())
        return total / max(1, len(batches))

    @torch.inference_mode()
    def validate(self) -> dict[str, float]:
        """ssl: NT-Xent on val with fixed views (lower is better); supervised: dev weighted F1."""
        self.net.eval(), self.head.eval()
        if self.ssl:
            g = seeded_generator(epoch_seed(self.cfg.seed, "views_eval", 0), self.device)
            losses = [self.loss(n, y, g).item() for n, y in self.batches(self.val_idx, 0, "eval", False)]
            return {"val_loss": float(np.mean(losses)), "score": -float(np.mean(losses))}
        model = lambda nodes: self.head(self.net(nodes))  # noqa: E731
        probs, y = predict(model, self.batches(self.val_idx, 0, "eval", False, drop_last=False), self.task)
        f1 = selection_score(self.task, y, probs, self.cfg.finetune.threshold)
        return {"dev_weighted_f1": f1, "score": f1}

    # -- state ----------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        tw, mw = optimizer_to_flat(self.opt_w, "opt_w")
        ta, ma = optimizer_to_flat(self.opt_a, "opt_a")
        tensors = {**with_prefix("net", self.net.state_dict()), **with_prefix("head", self.head.state_dict()),
                   **tw, **ta}
        meta = {"kind": "search_state", "epoch": self.epoch, "history": self.history, "best": self.best,
                "opt_w": mw, "opt_a": ma, "config": self.cfg.to_dict()}
        save_tensors(path, tensors, meta)

    def load(self, path: Path) -> None:
        tensors, meta = load_tensors(path, self.device)
        if not same_config(meta.get("config"), self.cfg):
            raise ValueError(f"{path}: search state was written with a different configuration")
        self.net.load_state_dict(strip_prefix("net", tensors))
        self.head.load_state_dict(strip_prefix("head", tensors))
        optimizer_from_flat(self.opt_w, "opt_w", tensors, meta["opt_w"])
        optimizer_from_flat(self.opt_a, "opt_a", tensors, meta["opt_a"])
        self.epoch, self.history, self.best = meta["epoch"], meta["history"], meta["best"]


def same_config(saved: object, cfg: RunConfig) -> bool:
    """Whether a saved state's configuration is ``cfg``. Fields added after the state was written
    take their defaults, so a job interrupted by an upgrade resumes; a field the state has and this
    version does not know, or any other value, is a different configuration."""
    if not isinstance(saved, dict):
        return False
    try:
        return RunConfig.from_dict(saved) == cfg
    except ConfigError:
        return False


def run_search(ds: FeatureDataset, cfg: RunConfig, device: torch.device, *,
               train_idx: np.ndarray, val_idx: np.ndarray, state_path: Path | None = None,
               callback: Callback = no_callback) -> SearchResult:
    """Search; resumes from ``state_path`` if it holds a state of the same configuration."""
    s = _Search(ds, cfg, device, train_idx, val_idx)
    if state_path is not None and Path(state_path).exists():
        s.load(Path(state_path))
    with matmul_precision(cfg.search.matmul):
        _epochs(s, cfg, state_path, callback)
    best = Genotype.from_json(s.best["genotype"])
    at_best = s.history[s.best["epoch"]]
    warnings = warnings_for(best, at_best["margins"], cfg.search.noise_margin)
    if at_best.get("covered"):
        warnings.append(cover_warning(at_best["modalities_read_argmax"], best.modalities_read()))
    return SearchResult(best, s.best["epoch"], s.history, warnings)


def _epochs(s: _Search, cfg: RunConfig, state_path: Path | None, callback: Callback) -> None:
    """The search's epochs from ``s.epoch`` on; each one saved to ``state_path`` where given."""
    while s.epoch < cfg.search.epochs:
        torch.manual_seed(epoch_seed(cfg.seed, "dropout", s.epoch))
        t0 = time.perf_counter()
        train_loss = s.weight_pass(callback)
        arch_loss = s.arch_pass(callback)
        val = s.validate()
        argmax, margin = s.net.genotype(), margins(s.net)
        genotype = cover(s.net, argmax) if cfg.search.cover_modalities else argmax
        row = {"epoch": s.epoch, "train_loss": train_loss, "arch_loss": arch_loss,
               **{k: v for k, v in val.items() if k != "score"}, "epoch_time_s": time.perf_counter() - t0,
               "min_edge_margin": min(margin["edge"]), "min_op_margin": min(margin["op"]), **s.push.take(),
               "margins": margin, "modalities_read": genotype.modalities_read(),
               "modalities_read_argmax": argmax.modalities_read(), "covered": genotype != argmax,
               "genotype": genotype.to_json()}
        s.history.append(row)
        if s.best is None or val["score"] > s.best["score"]:
            s.best = {"score": val["score"], "epoch": s.epoch, "genotype": genotype.to_json()}
        s.epoch += 1
        if state_path is not None:
            s.save(Path(state_path))
        callback(ProgressEvent("search", s.epoch - 1, cfg.search.epochs, 1, 1,
                               {k: v for k, v in row.items() if isinstance(v, float)}, end_of_epoch=True))
