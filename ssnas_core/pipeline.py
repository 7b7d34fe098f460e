"""One job end to end: search -> derive -> (contrastive pretraining) -> finetune -> evaluate.

Every stage leaves its result in ``workdir``; calling a stage again with the same workdir
reuses a finished stage and resumes an interrupted search or pretraining from its last
epoch, so an interrupted job ends with the same genotype as an uninterrupted one.
The CLI runs the stages one by one; ``run_pipeline`` runs them all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .callbacks import Callback, ProgressEvent, no_callback
from .checkpoint import load_tensors, save_model, strip_prefix
from .config import RunConfig
from .data.features import FeatureDataset
from .data.summary import INFO_KEY, with_summary_nodes
from .device import resolve_device
from .finetune import evaluate_splits, run_finetune
from .genotype import Genotype
from .labels import labeled_subset
from .model import FusionNet
from .names import MODEL, PRETRAIN_STATE, RESULT, SEARCH_RESULT, SEARCH_STATE
from .pretrain import run_pretrain
from .search import run_search


def split_indices(ds: FeatureDataset, cfg: RunConfig) -> dict[str, np.ndarray]:
    """train/dev/test plus the seeded labeled subset of train and dev subset of fraction r."""
    fc = cfg.finetune
    train, dev, test = (ds.split_indices(s) for s in ("train", "dev", "test"))
    if min(len(train), len(dev), len(test)) == 0:
        raise ValueError(f"dataset needs train, dev and test samples, has {len(train)}/{len(dev)}/{len(test)}")
    task = ds.manifest.task
    return {"train": train, "dev": dev, "test": test,
            "labeled": labeled_subset(ds.labels, train, fc.label_fraction, cfg.seed, task),
            "dev_labeled": labeled_subset(ds.labels, dev, fc.label_fraction, cfg.seed + 1, task,
                                          minimum=fc.min_dev_samples)}


def prepare_features(ds: FeatureDataset, cfg: RunConfig) -> FeatureDataset:
    """The features as a run sees them: with the summary nodes when ``space.summary_nodes``
    (``data.summary``; idempotent, so every stage may call it)."""
    of = cfg.space.summary_nodes
    return ds if of == "none" else with_summary_nodes(ds, of)


def _setup(cfg: RunConfig, workdir: str | Path) -> tuple[Path, torch.device]:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    return workdir, resolve_device(cfg.device)


def search_stage(ds: FeatureDataset, cfg: RunConfig, workdir: str | Path,
                 callback: Callback = no_callback) -> tuple[Genotype, dict]:
    """Search (self-supervised or supervised per cfg.search.mode); cached in workdir."""
    workdir, device = _setup(cfg, workdir)
    ds = prepare_features(ds, cfg)
    done = workdir / SEARCH_RESULT
    if done.exists():
        res = json.loads(done.read_text())
        return Genotype.from_json(res["genotype"]), res
    idx, ssl = split_indices(ds, cfg), cfg.search.mode == "ssl"
    t0 = time.perf_counter()
    result = run_search(ds, cfg, device, train_idx=idx["train"] if ssl else idx["labeled"],
                        val_idx=idx["dev"] if ssl else idx["dev_labeled"],
                        state_path=workdir / SEARCH_STATE, callback=callback)
    res = {"genotype": result.genotype.to_json(), "best_epoch": result.best_epoch, "mode": cfg.search.mode,
           "modalities_read": result.genotype.modalities_read(), "warnings": result.warnings,
           "history": result.history, "wall_time_s": time.perf_counter() - t0}
    done.write_text(json.dumps(res))
    return result.genotype, res


def pretrain_stage(ds: FeatureDataset, cfg: RunConfig, workdir: str | Path, genotype: Genotype,
                   callback: Callback = no_callback) -> tuple[FusionNet, list[dict]]:
    """Contrastive pretraining of the derived network (resumable; a finished state is reused)."""
    workdir, device = _setup(cfg, workdir)
    ds = prepare_features(ds, cfg)
    return run_pretrain(ds, genotype, cfg, device, train_idx=split_indices(ds, cfg)["train"],
                        state_path=workdir / PRETRAIN_STATE, callback=callback)


def _initial_fusion(genotype: Genotype, cfg: RunConfig, workdir: Path, device) -> FusionNet:
    """The pretrained fusion weights when pretraining ran in this workdir, else a fresh init."""
    torch.manual_seed(cfg.seed)
    fusion = FusionNet(genotype).to(device)
    state = workdir / PRETRAIN_STATE
    if cfg.search.mode == "ssl" and state.exists():
        tensors, _ = load_tensors(state, device)
        fusion.load_state_dict(strip_prefix("fusion", tensors))
    return fusion


def finetune_stage(ds: FeatureDataset, cfg: RunConfig, workdir: str | Path, genotype: Genotype | None,
                   callback: Callback = no_callback, fusion: FusionNet | None = None) -> dict[str, Any]:
    """Finetune on the labeled fraction, select on the dev subset, evaluate once on test, save.
    ``genotype`` may be None when ``fusion`` is a baseline network (late fusion, MFAS, ...)."""
    workdir, device = _setup(cfg, workdir)
    ds = prepare_features(ds, cfg)
    idx = split_indices(ds, cfg)
    pretrained = cfg.search.mode == "ssl" and (fusion is not None or (workdir / PRETRAIN_STATE).exists())
    fusion = fusion or _initial_fusion(genotype, cfg, workdir, device)
    model, ft = run_finetune(ds, fusion, cfg, device, labeled_idx=idx["labeled"],
                             dev_idx=idx["dev_labeled"], callback=callback, pretrained=pretrained)
    th = ft["threshold"]
    metrics = evaluate_splits(model, ds, idx, device, th)
    callback(ProgressEvent("evaluate", 0, 1, 1, 1, {f"test_{k}": v for k, v in metrics["test"].items()}, True))
    meta = {"label_names": list(ds.manifest.label_names), "task": ds.manifest.task,
            "threshold": th if not isinstance(th, list) else cfg.finetune.threshold,
            "thresholds": th if isinstance(th, list) else None, "finetune_mode": ft["mode"],
            "config": cfg.to_dict(), "metrics": metrics,
            "modalities_read": genotype.modalities_read() if genotype is not None else None,
            "seed": cfg.seed, "mode": cfg.search.mode, "backbones": ds.manifest.info.get("backbones", {}),
            "augmentations": cfg.ssl.augment.names() if cfg.search.mode == "ssl" else [],
            INFO_KEY: ds.manifest.info.get(INFO_KEY)}
    save_model(workdir / MODEL, model, meta)
    return {"metrics": metrics, "finetune": ft, "checkpoint": str(workdir / MODEL),
            "params": sum(p.numel() for p in model.fusion.parameters()),
            "labeled_samples": int(len(idx["labeled"]))}


def run_pipeline(features: FeatureDataset, cfg: RunConfig, workdir: str | Path,
                 callback: Callback | None = None, mode: str | None = None) -> dict[str, Any]:
    """Run (or resume) a whole job; returns genotype, metrics and the model checkpoint path."""
    callback = callback or no_callback
    if mode is not None and mode != cfg.search.mode:
        d = cfg.to_dict()
        cfg = RunConfig.from_dict({**d, "search": {**d["search"], "mode": mode}})
    workdir = Path(workdir)
    features = prepare_features(features, cfg)
    t0 = time.perf_counter()
    genotype, search_res = search_stage(features, cfg, workdir, callback)
    fusion, pretrain_hist = None, []
    if cfg.search.mode == "ssl" and cfg.pretrain.epochs > 0:
        fusion, pretrain_hist = pretrain_stage(features, cfg, workdir, genotype, callback)
    ft = finetune_stage(features, cfg, workdir, genotype, callback, fusion)
    result = {"genotype": genotype.to_json(), **ft, "search_state": str(workdir / SEARCH_STATE),
              "search": {k: v for k, v in search_res.items() if k != "genotype"},
              "pretrain": pretrain_hist, "wall_time_s": time.perf_counter() - t0}
    (workdir / RESULT).write_text(json.dumps(result, indent=1))
    return result
