"""Search epoch and batched /predict-style inference on a CUDA device, in one call (issue 14).

(a) search: one self-supervised search epoch (defaults: C=192, L=16, batch 128, ssl cross_modal,
    alternate schedule) on generated MM-IMDB-shaped features (4 maps 512x4x4, text 64 and 128;
    15,552 train / 2,608 dev rows) held on the device in float16. Variants, same call:
    - plain: the engine as it is (``_Search.weight_pass`` + ``validate``), fed from device memory;
    - plain_bf16: the same with ``amp`` (bf16 autocast);
    - graph: the weight step + architecture step captured once as a CUDA graph and replayed per
      batch (capturable Adam with the SGDR rate in a device tensor, losses and the modality push
      summed on the device, views drawn from the default CUDA generator); validation likewise;
    - graph_tf32: the graph with TF32 matrix products.
(b) predict: the default offline backbones (EfficientNet-Lite0 poster, MiniLM plot) with random
    weights of the same architecture, a fusion network of a derived genotype and a linear head:
    batches of PIL posters + plots through ``extract_one`` (the /predict path) and, as the ceiling,
    pre-collated batches through the backbones and the classifier alone.

    python bench/gpu_check.py [--tiny] [--out DIR]    (--tiny: small sizes, runs on the CPU too)

Writes gpu_speed.json under --out (default $OUT or bench/results).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ssnas_core.config import RunConfig  # noqa: E402
from ssnas_core.data.features import NodeSpec  # noqa: E402
from ssnas_core.objectives import contrastive_loss  # noqa: E402
from ssnas_core.schedule import cosine_restart_lr, epoch_seed  # noqa: E402
from ssnas_core.search import _Search  # noqa: E402

NODES = tuple(NodeSpec(f"vgg_{t}", "image", (512, 4, 4)) for t in ("relu4_1", "relu4_4", "relu5_3", "pool5")) + (
    NodeSpec("maxout_1", "text", (64,)), NodeSpec("maxout_2", "text", (128,)))


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


class _Manifest:
    task, num_labels = "multilabel", 23


class Resident:
    """Generated features held on the device (float16), standing in for a FeatureDataset."""

    def __init__(self, n: int, device: torch.device, nodes=NODES):
        g = torch.Generator(device=device).manual_seed(0)
        self.node_specs, self.manifest = nodes, _Manifest()
        self.feats = [torch.randn((n, *s.shape), generator=g, device=device).clamp_min_(0).half() for s in nodes]

    def rows(self, idx: torch.Tensor) -> list[torch.Tensor]:
        return [f.index_select(0, idx).float() for f in self.feats]


class _DeviceBatches:
    def __init__(self, ds: Resident, idx, batch, shuffle, seed, drop_last, max_batches):
        self.ds, self.idx, self.batch, self.shuffle, self.seed = ds, np.asarray(idx), batch, shuffle, seed
        n = len(self.idx)
        full = n // batch if drop_last and n > batch else -(-n // batch)
        self.n = min(full, max_batches) if max_batches else full

    def __len__(self):
        return self.n

    def order(self):
        return np.random.default_rng(self.seed).permutation(self.idx) if self.shuffle else self.idx

    def __iter__(self):
        order = torch.from_numpy(self.order()).to(self.ds.feats[0].device)
        for i in range(self.n):
            yield self.ds.rows(order[i * self.batch:(i + 1) * self.batch]), None


class DeviceSearch(_Search):
    """The search engine fed from device-resident features (no host reads)."""

    def batches(self, idx, epoch, stage, shuffle=True, drop_last=True):
        return _DeviceBatches(self.ds, idx, self.sc.batch_size, shuffle, epoch_seed(self.cfg.seed, stage, epoch),
                              drop_last, self.sc.max_batches_per_epoch)

    def _arch_batches(self):
        rng = np.random.default_rng(epoch_seed(self.cfg.seed, "search_a_draw", self.epoch))
        size = min(self.sc.batch_size, len(self.val_idx))
        while True:
            idx = torch.from_numpy(rng.choice(self.val_idx, size=size, replace=False)).to(self.device)
            yield self.ds.rows(idx), None


def plain_epoch(ds, cfg, dev, train, val) -> dict:
    s = DeviceSearch(ds, cfg, dev, train, val)
    torch.manual_seed(epoch_seed(cfg.seed, "dropout", 0))
    sync(dev)
    t0 = time.perf_counter()
    loss = s.weight_pass(lambda ev: None)
    t1 = time.perf_counter()
    v = s.validate()
    sync(dev)
    t2 = time.perf_counter()
    return {"epoch_s": round(t2 - t0, 3), "weight_pass_s": round(t1 - t0, 3), "validate_s": round(t2 - t1, 3),
            "train_loss": round(loss, 4), "arch_loss": round(s.arch_loss, 4), "val_loss": round(v["val_loss"], 4),
            "steps": len(s.batches(train, 0, "search_w"))}


def graph_epoch(ds, cfg, dev, train, val, use_graph: bool = True) -> dict:
    """Weight step + architecture step as one captured CUDA graph, replayed per batch."""
    s = DeviceSearch(ds, cfg, dev, train, val)
    sc, ssl = s.sc, cfg.ssl
    b = sc.batch_size
    s.opt_w = torch.optim.Adam(s.w_params, lr=torch.tensor(sc.w_lr, device=dev), weight_decay=sc.w_weight_decay,
                               capturable=dev.type == "cuda")
    s.opt_a = torch.optim.Adam(s.net.arch_parameters(), lr=torch.tensor(sc.lr_arch, device=dev),
                               betas=sc.arch_betas, weight_decay=sc.arch_weight_decay, capturable=dev.type == "cuda")
    arch = s.net.arch_parameters()
    n_in = len(ds.node_specs)
    idx_w = torch.zeros(b, dtype=torch.long, device=dev)
    idx_a = torch.zeros(b, dtype=torch.long, device=dev)
    acc = torch.zeros(2, device=dev)
    push = torch.zeros(n_in, device=dev)

    def step():
        s.net.train(), s.head.train()
        s._train_only(s.w_params)
        s.opt_w.zero_grad(set_to_none=True)
        loss = contrastive_loss(s.net, s.head, s.augment, ds.rows(idx_w), None, ssl)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(s.w_params, sc.grad_clip, foreach=True)
        s.opt_w.step()
        s._train_only(arch)
        s.opt_a.zero_grad(set_to_none=True)
        la = contrastive_loss(s.net, s.head, s.augment, ds.rows(idx_a), None, ssl)
        la.backward()
        with torch.no_grad():
            for a in s.net.alphas:
                push.sub_((a.grad[:, :n_in, 1] - a.grad[:, :n_in, 0]).sum(dim=0))
            acc[0] += loss.detach()
            acc[1] += la.detach()
        s.opt_a.step()
        s._train_only(s.w_params + arch)

    vidx = torch.zeros(b, dtype=torch.long, device=dev)
    vacc = torch.zeros(1, device=dev)

    def vstep():
        s.net.eval(), s.head.eval()
        with torch.no_grad():
            vacc.add_(contrastive_loss(s.net, s.head, s.augment, ds.rows(vidx), None, ssl).detach())

    tb = s.batches(train, 0, "search_w")
    order = torch.from_numpy(tb.order()).to(dev)
    rng = np.random.default_rng(epoch_seed(cfg.seed, "search_a_draw", 0))
    draws = torch.from_numpy(np.stack([rng.choice(val, size=b, replace=False) for _ in range(len(tb))])).to(dev)
    vb = s.batches(val, 0, "eval", False)
    vorder = torch.from_numpy(vb.order()).to(dev)
    t_capture = 0.0
    if use_graph:
        t0 = time.perf_counter()
        start = [t.detach().clone() for t in (*s.net.state_dict().values(), *s.head.state_dict().values())]
        idx_w.copy_(order[:b]), idx_a.copy_(draws[0]), vidx.copy_(vorder[:b])
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up (Adam state, cuBLAS workspaces) before capture
                step()
                vstep()
        torch.cuda.current_stream().wait_stream(side)
        gstep, gval = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
        with torch.cuda.graph(gstep):
            step()
        with torch.cuda.graph(gval):
            vstep()
        with torch.no_grad():  # back to the initial weights and fresh optimiser moments, in place
            for t, v in zip((*s.net.state_dict().values(), *s.head.state_dict().values()), start):
                t.copy_(v)
            for opt in (s.opt_w, s.opt_a):
                for st in opt.state.values():
                    for v in st.values():
                        if isinstance(v, torch.Tensor):
                            v.zero_()
        sync(dev)
        t_capture = time.perf_counter() - t0
        run_step, run_val = gstep.replay, gval.replay
    else:
        run_step, run_val = step, vstep
    acc.zero_(), push.zero_(), vacc.zero_()
    lr = s.opt_w.param_groups[0]["lr"]
    sync(dev)
    t0 = time.perf_counter()
    for i in range(len(tb)):
        idx_w.copy_(order[i * b:(i + 1) * b])
        idx_a.copy_(draws[i])
        if isinstance(lr, torch.Tensor):
            lr.fill_(cosine_restart_lr(i, len(tb), sc.w_lr, sc.w_lr_min))
        run_step()
    sync(dev)
    t1 = time.perf_counter()
    for i in range(len(vb)):
        vidx.copy_(vorder[i * b:(i + 1) * b])
        run_val()
    sync(dev)
    t2 = time.perf_counter()
    n = len(tb)
    return {"epoch_s": round(t2 - t0, 3), "weight_pass_s": round(t1 - t0, 3), "validate_s": round(t2 - t1, 3),
            "capture_and_warmup_s": round(t_capture, 2), "train_loss": round(float(acc[0]) / n, 4),
            "arch_loss": round(float(acc[1]) / n, 4), "val_loss": round(float(vacc[0]) / max(1, len(vb)), 4),
            "steps": n, "ms_per_weight_plus_arch_step": round(1000 * (t1 - t0) / n, 2)}


def search_part(dev, tiny: bool, skip: list[str]) -> dict:
    if tiny:
        nodes = (NodeSpec("img", "image", (16, 4, 4)), NodeSpec("txt", "text", (8,)))
        n_train, n_dev, space, bsz = 96, 48, {"C": 8, "L": 16}, 16
    else:
        nodes, n_train, n_dev, space, bsz = NODES, 15552, 2608, {}, 128
    ds = Resident(n_train + n_dev, dev, nodes)
    train, val = np.arange(n_train), np.arange(n_train, n_train + n_dev)
    cfg = RunConfig.from_dict({"space": space, "search": {"epochs": 1, "batch_size": bsz}})
    out = {"train": n_train, "dev": n_dev, "batch_size": bsz}
    runs = [("plain", lambda: plain_epoch(ds, cfg, dev, train, val))]
    amp = RunConfig.from_dict({**cfg.to_dict(), "amp": True})
    runs.append(("plain_bf16", lambda: plain_epoch(ds, amp, dev, train, val)))
    if dev.type == "cuda":
        runs.append(("graph", lambda: graph_epoch(ds, cfg, dev, train, val)))
        runs.append(("graph_tf32", lambda: _tf32(lambda: graph_epoch(ds, cfg, dev, train, val))))
    else:
        runs.append(("eager_loop", lambda: graph_epoch(ds, cfg, dev, train, val, use_graph=False)))
    for name, fn in runs:
        if name in skip:
            continue
        try:
            fn() if name.startswith("plain") and not tiny else None  # first epoch of a kind warms up kernels
            out[name] = fn()
        except Exception as exc:  # record and go on: one call, every figure it can give
            out[name] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-1500:]}
        print(name, json.dumps(out[name])[:400], flush=True)
    return out


def _tf32(fn):
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        return fn()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


# -- (b) predict ------------------------------------------------------------------------------
def _random_backbones(folder: Path, tokenizer: Path) -> dict:
    """Weights files of the default backbones' architectures with random values."""
    from safetensors.torch import save_file

    from ssnas_core.backbones.minilm import _RENAME, MiniLMEncoder
    torch.manual_seed(0)
    specs = {}
    try:
        from efficientnet_lite_pytorch import EfficientNet
        eff = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        torch.save(eff.state_dict(), folder / "effnet.pt")
        specs["poster"] = {"name": "efficientnet_lite0", "weights": str(folder / "effnet.pt")}
    except ImportError as exc:
        print("no efficientnet_lite_pytorch:", exc)
    enc = MiniLMEncoder()
    emb = {"word": "embeddings.word_embeddings", "pos": "embeddings.position_embeddings",
           "tok_type": "embeddings.token_type_embeddings", "ln": "embeddings.LayerNorm"}
    back = {v: k for k, v in _RENAME.items()}
    state = {}
    for key, val in enc.state_dict().items():
        parts = key.split(".")
        if parts[0] in emb:
            state[f"{emb[parts[0]]}.{parts[1]}"] = val.contiguous()
        else:
            state[f"encoder.layer.{parts[1]}.{back[parts[2]]}.{parts[3]}"] = val.contiguous()
    (folder / "minilm").mkdir(exist_ok=True)
    save_file(state, str(folder / "minilm" / "model.safetensors"))
    (folder / "minilm" / "tokenizer.json").write_bytes(tokenizer.read_bytes())
    specs["plot"] = {"name": "minilm", "weights": str(folder / "minilm")}
    return specs


def predict_part(dev, tiny: bool, tokenizer: Path) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    from ssnas_core.backbones.registry import BackboneSpec, cached_backbone
    from ssnas_core.config import SearchSpaceConfig
    from ssnas_core.data.extract import extract_one, node_specs
    from ssnas_core.model import Classifier, FusionNet
    from ssnas_core.objectives import to_probs
    from ssnas_core.search_space import SuperNet

    out: dict = {}
    rng = np.random.default_rng(0)
    words = ["the", "a", "man", "woman", "city", "war", "love", "story", "young", "family", "secret", "night",
             "murder", "detective", "journey", "friends", "school", "world", "dark", "life"]
    with tempfile.TemporaryDirectory() as tmp:
        specs = _random_backbones(Path(tmp), tokenizer)
        loaded = {f: cached_backbone(BackboneSpec.parse(s), str(dev)) for f, s in specs.items()}
        nodes = node_specs(loaded)
        out["nodes"] = [[n.name, list(n.shape)] for n in nodes]
        torch.manual_seed(0)
        genotype = SuperNet(nodes, SearchSpaceConfig()).genotype()
        model = Classifier(FusionNet(genotype), 23).to(dev).eval()
        n_samples = 8 if tiny else 512
        samples = [{"poster": Image.fromarray(rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)),
                    "plot": " ".join(rng.choice(words, size=int(rng.integers(40, 200))))} for _ in range(n_samples)]
        samples = [{k: v for k, v in s.items() if k in specs} for s in samples]

        def predict(batch, pool):
            feats = extract_one(batch, specs, device=str(dev), pool=pool)
            with torch.inference_mode():
                x = [torch.from_numpy(feats[n.name]).to(dev) for n in nodes]
                return to_probs(model(x), "multilabel").float().cpu().numpy()

        with ThreadPoolExecutor(len(specs)) as pool:
            for bsz in ((4, 8) if tiny else (8, 32, 64, 128, 256)):
                predict(samples[:bsz], pool)  # warm-up at this shape
                sync(dev)
                t0 = time.perf_counter()
                done = 0
                for start in range(0, len(samples) - bsz + 1, bsz):
                    predict(samples[start:start + bsz], pool)
                    done += bsz
                dt = time.perf_counter() - t0
                out[f"extract_one_batch{bsz}_per_s"] = round(done / dt, 1)
                print("predict", bsz, out[f"extract_one_batch{bsz}_per_s"], flush=True)
            # the device ceiling: collated batches through the backbones and the classifier only
            for bsz in ((8,) if tiny else (64, 256)):
                batch = samples[:bsz]
                collated = {f: bb.collate([bb.preprocess(s[f]) for s in batch]) for f, bb in loaded.items()}
                for amp in (False, True):
                    def fwd(amp=amp, collated=collated):
                        with torch.inference_mode(), torch.autocast(dev.type, torch.bfloat16, enabled=amp):
                            taps = {f"{f}.{bb.name}.{t}": v for f, bb in loaded.items()
                                    for t, v in bb.forward(collated[f]).items()}
                            x = [taps[n.name].to(dev).float() for n in nodes]
                            return to_probs(model(x), "multilabel").float().cpu()
                    fwd()
                    sync(dev)
                    t0 = time.perf_counter()
                    reps = 1 if tiny else 5
                    for _ in range(reps):
                        fwd()
                    sync(dev)
                    key = f"collated_batch{bsz}{'_bf16' if amp else ''}_per_s"
                    out[key] = round(reps * bsz / (time.perf_counter() - t0), 1)
                    print("predict", key, out[key], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="small sizes (a check of the script itself)")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ROOT / "bench" / "results")))
    ap.add_argument("--tokenizer", type=Path, default=Path(__file__).resolve().parent / "tokenizer.json")
    ap.add_argument("--skip", default="",
                    help="comma list of parts or search variants to skip: search,predict,plain,plain_bf16,graph")
    args = ap.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    res = {"device": torch.cuda.get_device_name(0) if dev.type == "cuda" else platform.processor(),
           "torch": torch.__version__, "tiny": args.tiny}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gpu_speed.json"
    for part, fn in (("search", lambda: search_part(dev, args.tiny, args.skip.split(","))),
                     ("predict", lambda: predict_part(dev, args.tiny, args.tokenizer))):
        if part in args.skip.split(","):
            continue
        t0 = time.perf_counter()
        try:
            res[part] = fn()
        except Exception as exc:
            res[part] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
        res[part]["wall_s"] = round(time.perf_counter() - t0, 1)
        path.write_text(json.dumps(res, indent=1) + "\n")
        print(part, "done", res[part].get("wall_s"), flush=True)
    print(json.dumps(res, indent=1)[:6000])
    sys.exit(0 if not any("error" in str(v) for v in res.values()) else 1)


if __name__ == "__main__":
    main()
