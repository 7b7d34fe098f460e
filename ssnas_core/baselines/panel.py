"""The baseline panel: where a trained model stands against cheap predictors on the same data.

On the job's split and labeled subset (``pipeline.split_indices``: same seed, same fraction r)
it fits, in seconds on cached features:
- the trivial predictors (``trivial``): all labels positive and the train-prior top-k
  (multi-label), the most frequent label or class;
- logistic-regression probes (sklearn, one-vs-rest for multi-label) on pooled features: one per
  modality (all that modality's nodes, maps global-average-pooled to their channels) and one on
  the concatenation of every modality (the late-fusion probe). The inverse regularisation C is
  chosen on the dev subset, and like the model each probe gets a global decision threshold
  selected on the dev subset ("@sel"); test is scored once.

``verdict`` says which baselines the model beats on weighted, micro and macro F1 (accuracy in
place of micro F1 for multi-class data), ``panel_warnings`` turns a lost comparison or an
architecture that reads fewer modalities than the data has into lines for the user, and
``protocol_notes`` names where the data could not meet the protocol (a dev subset below its
minimum, labels without a positive in the labeled subset). torch is not needed.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..config import RunConfig
from ..data.features import FeatureDataset, NodeSpec
from ..metrics import evaluate_probs, multilabel_metrics, selection_score
from . import trivial

PROBE_C = (0.01, 0.1, 1.0)
THRESHOLD_GRID = tuple(round(t, 2) for t in np.arange(0.05, 0.96, 0.05))
VERDICT_METRICS = ("weighted_f1", "micro_f1", "macro_f1")
POOL_CHUNK = 1024


def pool_nodes(ds: FeatureDataset, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Node name -> (len(idx), channels) float32: maps averaged over their spatial axes, read in
    chunks so a large dataset never sits in memory at full resolution."""
    parts: dict[str, list[np.ndarray]] = {s.name: [] for s in ds.node_specs}
    for lo in range(0, len(idx), POOL_CHUNK):
        block = ds.get(idx[lo:lo + POOL_CHUNK])
        for name, arr in block.items():
            parts[name].append(arr.reshape(arr.shape[0], arr.shape[1], -1).mean(2) if arr.ndim > 2 else arr)
    return {k: np.concatenate(v) if v else np.zeros((0, 0), np.float32) for k, v in parts.items()}


def weighted_f1(y: np.ndarray, pred: np.ndarray) -> float:
    """sklearn's weighted F1 (zero_division=0) for multi-hot (N, K) arrays, in numpy."""
    y, pred = y.astype(bool), pred.astype(bool)
    tp, support = (y & pred).sum(0), y.sum(0)
    denom = support + pred.sum(0)
    f1 = np.divide(2 * tp, denom, out=np.zeros(len(tp)), where=denom > 0)
    return float((f1 * support).sum() / support.sum()) if support.sum() else 0.0


def select_threshold(y: np.ndarray, probs: np.ndarray) -> float:
    """The global threshold of ``THRESHOLD_GRID`` with the best weighted F1 on (y, probs)."""
    scores = [weighted_f1(y, probs > t) for t in THRESHOLD_GRID]
    return float(THRESHOLD_GRID[int(np.argmax(scores))])


def _scores(task: str, y: np.ndarray, probs: np.ndarray, threshold: float | None) -> dict[str, float]:
    out = evaluate_probs(task, y, probs)
    if task == "multilabel" and threshold is not None:
        out |= {f"{k}@sel": v for k, v in multilabel_metrics(y, probs, threshold).items()}
    return out


def _entry(kind: str, task: str, y_dev, p_dev, y_test, p_test, **extra: Any) -> dict[str, Any]:
    thr = select_threshold(y_dev, p_dev) if task == "multilabel" else None
    return {"kind": kind, "threshold": thr, "dev": _scores(task, y_dev, p_dev, thr),
            "test": _scores(task, y_test, p_test, thr), **extra}


def _trivials(ds: FeatureDataset, idx: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    task, k = ds.manifest.task, ds.manifest.num_labels
    labeled, y_dev, y_test = ds.labels[idx["labeled"]], ds.labels[idx["dev_labeled"]], ds.labels[idx["test"]]
    if task == "multiclass":
        return {"trivial_majority": _entry("trivial", task, y_dev, trivial.majority(labeled, len(y_dev), k),
                                           y_test, trivial.majority(labeled, len(y_test), k))}
    top_dev, kk = trivial.top_k(labeled, len(y_dev))
    top_test, _ = trivial.top_k(labeled, len(y_test))
    single = np.zeros((1, k), np.float32)
    single[0, int(np.argmax(labeled.sum(0)))] = 1.0
    return {"trivial_all": _entry("trivial", task, y_dev, trivial.all_positive(len(y_dev), k),
                                  y_test, trivial.all_positive(len(y_test), k)),
            "trivial_topk": _entry("trivial", task, y_dev, top_dev, y_test, top_test, k=kk),
            "trivial_most_frequent": _entry("trivial", task, y_dev, np.repeat(single, len(y_dev), 0),
                                            y_test, np.repeat(single, len(y_test), 0))}


def _fit_probe(task: str, num_labels: int, C: float, x: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    lr = LogisticRegression(C=C, max_iter=500)
    clf = OneVsRestClassifier(lr) if task == "multilabel" else lr
    with warnings.catch_warnings():  # absent labels and slow convergence are expected at small r
        warnings.simplefilter("ignore")
        clf.fit(x, y)

    def predict(z: np.ndarray) -> np.ndarray:
        p = clf.predict_proba(z)
        if task == "multilabel":
            return p
        full = np.zeros((len(z), num_labels), np.float32)
        full[:, clf.classes_] = p
        return full
    return predict


def _probe(ds: FeatureDataset, feats: dict[str, np.ndarray], pos: dict[str, np.ndarray],
           idx: dict[str, np.ndarray], names: list[str]) -> dict[str, Any]:
    """A logistic probe on the named nodes' pooled features, C chosen on the dev subset."""
    from sklearn.preprocessing import StandardScaler

    task, k = ds.manifest.task, ds.manifest.num_labels
    x = {s: np.concatenate([feats[n][pos[s]] for n in names], axis=1) for s in pos}
    scaler = StandardScaler().fit(x["labeled"])
    x = {s: np.nan_to_num(scaler.transform(v)) for s, v in x.items()}
    y = {s: ds.labels[idx[s]] for s in pos}
    best = None
    for C in PROBE_C:
        predict = _fit_probe(task, k, C, x["labeled"], y["labeled"])
        p_dev = predict(x["dev_labeled"])
        score = (weighted_f1(y["dev_labeled"], p_dev > 0.5) if task == "multilabel"
                 else selection_score(task, y["dev_labeled"], p_dev, 0.5))
        if best is None or score > best[0]:
            best = (score, C, predict, p_dev)
    _, C, predict, p_dev = best
    return _entry("probe", task, y["dev_labeled"], p_dev, y["test"], predict(x["test"]), C=C, nodes=names)


def baseline_panel(ds: FeatureDataset, cfg: RunConfig) -> dict[str, dict[str, Any]]:
    """Baseline name -> {kind, threshold, dev, test, ...} on the job's split and labeled subset."""
    from ..pipeline import split_indices

    idx = split_indices(ds, cfg)
    out = _trivials(ds, idx)
    sets = ("labeled", "dev_labeled", "test")
    union = np.unique(np.concatenate([idx[s] for s in sets]))
    feats = pool_nodes(ds, union)
    pos = {s: np.searchsorted(union, idx[s]) for s in sets}
    if len(np.unique(ds.labels[idx["labeled"]], axis=0)) < 2:
        return out  # a single label pattern in the labeled subset: no probe can be fitted
    by_mod: dict[str, list[str]] = {}
    for spec in ds.node_specs:
        by_mod.setdefault(spec.modality, []).append(spec.name)
    for mod, names in by_mod.items():
        out[f"probe_{mod}"] = _probe(ds, feats, pos, idx, names)
    if len(by_mod) > 1:
        out["probe_concat"] = _probe(ds, feats, pos, idx, [s.name for s in ds.node_specs])
    return out


def metric_key(task: str, metric: str, model_test: dict[str, float], threshold: float) -> str:
    """The key a verdict compares on: the model's selected threshold when it has one."""
    if task == "multiclass":
        return "accuracy" if metric == "micro_f1" else metric
    return f"{metric}@sel" if f"{metric}@sel" in model_test else f"{metric}@{threshold:g}"


def verdict(task: str, model_test: dict[str, float], baselines: dict[str, dict[str, Any]],
            threshold: float = 0.5) -> dict[str, Any]:
    """Per metric: the model's value, the best baseline, the baselines it beats and loses to."""
    out: dict[str, Any] = {}
    for metric in VERDICT_METRICS:
        key = metric_key(task, metric, model_test, threshold)
        if key not in model_test:
            continue
        model = float(model_test[key])
        vals = {n: float(b["test"][key]) for n, b in baselines.items() if key in b["test"]}
        best = max(vals, key=vals.get) if vals else None
        out[metric] = {"key": key, "model": model, "best_baseline": best,
                       "best_value": vals.get(best) if best else None,
                       "beats": sorted(n for n, v in vals.items() if model > v),
                       "loses_to": sorted(n for n, v in vals.items() if model <= v)}
    return out


def architecture_modalities(genotype: dict[str, Any], nodes: tuple[NodeSpec, ...]) -> list[str]:
    """Modalities a job's architecture reads: BM-NAS genotypes through their cells, late fusion,
    unimodal heads and MFAS through the nodes they name."""
    from ..genotype import modalities_read

    by_name = {s.name: s.modality for s in nodes}
    if "late_fusion" in genotype:
        return sorted({by_name[n] for n in genotype["late_fusion"]})
    if "mfas" in genotype:
        return sorted({by_name[n] for triple in genotype.get("nodes", []) for n in triple[:2]})
    return modalities_read(genotype)


def panel_warnings(v: dict[str, Any], read: list[str], available: list[str],
                   expect_one: bool = False) -> list[str]:
    """Lines for the user: each metric where the model does not beat the best baseline, and an
    architecture that reads fewer modalities than the data has (unless it is meant to)."""
    lines = []
    for r in v.values():
        if r["best_baseline"] is not None and r["model"] <= r["best_value"]:
            lines.append(f"the model does not beat the best baseline on {r['key']}: "
                         f"{r['model']:.4f} vs {r['best_baseline']} {r['best_value']:.4f}")
    if len(available) > 1 and len(read) < len(available) and not expect_one:
        lines.append(f"the architecture reads only {', '.join(read) or 'no'} modality of "
                     f"{', '.join(available)}: it ignores {', '.join(sorted(set(available) - set(read)))}")
    return lines


def protocol_notes(ds: FeatureDataset, cfg: RunConfig) -> list[str]:
    """Where the data cannot meet the protocol, in the user's words (empty when it does)."""
    from ..pipeline import split_indices

    idx, fc = split_indices(ds, cfg), cfg.finetune
    notes = []
    if len(idx["dev_labeled"]) < fc.min_dev_samples:
        notes.append(f"the dev split has {len(idx['dev'])} samples, fewer than the minimum dev subset of "
                     f"{fc.min_dev_samples}: model selection uses all {len(idx['dev_labeled'])} of them")
    if ds.manifest.task == "multilabel":
        counts = ds.labels[idx["labeled"]].sum(0)
        missing = [str(ds.manifest.label_names[k]) for k in np.flatnonzero(counts == 0)]
        if missing:
            notes.append(f"{len(missing)} label(s) have no positive sample in the labeled subset of "
                         f"{len(idx['labeled'])} and cannot be learned: {', '.join(missing[:10])}"
                         + (" ..." if len(missing) > 10 else ""))
    return notes
