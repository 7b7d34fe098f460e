"""Seeded labeled subsets: fraction r of train, and a dev subset of the same fraction
(METHOD.md sections 6-7)."""

from __future__ import annotations

import numpy as np


def labeled_subset(labels: np.ndarray, pool: np.ndarray, fraction: float, seed: int,
                   task: str = "multilabel", minimum: int = 1) -> np.ndarray:
    """A seeded sample of round(fraction * |pool|) indices (at least ``minimum``) from ``pool``,
    holding at least one positive of every label present in the pool where possible (one
    seeded positive per label is drawn first, so the subset can exceed the target by at most
    the number of labels). Returns sorted indices."""
    rng = np.random.default_rng(seed)
    pool = np.sort(np.asarray(pool, dtype=np.int64))
    n = min(len(pool), max(minimum, int(round(fraction * len(pool)))))
    if fraction >= 1.0:
        return np.sort(pool)
    y = labels[pool]
    onehot = y if task == "multilabel" else np.eye(int(y.max()) + 1, dtype=np.uint8)[y]
    chosen: set[int] = set()
    for k in rng.permutation(onehot.shape[1]):
        have = any(onehot[np.searchsorted(pool, c), k] for c in chosen) if chosen else False
        positives = pool[onehot[:, k] > 0]
        if not have and len(positives) and len(chosen) < max(n, onehot.shape[1]):
            chosen.add(int(rng.choice(positives)))
    rest = rng.permutation(np.setdiff1d(pool, np.fromiter(chosen, np.int64, len(chosen))))
    fill = rest[: max(0, n - len(chosen))]
    return np.sort(np.concatenate([np.fromiter(chosen, np.int64, len(chosen)), fill]))
