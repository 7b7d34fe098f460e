"""Evaluation metrics (METHOD.md section 7), with sklearn's definitions and zero_division=0."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

THRESHOLDS = (0.5, 0.3)


def multilabel_metrics(y_true: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, float]:
    """y_true (N, K) multi-hot, probs (N, K) sigmoid outputs; predictions are probs > threshold."""
    y_pred = (probs > threshold).astype(np.int64)
    kw = dict(zero_division=0)
    return {
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted", **kw)),
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", **kw)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", **kw)),
        "samples_f1": float(f1_score(y_true, y_pred, average="samples", **kw)),
    }


def multiclass_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """y_true (N,) class index, probs (N, K) softmax outputs; prediction = argmax."""
    y_pred = probs.argmax(axis=1)
    labels = np.arange(probs.shape[1])
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
    }


def evaluate_probs(task: str, y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """All reported metrics; multi-label ones carry their threshold in the key (e.g. weighted_f1@0.5)."""
    if task == "multiclass":
        return multiclass_metrics(y_true, probs)
    out = {}
    for t in THRESHOLDS:
        out.update({f"{k}@{t}": v for k, v in multilabel_metrics(y_true, probs, t).items()})
    return out


def selection_score(task: str, y_true: np.ndarray, probs: np.ndarray, threshold: float) -> float:
    """The dev score used for model selection: weighted F1 (at ``threshold`` for multi-label)."""
    if task == "multiclass":
        return multiclass_metrics(y_true, probs)["weighted_f1"]
    return multilabel_metrics(y_true, probs, threshold)["weighted_f1"]


THRESHOLD_GRID = tuple(round(0.05 + 0.025 * i, 3) for i in range(37))  # 0.05 .. 0.95


def select_threshold(task: str, y_true: np.ndarray, probs: np.ndarray, mode: str,
                     default: float) -> float | list[float] | None:
    """The decision threshold chosen on a labeled dev set (METHOD.md section 7 allows any named
    threshold; ours: choose it on dev, never on test).

    "fixed": ``default``; "global": the grid value with the best dev weighted F1 (ties: the one
    nearest ``default``); "per_label": per label the best dev F1 of that label, the global value
    for labels without a dev positive. None for single-label tasks (argmax needs none).
    """
    if task == "multiclass":
        return None
    if mode == "fixed":
        return float(default)
    grid = sorted(THRESHOLD_GRID, key=lambda t: abs(t - default))
    scores = [multilabel_metrics(y_true, probs, t)["weighted_f1"] for t in grid]
    best = float(grid[int(np.argmax(scores))])
    if mode == "global":
        return best
    out = []
    for k in range(y_true.shape[1]):
        if y_true[:, k].sum() == 0:
            out.append(best)
            continue
        f1 = [f1_score(y_true[:, k], (probs[:, k] > t).astype(np.int64), zero_division=0) for t in grid]
        out.append(float(grid[int(np.argmax(f1))]))
    return out
