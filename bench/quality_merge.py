"""Merge the runs of quality.json files written by separate bench/quality.py processes
(``--seed-list`` with another ``--results``) into one, and rewrite its report.

    python bench/quality_merge.py bench/results/movies23/quality.json bench/work/results_seed2/movies23/quality.json ...

Runs are keyed by (method, r, seed, config hash); the first file's header (budget, command,
dataset) is kept, and every merged file must have the same config hash.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality  # noqa: E402


def main(paths: list[str]) -> None:
    target = Path(paths[0])
    doc = json.loads(target.read_text())
    have = {(r["method"], float(r["r"]), r["seed"], r["config_hash"]) for r in doc["runs"]}
    for p in paths[1:]:
        other = json.loads(Path(p).read_text())
        if other["config_hash"] != doc["config_hash"]:
            raise SystemExit(f"{p}: config hash {other['config_hash']} != {doc['config_hash']}")
        new = [r for r in other["runs"] if (r["method"], float(r["r"]), r["seed"], r["config_hash"]) not in have]
        doc["runs"] += new
        doc.setdefault("merged_commands", []).append(other["command"])
        print(f"{p}: {len(new)} runs merged")
    quality.save_json(target, doc)
    runs = [r for r in doc["runs"] if r["config_hash"] == doc["config_hash"]]
    order = list(dict.fromkeys(r["method"] for r in runs))
    fractions = sorted({float(r["r"]) for r in runs})
    seeds = len({r["seed"] for r in runs if r["method"] == order[0]})
    quality.write_report(doc, target.parent, order, fractions, seeds)
    print(f"wrote {target} and its report ({len(runs)} runs)")


if __name__ == "__main__":
    main(sys.argv[1:])
