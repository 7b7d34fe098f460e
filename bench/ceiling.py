"""How far can the frozen backbone features go? (issue 9: why 60 / 50 at threshold 0.5 is missed)

A ceiling study on a feature build: heads on the pooled vectors of the backbone taps, the
same labeled and dev subsets as ``bench/quality.py`` (``pipeline.split_indices`` for the
given r and seed), a small grid of head configurations, the configuration chosen on the
dev subset by weighted F1 at 0.5, test read once for it (``@0.5`` and at the dev-chosen
threshold). The best test score over the whole grid is also printed, labelled
``oracle``: it is chosen on test and is not a result, only an upper bound for these heads.

    python bench/ceiling.py movies23 --fractions 0.1,1.0 --seeds 3

Writes ``bench/results/<name>/ceiling.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssnas_core.config import RunConfig  # noqa: E402
from ssnas_core.data.features import FeatureDataset  # noqa: E402
from ssnas_core.metrics import multilabel_metrics, select_threshold  # noqa: E402
from ssnas_core.pipeline import split_indices  # noqa: E402

HEADS = ([{"kind": "linear", "wd": wd} for wd in (1e-4, 1e-3, 1e-2)]
         + [{"kind": "mlp", "hidden": h, "dropout": p, "wd": 1e-4}
            for h, p in itertools.product((512, 1024), (0.2, 0.5))])
INPUTS = ("last", "all")  # every modality's last tap (late fusion's input) / every tap


def pooled(ds: FeatureDataset, use: list[int]) -> np.ndarray:
    """(N, sum C) float32: each chosen node global-average-pooled, concatenated."""
    names = [ds.node_specs[i].name for i in use]
    out, step = [], 512
    for lo in range(0, len(ds), step):
        g = ds.get(np.arange(lo, min(lo + step, len(ds))))
        out.append(np.concatenate([g[n].mean(axis=(2, 3)) if g[n].ndim == 4 else g[n] for n in names], axis=1))
    return np.concatenate(out)


def fit(x, y, tr, dv, head: dict, seed: int, epochs: int = 60, patience: int = 8):
    """Adam on BCE, early stopping on dev weighted F1 @0.5; returns the best model's predict fn."""
    torch.manual_seed(seed)
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
    xt = torch.from_numpy((x - mu) / sd)
    yt = torch.from_numpy(y.astype(np.float32))
    d, k = x.shape[1], y.shape[1]
    if head["kind"] == "linear":
        net = nn.Linear(d, k)
    else:
        net = nn.Sequential(nn.Dropout(0.1), nn.Linear(d, head["hidden"]), nn.ReLU(),
                            nn.Dropout(head["dropout"]), nn.Linear(head["hidden"], k))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=head["wd"])
    loss_fn = nn.BCEWithLogitsLoss()
    g = np.random.default_rng(seed)
    best, best_state, bad = -1.0, None, 0
    bs = 64
    for _ in range(epochs):
        net.train()
        perm = g.permutation(tr)
        for i in range(0, len(perm), bs):
            b = perm[i:i + bs]
            opt.zero_grad()
            loss_fn(net(xt[b]), yt[b]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            p = torch.sigmoid(net(xt[dv])).numpy()
        s = multilabel_metrics(y[dv], p, 0.5)["weighted_f1"]
        if s > best:
            best, best_state, bad = s, {n: v.clone() for n, v in net.state_dict().items()}, 0
        else:
            bad += 1
            if bad >= patience:
                break
    net.load_state_dict(best_state)
    net.eval()

    def predict(idx):
        with torch.no_grad():
            return torch.sigmoid(net(xt[idx])).numpy()
    return best, predict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("features", help="a feature directory, or movies23 (bench/work/features/movies23/<hash>)")
    ap.add_argument("--name", default=None)
    ap.add_argument("--fractions", default="0.1,1.0")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    path = Path(a.features)
    if not path.exists():
        path = next((ROOT / "bench" / "work" / "features" / a.features).glob("*/"))
    ds = FeatureDataset(path)
    if ds.manifest.task != "multilabel":
        raise SystemExit("the ceiling study is for multi-label feature sets")
    specs = ds.node_specs
    last = {s.modality: i for i, s in enumerate(specs)}
    use = {"last": sorted(last.values()), "all": list(range(len(specs)))}
    xs = {k: pooled(ds, v) for k, v in use.items()}
    y = np.asarray(ds.labels)
    rows, t0 = [], time.perf_counter()
    for r in [float(f) for f in a.fractions.split(",")]:
        for seed in range(a.seeds):
            cfg = RunConfig.from_dict({"seed": seed, "finetune": {"label_fraction": r}})
            idx = split_indices(ds, cfg)
            tr, dv, te = idx["labeled"], idx["dev_labeled"], idx["test"]
            cands = []
            for inp, head in itertools.product(INPUTS, HEADS):
                dev_score, predict = fit(xs[inp], y, tr, dv, head, seed)
                pd, pt = predict(dv), predict(te)
                th = select_threshold("multilabel", y[dv], pd, "global", 0.5)
                cands.append({"input": inp, "head": head, "dev@0.5": dev_score,
                              "test@0.5": multilabel_metrics(y[te], pt, 0.5)["weighted_f1"],
                              "test@sel": multilabel_metrics(y[te], pt, th)["weighted_f1"], "threshold": th})
            chosen = max(cands, key=lambda c: c["dev@0.5"])
            oracle = max(cands, key=lambda c: c["test@0.5"])
            row = {"r": r, "seed": seed, "labeled": len(tr), "dev": len(dv), "chosen": chosen,
                   "oracle_test@0.5": oracle["test@0.5"], "oracle": oracle, "candidates": cands}
            rows.append(row)
            print(f"[r={r} seed={seed}] chosen {chosen['input']} {chosen['head']}: test@0.5 "
                  f"{100 * chosen['test@0.5']:.1f} @sel {100 * chosen['test@sel']:.1f}; "
                  f"oracle (chosen on test) {100 * oracle['test@0.5']:.1f}", flush=True)
    summary = {}
    for r in sorted({row["r"] for row in rows}):
        sel = [row for row in rows if row["r"] == r]
        summary[str(r)] = {k: [round(100 * float(np.mean(v)), 1), round(100 * float(np.std(v)), 1)] for k, v in {
            "chosen_test@0.5": [s["chosen"]["test@0.5"] for s in sel],
            "chosen_test@sel": [s["chosen"]["test@sel"] for s in sel],
            "oracle_test@0.5": [s["oracle_test@0.5"] for s in sel]}.items()}
        print(f"r={r}: " + ", ".join(f"{k} {m} ± {s}" for k, (m, s) in summary[str(r)].items()))
    out = a.results / (a.name or path.parent.name) / "ceiling.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": "python bench/ceiling.py " + " ".join(sys.argv[1:]),
                               "features": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
                               "heads": HEADS, "inputs": {k: [specs[i].name for i in v] for k, v in use.items()},
                               "summary": summary, "runs": rows, "wall_s": round(time.perf_counter() - t0, 1)},
                              indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
