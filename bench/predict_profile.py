"""Where /predict's CPU goes, phase by phase, outside the service (issue 14).

One poster (JPEG) + plot per request, the 30 movies23 test movies bench/service_latency.py sends,
the default offline backbones and a fusion network of the size that benchmark trains (C=64, L=16,
2 cells, 23 labels; a seeded random genotype). Each phase is timed with this thread's CPU clock
(one torch thread, no pool), per sample, at batch sizes 1, 2, 4 and 8, the batch sizes interleaved
round by round so that a load change on the machine hits them all alike:

  request   json.loads + PredictRequest validation + base64 (per request of one sample)
  decode    JPEG -> RGB (ssnas_core.data.images.open_image)
  resize    the image backbone's preprocess (resize to 256 x 160, uint8) + collate (normalise)
  tokenise  the text backbone's preprocess
  image_bb / text_bb   the backbones' forward passes (maps pooled to 4 x 4)
  fusion    Predictor.predict_features (checks, fusion network, sigmoid)
  response  labels at the threshold, PredictOut, JSON

    python bench/predict_profile.py [--rounds 3] [--out bench/results/predict_profile.json]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

import numpy as np  # noqa: E402
import service_data as D  # noqa: E402
import torch  # noqa: E402

from ssnas_core.backbones import DEFAULT_BY_KIND, cached_backbone  # noqa: E402

BACKBONES = {"poster": DEFAULT_BY_KIND["image"], "plot": DEFAULT_BY_KIND["text"]}
WORK = REPO / "bench" / "work" / "predict_profile"
LABELS = [f"genre{i}" for i in range(23)]
PHASES = ("request", "decode", "resize", "tokenise", "image_bb", "text_bb", "fusion", "response")


def bench_model(path: Path, C: int = 64, L: int = 16, seed: int = 0) -> Path:
    """A checkpoint of the size the service benchmark trains, on the default backbones' nodes."""
    if path.exists():
        return path
    from ssnas_core.backbones import BackboneSpec
    from ssnas_core.baselines.random_arch import random_genotype
    from ssnas_core.checkpoint import save_model
    from ssnas_core.config import SearchSpaceConfig
    from ssnas_core.data.extract import node_specs
    from ssnas_core.model import Classifier, FusionNet

    torch.manual_seed(seed)
    nodes = node_specs({f: cached_backbone(s) for f, s in BACKBONES.items()})
    g = random_genotype(nodes, SearchSpaceConfig(C=C, L=L), seed)
    model = Classifier(FusionNet(g), len(LABELS)).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(path, model, {"label_names": LABELS, "task": "multilabel", "threshold": 0.3,
                             "backbones": {f: BackboneSpec.parse(s).to_json() for f, s in BACKBONES.items()}})
    return path


def request_bodies(n: int = 30) -> list[bytes]:
    subset = D.movies_subset(REPO / "bench" / "work" / "svc" / "movies160.zip")
    return [json.dumps({"inputs": {"poster": {"base64": base64.b64encode(x["poster"]).decode()},
                                   "plot": x["plot"]}}).encode() for x in D.movie_inputs(subset, n)]


class Clock:
    def __init__(self) -> None:
        self.ms = dict.fromkeys(PHASES, 0.0)

    def __call__(self, phase: str, fn, *args):
        t0 = time.thread_time()
        out = fn(*args)
        self.ms[phase] += (time.thread_time() - t0) * 1000
        return out


def one_batch(clock: Clock, bodies: list[bytes], predictor, image_bb, text_bb) -> None:
    from api.schemas import Prediction, PredictOut, PredictRequest
    from ssnas_core.data.images import open_image

    def parse(body: bytes) -> tuple[bytes, str]:
        req = PredictRequest.model_validate(json.loads(body))
        return base64.b64decode(req.inputs["poster"]["base64"], validate=True), req.inputs["plot"]

    raw = [clock("request", parse, b) for b in bodies]
    images = [clock("decode", open_image, data) for data, _ in raw]
    pix = clock("resize", lambda: image_bb.collate([image_bb.preprocess(im) for im in images]))
    ids = clock("tokenise", lambda: text_bb.collate([text_bb.preprocess(t) for _, t in raw]))
    with torch.inference_mode():
        img = clock("image_bb", image_bb.forward, pix)
        txt = clock("text_bb", text_bb.forward, ids)
    nodes = {f"poster.{image_bb.name}.{k}": v.numpy() for k, v in img.items()}
    nodes |= {f"plot.{text_bb.name}.{k}": v.numpy() for k, v in txt.items()}
    probs = clock("fusion", predictor.predict_features, nodes)

    names = [str(n) for n in predictor.label_names]

    def respond(row: np.ndarray) -> bytes:  # one response per request of one sample
        rows = row[None]
        out = PredictOut(model_id="m", task=predictor.task, threshold=float(predictor.threshold),
                         label_names=names, predictions=[
                             Prediction(probabilities={n: float(p) for n, p in zip(names, r)}, labels=lab)
                             for r, lab in zip(rows, predictor.labels(rows))])
        return out.model_dump_json().encode()

    for row in probs:
        clock("response", respond, row)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batches", default="1,2,4,8")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "predict_profile.json")
    a = p.parse_args()
    torch.set_num_threads(1)
    from ssnas_core.predict import Predictor

    predictor = Predictor.load(bench_model(WORK / "model.safetensors"))
    image_bb, text_bb = cached_backbone(BACKBONES["poster"]), cached_backbone(BACKBONES["plot"])
    bodies = request_bodies()
    sizes = [int(b) for b in a.batches.split(",")]
    clocks = {b: Clock() for b in sizes}
    counts = dict.fromkeys(sizes, 0)
    one_batch(Clock(), bodies[:4], predictor, image_bb, text_bb)  # warm-up
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(a.rounds):
        for b in sizes:
            for i in range(0, len(bodies) - b + 1, b):
                one_batch(clocks[b], bodies[i:i + b], predictor, image_bb, text_bb)
                counts[b] += b
    rows = []
    for b in sizes:
        ms = {k: round(v / counts[b], 2) for k, v in clocks[b].ms.items()}
        rows.append({"batch": b, "samples": counts[b], "cpu_ms_per_sample": ms,
                     "total_ms": round(sum(ms.values()), 1),
                     "backbones_ms": round(ms["image_bb"] + ms["text_bb"], 1),
                     "outside_backbones_ms": round(sum(ms.values()) - ms["image_bb"] - ms["text_bb"], 1)})
        print(json.dumps(rows[-1]), flush=True)
    lens = [len(text_bb.preprocess(json.loads(b)["inputs"]["plot"])) for b in bodies]
    out = {"command": "python bench/predict_profile.py " + " ".join(sys.argv[1:]),
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "backbones": BACKBONES, "fusion": "random genotype, C=64, L=16, 2 cells, 23 labels",
           "torch_threads": 1, "rounds": a.rounds, "rows": rows,
           "plot_tokens": {"min": min(lens), "median": int(np.median(lens)), "max": max(lens)},
           "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
           "loadavg_end": os.getloadavg(), "cpus": os.cpu_count(), "platform": platform.platform(),
           "note": "thread CPU time per sample; the HTTP server's own cost is not in here "
                   "(bench/service_latency.py measures the API's whole CPU per prediction)"}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
