"""CPU time of the search's matrix products by shape, at search.matmul fp32 or bf16 (issue 14).

Runs ``_Search.weight_pass`` (weight + architecture step pairs, default configuration, one thread)
under ``torch.profiler`` with input shapes and prints the self CPU time per pair of ``mm``,
``addmm`` and ``bmm`` by shape, largest first.

    python bench/search_products.py fp32|bf16 [--data DIR] [--pairs 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ssnas_core.config import MATMUL, RunConfig  # noqa: E402
from ssnas_core.data.features import FeatureDataset  # noqa: E402
from ssnas_core.device import matmul_precision  # noqa: E402
from ssnas_core.pipeline import split_indices  # noqa: E402
from ssnas_core.search import _Search  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("matmul", choices=MATMUL)
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "work" / "mmimdb_shapes_25959")
    ap.add_argument("--pairs", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = FeatureDataset(args.data)
    cfg = RunConfig.from_dict({"search": {"epochs": 1, "batch_size": 128, "max_batches_per_epoch": 1,
                                          "matmul": args.matmul}})
    idx = split_indices(ds, cfg)
    s = _Search(ds, cfg, torch.device("cpu"), idx["train"], idx["dev"])
    with matmul_precision(args.matmul):
        s.weight_pass(lambda ev: None)  # warm-up pair
        s.sc = type(s.sc)(**{**s.sc.__dict__, "max_batches_per_epoch": args.pairs})
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            s.weight_pass(lambda ev: None)
    products = ("aten::mm", "aten::addmm", "aten::bmm")
    rows = [e for e in prof.key_averages(group_by_input_shape=True) if e.key in products]
    rows.sort(key=lambda e: -e.self_cpu_time_total)
    n = args.pairs
    print(f"{args.matmul}: products {sum(e.self_cpu_time_total for e in rows) / 1e3 / n:.1f} ms CPU per pair")
    for e in rows[:14]:
        print(f"{e.key:12s} {e.self_cpu_time_total / 1e3 / n:8.1f} ms/pair {e.count // n:4d} calls/pair  "
              f"{str(e.input_shapes)[:90]}")


if __name__ == "__main__":
    main()
