"""The frozen-backbone interface: one raw value in, named feature taps out.

A backbone turns one modality's raw values (``RawDataset.sample`` values, see
``ssnas_core.data.raw``) into several *taps*: features from several depths, each either a
vector ``(d,)`` or a map ``(C, H, W)``. Maps are adaptive-max-pooled to
``map_size x map_size`` (default 4 x 4) inside ``forward``: the search pools every node to
sqrt(L) x sqrt(L) anyway, so with L = 16 the cached 4 x 4 map is exact (METHOD.md section 2).

Use::

    bb = get_backbone("efficientnet_lite0")
    batch = bb.collate([bb.preprocess(v) for v in values])
    taps = bb.forward(batch)          # {"s4": (B, 80, 4, 4), ..., "head": (B, 1280)}
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

KINDS = ("image", "text", "audio", "vector")


class BackboneError(ValueError):
    """Unknown backbone, bad option, missing weights or a value of the wrong kind."""


class Backbone:
    """A frozen feature extractor with named taps.

    Subclasses set ``name``, ``kind``, ``all_taps`` (ordered ``{tap: shape}`` of the cached
    shapes) and ``weights_id``, and implement ``preprocess``, ``collate`` and ``_forward``.
    ``module`` is the torch module (moved by ``to``); it is always in eval mode here.
    """

    name: str = ""
    kind: str = ""
    weights_id: str = ""

    def __init__(self, module: nn.Module, all_taps: dict[str, tuple[int, ...]],
                 taps: Sequence[str] | None = None, map_size: int = 4):
        if map_size < 1:
            raise BackboneError(f"{self.name}: map_size must be >= 1, got {map_size}")
        unknown = [t for t in (taps or []) if t not in all_taps]
        if unknown or (taps is not None and not taps):
            raise BackboneError(f"{self.name}: unknown or empty taps {list(taps or [])}; "
                                f"available: {list(all_taps)}")
        self.module = module.eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.map_size = map_size
        chosen = list(taps) if taps is not None else list(all_taps)
        self.taps: list[tuple[str, tuple[int, ...]]] = [
            (t, _cached_shape(all_taps[t], map_size)) for t in all_taps if t in chosen]
        self.device = torch.device("cpu")

    @property
    def tap_names(self) -> list[str]:
        return [t for t, _ in self.taps]

    def to(self, device: str | torch.device) -> "Backbone":
        self.device = torch.device(device)
        self.module.to(self.device)
        return self

    def preprocess(self, value: Any) -> Any:
        """One raw value -> one model input (CPU tensor or token ids)."""
        raise NotImplementedError

    def collate(self, items: list[Any]) -> Any:
        """Stack preprocessed items into one batch (default: ``torch.stack``)."""
        return torch.stack(items)

    @torch.inference_mode()
    def forward(self, batch: Any) -> dict[str, torch.Tensor]:
        """Batch -> ``{tap: float32 tensor (B, *shape)}`` on the CPU, maps pooled."""
        raw = self._forward(batch, set(self.tap_names))
        out = {}
        for tap, shape in self.taps:
            x = raw[tap].float()
            if x.dim() == 4:
                x = F.adaptive_max_pool2d(x, (self.map_size, self.map_size))
            out[tap] = x.cpu()
            if tuple(out[tap].shape[1:]) != shape:
                raise BackboneError(f"{self.name}.{tap}: got {tuple(x.shape[1:])}, expected {shape}")
        return out

    def _forward(self, batch: Any, wanted: set[str]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What a cache key / manifest records about this backbone."""
        return {"name": self.name, "kind": self.kind, "weights_id": self.weights_id,
                "taps": {t: list(s) for t, s in self.taps}, "map_size": self.map_size}


def _cached_shape(shape: tuple[int, ...], map_size: int) -> tuple[int, ...]:
    return (shape[0], map_size, map_size) if len(shape) == 3 else tuple(shape)


@lru_cache(maxsize=32)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:  # noqa: ARG001 - cache key parts
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def file_weights_id(path: str | os.PathLike) -> str:
    """``sha256:<16 hex>`` of a weights file (memoised per path, size and mtime)."""
    p = Path(path)
    if not p.is_file():
        raise BackboneError(f"weights file not found: {p}")
    st = p.stat()
    return "sha256:" + _file_digest(str(p.resolve()), st.st_size, st.st_mtime_ns)


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a torch file (``weights_only=True``, no pickle)."""
    p = Path(path)
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(p))
    try:
        state = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for non-tensor files
        raise BackboneError(f"{p}: not a tensor-only weights file ({exc})") from exc
    if not isinstance(state, dict):
        raise BackboneError(f"{p}: expected a state dict, got {type(state).__name__}")
    return state


def seeded_init(module: nn.Module, seed: int) -> None:
    """Deterministic Kaiming-normal init of every conv/linear weight (biases zero)."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()
