"""CPU time per search step pair, this tree against a previous commit's tree, interleaved (issue 14).

On a shared machine the wall time of an epoch moves by several times from run to run; the
process CPU time (``resource`` user + sys) of a fixed amount of work at one thread moves much
less. Each round runs, in a fresh process per tree and in alternating order, ``_Search.weight_pass``
of the default configuration (ssl, cross_modal, alternate: one weight step, then one
architecture step) on the generated MM-IMDB-shaped features of ``bench/search_speed.py``: one
warm-up pair, then ``--pairs`` timed pairs. Prints CPU seconds per pair, the medians over
rounds and their ratio (previous / current), the wall time and the minor page faults per pair.

    python bench/search_pair_cpu.py --baseline ../wt-base --data DIR [--pairs 3] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUNNER = r"""
import json, resource, sys, time
root, data, threads, pairs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, root)
import torch
from ssnas_core.config import RunConfig
from ssnas_core.data.features import FeatureDataset
from ssnas_core.pipeline import split_indices
from ssnas_core import search as se
torch.set_num_threads(threads)
ds = FeatureDataset(data)
cfg = RunConfig.from_dict({"search": {"epochs": 1, "batch_size": 128, "max_batches_per_epoch": 1}})
idx = split_indices(ds, cfg)
s = se._Search(ds, cfg, torch.device("cpu"), idx["train"], idx["dev"])
torch.manual_seed(0)
s.weight_pass(lambda ev: None)  # warm-up pair
s.sc = type(s.sc)(**{**s.sc.__dict__, "max_batches_per_epoch": pairs})
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
c0, w0, f0 = cpu(), time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
loss = s.weight_pass(lambda ev: None)
print(json.dumps({"cpu_per_pair_s": (cpu() - c0) / pairs, "wall_per_pair_s": (time.perf_counter() - w0) / pairs,
                  "page_faults_per_pair": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / pairs,
                  "train_loss": loss, "arch_loss": s.arch_loss}))
"""


def run(root: Path, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": str(args.threads)}
    out = subprocess.run([sys.executable, "-c", RUNNER, str(root), str(args.data), str(args.threads),
                          str(args.pairs)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True, help="a checkout of the previous commit")
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "work" / "mmimdb_shapes_25959")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    runs: dict[str, list[dict]] = {"previous": [], "current": []}
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        for name in (("previous", "current") if r % 2 == 0 else ("current", "previous")):
            res = run(args.baseline if name == "previous" else ROOT, args)
            runs[name].append(res)
            loads.append(os.getloadavg()[0])
            print(f"round {r} {name:8s} cpu/pair {res['cpu_per_pair_s']:6.3f} s  wall/pair "
                  f"{res['wall_per_pair_s']:6.3f} s  faults/pair {res['page_faults_per_pair']:8.0f}  "
                  f"train {res['train_loss']:.5f} arch {res['arch_loss']:.5f}  load1 {loads[-1]:.2f}", flush=True)
    med = {k: statistics.median(x["cpu_per_pair_s"] for x in v) for k, v in runs.items()}
    wall = {k: statistics.median(x["wall_per_pair_s"] for x in v) for k, v in runs.items()}
    print(json.dumps({"threads": args.threads, "pairs": args.pairs, "rounds": args.rounds,
                      "previous_wall_per_pair_median_s": round(wall["previous"], 3),
                      "current_wall_per_pair_median_s": round(wall["current"], 3),
                      "ratio_wall": round(wall["previous"] / wall["current"], 3),
                      "previous_cpu_per_pair_median_s": round(med["previous"], 3),
                      "current_cpu_per_pair_median_s": round(med["current"], 3),
                      "ratio_cpu": round(med["previous"] / med["current"], 3),
                      "loadavg_1min_during": [round(v, 2) for v in loads]}))


if __name__ == "__main__":
    main()
