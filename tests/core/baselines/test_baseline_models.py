import math

import numpy as np
import pytest
import torch

from ssnas_core.baselines import trivial
from ssnas_core.baselines.late_fusion import last_nodes, late_fusion, unimodal
from ssnas_core.baselines.mfas import MFASConfig, MFASNet, Surrogate, _draw, mfas_search, temperature
from ssnas_core.baselines.random_arch import random_genotype
from ssnas_core.config import SearchSpaceConfig
from ssnas_core.data.features import NodeSpec
from ssnas_core.model import FusionNet

NODES = (NodeSpec("i0", "image", (8, 4, 4)), NodeSpec("i1", "image", (16, 2, 2)),
         NodeSpec("t0", "text", (12,)), NodeSpec("t1", "text", (6,)))


def batch(n=5):
    return [torch.randn(n, *s.shape) for s in NODES]


def test_random_genotype_is_seeded_valid_and_builds():
    space = SearchSpaceConfig(C=8, L=4, steps=3, multiplier=2, node_steps=2, node_multiplier=1)
    a, b = random_genotype(NODES, space, 3), random_genotype(NODES, space, 3)
    assert a == b
    others = {random_genotype(NODES, space, s).dumps() for s in range(10)}
    assert len(others) > 5  # really random across seeds
    for s in range(10):
        g = random_genotype(NODES, space, s)
        for c in range(space.steps):
            assert g.edges[2 * c][1] != g.edges[2 * c + 1][1]  # two distinct inputs per cell
        assert all(op != "zero" for cell in g.steps for op in cell.inner_steps)
    assert FusionNet(a)(batch()).shape == (5, FusionNet(a).out_dim)


def test_trivial_predictors():
    labeled = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0], [0, 1, 0, 1]], np.uint8)  # mean 2 labels
    probs, k = trivial.top_k(labeled, 3)
    assert k == 2 and probs.shape == (3, 4)
    assert probs[0].tolist() == [1, 1, 0, 0]  # the two most frequent labels
    assert trivial.all_positive(2, 4).min() == 1
    assert trivial.majority(np.array([2, 2, 1, 0]), 3, 4).argmax(1).tolist() == [2, 2, 2]


def test_late_fusion_uses_last_tap_per_modality():
    assert last_nodes(NODES) == [1, 3]
    assert last_nodes(NODES, ["text"]) == [3]
    with pytest.raises(ValueError, match="unknown modalities"):
        last_nodes(NODES, ["audio"])
    lf, uni = late_fusion(NODES, hidden=10), unimodal(NODES, "image", hidden=10)
    assert lf(batch()).shape == (5, 10) and lf.out_dim == 10
    assert uni.use == [1]
    x = batch()
    y = [t.clone() for t in x]
    y[3] += 100  # the text node: a unimodal image head must not see it
    uni.eval()
    assert torch.equal(uni(x), uni(y))


def test_mfas_net_layers_read_chosen_nodes():
    net = MFASNet(((0, 1, 0), (1, 0, 2)), [0, 1], [2, 3], [8, 16, 12, 6], hidden=7)
    assert net.pairs == [(0, 3), (1, 2)]
    assert net(batch()).shape == (5, 7)
    assert net.layers[1][0].in_features == 16 + 12 + 7  # f_A, f_B and h_{l-1}


def test_mfas_temperature_schedule():
    cfg = MFASConfig()
    assert math.isclose(temperature(0, cfg), 9.8 * math.exp(-1 / 16) + 0.2)
    assert temperature(20, cfg) == pytest.approx(0.2, abs=1e-6)
    assert temperature(0, cfg) > temperature(1, cfg) > temperature(3, cfg)


def test_surrogate_fits_scores():
    torch.manual_seed(0)
    s = Surrogate(2, 2, hidden=16)
    archs = [((0, 0, 0),), ((1, 1, 1),), ((0, 1, 2), (1, 0, 0))]
    scores = [0.2, 0.8, 0.5]
    s.fit(archs, scores, 150)
    with torch.no_grad():
        assert np.allclose(s(archs).numpy(), scores, atol=0.05)


def test_mfas_search_returns_its_best_evaluation_and_grows_depth():
    def score(arch):  # best: image node 1, text node 0, sigmoid at every layer
        return sum((a == 1) + (b == 0) + (c == 1) for a, b, c in arch) / (3 * 2) * 0.9 + 0.05

    cfg = MFASConfig(depth=2, k=6, iterations=2, epochs=1, surrogate_steps=50)
    best, hist = mfas_search(2, 2, score, cfg, seed=0)
    assert score(best) == max(h["score"] for h in hist)
    assert score(best) >= 0.5  # at least the best single layer: depth 1 is searched exhaustively (12 triples)
    assert {h["depth"] for h in hist} == {1, 2}
    assert len({tuple(map(tuple, h["arch"])) for h in hist}) == len(hist)  # never re-evaluated
    assert len(hist) <= cfg.iterations * cfg.depth * cfg.k


class _Stop(Exception):
    pass


def test_an_interrupted_search_resumed_with_cached_scores_takes_the_same_path():
    """What run_mfas's resume relies on: replaying with cached scores (no training, so no use of
    the torch RNG in between) reaches the same history and best architecture."""
    def train(arch):  # stands for a candidate's training: reseeds and consumes the torch RNG
        torch.manual_seed(99)
        noise = float(torch.rand(1)) * 1e-3
        return (sum((7 * a + 3 * b + 5 * c) * (i + 1) for i, (a, b, c) in enumerate(arch)) % 17) / 17 + noise

    cfg = MFASConfig(depth=3, k=4, iterations=2, epochs=1, surrogate_hidden=16, surrogate_steps=30)
    evals = []
    ref_best, ref_hist = mfas_search(2, 2, train, cfg, seed=3, on_eval=lambda *a: evals.append(a))
    assert [(d, p) for d, p, _ in evals] == [(i + 1, 2 * 3 * 4) for i in range(len(ref_hist))]
    assert [e for _, _, e in evals] == ref_hist and len(ref_hist) > 6

    cache, trained = {}, []

    def score(arch):
        if arch not in cache:
            trained.append(arch)
            cache[arch] = train(arch)
        return cache[arch]

    def stop_after_5(done, planned, entry):
        if done == 5:
            raise _Stop

    with pytest.raises(_Stop):
        mfas_search(2, 2, score, cfg, seed=3, on_eval=stop_after_5)
    assert len(trained) == 5
    torch.manual_seed(12345)  # whatever the interrupted process did to the global RNG
    np.random.seed(12345)
    best, hist = mfas_search(2, 2, score, cfg, seed=3)
    assert best == ref_best and hist == ref_hist
    assert len(trained) == len(ref_hist) == len(set(trained))  # the first 5 were not trained again


def test_low_temperature_draws_the_predicted_best():
    class Fixed(torch.nn.Module):
        def forward(self, archs):
            return torch.tensor([a[0][0] / 10 + 0.01 for a in archs])

    pool = [((i, 0, 0),) for i in range(10)]
    rng = np.random.default_rng(0)
    assert _draw(pool, Fixed(), 0.02, 3, rng) == [((7, 0, 0),), ((8, 0, 0),), ((9, 0, 0),)]
    hot = [a[0][0] for _ in range(20) for a in _draw(pool, Fixed(), 100.0, 3, rng)]
    assert min(hot) < 3  # at a high temperature low-scored candidates are drawn too
