"""The engine on a CUDA device: the whole job runs, inference agrees with the CPU, and how long a
self-supervised search epoch takes there (fp32 and bf16 autocast).

Only ``ssnas_core`` (torch, numpy, h5py, safetensors, scikit-learn): no service, no backbones,
so it runs on a bare GPU machine with PyTorch. Data are generated in MM-IMDB's cached node shapes
(``search_speed.generate``).

    python bench/cuda_check.py [--samples 25959] [--small 3000] [--out bench/results/cuda_check.json]

Checks (each recorded with pass/fail, the script exits 1 if one fails):
  pipeline  search 2 + pretrain 2 + finetune <=20 epochs on ``--small`` samples with learnable labels,
            device cuda with bf16 autocast: finite losses, a valid genotype, a checkpoint, and a test
            F1 within 0.05 of the same job on the CPU in fp32
  predict   that checkpoint on CPU and on CUDA, 256 test rows: probabilities within 2e-3 with
            PyTorch's defaults (cuDNN convolutions in TF32) and within 1e-4 in strict fp32
  resume    the search stopped after epoch 1 and resumed gives the genotype and losses of an
            uninterrupted run (on CUDA)
  speed     one SSL search epoch on ``--samples`` samples (defaults C=192, L=16, batch 128), fp32
            and bf16 autocast
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from search_speed import NODES, generate  # noqa: E402

from ssnas_core.config import RunConfig  # noqa: E402
from ssnas_core.data.features import FeatureDataset, FeatureWriter, Manifest  # noqa: E402
from ssnas_core.pipeline import run_pipeline, split_indices  # noqa: E402
from ssnas_core.predict import Predictor  # noqa: E402
from ssnas_core.search import run_search  # noqa: E402

SMALL = {"space": {"C": 64, "L": 4}, "search": {"epochs": 2, "batch_size": 64},
         "pretrain": {"epochs": 2, "batch_size": 64}, "finetune": {"epochs": 20, "label_fraction": 1.0},
         "amp": True, "seed": 0}


DEVICE = "cuda"


def generate_learnable(path: Path, n: int, seed: int = 1) -> FeatureDataset:
    """MM-IMDB node shapes whose 23 labels can be learned: genre k is on where dimension k of
    the first text node is in its top 15 %, so F1 tells a model that learned from one that did not."""
    rng = np.random.default_rng(seed)
    man = Manifest(NODES, tuple(f"genre{k}" for k in range(23)), "multilabel", n, info={"source": "generated"})
    nodes = {s.name: np.maximum(rng.normal(size=(n, *s.shape)), 0).astype(np.float16) for s in NODES}
    text = nodes["maxout_1"][:, :23].astype(np.float32)
    labels = (text > np.quantile(text, 0.85, axis=0)).astype(np.uint8)
    split = rng.choice(3, size=n, p=[0.6, 0.1, 0.3]).astype(np.uint8)
    with FeatureWriter(path, man) as w:
        w.write(0, nodes, labels, split)
    return FeatureDataset(path)


class Stop(Exception):
    pass


def finite(values) -> bool:
    return all(math.isfinite(float(v)) for v in values)


def _run(ds, work: Path, device: str, amp: bool) -> tuple[dict, list, float]:
    events: list = []
    t0 = time.perf_counter()
    res = run_pipeline(ds, RunConfig.from_dict({**SMALL, "device": device, "amp": amp}), work, events.append)
    return res, events, time.perf_counter() - t0


def check_pipeline(ds, work: Path) -> tuple[dict, Path | None]:
    """The job on the device with bf16 autocast, and on the CPU in fp32 as the reference: the
    device run must learn as well (test weighted F1 @0.5 within 0.05 of the CPU run's)."""
    res, events, seconds = _run(ds, work / "run", DEVICE, DEVICE == "cuda")
    ref, _, ref_seconds = _run(ds, work / "ref", "cpu", False)
    f1, ref_f1 = (r["metrics"]["test"]["weighted_f1@0.5"] for r in (res, ref))
    flat = [m for ev in events if ev.end_of_epoch for m in ev.metrics.values()]
    ckpt = Path(res["checkpoint"]) if res.get("checkpoint") else None
    ok = (bool(flat) and finite(flat) and ckpt is not None and ckpt.exists() and bool(res.get("genotype"))
          and ref_f1 > 0.3 and f1 >= ref_f1 - 0.05)
    return {"pass": ok, "seconds": round(seconds, 1), "cpu_fp32_seconds": round(ref_seconds, 1),
            "epoch_events": len(flat), "test_weighted_f1@0.5": round(f1, 4),
            "cpu_fp32_test_weighted_f1@0.5": round(ref_f1, 4), "genotype_edges": res["genotype"]["edges"],
            "checkpoint_bytes": ckpt.stat().st_size if ckpt else None}, ckpt


def check_predict(ds, ckpt: Path) -> dict:
    rows = ds.split_indices("test")[:256]
    nodes = ds.get(rows)
    cpu = Predictor.load(ckpt, "cpu").predict_features(nodes)
    gpu = Predictor.load(ckpt, DEVICE).predict_features(nodes)
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # cuDNN convolutions default to TF32 (10-bit mantissa)
    try:
        exact = Predictor.load(ckpt, DEVICE).predict_features(nodes)
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    diff, diff_exact = float(np.abs(cpu - gpu).max()), float(np.abs(cpu - exact).max())
    same_labels = float(((cpu > 0.5) == (gpu > 0.5)).mean())
    return {"pass": diff < 2e-3 and diff_exact < 1e-4, "rows": int(len(rows)),
            "max_abs_diff_default_tf32": diff, "max_abs_diff_fp32": diff_exact,
            "label_agreement@0.5": same_labels}


def check_resume(ds, work: Path) -> dict:
    cfg = RunConfig.from_dict({**SMALL, "device": DEVICE, "search": {"epochs": 3, "batch_size": 64}})
    idx = split_indices(ds, cfg)
    dev = torch.device(DEVICE)

    def run(state: Path, stop_after: int | None):
        losses = []

        def cb(ev):
            if ev.end_of_epoch:
                losses.append(ev.metrics.get("train_loss"))
                if stop_after is not None and ev.epoch + 1 == stop_after:
                    raise Stop()
        try:
            res = run_search(ds, cfg, dev, train_idx=idx["train"], val_idx=idx["dev"], callback=cb,
                             state_path=state)
        except Stop:
            return None, losses
        return res, losses

    full, full_losses = run(work / "full.safetensors", None)
    _, first = run(work / "resumed.safetensors", 1)
    resumed, rest = run(work / "resumed.safetensors", None)
    same_geno = full.genotype.to_json() == resumed.genotype.to_json()
    joined = first + rest
    close = len(joined) == len(full_losses) and all(
        abs(a - b) <= 1e-3 * max(1.0, abs(a)) for a, b in zip(full_losses, joined))
    return {"pass": same_geno and close, "same_genotype": same_geno, "losses_full": full_losses,
            "losses_stopped_then_resumed": joined}


def speed(samples: int, data_root: Path) -> dict:
    ds = generate(data_root / f"mmimdb_shapes_{samples}", samples)
    out = {}
    for amp in (False, True):
        cfg = RunConfig.from_dict({"search": {"epochs": 1, "batch_size": 128}, "device": DEVICE, "amp": amp})
        idx = split_indices(ds, cfg)
        cuda = DEVICE == "cuda"
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        res = run_search(ds, cfg, torch.device(DEVICE), train_idx=idx["train"], val_idx=idx["dev"])
        if cuda:
            torch.cuda.synchronize()
        out["bf16" if amp else "fp32"] = {
            "epoch_s": round(time.perf_counter() - t0, 2),
            "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20) if cuda else None,
            "genotype_edges": res.genotype.to_json()["edges"]}
    return {"samples": samples, **out}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=25959)
    ap.add_argument("--small", type=int, default=3000)
    ap.add_argument("--only", default="pipeline,predict,resume,speed")
    ap.add_argument("--device", default="cuda", help="cpu: a dry run of this script without a GPU")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cuda_check.json")
    a = ap.parse_args()
    global DEVICE
    DEVICE = a.device
    if DEVICE == "cuda" and not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(0) if DEVICE == "cuda" else platform.processor()
    out = {"device": name, "torch": torch.__version__,
           "python": platform.python_version(), "command": "python bench/cuda_check.py " + " ".join(sys.argv[1:])}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ds = generate_learnable(work / f"small_{a.small}", a.small)
        ckpt = None
        for name in a.only.split(","):
            try:
                if name == "pipeline":
                    out[name], ckpt = check_pipeline(ds, work)
                elif name == "predict" and ckpt is not None:
                    out[name] = check_predict(ds, ckpt)
                elif name == "resume":
                    out[name] = check_resume(ds, work)
                elif name == "speed":
                    out[name] = speed(a.samples, work)
            except Exception as exc:  # noqa: BLE001 - recorded as a failed check
                out[name] = {"pass": False, "error": f"{type(exc).__name__}: {exc}"}
            print(name, json.dumps(out.get(name)), flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))
    return 0 if all(v.get("pass", True) for v in out.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
