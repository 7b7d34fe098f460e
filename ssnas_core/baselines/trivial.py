"""Trivial predictors (METHOD.md section 7): they set the floor every method must clear.

Multi-label: "all positive" predicts every label for every sample; "top-k" predicts the k
most frequent labels of the labeled subset, k = round(mean labels per labeled sample).
Multi-class: "majority" predicts the most frequent class of the labeled subset.
Each returns constant probabilities (N, K) for ``n`` samples, to be scored by
``metrics.evaluate_probs`` like any model.
"""

from __future__ import annotations

import numpy as np


def label_counts(labels: np.ndarray, task: str, num_labels: int) -> np.ndarray:
    """(K,) how many labeled samples carry each label (multi-label) or class (multi-class)."""
    if task == "multilabel":
        return np.asarray(labels, dtype=np.int64).sum(axis=0)
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_labels)


def all_positive(n: int, num_labels: int) -> np.ndarray:
    return np.ones((n, num_labels), dtype=np.float32)


def top_k(labeled: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """Multi-label: probabilities 1 on the k most frequent labels of ``labeled`` (M, K); returns (probs, k)."""
    counts = label_counts(labeled, "multilabel", labeled.shape[1])
    k = max(1, int(round(float(labeled.sum(axis=1).mean()))))
    chosen = np.argsort(-counts, kind="stable")[:k]
    probs = np.zeros((n, labeled.shape[1]), dtype=np.float32)
    probs[:, chosen] = 1.0
    return probs, k


def majority(labeled: np.ndarray, n: int, num_labels: int) -> np.ndarray:
    """Multi-class: one-hot probabilities of the most frequent class of ``labeled`` (M,)."""
    probs = np.zeros((n, num_labels), dtype=np.float32)
    probs[:, int(np.argmax(label_counts(labeled, "multiclass", num_labels)))] = 1.0
    return probs
