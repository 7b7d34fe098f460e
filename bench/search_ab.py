"""Side-by-side timing of the search epoch: this tree against a previous commit's tree (issue 14).

Runs, alternately, one search epoch (default configuration: ssl, cross_modal, alternate) of the
engine in ``--baseline`` (e.g. ``git worktree add --detach ../base COMMIT``) and of this tree,
each in a fresh process at ``--threads`` threads, on the generated MM-IMDB-shaped features of
``bench/search_speed.py``, capped at ``--max-batches`` weight steps (each followed by its
architecture step; validation is capped the same way). Prints the per-run times, the medians and
their ratio, and merges them into ``bench/results/search_speed.json`` under ``speedup_vs_previous``
(``--label``; ``--headline`` makes the run the headline figures).

    python bench/search_ab.py --baseline ../wt-base [--max-batches 20] [--rounds 3] [--also-fp32] [--label L --headline]
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
import json, sys, time, torch
root, data, threads, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
extra = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
sys.path.insert(0, root)
from ssnas_core.config import RunConfig
from ssnas_core.data.features import FeatureDataset
from ssnas_core.pipeline import split_indices
from ssnas_core.search import run_search
torch.set_num_threads(threads)
ds = FeatureDataset(data)
cfg = RunConfig.from_dict({"search": {"epochs": 1, "batch_size": 128, "max_batches_per_epoch": k, **extra}})
idx = split_indices(ds, cfg)
rows = []
c0 = time.process_time()
res = run_search(ds, cfg, torch.device("cpu"), train_idx=idx["train"], val_idx=idx["dev"],
                 callback=lambda ev: ev.end_of_epoch and rows.append(ev.metrics))
m = rows[0]
print(json.dumps({"epoch_time_s": m["epoch_time_s"], "cpu_s": time.process_time() - c0,
                  "train_loss": m["train_loss"], "arch_loss": m["arch_loss"], "val_loss": m["val_loss"]}))
"""


def run(root: Path, args, extra: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", RUNNER, str(root), str(args.data), str(args.threads),
                          str(args.max_batches), *([json.dumps(extra)] if extra else [])],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True, help="a checkout of the previous commit")
    ap.add_argument("--max-batches", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "work" / "mmimdb_shapes_25959")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search_speed.json")
    ap.add_argument("--also-fp32", action="store_true",
                    help="also run this tree with search.matmul = fp32 (IEEE products) in every round")
    ap.add_argument("--label", default="last_run", help="key of this run under speedup_vs_previous")
    ap.add_argument("--headline", action="store_true",
                    help="also make this run the headline (previous_epoch_s, current_epoch_s, ratio, ratio_cpu)")
    args = ap.parse_args()
    base_rev = subprocess.run(["git", "-C", str(args.baseline), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
    names = ("previous", "current", "current_fp32") if args.also_fp32 else ("previous", "current")
    runs: dict[str, list[dict]] = {k: [] for k in names}
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            res = run(args.baseline if name == "previous" else ROOT, args,
                      {"matmul": "fp32"} if name == "current_fp32" else None)
            runs[name].append(res)
            loads.append(os.getloadavg()[0])
            print(f"round {r} {name:12s} epoch {res['epoch_time_s']:7.2f} s  cpu {res['cpu_s']:7.2f} s  "
                  f"train {res['train_loss']:.5f} arch {res['arch_loss']:.5f} val {res['val_loss']:.5f}  "
                  f"load1 {loads[-1]:.2f}", flush=True)
    med = {k: statistics.median(x["epoch_time_s"] for x in v) for k, v in runs.items()}
    cpu = {k: statistics.median(x["cpu_s"] for x in v) for k, v in runs.items()}
    ab = {"baseline_commit": base_rev, "max_batches_per_epoch": args.max_batches, "rounds": args.rounds,
          "threads": args.threads, "interleaved": True, "loadavg_1min_during": [round(v, 2) for v in loads]}
    for name, v in runs.items():
        ab |= {f"{name}_epoch_s": [round(x["epoch_time_s"], 2) for x in v], f"{name}_median_s": round(med[name], 2),
               f"{name}_cpu_median_s": round(cpu[name], 2),
               f"losses_{name}": {k: round(v[0][k], 5) for k in ("train_loss", "arch_loss", "val_loss")}}
        if name != "previous":
            suffix = name.removeprefix("current")  # "" or "_fp32"
            ab[f"ratio_wall{suffix}"] = round(med["previous"] / med[name], 2)
            ab[f"ratio_cpu{suffix}"] = round(cpu["previous"] / cpu[name], 2)
    print(json.dumps(ab, indent=1))
    data = json.loads(args.out.read_text()) if args.out.exists() else {}
    rec = data.get("speedup_vs_previous", {})
    rec[args.label] = ab  # earlier runs stay under their own labels
    if args.headline:
        rec |= {"previous_epoch_s": ab["previous_epoch_s"], "current_epoch_s": ab["current_epoch_s"],
                "ratio": ab["ratio_wall"], "ratio_cpu": ab["ratio_cpu"], "headline": args.label}
    data["speedup_vs_previous"] = rec
    args.out.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
