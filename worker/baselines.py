"""The benchmark's baseline methods as service jobs, and the baseline panel of every job.

Methods (``spec.method``, a ``store.spec.JobSpec``), each ending like a searched job with a model checkpoint that
``/predict`` serves, its test metrics and the baseline panel:
- ``mfas``: ``ssnas_core.baselines.runner.mfas_best`` searches MFAS fusion architectures on the
  labeled subset (candidates scored on the dev subset), reporting stage "search" with progress =
  candidates done / the planned upper bound (``iterations * depth * k``), one metrics row per
  trained candidate (its dev weighted F1, depth, iteration). Every candidate's score is saved to
  ``mfas_scores.json``, one of the state files mirrored in the database (``worker.state``), so a
  lost worker's job resumes without retraining them and ends with the same architecture. The
  best architecture is then finetuned like every other method (not checkpointed: a lost worker
  repeats it). MFAS settings come from ``spec.mfas`` (``MFASConfig``'s fields).
- ``late_fusion``: every modality's last tap, pooled, concatenated, an MLP;
- ``unimodal``: the same on ``spec.modality`` alone;
- ``random``: a seeded random genotype of the job's search space.
The finetuning of all of them is ``pipeline.finetune_stage`` (the searched methods' own: same
labeled and dev subsets, threshold selection and checkpoint format).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from ssnas_core.baselines.mfas_config import MFASConfig
from ssnas_core.config import ConfigError, RunConfig
from ssnas_core.data.features import FeatureDataset
from store.spec import BASELINE_METHODS, JobSpec, read_spec

from .progress import JobProgress

log = logging.getLogger("ssnas.worker")


def mfas_config(spec: JobSpec | dict[str, Any]) -> MFASConfig:
    return read_spec(spec).mfas_config()


def mfas_search_cost(spec: JobSpec) -> float:
    """The search's share in ``stage_spans``' units: a candidate costs about what a finetuning
    epoch costs, times its epochs, for the planned number of candidates."""
    from ssnas_core.baselines.mfas import planned_evaluations

    mc = mfas_config(spec)
    return 0.5 * mc.epochs * planned_evaluations(mc)


def search_cost(spec: JobSpec) -> float | None:
    """The search's share for ``JobProgress`` (None: the pipeline's own search)."""
    method = spec.method
    if method == "mfas":
        return mfas_search_cost(spec)
    if method in BASELINE_METHODS:
        if method == "unimodal" and not spec.modality:
            raise ConfigError("method 'unimodal' needs a modality")
        return 0.0
    return None


def _fusion(method: str, features: FeatureDataset, cfg: RunConfig, spec: JobSpec, workdir: Path,
            progress: JobProgress):
    import torch

    from ssnas_core.baselines.late_fusion import late_fusion, unimodal
    from ssnas_core.baselines.random_arch import random_genotype
    from ssnas_core.baselines.runner import Budget, mfas_best
    from ssnas_core.model import FusionNet

    nodes = features.node_specs
    if method == "mfas":
        budget = Budget(run=cfg, mfas=mfas_config(spec))
        progress.mark("search")
        fusion, _, _ = mfas_best(features, cfg.finetune.label_fraction, cfg.seed, budget, workdir,
                                 callback=progress)
        progress.check_stop()  # a cancel requested during the last candidate wins
    torch.manual_seed(cfg.seed)
    if method == "late_fusion":
        fusion = late_fusion(nodes)
    elif method == "unimodal":
        fusion = unimodal(nodes, str(spec.modality))
    elif method == "random":
        fusion = FusionNet(random_genotype(nodes, cfg.space, cfg.seed))
    return fusion


def run_method(features: FeatureDataset, cfg: RunConfig, spec: JobSpec, workdir: Path,
               progress: JobProgress) -> dict[str, Any]:
    """The job's method: the pipeline for the searched methods, else a baseline method."""
    from ssnas_core.pipeline import run_pipeline

    t0 = time.perf_counter()
    if spec.method in BASELINE_METHODS:
        result = run_baseline_job(features, cfg, spec, workdir, progress)
    else:
        result = run_pipeline(features, cfg, workdir, progress)
    return {"wall_time_s": time.perf_counter() - t0, **result}


def run_baseline_job(features: FeatureDataset, cfg: RunConfig, spec: JobSpec, workdir: Path,
                     progress: JobProgress) -> dict[str, Any]:
    """A baseline method at the job's label fraction and seed: its fusion module, finetuned and
    evaluated by ``pipeline.finetune_stage``; returns what ``run_pipeline`` returns."""
    from ssnas_core.pipeline import finetune_stage

    method = spec.method
    fusion = _fusion(method, features, cfg, spec, workdir, progress)
    workdir.mkdir(parents=True, exist_ok=True)
    out = finetune_stage(features, cfg, workdir, getattr(fusion, "genotype", None), progress, fusion=fusion)
    progress.check_stop()
    return {**out, "genotype": _genotype(fusion, features), "method": method}


def _genotype(fusion, features: FeatureDataset) -> dict[str, Any]:
    genotype = getattr(fusion, "genotype", None)
    return genotype.to_json() if genotype is not None else fusion.describe(features.node_specs)


def job_result(features: FeatureDataset, cfg: RunConfig, spec: JobSpec,
               result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the checkpoint's meta, the result fields): the model's test metrics beside the baseline
    panel, the verdict at the checkpoint's threshold, the modalities the architecture reads,
    protocol notes and the warning lines they call for."""
    from ssnas_core.baselines.panel import (
        architecture_modalities,
        baseline_panel,
        panel_warnings,
        protocol_notes,
        verdict,
    )
    from ssnas_core.checkpoint import read_meta

    meta = read_meta(result["checkpoint"])
    task, test = features.manifest.task, dict(result["metrics"]["test"])
    baselines = baseline_panel(features, cfg)
    v = verdict(task, test, baselines, float(meta.get("threshold", cfg.finetune.threshold)))
    read = architecture_modalities(result["genotype"], features.node_specs)
    notes = protocol_notes(features, cfg)
    warnings = notes + panel_warnings(v, read, list(features.manifest.modalities),
                                      expect_one=spec.method == "unimodal")
    return meta, {"test_metrics": test, "baselines": {n: {k: b[k] for k in ("kind", "threshold", "test")}
                                                for n, b in baselines.items()},
            "verdict": v, "modalities_read": read, "protocol": notes, "warnings": warnings}
