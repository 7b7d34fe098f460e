"""ETA accuracy: 10 jobs of different sizes run one after another as the worker runs them
(pipeline -> baseline panel -> save), each event fed to the worker's ETA model
(``worker.eta.EtaModel`` with the machine profile built by the jobs before it, starting empty)
and, for comparison, to the previous estimate (fixed stage shares + extrapolated pace).

For each job and each of 10 %, 25 % and 50 % progress, the first event at or past that
progress gives the ETA shown then; its error is |ETA - actual time left| / actual time left.
Prints the medians and writes bench/results/eta.json.

    python bench/eta.py [--jobs 10] [--out bench/results/eta.json] [--trace bench/work/eta_trace.json]
    python bench/eta.py --replay bench/work/eta_trace.json   # the current model on recorded events
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssnas_core.callbacks import ProgressEvent  # noqa: E402
from ssnas_core.config import RunConfig  # noqa: E402
from ssnas_core.data.features import Manifest, NodeSpec, write_features  # noqa: E402
from worker.eta import EtaModel, Profile  # noqa: E402
from worker.progress import job_plan, stage_spans  # noqa: E402

TARGETS = (0.10, 0.25, 0.50)
NODES = (NodeSpec("img_a", "image", (8, 4, 4)), NodeSpec("img_b", "image", (16, 2, 2)),
         NodeSpec("txt_a", "text", (12,)), NodeSpec("txt_b", "text", (6,)))
# (samples, search epochs, pretrain epochs, finetune epochs, C): different sizes and shapes
JOBS = [(300, 3, 2, 12, 8), (800, 2, 1, 10, 16), (500, 4, 2, 15, 8), (1200, 2, 1, 8, 8),
        (400, 5, 2, 20, 16), (1000, 3, 2, 12, 8), (600, 2, 2, 25, 16), (250, 6, 2, 10, 8),
        (1100, 3, 1, 15, 8), (700, 4, 3, 12, 8)]


def make_dataset(path: Path, n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = np.zeros((n, 5), np.uint8)
    y[np.arange(n), rng.integers(5, size=n)] = 1
    arrays = {s.name: (np.tensordot(y.astype(np.float32), rng.normal(size=(5, *s.shape)), axes=1)
                       + rng.normal(size=(n, *s.shape))).astype(np.float32) for s in NODES}
    split = np.zeros(n, np.uint8)
    split[int(0.6 * n):int(0.8 * n)], split[int(0.8 * n):] = 1, 2
    man = Manifest(nodes=NODES, label_names=tuple(f"l{k}" for k in range(5)), task="multilabel", num_samples=n)
    return write_features(path, man, arrays, y, split, ids=[f"s{i}" for i in range(n)])


class OldEstimate:
    """The estimate before this change: fixed stage shares, pace extrapolated over the whole job."""

    def __init__(self, cfg: RunConfig):
        self.spans, self.t0, self.p0 = stage_spans(cfg, False), None, 0.0

    def update(self, event: ProgressEvent, now: float) -> tuple[float, float | None]:
        lo, hi = self.spans.get(event.stage, (0.0, 0.0))
        p = lo + (hi - lo) * event.progress
        if self.t0 is None:
            self.t0, self.p0 = now, p
            return p, None
        done = p - self.p0
        return p, (max(0.0, (now - self.t0) * (1 - p) / done) if done >= 0.005 else None)


def job_config(i: int, job: tuple) -> RunConfig:
    n, se, pe, fe, C = job
    return RunConfig.from_dict({"space": {"C": C, "L": 4}, "search": {"epochs": se, "batch_size": 64},
                                "pretrain": {"epochs": pe, "batch_size": 64},
                                "finetune": {"epochs": fe, "patience": 3, "label_fraction": 0.3, "batch_size": 32},
                                "seed": i, "device": "cpu", "num_threads": 1})


def run_job(i: int, job: tuple, profile: Profile, work: Path, events: list | None = None) -> dict:
    """Run job ``i`` live; ``events`` (if given) receives (seconds since start, event fields)."""
    from ssnas_core.baselines.panel import baseline_panel
    from ssnas_core.pipeline import run_pipeline

    cfg = job_config(i, job)
    t0 = time.monotonic()
    ds = make_dataset(work / f"feat{i}", job[0], i)
    t_plan = time.monotonic()  # where the worker makes the job's plan
    rows: list[tuple[float, ProgressEvent]] = []

    def feed(event: ProgressEvent) -> None:
        rows.append((time.monotonic(), event))

    run_pipeline(ds, cfg, work / f"job{i}", feed)
    feed(ProgressEvent("baselines", 0, 1, 0, 1))
    baseline_panel(ds, cfg)
    feed(ProgressEvent("saving", 0, 1, 0, 1))
    end = time.monotonic()
    if events is not None:
        events.append({"t_end": end - t0, "t_plan": t_plan - t0,
                       "events": [(t - t0, dataclasses.asdict(e)) for t, e in rows]})
    return score(job, ds, cfg, profile, (t0, t_plan, end), rows)


def score(job: tuple, ds, cfg: RunConfig, profile: Profile, times: tuple[float, float, float],
          rows: list[tuple[float, ProgressEvent]]) -> dict:
    """Feed the events, at their times, to the ETA model and the old estimate; the errors at each
    target progress. The profile learns from the job at its end, as in the worker."""
    n, se, pe, fe, C = job
    t0, t_plan, end = times
    plan, kind = job_plan(ds, cfg, {"method": "ssl"})
    new, old = EtaModel(plan, profile, cfg.finetune.patience, kind, t0=t0, now=t_plan), OldEstimate(cfg)
    trace: list[tuple[float, float, float | None, float, float | None]] = []
    for now, event in rows:
        trace.append((now, *new.update(event, now), *old.update(event, now)))
    new.finish(end)
    out = {"samples": n, "search_epochs": se, "pretrain_epochs": pe, "finetune_epochs": fe, "C": C,
           "wall_s": round(end - t0, 2), "errors": {}, "errors_before": {}, "eta_over_actual": {}}
    for target in TARGETS:
        for name, col in (("errors", 1), ("errors_before", 3)):
            hit = next((r for r in trace if r[col] >= target and r[col + 1] is not None), None)
            left = None if hit is None else end - hit[0]
            out[name][f"{target:.2f}"] = None if hit is None else round(abs(hit[col + 1] - left) / left, 4)
            if name == "errors" and hit is not None:  # the sign: > 1 is an ETA too long
                out["eta_over_actual"][f"{target:.2f}"] = round(hit[col + 1] / left, 3)
    return out


def median(rows: list[dict], key: str, target: str) -> float | None:
    vals = [r[key][target] for r in rows if r[key][target] is not None]
    return round(statistics.median(vals), 4) if vals else None


def replay(path: Path, jobs: int) -> tuple[list[dict], Profile]:
    """The ETA model over the events recorded by an earlier run (``--trace``), at their times:
    for checking a change of the estimator on the same jobs (the figures to report come from a
    live run)."""
    recorded = json.loads(Path(path).read_text())
    profile, rows = Profile(), []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (job, rec) in enumerate(zip(JOBS[:jobs], recorded)):
            ds = make_dataset(Path(tmp) / f"feat{i}", job[0], i)
            events = [(t, ProgressEvent(**e)) for t, e in rec["events"]]
            rows.append(score(job, ds, job_config(i, job), profile, (0.0, rec["t_plan"], rec["t_end"]), events))
            print(json.dumps(rows[-1]), flush=True)
    return rows, profile


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=len(JOBS))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "eta.json"))
    ap.add_argument("--trace", type=Path, help="also write each job's timed events here (for --replay)")
    ap.add_argument("--replay", type=Path, help="score the ETA model on recorded events; writes nothing")
    args = ap.parse_args()
    if args.replay:
        rows, _ = replay(args.replay, args.jobs)
        print(json.dumps({f"{t:.2f}": median(rows, "errors", f"{t:.2f}") for t in TARGETS}))
        return
    import torch

    torch.set_num_threads(1)
    profile, rows, events = Profile(), [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, job in enumerate(JOBS[:args.jobs]):
            rows.append(run_job(i, job, profile, Path(tmp), events))
            print(json.dumps(rows[-1]), flush=True)
    if args.trace:
        args.trace.parent.mkdir(parents=True, exist_ok=True)
        args.trace.write_text(json.dumps(events))
    summary = {f"{t:.2f}": {"median_error": median(rows, "errors", f"{t:.2f}"),
                            "median_error_before": median(rows, "errors_before", f"{t:.2f}"),
                            "median_error_with_profile": median(rows[1:], "errors", f"{t:.2f}")}
               for t in TARGETS}
    result = {"command": "python bench/eta.py", "jobs": rows, "summary": summary, "profile": profile.rates,
              "finetune_share": profile.finetune_share,
              "note": "job 1 starts with an empty profile (default rates); each later job uses the profile "
                      "of the jobs before it; one torch thread; machine shared with other work"}
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
