"""Batches from a memory-mapped feature dataset, with a one-batch read-ahead thread."""

from __future__ import annotations

import contextlib
import queue
import threading

import numpy as np
import torch

from .data.features import FeatureDataset


def load_rows(ds: FeatureDataset, idx: np.ndarray, with_labels: bool = True, device=None):
    """One batch of the rows ``idx``: (list of node tensors, labels or None), on ``device`` if given."""
    arrays = ds.get(idx)
    nodes = [torch.from_numpy(arrays[n.name]) for n in ds.node_specs]
    labels = torch.from_numpy(np.asarray(ds.labels[idx])) if with_labels else None
    if device is not None:
        nodes = [x.to(device) for x in nodes]
        labels = labels.to(device) if labels is not None else None
    return nodes, labels


def read_ahead(load, items, depth: int = 2):
    """``load(item)`` for each of ``items`` (possibly endless), computed one step ahead in a thread.

    The thread stops when the consumer drops the generator (``close``/garbage collection)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def reader():
        for item in items:
            if stop.is_set():
                return
            q.put(load(item))
        q.put(None)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        while (out := q.get()) is not None:
            yield out
    finally:
        stop.set()
        while t.is_alive():  # unblock a reader waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                t.join(0.01)


class Batches:
    """Iterates (nodes: list[Tensor (B, *shape)], labels: Tensor | None) over ``indices``.

    Shuffling uses its own seeded generator, so the order of epoch e is a function of
    (seed, e) only: a resumed run sees the same batches as an uninterrupted one.
    """

    def __init__(self, ds: FeatureDataset, indices: np.ndarray, batch_size: int, *,
                 shuffle: bool = False, seed: int = 0, drop_last: bool = False,
                 device: torch.device | str = "cpu", with_labels: bool = True,
                 max_batches: int | None = None):
        self.ds, self.indices = ds, np.asarray(indices, dtype=np.int64)
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.drop_last = drop_last and len(self.indices) > batch_size
        self.device, self.with_labels, self.max_batches = torch.device(device), with_labels, max_batches
        self.names = [n.name for n in ds.node_specs]

    def __len__(self) -> int:
        n = len(self.indices)
        full = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return min(full, self.max_batches) if self.max_batches else full

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return self.indices
        return np.random.default_rng(self.seed).permutation(self.indices)

    def _load(self, idx: np.ndarray):
        return load_rows(self.ds, idx, self.with_labels)

    def __iter__(self):
        order = self._order()
        chunks = [order[i * self.batch_size:(i + 1) * self.batch_size] for i in range(len(self))]
        with contextlib.closing(read_ahead(self._load, chunks)) as batches:  # stops its thread on exit
            for nodes, labels in batches:
                nodes = [x.to(self.device, non_blocking=True) for x in nodes]
                yield nodes, (labels.to(self.device) if labels is not None else None)
