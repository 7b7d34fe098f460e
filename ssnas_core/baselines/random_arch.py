"""A seeded random architecture from the engine's search space (the NAS control).

Every choice the derivation makes is drawn uniformly instead: per cell, slot x from the
states it may read and slot y from the remaining ones; per inner step, its two inputs the
same way and one primitive op (never ``zero``, as derivation never picks it).
"""

from __future__ import annotations

import numpy as np

from ..config import SearchSpaceConfig
from ..data.features import NodeSpec
from ..genotype import CellGenotype, Genotype


def _two(rng: np.random.Generator, n: int) -> tuple[int, int]:
    x = int(rng.integers(n))
    if n == 1:
        return x, x
    y = int(rng.integers(n - 1))
    return x, y + (y >= x)


def random_genotype(nodes: tuple[NodeSpec, ...], space: SearchSpaceConfig, seed: int) -> Genotype:
    """Uniform over cell inputs, inner inputs and non-zero primitives; deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    ops = [p for p in space.primitives if p != "zero"]
    if not ops:
        raise ValueError("the search space has no primitive other than 'zero'")
    n, edges, cells = len(nodes), [], []
    for i in range(space.steps):
        x, y = _two(rng, n + i)
        edges += [("skip", x), ("skip", y)]
        inner_edges, inner_ops = [], []
        for k in range(space.node_steps):
            a, b = _two(rng, 2 + k)
            inner_edges += [("skip", a), ("skip", b)]
            inner_ops.append(ops[int(rng.integers(len(ops)))])
        concat = tuple(range(2 + space.node_steps - space.node_multiplier, 2 + space.node_steps))
        cells.append(CellGenotype(tuple(inner_edges), tuple(inner_ops), concat))
    concat = tuple(range(n + space.steps - space.multiplier, n + space.steps))
    return Genotype(tuple(edges), tuple(cells), concat, space, tuple(nodes))
