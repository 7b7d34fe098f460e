"""Inference from a model checkpoint: on precomputed node features or on raw inputs."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from .checkpoint import load_model, node_specs
from .data.features import NodeSpec
from .data.summary import INFO_KEY, SUFFIX, add_summaries
from .objectives import to_probs


class PredictError(ValueError):
    """Inputs do not match what the model was trained on."""


class Predictor:
    def __init__(self, model: torch.nn.Module, meta: dict, device: torch.device):
        self.model, self.meta, self.device = model, meta, device
        self.label_names: list[str] = list(meta["label_names"])
        self.threshold: float = float(meta.get("threshold", 0.5))
        # per-label thresholds chosen on dev (finetune.threshold_select = per_label), else the global one
        self.cut = np.asarray(meta["thresholds"], dtype=np.float64) if meta.get("thresholds") else self.threshold
        self.task: str = meta.get("task", "multilabel")
        self.node_specs: tuple[NodeSpec, ...] = node_specs(meta)
        self.backbones: dict = meta.get("backbones", {})
        # summary nodes (space.summary_nodes): rebuilt from the taps with the training statistics
        self.summaries: list[dict] = list(meta.get(INFO_KEY) or [])

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> "Predictor":
        model, meta = load_model(path, device)
        return cls(model, meta, torch.device(device))

    @torch.no_grad()
    def predict_features(self, nodes: dict[str, np.ndarray]) -> np.ndarray:
        """nodes: name -> (B, *shape) arrays -> (B, K) probabilities."""
        if self.summaries:
            try:
                nodes = add_summaries(nodes, self.summaries)
            except KeyError as exc:
                taps = [s.name for s in self.node_specs if not s.name.endswith(SUFFIX)]
                raise PredictError(f"missing input node {exc.args[0]!r}; expected {taps}") from None
        tensors = []
        for spec in self.node_specs:
            if spec.name not in nodes:
                raise PredictError(f"missing input node {spec.name!r}; expected {[s.name for s in self.node_specs]}")
            arr = np.asarray(nodes[spec.name], dtype=np.float32)
            if arr.ndim == len(spec.shape):
                arr = arr[None]
            if arr.shape[1:] != spec.shape:
                raise PredictError(f"node {spec.name!r}: expected shape (B, {', '.join(map(str, spec.shape))}), "
                                   f"got {arr.shape}")
            if not np.isfinite(arr).all():
                raise PredictError(f"node {spec.name!r}: non-finite values")
            tensors.append(torch.from_numpy(arr).to(self.device))
        if len({t.shape[0] for t in tensors}) != 1:
            raise PredictError("all nodes must have the same batch size")
        return to_probs(self.model(tensors), self.task).float().cpu().numpy()

    def predict_raw(self, samples: list[dict[str, Any]], pool: Any = None) -> np.ndarray:
        """Raw inputs (e.g. {"poster": PIL.Image, "plot": str}) through the checkpoint's backbones.

        pool: a thread pool to run the fields' backbones side by side (torch releases the GIL).
        """
        from .data.extract import extract_one  # backbones load only when raw inputs are used

        if not self.backbones:
            raise PredictError("this model was trained on precomputed features; send features, not raw inputs")
        return self.predict_features(extract_one(samples, self.backbones, device=self.device, pool=pool))

    def labels(self, probs: np.ndarray) -> list[list[str]]:
        """Predicted label names per sample: probs > threshold (multi-label) or the argmax."""
        if self.task == "multiclass":
            return [[self.label_names[int(i)]] for i in probs.argmax(1)]
        return [[self.label_names[k] for k in np.flatnonzero(p > self.cut)] for p in probs]
