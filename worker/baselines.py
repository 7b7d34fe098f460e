"""Service jobs for the MFAS baseline (method "mfas").

``ssnas_core.baselines.runner.run_mfas`` searches MFAS fusion architectures on the labeled
subset (candidates scored on the dev subset) and retrains the best one. It reports no progress
events and writes no resumable state or servable checkpoint, so an MFAS job is coarser than a
BM-NAS job: the row shows stage "search" until the end, a cancel takes effect when the search
returns, a lost worker restarts it from the beginning, and the result is the architecture and
its metrics without a Model row (``/predict`` serves BM-NAS models only). MFAS settings come from
``spec["mfas"]`` (``MFASConfig`` fields) when given, else its defaults.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from ssnas_core.config import RunConfig, from_dict
from ssnas_core.data.features import FeatureDataset

from .progress import JobProgress


def run_mfas_job(features: FeatureDataset, cfg: RunConfig, spec: dict[str, Any], workdir: Path,
                 progress: JobProgress) -> dict[str, Any]:
    """MFAS at the job's label fraction and seed; returns genotype, metrics and sizes."""
    from ssnas_core.baselines.mfas import MFASConfig
    from ssnas_core.baselines.runner import Budget, run_mfas

    budget = Budget(run=cfg, mfas=from_dict(MFASConfig, dict(spec.get("mfas") or {})))
    progress.mark("search")
    done = threading.Event()

    def alive() -> None:  # no events from MFAS: keep the heartbeat thread from judging it stalled
        while not done.wait(5.0):
            progress.last_event = time.monotonic()

    ticker = threading.Thread(target=alive, name="mfas-alive", daemon=True)
    ticker.start()
    try:
        rec = run_mfas(features, cfg.finetune.label_fraction, cfg.seed, budget, workdir)
    finally:
        done.set()
        ticker.join()
    progress.check_stop()  # a cancel requested during the search wins over its result
    return {"genotype": rec["genotype"], "metrics": rec["metrics"], "checkpoint": None,
            "params": rec.get("params", 0), "labeled_samples": rec.get("labeled_samples", 0),
            "wall_time_s": rec.get("wall_time_s", 0.0), "method": "mfas"}
