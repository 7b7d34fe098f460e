"""One entry point per benchmark method: ``(features, r, seed, budget, workdir) -> record``.

Every method sees the same labeled subset and dev subset for a given (r, seed)
(``pipeline.split_indices``), the same features, the same finetuning budget and loop
(``finetune.run_finetune``: selection on the dev subset of fraction r) and the same metrics;
test is evaluated once, after selection. The self-supervised search and pretraining read no
labels, so they are run once per seed (cached under ``workdir``) and reused for every r.

A record: method, r, seed, metrics {"dev", "test"} (both thresholds for multi-label),
wall_time_s (this run; for "ssl" plus ``shared_wall_s`` of the label-free stages it reuses),
epochs, params (fusion + head), genotype (or the baseline's architecture), sample counts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..callbacks import Callback, ProgressEvent, no_callback
from ..config import RunConfig, from_dict
from ..data.features import FeatureDataset
from ..device import resolve_device
from ..finetune import evaluate_splits, run_finetune
from ..genotype import Genotype
from ..metrics import evaluate_probs
from ..model import FusionNet
from ..names import MFAS_SCORES
from ..pipeline import prepare_features, pretrain_stage, search_stage, split_indices
from . import trivial
from .late_fusion import late_fusion, late_fusion_all, unimodal
from .mfas import MFASConfig, MFASNet, mfas_search, planned_evaluations
from .random_arch import random_genotype


@dataclass(frozen=True)
class Budget:
    """What every method may spend. ``run`` holds the engine's settings (space, SSL, search,
    pretraining and finetuning epochs and batch sizes); label fraction, seed and search mode
    are set per run. The supervised search uses ``supervised_batch`` (BM-NAS used 8).

    ``min_steps`` (ours; 0 = off): at a small r an epoch is a handful of batches, so the
    label-driven loops (finetuning with its patience, MFAS candidates, the supervised
    search) get their epochs multiplied by one factor per r such that finetuning makes at
    least ``min_steps`` gradient steps. It depends on r only, so every method gets the same.
    """

    run: RunConfig = field(default_factory=RunConfig)
    supervised_batch: int = 32
    mfas: MFASConfig = field(default_factory=MFASConfig)
    mlp_hidden: int = 256
    min_steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Budget":
        d = dict(d)
        run = RunConfig.from_dict(d.pop("run", {}))
        mfas = from_dict(MFASConfig, d.pop("mfas", {}))
        return cls(run=run, mfas=mfas, **d)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]

    def epoch_factor(self, n_labeled: int | None) -> int:
        """How many times the label-driven epochs are repeated for ``n_labeled`` samples."""
        fc = self.run.finetune
        if not self.min_steps or not n_labeled:
            return 1
        steps = n_labeled // fc.batch_size if n_labeled > fc.batch_size else 1
        return max(1, math.ceil(self.min_steps / (steps * fc.epochs)))

    def config(self, r: float, seed: int, mode: str = "ssl", n_labeled: int | None = None,
               **finetune: Any) -> RunConfig:
        """The run's config; ``finetune`` overrides finetuning fields (before the epoch factor)."""
        d, k = self.run.to_dict(), self.epoch_factor(n_labeled)
        d["seed"] = seed
        d["search"] = {**d["search"], "mode": mode}
        if mode == "supervised":
            d["search"] |= {"batch_size": self.supervised_batch, "epochs": min(1000, d["search"]["epochs"] * k)}
        ft = {**d["finetune"], "label_fraction": r, **finetune}
        ft |= {"epochs": min(1000, ft["epochs"] * k), "patience": ft["patience"] * k}
        d["finetune"] = ft
        return RunConfig.from_dict(d)

    def run_config(self, ds: FeatureDataset, r: float, seed: int, mode: str = "ssl", **finetune: Any) -> RunConfig:
        """``config`` with the epoch factor of this dataset's labeled subset at (r, seed)."""
        n = len(split_indices(ds, self.config(r, seed, mode))["labeled"])
        return self.config(r, seed, mode, n, **finetune)


def _params(module: torch.nn.Module) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def finetune_and_score(ds: FeatureDataset, fusion: torch.nn.Module, cfg: RunConfig,
                       callback: Callback = no_callback, pretrained: bool = False) -> dict[str, Any]:
    """Finetune ``fusion`` + head on the labeled subset, select on the dev subset, test once."""
    device = resolve_device(cfg.device)
    idx = split_indices(ds, cfg)
    t0 = time.perf_counter()
    model, ft = run_finetune(ds, fusion.to(device), cfg, device, labeled_idx=idx["labeled"],
                             dev_idx=idx["dev_labeled"], callback=callback, pretrained=pretrained)
    th = ft["threshold"]
    metrics = evaluate_splits(model, ds, idx, device, th)
    return {"metrics": metrics, "params": _params(model), "fusion_params": _params(model.fusion),
            "threshold": th, "finetune_mode": ft["mode"], "finetune_modes": ft["modes"],
            "epochs": {"finetune_max": cfg.finetune.epochs, "finetune_ran": len(ft["history"]),
                       "finetune_best": ft["best_epoch"]},
            "labeled_samples": ft["labeled_samples"], "dev_samples": ft["dev_samples"],
            "wall_time_s": time.perf_counter() - t0}


# The previous default, kept as a benchmark method: plain SimCLR, BM-NAS's schedule and architecture
# lr, full finetuning at the fixed threshold without a weight average. "ssl" is the current default.
PLAIN_SSL = {"ssl": {"objective": "simclr"},
             "search": {"schedule": "bmnas", "arch_lr": 3e-4, "cover_modalities": False},
             "finetune": {"probe": "full", "threshold_select": "fixed", "ema_epochs": 0.0}}
# Finetuning ablations on the ssl method's own searched and pretrained network (its stages are shared)
EMA_FIXED = {"finetune": {"ema": 0.99}}  # ssl_ema: a fixed decay per step instead of one epoch
NO_EMA = {"finetune": {"ema_epochs": 0.0}}  # ssl_no_ema: no weight average
# Search ablation: IEEE float32 products in the search instead of bfloat16 inputs (issue 14); own stages
FP32_SEARCH = {"search": {"matmul": "fp32"}}


def _with(cfg: RunConfig, overrides: dict[str, dict[str, Any]] | None) -> RunConfig:
    if not overrides:
        return cfg
    d = cfg.to_dict()
    for section, values in overrides.items():
        d[section] = {**d[section], **values}
    return RunConfig.from_dict(d)


def run_ssl(ds, r, seed, budget: Budget, workdir: Path, overrides: dict | None = None,
            tag: str = "ssl") -> dict[str, Any]:
    """Self-supervised search + contrastive pretraining (once per seed), finetuning at r."""
    base = _with(budget.config(1.0, seed, "ssl"), overrides)  # the label-free stages do not depend on r
    wd = Path(workdir) / f"{tag}_seed{seed}"
    genotype, sres = search_stage(ds, base, wd)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    fusion, _ = pretrain_stage(ds, base, wd, genotype) if base.pretrain.epochs > 0 else (FusionNet(genotype), [])
    stages = wd / "stages.json"
    if not stages.exists():  # first use of this seed: record what the shared stages cost
        stages.write_text(json.dumps({"search_s": sres["wall_time_s"], "pretrain_s": time.perf_counter() - t0}))
    shared = json.loads(stages.read_text())
    rec = finetune_and_score(ds, fusion, _with(budget.run_config(ds, r, seed, "ssl"), overrides),
                             pretrained=base.pretrain.epochs > 0)
    rec["epochs"] |= {"search": base.search.epochs, "pretrain": base.pretrain.epochs,
                      "search_best": sres["best_epoch"]}
    return rec | {"genotype": genotype.to_json(), "shared_wall_s": shared["search_s"] + shared["pretrain_s"],
                  "search_warnings": sres.get("warnings", [])}


def run_ssl_search_only(ds, r, seed, budget: Budget, workdir: Path) -> dict[str, Any]:
    """Ablation: the self-supervised genotype of this seed, finetuned from a fresh init (no
    contrastive pretraining), separating what the search finds from what pretraining adds."""
    base = budget.config(1.0, seed, "ssl")
    genotype, sres = search_stage(ds, base, Path(workdir) / f"ssl_seed{seed}")
    torch.manual_seed(seed)
    rec = finetune_and_score(ds, FusionNet(genotype), budget.run_config(ds, r, seed, "supervised"))
    rec["epochs"] |= {"search": base.search.epochs, "search_best": sres["best_epoch"]}
    return rec | {"genotype": genotype.to_json(), "shared_search_s": sres["wall_time_s"]}


def run_bmnas(ds, r, seed, budget: Budget, workdir: Path) -> dict[str, Any]:
    """Supervised search on the labeled subset (genotype by dev-subset weighted F1), retrained from
    scratch; the derivation as published (no modality cover)."""
    cfg = _with(budget.run_config(ds, r, seed, "supervised"), {"search": {"cover_modalities": False}})
    t0 = time.perf_counter()
    genotype, sres = search_stage(ds, cfg, Path(workdir) / f"bmnas_r{r}_seed{seed}")
    torch.manual_seed(seed)
    rec = finetune_and_score(ds, FusionNet(genotype), cfg)
    rec["epochs"] |= {"search": cfg.search.epochs, "search_best": sres["best_epoch"]}
    return rec | {"genotype": genotype.to_json(), "wall_time_s": time.perf_counter() - t0}


def run_random(ds, r, seed, budget: Budget, workdir: Path) -> dict[str, Any]:
    """A seeded random genotype of the same space, finetuned like the searched ones."""
    cfg = budget.run_config(ds, r, seed, "supervised")
    genotype = random_genotype(ds.node_specs, cfg.space, seed)
    torch.manual_seed(seed)
    return finetune_and_score(ds, FusionNet(genotype), cfg) | {"genotype": genotype.to_json()}


def run_late_fusion(ds, r, seed, budget: Budget, workdir: Path) -> dict[str, Any]:
    torch.manual_seed(seed)
    fusion = late_fusion(ds.node_specs, budget.mlp_hidden)
    return finetune_and_score(ds, fusion, budget.run_config(ds, r, seed)) | {"genotype": fusion.describe(ds.node_specs)}


def run_late_fusion_all(ds, r, seed, budget: Budget, workdir: Path) -> dict[str, Any]:
    torch.manual_seed(seed)
    fusion = late_fusion_all(ds.node_specs, budget.mlp_hidden)
    return finetune_and_score(ds, fusion, budget.run_config(ds, r, seed)) | {"genotype": fusion.describe(ds.node_specs)}


def unimodal_runner(modality: str) -> Callable[..., dict[str, Any]]:
    def run(ds, r, seed, budget: Budget, workdir: Path) -> dict[str, Any]:
        torch.manual_seed(seed)
        fusion = unimodal(ds.node_specs, modality, budget.mlp_hidden)
        rec = finetune_and_score(ds, fusion, budget.run_config(ds, r, seed))
        return rec | {"genotype": fusion.describe(ds.node_specs)}
    return run



def _mfas_key(ds: FeatureDataset, r: float, seed: int, budget: Budget) -> str:
    """What a cached candidate score depends on: the dataset's nodes, labels and splits, r, seed, budget."""
    h = hashlib.sha256(json.dumps({"r": r, "seed": seed, "budget": budget.to_dict(),
                                   "nodes": [[n.name, n.modality, list(n.shape)] for n in ds.node_specs]},
                                  sort_keys=True).encode())
    h.update(np.ascontiguousarray(ds.labels).tobytes())
    h.update(np.ascontiguousarray(ds.split).tobytes())
    return h.hexdigest()[:16]


def load_mfas_scores(path: Path, key: str) -> dict[str, float]:
    """The cached candidate scores of run ``key`` (empty when absent, unreadable or another run's)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("key") != key:
        return {}
    return {str(a): float(v) for a, v in dict(doc.get("scores") or {}).items()}


def _save_mfas_scores(path: Path, key: str, scores: dict[str, float]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"key": key, "scores": scores}))
    os.replace(tmp, path)  # a reader (or a resumed run) never sees half a file


def run_mfas(ds, r, seed, budget: Budget, workdir: Path, callback: Callback = no_callback) -> dict[str, Any]:
    """MFAS on the first two modalities; candidates trained briefly on the labeled subset and
    scored on the dev subset (``mfas_best``); the best one retrained with the full finetuning budget."""
    t0 = time.perf_counter()
    best, history, search_s = mfas_best(ds, r, seed, budget, workdir, callback)
    torch.manual_seed(seed)
    rec = finetune_and_score(ds, best, budget.run_config(ds, r, seed), callback=callback)
    short = budget.run_config(ds, r, seed, "supervised", epochs=budget.mfas.epochs, patience=budget.mfas.epochs)
    rec["epochs"] |= {"candidate": short.finetune.epochs, "candidates": len(history)}
    return rec | {"genotype": best.describe(ds.node_specs), "search_history": history,
                  "wall_time_s": time.perf_counter() - t0, "search_s": search_s}


def mfas_best(ds, r, seed, budget: Budget, workdir: Path,
              callback: Callback = no_callback) -> tuple[MFASNet, list[dict], float]:
    """The MFAS search: (the best architecture as an untrained MFASNet, history, seconds).

    Resumable: each trained candidate's dev score is saved to ``workdir / MFAS_SCORES`` before
    its event; a later call for the same run replays the search with those scores instead of
    retraining (``mfas_search`` then takes the same path). ``callback`` gets, per candidate
    epoch, a "search" event inside the candidate (a cancel stops there), per trained candidate
    an end-of-epoch "search" event (epoch = candidates done - 1, epochs = the planned upper
    bound, metrics: its dev weighted F1) and per cached candidate a plain "search" event.
    """
    mods = ds.manifest.modalities
    if len(mods) < 2:
        raise ValueError(f"MFAS needs two modalities, the dataset has {mods}")
    nodes_a, nodes_b = ([i for i, s in enumerate(ds.node_specs) if s.modality == m] for m in mods[:2])
    dims = [s.shape[0] for s in ds.node_specs]
    mc = budget.mfas
    short = budget.run_config(ds, r, seed, "supervised", epochs=mc.epochs, patience=mc.epochs)
    device = resolve_device(short.device)
    idx = split_indices(ds, short)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cache_path, key = workdir / MFAS_SCORES, _mfas_key(ds, r, seed, budget)
    cache = load_mfas_scores(cache_path, key)
    planned = planned_evaluations(mc)
    state = {"done": 0, "trained": False}
    t0 = time.perf_counter()

    def candidate_epoch(ev: ProgressEvent) -> None:  # inside one candidate: progress and cancel points
        callback(ProgressEvent("search", state["done"], planned, ev.epoch + 1, ev.epochs))

    def score(arch) -> float:
        name = json.dumps([list(t) for t in arch])
        state["trained"] = name not in cache
        if state["trained"]:
            torch.manual_seed(seed)
            net = MFASNet(arch, nodes_a, nodes_b, dims, mc.hidden)
            _, info = run_finetune(ds, net.to(device), short, device, labeled_idx=idx["labeled"],
                                   dev_idx=idx["dev_labeled"], callback=candidate_epoch)
            cache[name] = float(info["dev_weighted_f1"])
            _save_mfas_scores(cache_path, key, cache)
        return cache[name]

    def on_eval(done: int, total: int, entry: dict) -> None:
        state["done"] = done
        if not state["trained"]:  # replayed from the cache: recorded by the attempt that trained it
            callback(ProgressEvent("search", done, total, 0, 1))
            return
        metrics = {"dev_weighted_f1": entry["score"], "candidate": float(done), "depth": float(entry["depth"]),
                   "iteration": float(entry["iteration"])}
        callback(ProgressEvent("search", done - 1, total, 1, 1, metrics, True))

    best, history = mfas_search(len(nodes_a), len(nodes_b), score, mc, seed, on_eval=on_eval)
    return MFASNet(best, nodes_a, nodes_b, dims, mc.hidden, ds.node_specs), history, time.perf_counter() - t0


def _trivial(name: str):
    def run(ds, r, seed, budget: Budget, workdir: Path) -> dict[str, Any]:
        cfg = budget.config(r, seed)
        idx = split_indices(ds, cfg)
        task, k_labels, labeled = ds.manifest.task, ds.manifest.num_labels, ds.labels[idx["labeled"]]
        extra: dict[str, Any] = {}

        def probs(n: int) -> np.ndarray:
            if name == "trivial_all":
                return trivial.all_positive(n, k_labels)
            if name == "trivial_majority":
                return trivial.majority(labeled, n, k_labels)
            p, extra["k"] = trivial.top_k(labeled, n)
            return p

        metrics = {s: evaluate_probs(task, ds.labels[idx[key]], probs(len(idx[key])))
                   for s, key in (("dev", "dev_labeled"), ("test", "test"))}
        return {"metrics": metrics, "params": 0, "epochs": {}, "wall_time_s": 0.0, "genotype": {name: extra},
                "labeled_samples": int(len(idx["labeled"])), "dev_samples": int(len(idx["dev_labeled"]))}
    return run


def methods_for(ds: FeatureDataset) -> dict[str, Callable[..., dict[str, Any]]]:
    """Every method that applies to ``ds``, in table order."""
    def ssl_plain(ds, r, seed, budget, workdir):
        return run_ssl(ds, r, seed, budget, workdir, PLAIN_SSL, "ssl_plain")

    def ssl_ema(ds, r, seed, budget, workdir):
        return run_ssl(ds, r, seed, budget, workdir, EMA_FIXED, "ssl")

    def ssl_no_ema(ds, r, seed, budget, workdir):
        return run_ssl(ds, r, seed, budget, workdir, NO_EMA, "ssl")

    def ssl_fp32(ds, r, seed, budget, workdir):
        return run_ssl(ds, r, seed, budget, workdir, FP32_SEARCH, "ssl_fp32")

    out: dict[str, Callable[..., dict[str, Any]]] = {"ssl": run_ssl, "ssl_search_only": run_ssl_search_only,
                                                     "ssl_plain": ssl_plain, "ssl_ema": ssl_ema,
                                                     "ssl_no_ema": ssl_no_ema, "ssl_fp32": ssl_fp32,
                                                     "bmnas": run_bmnas}
    if len(ds.manifest.modalities) >= 2:
        out["mfas"] = run_mfas
    out |= {"random": run_random, "late_fusion": run_late_fusion, "late_fusion_all": run_late_fusion_all}
    out |= {f"unimodal_{m}": unimodal_runner(m) for m in ds.manifest.modalities}
    trivials = ("trivial_all", "trivial_topk") if ds.manifest.task == "multilabel" else ("trivial_majority",)
    return out | {t: _trivial(t) for t in trivials}


def modalities_of(method: str, genotype: Any, ds: FeatureDataset) -> list[str]:
    """The sorted modalities a method's model reads (``modalities_read`` in the benchmark records)."""
    if isinstance(genotype, dict) and "edges" in genotype:
        return Genotype.from_json(genotype).modalities_read()
    if method.startswith("unimodal_"):
        return [method.removeprefix("unimodal_")]
    if method in ("late_fusion", "late_fusion_all", "mfas"):
        return sorted(ds.manifest.modalities[:2] if method == "mfas" else ds.manifest.modalities)
    return []


def run_method(method: str, ds: FeatureDataset, r: float, seed: int, budget: Budget,
               workdir: str | Path) -> dict[str, Any]:
    """Run one (method, r, seed) and return its record. Every method sees the same input nodes:
    the budget's (``pipeline.prepare_features``: the summary nodes when its space has them)."""
    ds = prepare_features(ds, budget.run)
    methods = methods_for(ds)
    if method not in methods:
        raise ValueError(f"unknown method {method!r} for this dataset; known: {list(methods)}")
    t0 = time.perf_counter()
    rec = methods[method](ds, r, seed, budget, Path(workdir))
    rec["modalities_read"] = modalities_of(method, rec.get("genotype"), ds)
    return {"method": method, "r": r, "seed": seed, **rec, "epoch_factor": budget.epoch_factor(rec["labeled_samples"]),
            "wall_time_s": rec.get("wall_time_s") or time.perf_counter() - t0}
