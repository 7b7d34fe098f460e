"""CPU time of the search engine by phase, forward and backward (issue 14).

Runs ``_Search.weight_pass`` (weight step + architecture step pairs, default configuration) on
the generated MM-IMDB-shaped features of ``bench/search_speed.py`` with the engine's own forward
re-traced here with marks: process CPU time between marks is charged to the phase just ended.
Backward phases are marked by gradient hooks on the tensors between phases (head+loss, network
output, cells with the candidate mixing, then the input projections and the rest). At one thread
the CPU split is the work split; with more threads it includes spinning.

    python bench/search_phases.py [--threads 1] [--pairs 3] [--data DIR] [--root TREE] [--matmul fp32]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "work" / "mmimdb_shapes_25959")
    ap.add_argument("--root", type=Path, default=ROOT, help="the tree whose engine is timed")
    ap.add_argument("--matmul", choices=("bf16", "fp32"), default="bf16",
                    help="float32 products: bf16 inputs (search.matmul's default) or IEEE")
    args = ap.parse_args()
    sys.path.insert(0, str(args.root))
    import torch
    import torch.nn.functional as F

    import ssnas_core.fastnet as fn
    import ssnas_core.objectives as ob
    import ssnas_core.search as se
    from ssnas_core.config import RunConfig
    from ssnas_core.data.features import FeatureDataset
    from ssnas_core.losses import nt_xent
    from ssnas_core.pipeline import split_indices

    torch.set_num_threads(args.threads)
    torch.backends.mkldnn.matmul.fp32_precision = "bf16" if args.matmul == "bf16" else "ieee"  # as run_search
    acc: dict[str, float] = {}
    last = [time.process_time()]

    def mark(name):
        t = time.process_time()
        acc[name] = acc.get(name, 0.0) + t - last[0]
        last[0] = t

    def hook(t, name):
        if t.requires_grad:
            t.register_hook(lambda g: mark(name))

    def supernet_forward(net, stack):  # fastnet.supernet_forward with marks
        s = net.space
        side = int(round(s.L ** 0.5))
        states = [fn.project_node(r, rows, idx, stack.batch, side)
                  for r, rows, idx in zip(net.inputs.reshapes, stack.rows, stack.index)]
        shape = states[0].shape
        cap = getattr(fn, "STACK_BYTES", 1 << 62)  # engines that stack the input states in parts
        k = max(1, min(len(states), cap // max(1, states[0].numel() * states[0].element_size())))
        stacked = torch.stack(states[:k]).view(k, -1)
        mark("fwd input projections")
        hook(stacked, "bwd cells + candidate mixing")
        extra, cells = list(states[k:]), []
        ns = s.node_steps
        for i, cell in enumerate(net.cells):
            xy = fn.mix_pair(stacked, extra, F.softmax(net.alphas[i], dim=-1))
            cells.append(fn.cell_forward(cell, xy, shape, list(net.betas[i * ns:(i + 1) * ns]), net.gammas[i]))
            extra.append(cells[-1])
        mark("fwd cells + candidate mixing")
        hook(cells[-1], "bwd network output")
        out = fn.layer_norm(torch.cat(cells[-s.multiplier:], dim=2), net.output.norm)
        r = torch.relu(out.transpose(1, 2).reshape(out.shape[0], -1))
        mark("fwd network output")
        hook(r, "bwd head + NT-Xent")
        return r

    def contrastive_loss(fusion, head, augment, nodes, g, ssl):  # objectives' cross_modal branch with marks
        mark("other (loader, optimizer, Python)")
        v1, v2 = augment(nodes, g)
        mark("fwd views (augment)")
        stack = fn.ViewStack.build([v1, v2, *[ob._restrict(v2, augment.modalities, m) for m in augment.kinds]])
        mark("fwd views (stack)")
        h = supernet_forward(fusion, stack)
        z1, z2, *zm = head(h).split(stack.batch)
        t = ssl.temperature
        cross = torch.stack([nt_xent(z1, z, t) for z in zm]).sum()
        loss = (nt_xent(z1, z2, t) + ssl.cross_weight * cross) / (1 + ssl.cross_weight * len(augment.kinds))
        mark("fwd head + NT-Xent")
        return loss

    backward = torch.Tensor.backward

    def marked_backward(self, *a, **k):
        mark("other (loader, optimizer, Python)")
        backward(self, *a, **k)
        mark("bwd input projections + rest")

    se.contrastive_loss = contrastive_loss
    torch.Tensor.backward = marked_backward
    ds = FeatureDataset(args.data)
    cfg = RunConfig.from_dict({"search": {"epochs": 1, "batch_size": 128, "max_batches_per_epoch": 2}})
    assert cfg.ssl.objective == "cross_modal" and cfg.search.schedule == "alternate"
    idx = split_indices(ds, cfg)
    s = se._Search(ds, cfg, torch.device("cpu"), idx["train"], idx["dev"])
    torch.manual_seed(0)
    s.weight_pass(lambda ev: None)  # warm-up
    s.sc = type(s.sc)(**{**s.sc.__dict__, "max_batches_per_epoch": args.pairs})
    acc.clear()
    w0, c0 = time.perf_counter(), time.process_time()
    last[0] = c0
    s.weight_pass(lambda ev: None)
    mark("other (loader, optimizer, Python)")
    total, wall = time.process_time() - c0, time.perf_counter() - w0
    print(f"{'phase':36s} {'CPU ms / pair':>14s} {'%':>6s}")
    for name in sorted(acc, key=lambda n: (n.startswith("other"), n.startswith("bwd"), n)):
        print(f"{name:36s} {1000 * acc[name] / args.pairs:14.1f} {100 * acc[name] / total:6.1f}")
    print(f"total: {total / args.pairs:.3f} s CPU, {wall / args.pairs:.3f} s wall per weight + arch pair "
          f"({args.threads} threads); load average {[round(v, 2) for v in os.getloadavg()]}")


if __name__ == "__main__":
    main()
