"""Checkpoints: one .safetensors file; JSON metadata lives in the safetensors header.

Nothing is pickled. A model checkpoint carries everything needed to rebuild its network
(genotype with node shapes and search-space sizes, number of labels) plus label names,
threshold, configs, metrics, library versions and seed.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .data.features import NodeSpec
from .genotype import Genotype
from .model import Classifier, FusionNet

META_KEY = "ssnas"


def versions() -> dict[str, str]:
    import numpy
    return {"torch": torch.__version__, "numpy": numpy.__version__, "python": platform.python_version(),
            "ssnas_core": "0.1.0"}


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Atomic write: a reader never sees a half-written file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    save_file(flat, str(tmp), metadata={META_KEY: json.dumps(meta)})
    tmp.replace(path)


def load_tensors(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict]:
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        meta = json.loads((f.metadata() or {}).get(META_KEY, "{}"))
        return {k: f.get_tensor(k) for k in f.keys()}, meta


def with_prefix(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Several modules' state dicts in one tensor file: keys become ``prefix/key``."""
    return {f"{prefix}/{k}": v for k, v in state.items()}


def strip_prefix(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict stored under ``prefix`` by ``with_prefix``."""
    head = prefix + "/"
    return {k[len(head):]: v for k, v in tensors.items() if k.startswith(head)}


def optimizer_to_flat(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state_dict into tensors (for safetensors) and JSON (the rest)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}/{pid}/{k}"] = v
            else:
                scalars[f"{pid}/{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "/"):
            _, pid, k = key.split("/", 2)
            state.setdefault(int(pid), {})[k] = v
    for key, v in meta["scalars"].items():
        pid, k = key.split("/", 1)
        state.setdefault(int(pid), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_model(path: str | os.PathLike, model: Classifier, meta: dict[str, Any]) -> None:
    """``model.fusion`` is a FusionNet, or a baseline module with ``nodes``, ``describe`` and
    ``checkpoint_spec`` (late fusion, unimodal head, MFAS net: rebuilt from meta["fusion"]);
    meta must hold label_names, task, threshold."""
    fusion = model.fusion
    if isinstance(fusion, FusionNet):
        nodes, extra = fusion.genotype.nodes, {"genotype": fusion.genotype.to_json()}
    else:
        nodes = fusion.nodes
        extra = {"genotype": fusion.describe(nodes), "fusion": fusion.checkpoint_spec()}
    meta = {**meta, **extra, "nodes": [{"name": n.name, "modality": n.modality, "shape": list(n.shape)}
                                       for n in nodes],
            "num_labels": model.head[-1].out_features, "versions": versions(), "format": "ssnas-model-1"}
    tensors = {k: v for k, v in model.state_dict().items()}
    save_tensors(path, tensors, meta)


def node_specs(meta: dict[str, Any]) -> tuple[NodeSpec, ...]:
    """The input nodes a model checkpoint reads, in order."""
    nodes = meta.get("nodes") or meta["genotype"]["nodes"]
    return tuple(NodeSpec(n["name"], n["modality"], tuple(n["shape"])) for n in nodes)


def build_fusion(meta: dict[str, Any]) -> torch.nn.Module:
    """The untrained fusion module a checkpoint's meta describes."""
    spec = meta.get("fusion")
    if spec is None:
        return FusionNet(Genotype.from_json(meta["genotype"]))
    nodes = node_specs(meta)
    if spec.get("kind") == "late_fusion":
        from .baselines.late_fusion import LateFusion

        return LateFusion(nodes, list(spec["use"]), int(spec["hidden"]), float(spec["dropout"]))
    if spec.get("kind") == "mfas":
        from .baselines.mfas import MFASNet

        return MFASNet(tuple(tuple(t) for t in spec["arch"]), spec["nodes_a"], spec["nodes_b"],
                       [n.shape[0] for n in nodes], int(spec["hidden"]), nodes)
    raise ValueError(f"unknown fusion module kind {spec.get('kind')!r} in the checkpoint")


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[Classifier, dict]:
    """Rebuild the classifier from the checkpoint alone (no original config needed)."""
    tensors, meta = load_tensors(path, device)
    if meta.get("format") != "ssnas-model-1":
        raise ValueError(f"{path}: not an ssnas model checkpoint")
    model = Classifier(build_fusion(meta), int(meta["num_labels"]))
    model.load_state_dict(tensors)
    return model.to(device).eval(), meta


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's metadata without reading its tensors."""
    with safe_open(str(path), framework="pt", device="cpu") as f:
        return json.loads((f.metadata() or {}).get(META_KEY, "{}"))
