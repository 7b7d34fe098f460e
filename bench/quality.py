"""Quality benchmark: method x label fraction r x seed on one feature dataset.

    python bench/quality.py movies23|avmnist|<feature dir> [--seeds 3] [--fractions 0.01,0.05,0.1,0.3,1.0]
        [--methods ssl,bmnas,...] [--search-epochs N --pretrain-epochs N --finetune-epochs N ...]
        [--time-budget SECONDS] [--limit-train N --limit-dev N --limit-test N]

Writes bench/results/<benchmark>/quality.json (every run), quality.md (tables) and
quality.png (test weighted F1 vs r). Resumable: a run is keyed by (method, r, seed, config
hash) and never repeated; the JSON is rewritten after every run. The self-supervised search
and pretraining are cached per seed under the work directory and reused for every r.
Named benchmarks are the feature caches of ``python -m ssnas_core data build <name>``
(built on first use if absent).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import quality_report  # noqa: E402

from ssnas_core.baselines.runner import Budget, methods_for, run_method  # noqa: E402
from ssnas_core.config import SUMMARY_NODES  # noqa: E402
from ssnas_core.data.features import FeatureDataset, FeatureWriter, Manifest  # noqa: E402
from ssnas_core.pipeline import prepare_features  # noqa: E402

NAMED = ("movies23", "avmnist")
FRACTIONS = (0.01, 0.05, 0.1, 0.3, 1.0)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("benchmark", help="movies23, avmnist, or a feature directory")
    ap.add_argument("--name", help="results folder name (default: benchmark name or directory name)")
    ap.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--features-root", type=Path, default=ROOT / "bench" / "work" / "features")
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--workdir", type=Path, default=ROOT / "bench" / "work" / "quality")
    ap.add_argument("--methods", help="comma-separated (default: every method that applies)")
    ap.add_argument("--fractions", default=",".join(map(str, FRACTIONS)))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed-list", help="comma-separated seeds to run (default: 0..seeds-1); the report still "
                                        "counts --seeds per cell", default=None)
    ap.add_argument("--time-budget", type=float, default=None, help="seconds; no new run starts after it")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    for split in ("train", "dev", "test"):
        ap.add_argument(f"--limit-{split}", type=int, default=None, help=f"seeded subset of the {split} split")
    g = ap.add_argument_group("budget (every value enters the config hash)")
    g.add_argument("--C", type=int, default=64)
    g.add_argument("--L", type=int, default=16)
    g.add_argument("--steps", type=int, default=2, help="fusion cells in the search space (space.steps)")
    g.add_argument("--multiplier", type=int, default=2, help="cells concatenated at the output (space.multiplier)")
    g.add_argument("--summary-nodes", choices=SUMMARY_NODES, default=None,
                   help="space.summary_nodes (default: the engine's)")
    g.add_argument("--search-epochs", type=int, default=10)
    g.add_argument("--pretrain-epochs", type=int, default=10)
    g.add_argument("--ssl-batch", type=int, default=128)
    g.add_argument("--supervised-batch", type=int, default=32)
    g.add_argument("--max-batches", type=int, default=None, help="cap on batches per search/pretrain epoch")
    g.add_argument("--finetune-epochs", type=int, default=30)
    g.add_argument("--finetune-batch", type=int, default=32)
    g.add_argument("--patience", type=int, default=5)
    g.add_argument("--mlp-hidden", type=int, default=256)
    g.add_argument("--min-steps", type=int, default=0,
                   help="label-driven epochs multiplied per r so finetuning makes at least this many steps")
    g.add_argument("--mfas", default="depth=2,k=6,iterations=2,epochs=3,hidden=64",
                   help="MFAS sizes as key=value pairs (see MFASConfig)")
    return ap.parse_args(argv)


def budget_from(args) -> Budget:
    mfas = {k: int(v) for k, v in (kv.split("=") for kv in args.mfas.split(",") if kv)}
    space = {"C": args.C, "L": args.L, "steps": args.steps, "multiplier": args.multiplier}
    if args.summary_nodes is not None:
        space["summary_nodes"] = args.summary_nodes
    run = {"space": space,
           "search": {"epochs": args.search_epochs, "batch_size": args.ssl_batch,
                      "max_batches_per_epoch": args.max_batches},
           "pretrain": {"epochs": args.pretrain_epochs, "batch_size": args.ssl_batch,
                        "max_batches_per_epoch": args.max_batches},
           "finetune": {"epochs": args.finetune_epochs, "batch_size": args.finetune_batch,
                        "patience": args.patience},
           "device": args.device}
    return Budget.from_dict({"run": run, "supervised_batch": args.supervised_batch, "mfas": mfas,
                             "mlp_hidden": args.mlp_hidden, "min_steps": args.min_steps})


def resolve_dataset(args) -> tuple[str, FeatureDataset]:
    """A feature directory, or a named benchmark's cache (built with the data CLI if absent)."""
    if args.benchmark not in NAMED:
        path = Path(args.benchmark)
        return args.name or path.name, FeatureDataset(path)
    root = args.features_root / args.benchmark
    found = sorted(root.glob("**/manifest.json")) if root.exists() else []
    if not found:
        cmd = [sys.executable, "-m", "ssnas_core", "data", "build", args.benchmark,
               "--data-root", str(args.data_root), "--out", str(root)]
        print("building features:", shlex.join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
        found = sorted(root.glob("**/manifest.json"))
    if len(found) != 1:
        raise SystemExit(f"expected one feature cache under {root}, found {[str(p.parent) for p in found]}")
    return args.name or args.benchmark, FeatureDataset(found[0].parent)


def subset(ds: FeatureDataset, limits: dict[str, int | None], out: Path, seed: int = 0) -> FeatureDataset:
    """A seeded subset of at most limits[split] samples per split, written once to ``out``."""
    if (out / "manifest.json").exists():
        return FeatureDataset(out)
    rng = np.random.default_rng(seed)
    keep = []
    for split in ("train", "dev", "test"):
        idx = ds.split_indices(split)
        n = limits.get(split)
        keep.append(np.sort(rng.permutation(idx)[:n]) if n is not None and n < len(idx) else idx)
    keep = np.concatenate(keep)
    man = Manifest(ds.manifest.nodes, ds.manifest.label_names, ds.manifest.task, len(keep),
                   info={**ds.manifest.info, "subset_of": str(ds.path), "subset_limits": limits})
    with FeatureWriter(out, man) as w:
        for start in range(w.rows_done, len(keep), 2048):
            rows = keep[start:start + 2048]
            w.write(start, ds.get(rows), ds.labels[rows], ds.split[rows], [ds.ids[i] for i in rows])
    return FeatureDataset(out)


def save_json(path: Path, doc: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)


def write_report(doc: dict, out: Path, methods: list[str], fractions: list[float], seeds: int) -> None:
    runs = [r for r in doc["runs"] if r["config_hash"] == doc["config_hash"]]
    view = {**doc, "runs": runs}
    (out / "quality.md").write_text(quality_report.markdown(view, methods, fractions, seeds))
    quality_report.plot(view, methods, fractions, out / "quality.png")


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    name, ds = resolve_dataset(args)
    limits = {s: getattr(args, f"limit_{s}") for s in ("train", "dev", "test")}
    budget = budget_from(args)
    if any(v is not None for v in limits.values()):
        tag = "_".join(f"{s}{v}" for s, v in limits.items() if v is not None)
        ds = subset(ds, limits, args.workdir / name / f"subset_{tag}")
    ds = prepare_features(ds, budget.run)  # summary nodes when the budget's space has them
    manifest = json.dumps(ds.manifest.to_json(), sort_keys=True).encode()
    digest = budget.digest() + "-" + hashlib.sha256(manifest).hexdigest()[:6]
    available = methods_for(ds)
    methods = args.methods.split(",") if args.methods else list(available)
    unknown = [m for m in methods if m not in available]
    if unknown:
        raise SystemExit(f"unknown methods {unknown}; available: {list(available)}")
    fractions = [float(r) for r in args.fractions.split(",")]
    out = args.results / name
    out.mkdir(parents=True, exist_ok=True)
    path = out / "quality.json"
    doc = json.loads(path.read_text()) if path.exists() else {"runs": []}
    doc |= {"benchmark": name, "config_hash": digest, "budget": budget.to_dict(),
            "command": shlex.join(["python", "bench/quality.py", *(argv if argv is not None else sys.argv[1:])]),
            "epochs": describe_epochs(budget),
            "dataset": {"path": str(ds.path), "task": ds.manifest.task, "num_samples": len(ds),
                        "split_counts": ds.manifest.split_counts, "nodes": [n.name for n in ds.node_specs],
                        "backbones": ds.manifest.info.get("backbones", {})}}
    seeds = [int(x) for x in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds))
    run_grid(doc, ds, budget, methods, fractions, seeds, args, path)
    write_report(doc, out, methods, fractions, args.seeds)
    print(f"wrote {path}, {out / 'quality.md'}, {out / 'quality.png'}", flush=True)
    return doc


def describe_epochs(b: Budget) -> str:
    r, m = b.run, b.mfas
    cap = f", at most {r.search.max_batches_per_epoch} batches/epoch" if r.search.max_batches_per_epoch else ""
    return (f"space C={r.space.C} L={r.space.L}; search {r.search.epochs} (ssl batch {r.search.batch_size}, "
            f"supervised batch {b.supervised_batch}{cap}); pretrain {r.pretrain.epochs}; finetune <= "
            f"{r.finetune.epochs} (batch {r.finetune.batch_size}, patience {r.finetune.patience}); MFAS depth "
            f"{m.depth}, K={m.k}, E={m.iterations}, {m.epochs} epochs/candidate, hidden {m.hidden}; "
            f"label-driven epochs x factor(r) for >= {b.min_steps} finetuning steps (each run's epoch_factor)")


def run_grid(doc: dict, ds: FeatureDataset, budget: Budget, methods: list[str], fractions: list[float],
             seeds: list[int], args, path: Path) -> None:
    """Seeds outermost (a partial grid still covers every method and r), then r, then method."""
    done = {(r["method"], float(r["r"]), r["seed"], r["config_hash"]) for r in doc["runs"]}
    grid = [(m, r, s) for s in seeds for r in fractions for m in methods]
    todo = [g for g in grid if (g[0], g[1], g[2], doc["config_hash"]) not in done]
    print(f"{len(grid)} runs in the grid, {len(grid) - len(todo)} already done, {len(todo)} to run", flush=True)
    t_start, workdir = time.perf_counter(), args.workdir / doc["benchmark"] / doc["config_hash"]
    for i, (method, r, seed) in enumerate(todo):
        elapsed = time.perf_counter() - t_start
        if args.time_budget is not None and elapsed > args.time_budget:
            print(f"time budget {args.time_budget:.0f} s spent: {len(todo) - i} runs left for a resumed call")
            break
        t0 = time.perf_counter()
        try:
            rec = run_method(method, ds, r, seed, budget, workdir)
        except Exception as exc:  # one failed run must not lose the grid; it is retried next call
            print(f"[{i + 1}/{len(todo)}] {method} r={r} seed={seed} FAILED: {exc!r}", flush=True)
            doc.setdefault("failures", []).append({"method": method, "r": r, "seed": seed, "error": repr(exc)})
            save_json(path, doc)
            continue
        rec["config_hash"] = doc["config_hash"]
        rec["load_avg_1m"] = round(os.getloadavg()[0], 2)  # wall times depend on what else runs here
        doc["runs"].append(rec)
        save_json(path, doc)
        prim = quality_report.primary_metric(ds.manifest.task)
        eta = (time.perf_counter() - t_start) / (i + 1) * (len(todo) - i - 1)
        print(f"[{i + 1}/{len(todo)}] {method} r={r} seed={seed}: test {prim}={rec['metrics']['test'][prim]:.4f} "
              f"dev={rec['metrics']['dev'][prim]:.4f} ({time.perf_counter() - t0:.0f} s; ETA {eta / 60:.0f} min)",
              flush=True)
        if (i + 1) % 10 == 0:
            write_report(doc, path.parent, methods, fractions, len(seeds))


if __name__ == "__main__":
    main()
