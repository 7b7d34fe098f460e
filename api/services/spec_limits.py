"""What one job may ask of a worker: limits the service adds on top of RunConfig's own ranges.

RunConfig bounds each field by what the library can run; a shared worker also needs the
combinations bounded (one spec must not take every core or all memory from every other owner's
jobs) and the backbone options, which go to the factories as keywords, checked by name.
"""

from __future__ import annotations

import math
from typing import Any

from ssnas_core.config import RunConfig

from ..errors import Invalid

# elements of the largest activation a step holds per node: batch x C x L (the default job
# has 128 x 192 x 16 = 0.4 M; this allows 64 M, 256 MiB in fp32)
MAX_ACTIVATION = 1 << 26

_INT, _NUM = "int", "num"
# option name -> (kind, low, high); lists of ints (image_size [h, w], maxout hidden) item by item
OPTION_LIMITS: dict[str, tuple[str, float, float]] = {
    "map_size": (_INT, 1, 16), "image_size": (_INT, 16, 1024), "seed": (_INT, 0, 2**31 - 1),
    "dim": (_INT, 1, 65536), "max_tokens": (_INT, 1, 512), "in_dim": (_INT, 1, 65536),
    "hidden": (_INT, 1, 8192), "k": (_INT, 1, 16), "dropout": (_NUM, 0, 0.99),
}
MAX_TAPS = 16


def check_threads(cfg: RunConfig, max_threads: int) -> None:
    if cfg.num_threads is not None and cfg.num_threads > max_threads:
        raise Invalid(f"run.num_threads must be at most {max_threads} on this service, got {cfg.num_threads}")


def check_sizes(cfg: RunConfig) -> None:
    """422 when a batch of the job's largest batch size would not fit a worker."""
    batch = max(cfg.search.batch_size, cfg.pretrain.batch_size, cfg.finetune.batch_size)
    size = batch * cfg.space.C * cfg.space.L
    if size > MAX_ACTIVATION:
        raise Invalid(f"job too large: batch_size x C x L = {batch} x {cfg.space.C} x {cfg.space.L} = "
                      f"{size} elements per node; the limit is {MAX_ACTIVATION}")


def _number_ok(kind: str, value: Any, low: float, high: float) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if kind == _INT and not isinstance(value, int):
        return False
    return math.isfinite(value) and low <= value <= high


def check_options(field: str, name: str, options: dict[str, Any]) -> None:
    """422 unless every option is known and in range (strings only for ``taps``)."""
    where = f"backbones.{field}.options"
    for key, value in options.items():
        if key == "taps":
            ok = (isinstance(value, list) and 0 < len(value) <= MAX_TAPS
                  and all(isinstance(t, str) and 0 < len(t) <= 64 for t in value))
            if not ok:
                raise Invalid(f"{where}.taps must be a list of 1-{MAX_TAPS} tap names")
            continue
        if key not in OPTION_LIMITS:
            raise Invalid(f"{where}: unknown option {key!r} for {name}; known: {sorted(OPTION_LIMITS) + ['taps']}")
        kind, low, high = OPTION_LIMITS[key]
        items = value if isinstance(value, list) and key in ("image_size", "hidden") else [value]
        if not items or len(items) > 2 or not all(_number_ok(kind, v, low, high) for v in items):
            what = "an integer" if kind == _INT else "a number"
            raise Invalid(f"{where}.{key} must be {what} in [{low}, {high}]"
                          f"{' (or a list of two)' if key in ('image_size', 'hidden') else ''}, got {value!r}")
