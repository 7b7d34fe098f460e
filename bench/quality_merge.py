"""Merge the runs of quality.json files written by separate bench/quality.py processes
(``--seed-list`` with another ``--results``) into one, and rewrite its report.

    python bench/quality_merge.py bench/results/movies23/quality.json bench/work/results_seed2/movies23/quality.json ...

Runs are keyed by (method, r, seed, config hash); the first file's header (budget, command,
dataset) is kept, and every merged file must have the same config hash.

    python bench/quality_merge.py TARGET.json --carry ssl_plain,bmnas,... SOURCE.json

``--carry`` copies the named methods' runs from a file of *another* config hash whose computation
the difference does not touch (for example ``search.cover_modalities``, which changes only the
derivation of the self-supervised search: the baselines set it off or derive nothing). Each carried
run keeps its original hash as ``carried_from_hash`` and is retagged with the target's hash; runs
the target already has are not replaced. Runs of the default method and its search-only ablation
(``ssl``, ``ssl_search_only``) are carried only where their genotype already read every modality,
i.e. where the cover leaves the genotype, and so the whole run, unchanged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality  # noqa: E402

COVERED_BY_DERIVATION = ("ssl", "ssl_search_only")


def carry(doc: dict, source: Path, methods: list[str]) -> int:
    other = json.loads(source.read_text())
    kinds = {n.split(".")[0] for n in other["dataset"]["nodes"]}
    unchanged = lambda r: r["method"] not in COVERED_BY_DERIVATION or set(r["modalities_read"] or []) == kinds  # noqa: E731
    have = {(r["method"], float(r["r"]), r["seed"]) for r in doc["runs"] if r["config_hash"] == doc["config_hash"]}
    new = [r | {"config_hash": doc["config_hash"], "carried_from_hash": r["config_hash"]}
           for r in other["runs"] if r["method"] in methods and r["config_hash"] == other["config_hash"]
           and (r["method"], float(r["r"]), r["seed"]) not in have and unchanged(r)]
    doc["runs"] += new
    doc.setdefault("carried", []).append({"from": str(source), "hash": other["config_hash"], "methods": methods,
                                          "runs": len(new)})
    return len(new)


def main(paths: list[str]) -> None:
    target = Path(paths[0])
    doc = json.loads(target.read_text())
    have = {(r["method"], float(r["r"]), r["seed"], r["config_hash"]) for r in doc["runs"]}
    if len(paths) == 4 and paths[1] == "--carry":
        print(f"{paths[3]}: {carry(doc, Path(paths[3]), paths[2].split(','))} runs carried")
        paths = paths[:1]
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
    present = set(r["method"] for r in runs)
    table = list(quality.methods_for(quality.FeatureDataset(doc["dataset"]["path"])))  # the table's order
    order = [m for m in table if m in present] + sorted(present - set(table))
    fractions = sorted({float(r["r"]) for r in runs})
    seeds = len({r["seed"] for r in runs if r["method"] == order[0]})
    quality.write_report(doc, target.parent, order, fractions, seeds)
    print(f"wrote {target} and its report ({len(runs)} runs)")


if __name__ == "__main__":
    main(sys.argv[1:])
