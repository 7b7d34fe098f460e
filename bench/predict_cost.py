"""CPU cost of /predict's backbones per poster + plot, outside the service: the floor under what
the API spends per prediction, and so the throughput a machine's cores can give at most.

The default offline backbones (EfficientNet-Lite0 on the poster at 256x160, MiniLM on the plot)
run on the 30 movies23 test movies that bench/service_latency.py sends, in batches of 1-8, with
one torch thread; CPU time is the process's.

    python bench/predict_cost.py [--out bench/results/predict_cost.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

import service_data as D  # noqa: E402
import torch  # noqa: E402

from ssnas_core.backbones import DEFAULT_BY_KIND  # noqa: E402
from ssnas_core.data.extract import extract_one  # noqa: E402
from ssnas_core.data.safety import open_image  # noqa: E402

BACKBONES = {"poster": DEFAULT_BY_KIND["image"], "plot": DEFAULT_BY_KIND["text"]}


def cost(samples: list[dict], batch: int, rounds: int) -> dict:
    extract_one(samples[:batch], BACKBONES)  # warm-up (loads the backbones once)
    n, c0, t0 = 0, time.process_time(), time.perf_counter()
    for _ in range(rounds):
        for i in range(0, len(samples) - batch + 1, batch):
            extract_one(samples[i:i + batch], BACKBONES)
            n += batch
    cpu_ms, wall_ms = (time.process_time() - c0) * 1000 / n, (time.perf_counter() - t0) * 1000 / n
    return {"batch": batch, "samples": n, "cpu_ms_per_sample": round(cpu_ms, 1),
            "wall_ms_per_sample": round(wall_ms, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "predict_cost.json")
    a = p.parse_args()
    torch.set_num_threads(1)
    subset = D.movies_subset(REPO / "bench" / "work" / "svc" / "movies160.zip")
    samples = [{"poster": open_image(x["poster"]), "plot": x["plot"]} for x in D.movie_inputs(subset, 30)]
    rows = [cost(samples, b, a.rounds) for b in (1, 2, 4, 8)]
    best = min(r["cpu_ms_per_sample"] for r in rows)
    cores = os.cpu_count() or 1
    out = {"command": "python bench/predict_cost.py " + " ".join(sys.argv[1:]), "backbones": BACKBONES,
           "torch_threads": 1, "rows": rows, "cores": cores, "loadavg_end": os.getloadavg(),
           "cpu": platform.processor() or platform.machine(),
           "max_predictions_per_s": round(cores * 1000 / best, 1),
           "note": "backbones only (no HTTP, JSON, image decoding or fusion network): an upper bound"}
    print(json.dumps(out, indent=1))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
