"""One job end to end: search -> derive -> (contrastive pretraining) -> finetune -> evaluate.

Every stage leaves its result in ``workdir``; calling ``run_pipeline`` again with the same
workdir skips finished stages and resumes an interrupted search or pretraining from its
last epoch, so an interrupted job ends with the same genotype as an uninterrupted one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .callbacks import Callback, ProgressEvent, no_callback
from .checkpoint import save_model
from .config import RunConfig
from .data.features import FeatureDataset
from .device import resolve_device
from .finetune import evaluate, run_finetune
from .genotype import Genotype
from .labels import labeled_subset
from .model import FusionNet
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


def _search_stage(ds, cfg, device, idx, workdir: Path, callback) -> tuple[Genotype, dict]:
    done = workdir / "search_result.json"
    if done.exists():
        res = json.loads(done.read_text())
        return Genotype.from_json(res["genotype"]), res
    ssl = cfg.search.mode == "ssl"
    t0 = time.perf_counter()
    result = run_search(ds, cfg, device, train_idx=idx["train"] if ssl else idx["labeled"],
                        val_idx=idx["dev"] if ssl else idx["dev_labeled"],
                        state_path=workdir / "search_state.safetensors", callback=callback)
    res = {"genotype": result.genotype.to_json(), "best_epoch": result.best_epoch,
           "history": result.history, "wall_time_s": time.perf_counter() - t0}
    done.write_text(json.dumps(res))
    return result.genotype, res


def run_pipeline(features: FeatureDataset, cfg: RunConfig, workdir: str | Path,
                 callback: Callback | None = None, mode: str | None = None) -> dict[str, Any]:
    """Run (or resume) a job; returns genotype, metrics and the model checkpoint path."""
    callback = callback or no_callback
    if mode is not None and mode != cfg.search.mode:
        cfg = RunConfig.from_dict({**cfg.to_dict(), "search": {**cfg.to_dict()["search"], "mode": mode}})
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    idx = split_indices(features, cfg)
    t0 = time.perf_counter()
    genotype, search_res = _search_stage(features, cfg, device, idx, workdir, callback)
    pretrain_hist: list[dict] = []
    if cfg.search.mode == "ssl" and cfg.pretrain.epochs > 0:
        fusion, pretrain_hist = run_pretrain(features, genotype, cfg, device, train_idx=idx["train"],
                                             state_path=workdir / "pretrain_state.safetensors", callback=callback)
    else:
        torch.manual_seed(cfg.seed)
        fusion = FusionNet(genotype).to(device)
    model, ft = run_finetune(features, fusion, cfg, device, labeled_idx=idx["labeled"],
                             dev_idx=idx["dev_labeled"], callback=callback)
    metrics = {"dev": evaluate(model, features, idx["dev_labeled"], device),
               "test": evaluate(model, features, idx["test"], device)}
    callback(ProgressEvent("evaluate", 0, 1, 1, 1, {f"test_{k}": v for k, v in metrics["test"].items()}, True))
    meta = {"label_names": list(features.manifest.label_names), "task": features.manifest.task,
            "threshold": cfg.finetune.threshold, "config": cfg.to_dict(), "metrics": metrics,
            "seed": cfg.seed, "mode": cfg.search.mode, "backbones": features.manifest.info.get("backbones", {}),
            "augmentations": cfg.ssl.augment.names() if cfg.search.mode == "ssl" else []}
    ckpt = workdir / "model.safetensors"
    save_model(ckpt, model, meta)
    result = {"genotype": genotype.to_json(), "metrics": metrics, "checkpoint": str(ckpt),
              "search_state": str(workdir / "search_state.safetensors"),
              "search": {k: v for k, v in search_res.items() if k != "genotype"},
              "pretrain": pretrain_hist, "finetune": ft, "wall_time_s": time.perf_counter() - t0,
              "params": sum(p.numel() for p in model.fusion.parameters()),
              "labeled_samples": int(len(idx["labeled"]))}
    (workdir / "result.json").write_text(json.dumps(result, indent=1))
    return result
