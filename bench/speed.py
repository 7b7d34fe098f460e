"""Search speed and memory vs dataset size, with and without the feature cache.

    python bench/speed.py [--sizes 1000,4000,16000] [--threads 1] [--uncached-samples 600]

Part 1 (cached): one self-supervised search epoch (engine defaults: C=192, L=16, SSL batch
128) on generated datasets of MM-IMDB's cached node shapes (4 image nodes 512 x 4 x 4,
text nodes 64 and 128; splits in MM-IMDB's proportions; ``search_speed.generate``), per
size: epoch time and peak memory (anonymous RSS apart from file-backed RSS, ``memory.PeakMemory``).

Part 2 (cache vs none): the same search epoch on a small set of generated posters
(256 x 160 random RGB, seeded per sample) whose image nodes are efficientnet_lite0's taps:
once from the feature cache, once running the frozen backbone on every batch as BM-NAS
does (the same search code reads an on-the-fly dataset). The backbone's cost per sample
then extrapolates the uncached epoch time to Part 1's sizes (labelled as extrapolated).

Writes bench/results/speed.json.
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
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from memory import PeakMemory  # noqa: E402
from search_speed import generate  # noqa: E402

from ssnas_core.backbones import get_backbone  # noqa: E402
from ssnas_core.config import RunConfig  # noqa: E402
from ssnas_core.data.features import FeatureDataset, FeatureWriter, Manifest, NodeSpec  # noqa: E402
from ssnas_core.pipeline import split_indices  # noqa: E402
from ssnas_core.search import run_search  # noqa: E402

TEXT = (NodeSpec("maxout_1", "text", (64,)), NodeSpec("maxout_2", "text", (128,)))


def poster(i: int) -> Image.Image:
    """A seeded random 256 x 160 poster (the backbone's cost does not depend on content)."""
    rng = np.random.default_rng(i)
    return Image.fromarray(rng.integers(0, 256, size=(256, 160, 3), dtype=np.uint8))


class OnTheFly:
    """A FeatureDataset look-alike whose image nodes run the frozen backbone on every read."""

    def __init__(self, cached: FeatureDataset, backbone, image_nodes: dict[str, str]):
        self.cached, self.bb, self.image_nodes = cached, backbone, image_nodes
        self.manifest, self.labels, self.split = cached.manifest, cached.labels, cached.split

    def __len__(self) -> int:
        return len(self.cached)

    @property
    def node_specs(self):
        return self.cached.node_specs

    def split_indices(self, name: str) -> np.ndarray:
        return self.cached.split_indices(name)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        out = self.cached.get(indices)  # text nodes (the image ones are replaced below)
        taps = self.bb.forward(self.bb.collate([self.bb.preprocess(poster(int(i))) for i in indices]))
        for node, tap in self.image_nodes.items():
            out[node] = taps[tap].numpy()
        return out


def search_epoch(ds, cfg: RunConfig) -> dict:
    idx = split_indices(ds, cfg)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        run_search(ds, cfg, torch.device("cpu"), train_idx=idx["train"], val_idx=idx["dev"])
        total = time.perf_counter() - t0
    return {"samples": len(ds), "train": int(len(idx["train"])), "dev": int(len(idx["dev"])),
            "load_avg_1m_after": round(os.getloadavg()[0], 2),  # other processes share the CPU
            "epoch_time_s": round(total, 2), "peak_rss_anon_mb": round(mem.peak.get("RssAnon", 0) / 2**20, 1),
            "peak_rss_file_mb": round(mem.peak.get("RssFile", 0) / 2**20, 1)}


def reads(row: dict, bs: int) -> int:
    """Samples read in one search epoch: train once (weights), dev twice (architecture steps and
    validation), full batches only (the search drops the last partial batch)."""
    full = lambda n: (n // bs) * bs if n > bs else n  # noqa: E731
    return full(row["train"]) + 2 * full(row["dev"])


def build_poster_cache(path: Path, n: int, bb) -> tuple[FeatureDataset, float]:
    """Extract the backbone taps of n generated posters once; returns (dataset, seconds per sample)."""
    nodes = tuple(NodeSpec(f"effnet_{t}", "image", s) for t, s in bb.taps) + TEXT
    rng = np.random.default_rng(0)
    split = np.where(np.arange(n) < 0.6 * n, 0, np.where(np.arange(n) < 0.7 * n, 1, 2)).astype(np.uint8)
    man = Manifest(nodes, tuple(f"genre{k}" for k in range(23)), "multilabel", n, info={"source": "generated"})
    t0 = time.perf_counter()
    with FeatureWriter(path, man) as w:
        for start in range(0, n, 64):
            rows = range(start, min(n, start + 64))
            taps = bb.forward(bb.collate([bb.preprocess(poster(i)) for i in rows]))
            arrays = {f"effnet_{t}": taps[t].numpy() for t, _ in bb.taps}
            arrays |= {s.name: np.maximum(rng.normal(size=(len(rows), *s.shape)), 0) for s in TEXT}
            w.write(start, arrays, (rng.random((len(rows), 23)) < 0.1).astype(np.uint8), split[list(rows)])
    return FeatureDataset(path), (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,4000,16000")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--uncached-samples", type=int, default=600)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "work")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "speed.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = RunConfig.from_dict({"search": {"epochs": 1, "batch_size": 128}})
    out = {"config": "engine defaults: C=192, L=16, steps=2, SSL batch 128, 1 search epoch",
           "threads": args.threads, "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
           "cached_mmimdb_shapes": [], "cache_vs_backbone": {}}
    for n in [int(s) for s in args.sizes.split(",")]:
        row = search_epoch(generate(args.work / f"mmimdb_shapes_{n}", n), cfg)
        out["cached_mmimdb_shapes"].append(row)
        print(json.dumps(row), flush=True)
    bb = get_backbone("efficientnet_lite0")
    n = args.uncached_samples
    path = args.work / f"speed_posters_{n}"
    if (path / "manifest.json").exists():
        cached, per_sample = FeatureDataset(path), None
    else:
        cached, per_sample = build_poster_cache(path, n, bb)
    image_nodes = {f"effnet_{t}": t for t, _ in bb.taps}
    with_cache = search_epoch(cached, cfg)
    without = search_epoch(OnTheFly(cached, bb, image_nodes), cfg)
    bs = cfg.search.batch_size
    backbone_s = (without["epoch_time_s"] - with_cache["epoch_time_s"]) / reads(with_cache, bs)
    out["cache_vs_backbone"] = {
        "note": "backbone cost per sample read = (uncached - cached epoch) / samples read; the extrapolation "
                "adds it to Part 1's measured cached epochs",
        "backbone": "efficientnet_lite0 (posters 256 x 160, taps s4-s7 pooled 4 x 4 + head) + text nodes 64, 128",
        "with_cache": with_cache, "without_cache": without,
        "speedup": round(without["epoch_time_s"] / with_cache["epoch_time_s"], 2),
        "extraction_s_per_sample": None if per_sample is None else round(per_sample, 4),
        "backbone_s_per_sample_in_search": round(backbone_s, 4),
        "extrapolated_uncached_epoch_s": {
            str(r["samples"]): round(r["epoch_time_s"] + backbone_s * reads(r, bs), 1)
            for r in out["cached_mmimdb_shapes"]}}
    print(json.dumps(out["cache_vs_backbone"], indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
