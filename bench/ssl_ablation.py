"""Ablation of the self-supervised search on dev only: objective x schedule x architecture lr.

    python bench/ssl_ablation.py movies23 --variants simclr/bmnas/3e-4,cross_modal/alternate/3e-3 --seeds 3

For each variant and seed: the self-supervised search (the quality benchmark's budget), then
its genotype finetuned from a fresh init (no pretraining, so only the architecture differs) at
each label fraction; reported: the DEV-subset weighted F1 @0.5 (test is never read here), the
modalities the genotype reads, the smallest derived-choice margin, the architecture push by
modality, warnings and wall time. Writes bench/results/<name>/ssl_ablation.json (resumable).
A variant is objective/schedule/arch_lr[/cross_weight].
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from quality import resolve_dataset, save_json, subset  # noqa: E402

from ssnas_core.baselines.runner import Budget  # noqa: E402
from ssnas_core.finetune import evaluate, run_finetune  # noqa: E402
from ssnas_core.model import FusionNet  # noqa: E402
from ssnas_core.pipeline import search_stage, split_indices  # noqa: E402


def variant_config(budget: Budget, variant: str, seed: int):
    obj, schedule, lr, *w = variant.split("/")
    d = budget.config(1.0, seed, "ssl").to_dict()
    d["ssl"] |= {"objective": obj, "cross_weight": float(w[0]) if w else 1.0}
    d["search"] |= {"schedule": schedule, "arch_lr": float(lr)}
    return type(budget.run).from_dict(d)


def run_one(ds, budget: Budget, variant: str, seed: int, fractions, workdir: Path) -> dict:
    cfg = variant_config(budget, variant, seed)
    t0 = time.perf_counter()
    genotype, res = search_stage(ds, cfg, workdir / variant.replace("/", "_") / f"seed{seed}")
    last = res["history"][res["best_epoch"]]
    rec = {"variant": variant, "seed": seed, "modalities_read": res["modalities_read"],
           "read_inputs": [ds.node_specs[i].name for i in genotype.read_inputs()],
           "min_edge_margin": last["min_edge_margin"], "warnings": res["warnings"],
           "push": {k: [h[k] for h in res["history"]] for k in last if k.startswith("arch_push")},
           "search_s": res["wall_time_s"], "dev": {}}
    for r in fractions:
        ft = budget.run_config(ds, r, seed, "supervised", threshold_select="fixed")
        idx = split_indices(ds, ft)
        torch.manual_seed(seed)
        model, _ = run_finetune(ds, FusionNet(genotype), ft, torch.device("cpu"), labeled_idx=idx["labeled"],
                                dev_idx=idx["dev_labeled"])
        rec["dev"][str(r)] = evaluate(model, ds, idx["dev_labeled"], torch.device("cpu"))
    rec["wall_s"] = time.perf_counter() - t0
    return rec


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("benchmark")
    ap.add_argument("--variants", required=True)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--fractions", default="0.1,1.0")
    ap.add_argument("--limit-dev", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out-name", default="ssl_ablation.json")
    args, rest = ap.parse_known_args(argv)
    import quality
    qargs = quality.parse_args([args.benchmark, *rest])
    torch.set_num_threads(args.threads)
    name, ds = resolve_dataset(qargs)
    if args.limit_dev:
        ds = subset(ds, {"dev": args.limit_dev}, qargs.workdir / name / f"subset_dev{args.limit_dev}")
    budget = quality.budget_from(qargs)
    out = qargs.results / name / args.out_name
    doc = json.loads(out.read_text()) if out.exists() else {"runs": []}
    doc["budget"], doc["command"] = budget.to_dict(), "python bench/ssl_ablation.py " + " ".join(argv or sys.argv[1:])
    done = {(r["variant"], r["seed"]) for r in doc["runs"]}
    fractions = [float(r) for r in args.fractions.split(",")]
    for seed in [int(s) for s in args.seeds.split(",")]:
        for variant in args.variants.split(","):
            if (variant, seed) in done:
                continue
            rec = run_one(ds, budget, variant, seed, fractions, qargs.workdir / name / "ablation" / budget.digest())
            doc["runs"].append(rec)
            save_json(out, doc)
            dev = {r: round(100 * m["weighted_f1@0.5"], 1) for r, m in rec["dev"].items()}
            print(f"{variant} seed={seed}: reads {rec['modalities_read']} margin {rec['min_edge_margin']:.4f} "
                  f"dev wF1@0.5 {dev} ({rec['wall_s']:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
