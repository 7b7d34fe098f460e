"""Time one self-supervised search epoch on a generated dataset of MM-IMDB's node shapes.

Nodes as cached by our feature format (METHOD.md section 2): 4 image nodes 512 x 4 x 4
(VGG maps after the exact 4 x 4 pooling), text nodes 64 and 128; 25,959 samples split
15,552 / 2,608 / 7,799 like MM-IMDB. Default search space and SSL batch 128.

    python bench/search_speed.py [--samples 25959] [--epochs 1] [--threads 2]

Prints the figures and writes bench/results/search_speed.json. Peak memory is reported as
anonymous RSS (allocated by the process) and file-backed RSS (memory-mapped feature pages,
i.e. page cache) separately.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from memory import PeakMemory  # noqa: E402

from ssnas_core.config import RunConfig  # noqa: E402
from ssnas_core.data.features import FeatureDataset, FeatureWriter, Manifest, NodeSpec  # noqa: E402
from ssnas_core.pipeline import split_indices  # noqa: E402
from ssnas_core.search import run_search  # noqa: E402

NODES = tuple(NodeSpec(f"vgg_{t}", "image", (512, 4, 4)) for t in ("relu4_1", "relu4_4", "relu5_3", "pool5")) + (
    NodeSpec("maxout_1", "text", (64,)), NodeSpec("maxout_2", "text", (128,)))


def generate(path: Path, n: int, seed: int = 0, chunk: int = 2048) -> FeatureDataset:
    """Random non-negative features (post-ReLU-like) with 23 multi-hot labels, written in chunks."""
    if (path / "manifest.json").exists():
        ds = FeatureDataset(path)
        if len(ds) == n:
            return ds
        raise SystemExit(f"{path} holds {len(ds)} samples, not {n}: remove it first")
    rng = np.random.default_rng(seed)
    cut_train, cut_dev = round(n * 15552 / 25959), round(n * 18160 / 25959)
    man = Manifest(NODES, tuple(f"genre{k}" for k in range(23)), "multilabel", n, info={"source": "generated"})
    with FeatureWriter(path, man) as w:
        for start in range(w.rows_done, n, chunk):
            b = min(chunk, n - start)
            nodes = {s.name: np.maximum(rng.normal(size=(b, *s.shape)), 0).astype(np.float16) for s in NODES}
            labels = (rng.random((b, 23)) < 0.1).astype(np.uint8)
            rows = np.arange(start, start + b)
            split = np.where(rows < cut_train, 0, np.where(rows < cut_dev, 1, 2)).astype(np.uint8)
            w.write(start, nodes, labels, split)
    return FeatureDataset(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=25959)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "work" / "mmimdb_shapes")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search_speed.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    ds = generate(args.data.with_name(f"{args.data.name}_{args.samples}"), args.samples)
    gen_s = time.perf_counter() - t0
    cfg = RunConfig.from_dict({"search": {"epochs": args.epochs, "batch_size": args.batch_size}})
    idx = split_indices(ds, cfg)
    epochs = []
    with PeakMemory() as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_search(ds, cfg, torch.device("cpu"), train_idx=idx["train"], val_idx=idx["dev"],
                         callback=lambda ev: ev.end_of_epoch and epochs.append(ev.metrics))
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    load = os.getloadavg()
    size = sum(f.stat().st_size for f in ds.path.iterdir())
    out = {
        "samples": args.samples, "train": int(len(idx["train"])), "dev": int(len(idx["dev"])),
        "epochs": args.epochs, "batch_size": args.batch_size, "threads": args.threads,
        "epoch_time_s": [round(e["epoch_time_s"], 2) for e in epochs], "total_time_s": round(total, 2),
        "process_cpu_s": round(cpu, 1), "loadavg_1_5_15_after": [round(v, 2) for v in load],
        "peak_rss_anon_mb": round(mem.peak.get("RssAnon", 0) / 2**20, 1),
        "peak_rss_file_mb": round(mem.peak.get("RssFile", 0) / 2**20, 1),
        "peak_rss_mb": round(mem.peak.get("VmRSS", 0) / 2**20, 1),
        "feature_file_mb": round(size / 2**20, 1), "generate_s": round(gen_s, 1),
        "genotype": res.genotype.to_json()["edges"], "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(), "cores": torch.get_num_threads(),
        "matmul": cfg.search.matmul,
    }
    print(json.dumps(out, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    if "speedup_vs_previous" in old:  # bench/search_ab.py's record stays
        out["speedup_vs_previous"] = old["speedup_vs_previous"]
    args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
