"""One job on a feature directory through the worker's own steps (its method, then the baseline
panel, verdict and warnings that GET /jobs/{id} shows under ``result``), without the service.

    python bench/panel_job.py FEATURES [--method ssl] [--set finetune.label_fraction=0.1 ...]
        [--out bench/results/panel_<name>.json]

Prints the model's test metrics beside every baseline and writes the result as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssnas_core.config import RunConfig  # noqa: E402
from ssnas_core.data.features import FeatureDataset  # noqa: E402

RUN = {"space": {"C": 16, "L": 4}, "search": {"epochs": 3, "batch_size": 128}, "pretrain": {"epochs": 2},
       "finetune": {"epochs": 20, "label_fraction": 0.1}, "seed": 0, "device": "auto"}


def _set(d: dict, key: str, value: str) -> None:
    *path, last = key.split(".")
    for k in path:
        d = d.setdefault(k, {})
    d[last] = json.loads(value) if value[:1] in "0123456789-[{tf" else value


class _Quiet:
    """The job's progress callback, minus the database: stage marks and cancel checks only."""

    def __call__(self, event) -> None:
        pass

    def mark(self, stage: str) -> None:
        print(f"stage {stage}", flush=True)

    def check_stop(self) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("features")
    ap.add_argument("--method", default="ssl")
    ap.add_argument("--modality")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out")
    args = ap.parse_args()
    from worker.baselines import job_result, run_method
    from worker.tasks import build_config

    run = json.loads(json.dumps(RUN))
    for kv in args.set:
        _set(run, *kv.split("=", 1))
    spec = {"method": args.method, "run": run, **({"modality": args.modality} if args.modality else {})}
    cfg: RunConfig = build_config(spec)
    ds = FeatureDataset(args.features)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as wd:
        result = run_method(ds, cfg, spec, Path(wd), _Quiet())
        t1 = time.perf_counter()
        meta, panel = job_result(ds, cfg, spec, result)
    t2 = time.perf_counter()
    compared = panel["verdict"]["weighted_f1"]["key"]
    key = compared.split("@")[-1] if "@" in compared else ""
    names = ("weighted_f1", "micro_f1", "macro_f1")
    rows = [(f"model ({args.method})", panel["test_metrics"])] + [(n, b["test"]) for n, b in panel["baselines"].items()]
    print(f"{'':28s} " + " ".join(f"{m + '@' + key if key else m:>16s}" for m in names))
    for name, m in rows:
        vals = [m.get(f"{k}@{key}" if key else k, m.get(k)) for k in names]
        print(f"{name:28s} " + " ".join(f"{v:16.4f}" if v is not None else f"{'-':>16s}" for v in vals))
    for line in panel["warnings"]:
        print("warning:", line)
    out = {"command": "python bench/panel_job.py " + " ".join(sys.argv[1:]), "features": str(args.features),
           "samples": len(ds), "config": cfg.to_dict(), "threshold": meta.get("threshold"),
           "thresholds": meta.get("thresholds"), "method_s": round(t1 - t0, 1), "panel_s": round(t2 - t1, 1),
           **panel}
    path = Path(args.out or ROOT / "bench" / "results" / f"panel_{Path(args.features).parent.name}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path} (method {t1 - t0:.0f} s, panel {t2 - t1:.1f} s)")


if __name__ == "__main__":
    main()
