"""MFAS: sequential model-based multimodal fusion search (Perez-Rua et al. 2019; METHOD.md
section 8), scaled by ``MFASConfig``.

A fusion architecture is a sequence of layers, each a triple (node of modality A, node of
modality B, activation); layer l = act(Linear(concat(f_A, f_B, h_{l-1}))) with hidden width
``hidden``. Nodes are pooled to vectors and batch-normalised first (ours, as in late fusion).

Search: for each of ``iterations`` rounds and each depth 1..``depth``, the candidate pool is
every triple appended to the ``k`` best evaluated architectures of the previous depth
(depth 1: every single triple); ``k`` unevaluated candidates are drawn without replacement
with probability proportional to surrogate score^(1/T),
T = (T0 - Tf) exp(-(i+1)^2 / s^2) + Tf for the i-th round overall; each is trained and
scored (the caller's function: dev weighted F1 on the labeled dev subset); then the LSTM
surrogate (triple embeddings -> LSTM -> linear -> sigmoid) is refit on all scores so far.

The search is a pure function of ``seed`` and the scores: it draws from its own numpy generator,
and the surrogate (seeded once, fitted without randomness) reads only the scores. So a caller
that stops it (``on_eval`` raising) and calls it again with ``score`` answering the already
evaluated candidates from a cache follows the same path to the same result.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from .late_fusion import node_to_vector
from .mfas_config import MFAS_LIMITS, MFASConfig  # noqa: F401 - torch-free, shared with the service

ACTIVATIONS = ("relu", "sigmoid", "leaky_relu")
Triple = tuple[int, int, int]
Arch = tuple[Triple, ...]


def temperature(i: int, cfg: MFASConfig) -> float:
    return (cfg.t0 - cfg.tf) * math.exp(-((i + 1) ** 2) / cfg.s**2) + cfg.tf


class MFASNet(nn.Module):
    """Input nodes -> the fusion layers of ``arch`` -> (B, hidden). ``nodes_a``/``nodes_b`` map
    a triple's node positions to dataset node indices; ``dims`` are the node channel sizes;
    ``nodes`` (the dataset's node specs, optional) make it describable and saveable."""

    def __init__(self, arch: Arch, nodes_a: list[int], nodes_b: list[int], dims: list[int], hidden: int,
                 nodes: tuple = ()):
        super().__init__()
        self.arch = tuple(tuple(t) for t in arch)
        self.nodes_a, self.nodes_b, self.dims, self.nodes = list(nodes_a), list(nodes_b), list(dims), tuple(nodes)
        self.pairs = [(nodes_a[a], nodes_b[b]) for a, b, _ in self.arch]
        used = sorted({i for p in self.pairs for i in p})
        self.norms = nn.ModuleDict({str(i): nn.BatchNorm1d(dims[i]) for i in used})
        acts = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}
        self.layers = nn.ModuleList()
        prev = 0
        for (a, b), (_, _, act) in zip(self.pairs, self.arch):
            self.layers.append(nn.Sequential(nn.Linear(dims[a] + dims[b] + prev, hidden), acts[ACTIVATIONS[act]]()))
            prev = hidden
        self.out_dim = hidden

    def describe(self, nodes: tuple) -> dict:
        """The architecture as triples of indices and of (node name, node name, activation index)."""
        return {"mfas": [list(t) for t in self.arch],
                "nodes": [[nodes[a].name, nodes[b].name, t[2]] for (a, b), t in zip(self.pairs, self.arch)]}

    def checkpoint_spec(self) -> dict:
        """What ``checkpoint.load_model`` needs to rebuild this module (with the node specs)."""
        return {"kind": "mfas", "arch": [list(t) for t in self.arch], "nodes_a": self.nodes_a,
                "nodes_b": self.nodes_b, "hidden": self.out_dim}

    def forward(self, nodes: list[torch.Tensor]) -> torch.Tensor:
        vec = {int(i): bn(node_to_vector(nodes[int(i)])) for i, bn in self.norms.items()}
        h = None
        for (a, b), layer in zip(self.pairs, self.layers):
            parts = [vec[a], vec[b]] + ([h] if h is not None else [])
            h = layer(torch.cat(parts, dim=1))
        return h


class Surrogate(nn.Module):
    """Architecture (sequence of triples) -> predicted score in (0, 1)."""

    def __init__(self, n_a: int, n_b: int, hidden: int = 100, embed: int = 16):
        super().__init__()
        self.emb = nn.ModuleList([nn.Embedding(n_a, embed), nn.Embedding(n_b, embed),
                                  nn.Embedding(len(ACTIVATIONS), embed)])
        self.lstm = nn.LSTM(3 * embed, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, archs: list[Arch]) -> torch.Tensor:
        """(len(archs),) scores; archs may differ in depth."""
        lengths = torch.tensor([len(a) for a in archs])
        pad = torch.zeros(len(archs), int(lengths.max()), 3, dtype=torch.long)
        for j, a in enumerate(archs):
            pad[j, :len(a)] = torch.tensor(a)
        x = torch.cat([e(pad[..., c]) for c, e in enumerate(self.emb)], dim=-1)
        h, _ = self.lstm(x)  # (B, T, hidden)
        last = h[torch.arange(len(archs)), lengths - 1]
        return torch.sigmoid(self.out(last)).squeeze(1)

    def fit(self, archs: list[Arch], scores: list[float], steps: int) -> None:
        opt = torch.optim.Adam(self.parameters(), lr=1e-2)
        y = torch.tensor(scores, dtype=torch.float32)
        self.train()
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.mse_loss(self(archs), y).backward()
            opt.step()
        self.eval()


def _draw(pool: list[Arch], surrogate: Surrogate, t: float, k: int, rng: np.random.Generator) -> list[Arch]:
    if len(pool) <= k:
        return list(pool)
    with torch.no_grad():
        pred = surrogate(pool).clamp_min(1e-6).double().numpy()
    w = np.exp(np.log(pred) / t)  # score^(1/T)
    chosen = rng.choice(len(pool), size=k, replace=False, p=w / w.sum())
    return [pool[j] for j in sorted(chosen)]


def planned_evaluations(cfg: MFASConfig) -> int:
    """An upper bound on the candidates one search evaluates (fewer when a pool runs out)."""
    return cfg.iterations * cfg.depth * cfg.k


def mfas_search(n_a: int, n_b: int, score: Callable[[Arch], float], cfg: MFASConfig, seed: int,
                on_eval: Callable[[int, int, dict], None] | None = None) -> tuple[Arch, list[dict]]:
    """Run the progressive search; ``score(arch)`` trains one candidate and returns its dev score.
    After each evaluation ``on_eval(done, planned, entry)`` is called with the number of
    evaluations so far, ``planned_evaluations(cfg)`` and the history entry; it may raise to stop.
    Returns (best architecture by score, history of every evaluation)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    surrogate = Surrogate(n_a, n_b, cfg.surrogate_hidden)
    triples = [(a, b, c) for a in range(n_a) for b in range(n_b) for c in range(len(ACTIVATIONS))]
    seen: dict[Arch, float] = {}
    history, rnd, planned = [], 0, planned_evaluations(cfg)
    for it in range(cfg.iterations):
        for depth in range(1, cfg.depth + 1):
            if depth == 1:
                pool = [(t,) for t in triples]
            else:
                prev = sorted((a for a in seen if len(a) == depth - 1), key=lambda a: -seen[a])[:cfg.k]
                pool = [a + (t,) for a in prev for t in triples]
            pool = [a for a in pool if a not in seen]
            t = temperature(rnd, cfg)
            for arch in _draw(pool, surrogate, t, cfg.k, rng) if pool else []:
                seen[arch] = float(score(arch))
                history.append({"iteration": it, "depth": depth, "round": rnd, "temperature": t,
                                "arch": [list(x) for x in arch], "score": seen[arch]})
                if on_eval is not None:
                    on_eval(len(history), planned, history[-1])
            surrogate.fit(list(seen), list(seen.values()), cfg.surrogate_steps)
            rnd += 1
    best = max(seen, key=lambda a: seen[a])
    return best, history
