"""A feature set with one "summary" node per modality added (issue 9 experiment).

The ceiling study (``bench/ceiling.py``) found the label information the searched cells miss in
the earlier backbone taps, and the self-supervised search derives cells that read the deepest
taps. This builds a candidate input the search can choose instead: per modality, every tap
global-average-pooled, concatenated and standardised per dimension with train-split statistics
(label-free), as a vector node ``<modality>.summary`` placed first in that modality's nodes (so
late fusion's "last tap of each modality" is unchanged). Everything else is copied.

    python bench/summary_nodes.py bench/work/features/movies23/<hash> --out bench/work/features/movies23_summary
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssnas_core.data.features import FeatureDataset, FeatureWriter, Manifest, NodeSpec  # noqa: E402

STEP = 1024


def _pool(a: np.ndarray) -> np.ndarray:
    return a.mean(axis=(2, 3)) if a.ndim == 4 else a


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("features", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    ds = FeatureDataset(a.features)
    mods = ds.manifest.modalities
    by_mod = {m: [n.name for n in ds.node_specs if n.modality == m] for m in mods}

    def summaries(rows: np.ndarray) -> dict[str, np.ndarray]:
        g = ds.get(rows)
        return {m: np.concatenate([_pool(g[n]) for n in names], axis=1) for m, names in by_mod.items()}

    train = ds.split_indices("train")
    acc = {m: [] for m in mods}
    for lo in range(0, len(train), STEP):
        for m, v in summaries(train[lo:lo + STEP]).items():
            acc[m].append(v)
    stats = {m: (np.concatenate(v).mean(0), np.concatenate(v).std(0) + 1e-6) for m, v in acc.items()}

    nodes = []
    for m in mods:
        nodes.append(NodeSpec(f"{m}.summary", m, (len(stats[m][0]),)))
        nodes += [n for n in ds.node_specs if n.modality == m]
    man = Manifest(tuple(nodes), ds.manifest.label_names, ds.manifest.task, len(ds),
                   info={**ds.manifest.info, "summary_nodes_of": str(a.features)})
    a.out.mkdir(parents=True, exist_ok=True)
    with FeatureWriter(a.out, man) as w:
        for lo in range(w.rows_done, len(ds), STEP):
            rows = np.arange(lo, min(lo + STEP, len(ds)))
            g = ds.get(rows)
            for m, v in summaries(rows).items():
                g[f"{m}.summary"] = ((v - stats[m][0]) / stats[m][1]).astype(np.float32)
            w.write(lo, g, ds.labels[rows], ds.split[rows], [ds.ids[i] for i in rows])
    print(f"wrote {a.out}: nodes {[n.name for n in nodes]}")


if __name__ == "__main__":
    main()
