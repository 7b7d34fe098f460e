"""Feature-extraction speed of a benchmark pack with the offline default backbones.

Runs the real command twice in fresh processes, as a user would:

    python -m ssnas_core data build movies23 --data-root ../shared/data --out CACHE --quiet

first into an empty cache (full extraction), then again (served from the cache). Records
wall time, CPU time, peak RSS and the cache size, plus a per-stage breakdown measured in
this process on the first ``--profile-samples`` samples (sample decoding, preprocessing and
forward time per backbone), and the load average, since the machine may be shared.

    .venv/bin/python bench/extract_speed.py [--benchmark movies23] [--threads 2] [--limit N]

Writes bench/results/extract_speed.json (one entry per benchmark + settings).
Targets (issue 3): movies23 full extraction < 10 min, cached rerun < 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "extract_speed.json"


def run_cli(args: list[str], threads: int | None, parallel: str = "auto") -> dict:
    """One `data build` in a child process: its JSON plus wall/CPU seconds and peak RSS."""
    cmd = [sys.executable, "-m", "ssnas_core", "data", "build", *args, "--parallel", parallel]
    if threads:
        cmd += ["--threads", str(threads)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"command": " ".join(cmd[1:]), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "in_build_s": out["seconds"], "cached": out["cached"], "features": out["features"],
            "bytes": out["bytes"], "num_samples": out["num_samples"],
            "peak_rss_mb_children_max": round(after.ru_maxrss / 1024, 1),
            "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


def breakdown(benchmark: str, data_root: Path, n: int, threads: int | None) -> dict:
    """Seconds per sample of each stage on the first n samples (this process)."""
    import torch

    sys.path.insert(0, str(ROOT))
    from ssnas_core.data.cli import _open_benchmark
    from ssnas_core.data.extract import load_backbones, resolve_specs

    if threads:
        torch.set_num_threads(threads)
    ns = argparse.Namespace(benchmark=benchmark, data_root=data_root, limit=None)
    raw, defaults = _open_benchmark(ns)
    specs = resolve_specs(raw.fields, defaults)
    backbones = load_backbones(specs, raw.fields, "cpu", example=raw.sample(0))
    t = time.perf_counter()
    samples = [raw.sample(i) for i in range(n)]
    out = {"decode_ms": (time.perf_counter() - t) / n * 1e3}
    for field, bb in backbones.items():
        t = time.perf_counter()
        batches = [bb.collate([bb.preprocess(s[field]) for s in samples[i:i + 32]])
                   for i in range(0, n, 32)]
        out[f"{field}.{bb.name}.preprocess_ms"] = (time.perf_counter() - t) / n * 1e3
        t = time.perf_counter()
        for b in batches:
            bb.forward(b)
        out[f"{field}.{bb.name}.forward_ms"] = (time.perf_counter() - t) / n * 1e3
    return {k: round(v, 2) for k, v in out.items()} | {"samples": n,
                                                        "torch_threads": torch.get_num_threads()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--benchmark", default="movies23", choices=["movies23", "avmnist"])
    p.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--cache", type=Path, default=Path("/tmp/ssnas_extract_bench"))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--parallel", choices=["auto", "fields", "ops"], default="auto")
    p.add_argument("--limit", type=int, default=None, help="per split (quick check, not the target)")
    p.add_argument("--profile-samples", type=int, default=128)
    p.add_argument("--keep", action="store_true", help="keep the cache folder afterwards")
    args = p.parse_args()
    cache = args.cache / args.benchmark
    shutil.rmtree(cache, ignore_errors=True)
    common = [args.benchmark, "--data-root", str(args.data_root), "--out", str(cache), "--quiet"]
    if args.limit:
        common += ["--limit", str(args.limit)]
    load0 = [round(x, 2) for x in os.getloadavg()]
    first = run_cli(common, args.threads, args.parallel)
    second = run_cli(common, args.threads, args.parallel)
    prof = breakdown(args.benchmark, args.data_root, args.profile_samples, args.threads)
    key = f"{args.benchmark}" + (f"_limit{args.limit}" if args.limit else "") + \
        (f"_threads{args.threads}" if args.threads else "") + \
        (f"_{args.parallel}" if args.parallel != "auto" else "")
    result = {"benchmark": args.benchmark, "limit": args.limit, "threads": args.threads,
              "parallel": args.parallel,
              "cpus": os.cpu_count(), "loadavg_before": load0, "first_run": first,
              "cached_run": second, "cache_mb": round(first["bytes"] / 2**20, 1),
              "breakdown_per_sample": prof,
              "targets": {"first_run_s": 600, "cached_run_s": 30},
              "measured_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    all_results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    all_results[key] = result
    RESULTS.write_text(json.dumps(all_results, indent=1))
    print(json.dumps(result, indent=1))
    if not args.keep:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
