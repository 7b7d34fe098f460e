"""Is a changed engine's loss curve the old one's "within noise"? (issue 14)

Runs ``run_search`` on the small generated features of the core tests (the configurations of
``tests/core/test_search_engine.py``) for several seeds, in this tree and in ``--baseline`` (a
checkout of an earlier commit), one process per tree, 1 thread, and prints per configuration and
per logged value (train, arch, val loss per epoch): the mean over seeds of each engine, the
standard deviation over seeds (the noise a different random stream brings), and the largest
difference between the two engines at the same seed. Writes bench/results/search_seed_noise.json.

    python bench/search_seed_noise.py --baseline ../wt-base [--seeds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

RUNNER = r"""
import json, sys, tempfile
from pathlib import Path
root, cases, seeds = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, root); sys.path.insert(0, root + "/tests/core")
import torch
torch.set_num_threads(1)
from factories import make_features
from ssnas_core.config import RunConfig
from ssnas_core.pipeline import split_indices
from ssnas_core.search import run_search
out = {}
with tempfile.TemporaryDirectory() as tmp:
    ds = make_features(Path(tmp) / "f", n=240)
    for name, case in cases.items():
        out[name] = []
        for seed in range(seeds):
            cfg = RunConfig.from_dict({**case, "seed": seed})
            idx = split_indices(ds, cfg)
            res = run_search(ds, cfg, torch.device("cpu"), train_idx=idx["train"], val_idx=idx["dev"])
            keys = ("train_loss", "arch_loss", "val_loss" if "val_loss" in res.history[0] else "dev_weighted_f1")
            out[name].append([row[k] for row in res.history for k in keys])
print(json.dumps(out))
"""

sys.path.insert(0, str(ROOT / "tests" / "core"))
from test_search_engine import CASES  # noqa: E402  (the test's configurations, not a copy)


def run(root: Path, seeds: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", RUNNER, str(root), json.dumps(CASES), str(seeds)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search_seed_noise.json")
    args = ap.parse_args()
    prev, cur = run(args.baseline, args.seeds), run(ROOT, args.seeds)
    report = {"seeds": args.seeds, "cases": {},
              "values": "per epoch: train_loss, arch_loss, val_loss (dev_weighted_f1 if supervised)"}
    for name in CASES:
        p, c = np.array(prev[name]), np.array(cur[name])
        row = {"previous_mean": p.mean(0).round(4).tolist(), "current_mean": c.mean(0).round(4).tolist(),
               "previous_sd_over_seeds": p.std(0, ddof=1).round(4).tolist(),
               "current_sd_over_seeds": c.std(0, ddof=1).round(4).tolist(),
               "mean_difference_in_sd_of_mean": ((c.mean(0) - p.mean(0)) / np.sqrt(
                   (p.var(0, ddof=1) + c.var(0, ddof=1)) / len(p))).round(2).tolist(),
               "max_abs_difference_same_seed": np.abs(c - p).max(0).round(4).tolist(),
               "previous": p.round(5).tolist(), "current": c.round(5).tolist()}
        report["cases"][name] = row
        print(name)
        for k in ("previous_mean", "current_mean", "previous_sd_over_seeds", "current_sd_over_seeds",
                  "mean_difference_in_sd_of_mean", "max_abs_difference_same_seed"):
            print(f"  {k:32s} {row[k]}")
    rev = subprocess.run(["git", "-C", str(args.baseline), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    report["baseline_commit"] = rev
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
