"""Service jobs for the MFAS baseline (method "mfas").

``ssnas_core.baselines.runner.run_mfas`` searches MFAS fusion architectures on the labeled
subset (candidates scored on the dev subset) and retrains the best one, reporting to the job's
``JobProgress``: stage "search" with progress = candidates done / the planned upper bound
(``iterations * depth * k``; a search whose pools run out finishes early), one metrics row per
trained candidate (its dev weighted F1, depth, iteration), then stage "finetune" with one row per
epoch of the final retraining. A cancel stops at the next candidate epoch. Every trained
candidate's score is saved to ``mfas_scores.json`` in the workdir before its metrics row, and that
file is one of the state files mirrored in the database (``worker.state``), so a lost worker's job
resumes on another worker without retraining those candidates and, the search being a function of
the seed and the scores, ends with the genotype of an uninterrupted run. The final retraining is
not checkpointed (a lost worker repeats it). The result is the architecture and its metrics
without a Model row (``/predict`` serves BM-NAS models only). MFAS settings come from
``spec["mfas"]`` (``MFASConfig`` fields) when given, else its defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ssnas_core.config import RunConfig, from_dict
from ssnas_core.data.features import FeatureDataset

from .progress import JobProgress


def _mfas_config(spec: dict[str, Any]):
    from ssnas_core.baselines.mfas import MFASConfig

    return from_dict(MFASConfig, dict(spec.get("mfas") or {}))


def mfas_search_cost(spec: dict[str, Any]) -> float:
    """The search's share in ``stage_spans``' units: a candidate costs about what a finetuning
    epoch costs, times its epochs, for the planned number of candidates."""
    from ssnas_core.baselines.mfas import planned_evaluations

    mc = _mfas_config(spec)
    return 0.5 * mc.epochs * planned_evaluations(mc)


def run_mfas_job(features: FeatureDataset, cfg: RunConfig, spec: dict[str, Any], workdir: Path,
                 progress: JobProgress) -> dict[str, Any]:
    """MFAS at the job's label fraction and seed; returns genotype, metrics and sizes.
    ``progress`` should be sized with ``search_cost=mfas_search_cost(spec)``."""
    from ssnas_core.baselines.runner import Budget, run_mfas

    budget = Budget(run=cfg, mfas=_mfas_config(spec))
    progress.mark("search")
    rec = run_mfas(features, cfg.finetune.label_fraction, cfg.seed, budget, workdir, callback=progress)
    progress.check_stop()  # a cancel requested during the last epoch wins over the result
    return {"genotype": rec["genotype"], "metrics": rec["metrics"], "checkpoint": None,
            "params": rec.get("params", 0), "labeled_samples": rec.get("labeled_samples", 0),
            "wall_time_s": rec.get("wall_time_s", 0.0), "method": "mfas"}
