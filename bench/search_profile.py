"""Profile the self-supervised search step by phase and by op (issue 14).

Builds the search exactly as ``run_search`` does (default config: ssl, cross_modal, alternate)
on the generated MM-IMDB-shaped features of ``bench/search_speed.py`` and times, per weight
step and per architecture step, each phase forward and backward separately: the graph is cut
between phases (detached leaves), so backward time lands in the phase that owns it:

- views: the two augmented views and the M modality-restricted copies of view 2;
- inputs: the input-node projections (Conv1d + BN + ReLU + dropout) of every view;
- cells: the searchable cells (mixed ops) and the network output;
- head+ntxent: projection head and the NT-Xent terms (plain + cross-modal);
- optimizer: gradient clipping and the Adam step (weights) or the Adam step (architecture).

This phase split runs the reference (module) forward of ``SuperNet``. Then the real engine
(``_Search.weight_pass`` including the arch steps) runs under ``torch.profiler`` for the op table.

    python bench/search_profile.py [--steps 6] [--threads 2] [--data DIR] [--out FILE.md] [--matmul fp32] [--by-shape]

``--by-shape`` adds the matrix products (``mm``, ``addmm``, ``bmm``) by input shape, CPU ms per pair.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssnas_core.augment import keep_modality  # noqa: E402
from ssnas_core.cells import mix  # noqa: E402
from ssnas_core.config import MATMUL, RunConfig  # noqa: E402
from ssnas_core.data.features import FeatureDataset  # noqa: E402
from ssnas_core.device import matmul_precision  # noqa: E402
from ssnas_core.losses import nt_xent  # noqa: E402
from ssnas_core.pipeline import split_indices  # noqa: E402
from ssnas_core.schedule import epoch_seed, seeded_generator  # noqa: E402
from ssnas_core.search import _Search  # noqa: E402

PHASES = ("views", "inputs", "cells", "head+ntxent", "optimizer")


def _leaves(ts):
    return [t.detach().requires_grad_() for t in ts]


def phase_step(s: _Search, nodes, g, arch: bool, acc: dict) -> None:
    """One weight (or architecture) step of the default objective, cut into phases."""
    net, head, ssl = s.net, s.head, s.cfg.ssl
    params = s.net.arch_parameters() if arch else s.w_params
    s._train_only(params)
    opt = s.opt_a if arch else s.opt_w
    opt.zero_grad(set_to_none=True)

    def tick(name, t0):
        acc[name] = acc.get(name, 0.0) + time.perf_counter() - t0
        return time.perf_counter()

    t = time.perf_counter()
    v1, v2 = s.augment(nodes, g)
    views = [v1, v2, *[keep_modality(v2, s.augment.modalities, m) for m in s.augment.kinds]]
    batched = [torch.cat(parts) for parts in zip(*views)]
    t = tick("views fwd", t)
    states = net.inputs(batched)
    t = tick("inputs fwd", t)
    st_leaf = _leaves(states)
    ns = net.space.node_steps
    cur = list(st_leaf)
    for i, cell in enumerate(net.cells):
        wa = F.softmax(net.alphas[i], dim=-1)
        x, y = mix(cur, wa[0]), mix(cur, wa[1])
        cur.append(cell(x, y, list(net.betas[i * ns:(i + 1) * ns]), net.gammas[i]))
    fused = net.output(cur[-net.space.multiplier:])
    t = tick("cells fwd", t)
    f_leaf = fused.detach().requires_grad_()
    z = head(f_leaf)
    b = nodes[0].shape[0]
    z1, z2, *zm = z.split(b)
    cross = torch.stack([nt_xent(z1, zz, ssl.temperature) for zz in zm]).sum()
    loss = (nt_xent(z1, z2, ssl.temperature) + ssl.cross_weight * cross) / (1 + ssl.cross_weight * len(zm))
    t = tick("head+ntxent fwd", t)
    loss.backward()
    t = tick("head+ntxent bwd", t)
    fused.backward(f_leaf.grad)
    t = tick("cells bwd", t)
    if not arch:
        torch.autograd.backward(states, [x.grad for x in st_leaf])
    t = tick("inputs bwd", t)
    if not arch:
        torch.nn.utils.clip_grad_norm_(s.w_params, s.sc.grad_clip)
    opt.step()
    loss.item()
    tick("optimizer", t)


def print_products(prof, pairs: int, matmul: str) -> None:
    """The matrix products of a profile by input shape, largest first: CPU ms and calls per pair."""
    products = ("aten::mm", "aten::addmm", "aten::bmm")
    rows = [e for e in prof.key_averages(group_by_input_shape=True) if e.key in products]
    rows.sort(key=lambda e: -e.self_cpu_time_total)
    print(f"{matmul}: products {sum(e.self_cpu_time_total for e in rows) / 1e3 / pairs:.1f} ms CPU per pair")
    for e in rows[:14]:
        print(f"{e.key:12s} {e.self_cpu_time_total / 1e3 / pairs:8.1f} ms/pair {e.count // pairs:4d} calls/pair  "
              f"{str(e.input_shapes)[:90]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6, help="timed weight+arch step pairs (after 2 warm-up pairs)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "work" / "mmimdb_shapes_25959")
    ap.add_argument("--out", type=Path, default=None, help="write the op table (markdown) here")
    ap.add_argument("--no-phases", action="store_true", help="only the engine's op table (the phase split times "
                    "the module forward, i.e. the engine before issue 14)")
    ap.add_argument("--matmul", choices=MATMUL, default=RunConfig().search.matmul,
                    help="search.matmul of the engine's op table (default: the engine's)")
    ap.add_argument("--by-shape", action="store_true", help="also the matrix products by input shape")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = FeatureDataset(args.data)
    cfg = RunConfig.from_dict({"search": {"epochs": 1, "batch_size": 128, "matmul": args.matmul}})
    idx = split_indices(ds, cfg)
    s = _Search(ds, cfg, torch.device("cpu"), idx["train"], idx["dev"])
    s.net.train(), s.head.train()
    g = seeded_generator(epoch_seed(cfg.seed, "views_w", 0), s.device)
    batches = iter(s.batches(s.train_idx, 0, "search_w"))
    arch = s._arch_batches()
    acc_w, acc_a = {}, {}
    for k in range(0 if args.no_phases else args.steps + 2):
        nodes, _ = next(batches)
        phase_step(s, nodes, g, False, acc_w if k >= 2 else {})
        phase_step(s, next(arch)[0], g, True, acc_a if k >= 2 else {})
    rows = []
    for name, acc in (("weight step", acc_w), ("arch step", acc_a)):
        tot = sum(acc.values())
        if not tot:
            continue
        for key, v in acc.items():
            rows.append((name, key, 1000 * v / args.steps, 100 * v / tot))
        rows.append((name, "total", 1000 * tot / args.steps, 100.0))
    print(f"{'step':12s} {'phase':18s} {'ms/step':>9s} {'%':>6s}")
    for r in rows:
        print(f"{r[0]:12s} {r[1]:18s} {r[2]:9.1f} {r[3]:6.1f}")

    # The engine as it runs, under the profiler: op table over `steps` weight+arch pairs.
    from torch.profiler import ProfilerActivity, profile
    s.sc = type(s.sc)(**{**s.sc.__dict__, "max_batches_per_epoch": args.steps + 2})
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=args.by_shape) as prof, \
            matmul_precision(args.matmul):
        s.weight_pass(lambda ev: None)
    wall = time.perf_counter() - t0
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=48)
    print(table)
    if args.by_shape:
        print_products(prof, args.steps + 2, args.matmul)
    print(f"engine under profiler: {wall:.2f} s for {args.steps + 2} weight+arch pairs; load {os.getloadavg()}")
    if args.out:
        lines = ["| step | phase | ms per step | % of step |", "|---|---|---:|---:|"]
        lines += [f"| {a} | {b} | {c:.1f} | {d:.1f} |" for a, b, c, d in rows]
        args.out.write_text("\n".join(lines) + "\n\n```\n" + table + "\n```\n" +
                            f"\nload average after: {[round(v, 2) for v in os.getloadavg()]}\n")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
