"""Write a feature set with its summary nodes stored (issue 9 experiments).

``space.summary_nodes`` computes the summary nodes on read (``ssnas_core.data.summary``); this
writes them into a new feature directory instead, so a benchmark can run every method on the
same stored nodes (the movies23_summary and icons_summary results were made this way):

    python bench/summary_nodes.py bench/work/features/movies23/<hash> --out bench/work/features/movies23_summary
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssnas_core.data.features import FeatureDataset, FeatureWriter  # noqa: E402
from ssnas_core.data.summary import with_summary_nodes  # noqa: E402

STEP = 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("features", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    base = FeatureDataset(a.features)
    ds = with_summary_nodes(base)
    if ds is base:
        raise SystemExit("no modality has two taps or more: nothing to summarise")
    man = ds.manifest
    a.out.mkdir(parents=True, exist_ok=True)
    with FeatureWriter(a.out, man) as w:
        for lo in range(w.rows_done, len(ds), STEP):
            rows = np.arange(lo, min(lo + STEP, len(ds)))
            w.write(lo, ds.get(rows), ds.labels[rows], ds.split[rows], [ds.ids[i] for i in rows])
    print(f"wrote {a.out}: nodes {[n.name for n in man.nodes]}")


if __name__ == "__main__":
    main()
