"""Tables (Markdown) and plot (PNG) for bench/quality.py results.

Numbers are test-split scores in percent, mean +- std over seeds (population std, ddof=0,
n shown per cell when it differs from the seed count).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np


def primary_metric(task: str) -> str:
    return "weighted_f1@0.5" if task == "multilabel" else "weighted_f1"


def side_metrics(task: str) -> list[str]:
    if task == "multilabel":
        return ["micro_f1@0.5", "macro_f1@0.5", "weighted_f1@sel", "micro_f1@sel", "macro_f1@sel",
                "weighted_f1@0.3", "samples_f1@0.5"]
    return ["accuracy", "macro_f1"]


def collect(runs: list[dict], metric: str, split: str = "test") -> dict[str, dict[float, list[float]]]:
    """method -> r -> [value per seed]."""
    out: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        value = run["metrics"][split].get(metric)
        if value is not None:
            out[run["method"]][float(run["r"])].append(100.0 * value)
    return out


def _cell(values: list[float], seeds: int) -> str:
    if not values:
        return "-"
    text = f"{np.mean(values):.1f} ± {np.std(values):.1f}"
    return text + (f" (n={len(values)})" if len(values) != seeds else "")


def table(runs: list[dict], metric: str, methods: list[str], fractions: list[float], seeds: int) -> str:
    data = collect(runs, metric)
    lines = ["| method | " + " | ".join(f"r={r:g}" for r in fractions) + " |",
             "|---|" + "---|" * len(fractions)]
    for m in methods:
        if m in data:
            lines.append(f"| {m} | " + " | ".join(_cell(data[m].get(r, []), seeds) for r in fractions) + " |")
    return "\n".join(lines)


def versus(runs: list[dict], metric: str, methods: list[str], fractions: list[float], ref: str = "ssl") -> str:
    """Paired by seed (same labeled subset): ref - other, mean ± std (ddof=1) in points, and a
    verdict: W(in) when mean - 2 SE > 0, L(oss) when mean + 2 SE < 0, else T(ie)."""
    by = {(run["method"], float(run["r"]), run["seed"]): 100.0 * run["metrics"]["test"][metric]
          for run in runs if metric in run["metrics"]["test"]}
    lines = [f"| {ref} minus | " + " | ".join(f"r={r:g}" for r in fractions) + " |",
             "|---|" + "---|" * len(fractions)]
    for m in methods:
        if m == ref:
            continue
        cells = []
        for r in fractions:
            d = [by[(ref, r, s)] - by[(m, r, s)] for (mm, rr, s) in by if mm == m and rr == r and (ref, r, s) in by]
            if len(d) < 2:
                cells.append("-")
                continue
            se = np.std(d, ddof=1) / np.sqrt(len(d))
            verdict = "W" if np.mean(d) - 2 * se > 0 else "L" if np.mean(d) + 2 * se < 0 else "T"
            cells.append(f"{np.mean(d):+.1f} ± {np.std(d, ddof=1):.1f} {verdict}")
        if any(c != "-" for c in cells):
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def modality_table(runs: list[dict], methods: list[str], fractions: list[float]) -> str:
    """Per method and r, the modalities the derived network reads on each seed (seed order)."""
    rows: dict[str, dict[float, dict[int, str]]] = defaultdict(lambda: defaultdict(dict))
    for run in runs:
        if "modalities_read" in run and "edges" in (run.get("genotype") or {}):
            rows[run["method"]][float(run["r"])][run["seed"]] = "+".join(run["modalities_read"]) or "-"
    lines = ["| method | " + " | ".join(f"r={r:g}" for r in fractions) + " |", "|---|" + "---|" * len(fractions)]
    for m in methods:
        if m in rows:
            cells = [", ".join(v for _, v in sorted(rows[m][r].items())) or "-" for r in fractions]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mode_table(runs: list[dict], methods: list[str], fractions: list[float]) -> str:
    """How each pretrained run was adapted (full / probe / lp_ft, chosen on dev) and its dev threshold."""
    rows: dict[str, dict[float, list[str]]] = defaultdict(lambda: defaultdict(list))
    for run in sorted(runs, key=lambda r: r["seed"]):
        if run.get("finetune_mode") and isinstance(run.get("threshold"), float):
            rows[run["method"]][float(run["r"])].append(f"{run['finetune_mode']} {run['threshold']:.2f}")
    lines = ["| method | " + " | ".join(f"r={r:g}" for r in fractions) + " |", "|---|" + "---|" * len(fractions)]
    for m in methods:
        if m in rows:
            lines.append(f"| {m} | " + " | ".join(", ".join(rows[m][r]) or "-" for r in fractions) + " |")
    return "\n".join(lines)


def time_table(runs: list[dict], methods: list[str], fractions: list[float]) -> str:
    wall: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    params: dict[str, list[int]] = defaultdict(list)
    for run in runs:
        wall[run["method"]][float(run["r"])].append(run["wall_time_s"])
        params[run["method"]].append(run.get("params", 0))
    lines = ["| method | params (mean) | " + " | ".join(f"r={r:g}" for r in fractions) + " |",
             "|---|---|" + "---|" * len(fractions)]
    for m in methods:
        if m in wall:
            cells = [f"{np.mean(wall[m][r]):.0f}" if wall[m].get(r) else "-" for r in fractions]
            lines.append(f"| {m} | {np.mean(params[m]):,.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(doc: dict, methods: list[str], fractions: list[float], seeds: int) -> str:
    runs, task = doc["runs"], doc["dataset"]["task"]
    prim = primary_metric(task)
    parts = [f"# Quality benchmark: {doc['benchmark']}", "",
             f"Dataset: {doc['dataset']['path']} ({doc['dataset']['task']}, splits "
             f"{doc['dataset']['split_counts']}). Config hash {doc['config_hash']}; command: `{doc['command']}`.",
             f"Epochs: {doc['epochs']}.", "",
             f"Test {prim} (%), mean ± std over seeds; selection on the dev subset of fraction r.", "",
             table(runs, prim, methods, fractions, seeds)]
    if any(run["method"] == "ssl" for run in runs):
        parts += ["", f"ssl minus each method, test {prim} (points), paired by seed (same labeled subset): mean ± std; "
                  "W/T/L = win/tie/loss at mean ∓ 2 SE.", "", versus(runs, prim, methods, fractions)]
    if any(run["method"] == "ssl_search_only" for run in runs) and any(run["method"] == "random" for run in runs):
        parts += ["", f"The searched architecture against random ones of the same space (both finetuned from a fresh "
                  f"init, no pretraining): ssl_search_only minus random, test {prim}, paired by seed.", "",
                  versus(runs, prim, ["random"], fractions, ref="ssl_search_only")]
    for metric in side_metrics(task):
        note = " (threshold chosen on the dev subset of fraction r)" if metric.endswith("@sel") else ""
        parts += ["", f"Test {metric} (%){note}", "", table(runs, metric, methods, fractions, seeds)]
    parts += ["", "Modalities read by the derived cells, per seed (seed 0, 1, ...):", "",
              modality_table(runs, methods, fractions),
              "", "Finetuning mode chosen on dev (full / probe / lp_ft) and dev-selected threshold, per seed:", "",
              mode_table(runs, methods, fractions)]
    shared = {run["seed"]: run["shared_wall_s"] for run in runs if "shared_wall_s" in run}
    parts += ["", "Wall time per run (s, mean over seeds) and parameters (fusion network + head). "
              "ssl reuses one label-free search + pretraining per seed: "
              + (", ".join(f"seed {s}: {t:.0f} s" for s, t in sorted(shared.items())) or "none yet") + ".", "",
              time_table(runs, methods, fractions), ""]
    return "\n".join(parts)


def plot(doc: dict, methods: list[str], fractions: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prim = primary_metric(doc["dataset"]["task"])
    data = collect(doc["runs"], prim)
    fig, ax = plt.subplots(figsize=(8, 5))
    for m in methods:
        rs = [r for r in fractions if data.get(m, {}).get(r)]
        if not rs:
            continue
        mean = [np.mean(data[m][r]) for r in rs]
        std = [np.std(data[m][r]) for r in rs]
        style = "--" if m.startswith("trivial") else "-"
        ax.errorbar(rs, mean, yerr=std, label=m, linestyle=style, marker="o", capsize=3)
    ax.set_xscale("log")
    ax.set_xlabel("label fraction r")
    ax.set_ylabel(f"test {prim} (%)")
    ax.set_title(f"{doc['benchmark']}: {prim} vs label fraction (mean ± std over seeds)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
