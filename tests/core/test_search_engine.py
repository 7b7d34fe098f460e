"""The position-major search engine (fastnet, fused views) computes what the module forward did.

``REFERENCE``: ``run_search`` histories of this engine, whose dropout masks and view noise come
from ``ssnas_core.rng`` (parallel streams, issue 14). ``PREVIOUS``: the same histories computed by
the engine before issue 14's rewrite (commit ce2c531, torch's serial generator, module-by-module
forward); other random numbers, so they agree only within the seed-to-seed noise
(``bench/search_seed_noise.py``, ``bench/results/search_seed_noise.json``).
"""

import pytest
import torch
from factories import make_features

from ssnas_core import fastnet
from ssnas_core.augment import FeatureAugment
from ssnas_core.config import AugmentConfig, RunConfig
from ssnas_core.fastnet import ViewStack
from ssnas_core.pipeline import split_indices
from ssnas_core.search import run_search
from ssnas_core.search_space import SuperNet

CASES = {
    "default": {"space": {"C": 16, "L": 16}, "search": {"epochs": 2, "batch_size": 32, "max_batches_per_epoch": 3}},
    "deep_simclr_bmnas": {"space": {"C": 8, "L": 4, "steps": 3, "node_steps": 2, "node_multiplier": 2},
                          "ssl": {"objective": "simclr"},
                          "search": {"epochs": 2, "batch_size": 32, "max_batches_per_epoch": 2, "schedule": "bmnas"}},
    "cross_views_subset": {"space": {"C": 8, "L": 4, "primitives": ["concat_fc", "zero", "scale_dot_attn"]},
                           "ssl": {"objective": "cross_views"},
                           "search": {"epochs": 1, "batch_size": 32, "max_batches_per_epoch": 3}},
    "supervised": {"space": {"C": 8, "L": 4}, "search": {"mode": "supervised", "epochs": 2, "batch_size": 32,
                                                         "max_batches_per_epoch": 3}},
}

# per epoch: train_loss, arch_loss, arch_push_image, arch_push_text, val_loss (ssl) or dev_weighted_f1
REFERENCE = {
    "default": [3.224737, 3.052918, 0.737362, -0.596317, 2.853175, 2.854213, 2.946603, 0.615415, -0.495107, 2.622842],
    "deep_simclr_bmnas": [3.405663, 3.399259, 0.140646, -0.081346, 3.055727, 3.212865, 3.057898, -0.053166, 0.175724,
                          2.789956],
    "cross_views_subset": [4.265999, 4.150965, 0.010627, -0.00374, 4.120369],
    "supervised": [0.748775, 0.77658, -0.118955, 0.118626, 0.268692, 0.740178, 0.763279, -0.110347, 0.111644,
                   0.300693],
}
PREVIOUS = {  # ce2c531, torch's serial generator
    "default": [3.148748, 3.034533, 0.757275, -0.539394, 3.107732, 2.88367, 2.798934, 0.37713, -0.255097, 2.846748],
    "deep_simclr_bmnas": [3.292046, 3.256183, 0.049574, 0.010276, 2.969927, 3.000899, 3.087725, 0.201109, -0.121795,
                          2.756853],
    "cross_views_subset": [4.369767, 4.12479, -0.072003, 0.058911, 4.119559],
    "supervised": [0.749282, 0.771503, -0.118814, 0.116048, 0.268692, 0.734526, 0.760939, -0.067779, 0.060561,
                   0.289862],
}
NOISE_SD = {  # per epoch, train, arch and val loss (F1): the larger sd over 6 seeds of the two engines
    "default": [0.1022, 0.1023, 0.1621, 0.0635, 0.0781, 0.1133],
    "deep_simclr_bmnas": [0.1531, 0.1817, 0.1759, 0.1839, 0.2466, 0.2018],
    "cross_views_subset": [0.0655, 0.0407, 0.0727],
    "supervised": [0.0304, 0.041, 0.0755, 0.0336, 0.0449, 0.0656],
}  # (bench/search_seed_noise.py, bench/results/search_seed_noise.json)


# search.matmul = bf16 against REFERENCE: (losses, push). Measured on an AMX CPU: at most 1.0e-3 and 0.010,
# against seed-to-seed sds of 0.03-0.25 for the losses (NOISE_SD) and same-seed push differences of up to
# 0.30 between REFERENCE and PREVIOUS (other random numbers)
BF16_TOLERANCE = (0.005, 0.03)


@pytest.mark.parametrize("matmul", ["fp32", "bf16"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_search_history_matches_the_reference_and_the_previous_engine_within_noise(case, matmul, tmp_path):
    """fp32 products give REFERENCE to float noise; bf16 products (the default: bfloat16 inputs,
    float32 accumulation, on CPUs with AMX / AVX512-BF16, IEEE elsewhere) stay within
    ``BF16_TOLERANCE`` of it, a sixth of the smallest seed-to-seed sd. Both stay within noise of
    the previous engine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ds = make_features(tmp_path / "f", n=240)
        spec = {**CASES[case], "search": {**CASES[case]["search"], "matmul": matmul}}
        cfg = RunConfig.from_dict(spec)
        idx = split_indices(ds, cfg)
        res = run_search(ds, cfg, torch.device("cpu"), train_idx=idx["train"], val_idx=idx["dev"])
    finally:
        torch.set_num_threads(threads)
    got = []
    for row in res.history:
        got += [row["train_loss"], row["arch_loss"]] + [
            v for k, v in sorted(row.items()) if k.startswith("arch_push") or k in ("val_loss", "dev_weighted_f1")]
    assert len(got) == len(REFERENCE[case])
    for i, (a, b) in enumerate(zip(got, REFERENCE[case])):
        # losses agree to float noise; the push (a sum of raw gradients) a little less tightly
        tol = (2e-3 if i % 5 in (2, 3) else 1e-4) if matmul == "fp32" else BF16_TOLERANCE[i % 5 in (2, 3)]
        assert a == pytest.approx(b, abs=tol), (case, i, got)
    for i, (a, b) in enumerate(zip(got, PREVIOUS[case])):
        if i % 5 in (0, 1, 4):  # the losses (or F1) of the previous engine's other random numbers: within seed noise
            assert abs(a - b) <= 4 * NOISE_SD[case][3 * (i // 5) + {0: 0, 1: 1, 4: 2}[i % 5]], (case, i, got)


@pytest.mark.parametrize("matmul, inside", [("bf16", "bf16"), ("fp32", "ieee")])
def test_the_search_runs_under_its_matmul_precision_and_restores_it(matmul, inside, tmp_path):
    """search.matmul sets torch's float32 product precision for the search only: restored after
    the search and when it stops with an error (a worker runs other stages in the same process)."""
    backend = torch.backends.mkldnn.matmul
    ds = make_features(tmp_path / "f", n=120)
    cfg = RunConfig.from_dict({"space": {"C": 8, "L": 4}, "search": {"epochs": 2, "batch_size": 32,
                                                                      "max_batches_per_epoch": 1, "matmul": matmul}})
    idx = split_indices(ds, cfg)
    seen = []

    def stop_in_second_epoch(ev):
        seen.append(backend.fp32_precision)
        if ev.end_of_epoch and ev.epoch == 1:
            raise RuntimeError("stopped")

    before = backend.fp32_precision
    with pytest.raises(RuntimeError, match="stopped"):
        run_search(ds, cfg, torch.device("cpu"), train_idx=idx["train"], val_idx=idx["dev"],
                   callback=stop_in_second_epoch)
    assert seen and set(seen) == {inside}
    assert backend.fp32_precision == before


class SharedMasks:
    """Dropout masks from one deterministic source for both forwards: the k-th dropout of a forward
    draws Bernoulli(1 - p) / (1 - p) from seed k in the module layout (N, C, L); the engine gets its
    transpose (N, L, C). Equal outputs then also show that every mask sits in the same place."""

    def __init__(self):
        self.k = 0

    def draw(self, shape, p):
        self.k += 1
        return torch.empty(shape).bernoulli_(1 - p, generator=torch.Generator().manual_seed(self.k)) / (1 - p)

    def module_dropout(self, x, p=0.5, training=True, inplace=False):
        return x * self.draw(x.shape, p) if training and p > 0 else x

    def engine_mask(self, n, length, c, p, device):
        return self.draw((n, c, length), p).transpose(1, 2)


@pytest.mark.parametrize("space", [{"C": 16, "L": 16}, {"C": 8, "L": 4, "steps": 3, "node_steps": 2,
                                                         "node_multiplier": 2}])
def test_forward_gradients_and_batchnorm_stats_match_the_module_forward(space, tmp_path, monkeypatch):
    masks = SharedMasks()
    monkeypatch.setattr(torch.nn.functional, "dropout", masks.module_dropout)  # what nn.Dropout calls
    monkeypatch.setattr(fastnet, "dropout_mask", masks.engine_mask)
    ds = make_features(tmp_path / "f", n=40)
    net = SuperNet(ds.node_specs, RunConfig.from_dict({"space": space}).space)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.normal_()
    nodes = [torch.randn(16, *n.shape) for n in ds.node_specs]
    params = net.arch_parameters() + net.weight_parameters()
    for train in (True, False):
        net.train(train)
        start = {k: v.clone() for k, v in net.state_dict().items()}
        out = {}
        for name, fwd in (("reference", net.reference_forward), ("engine", net.forward)):
            net.load_state_dict(start)
            masks.k = 0  # the same dropout masks for both
            h = fwd(nodes)
            grads = torch.autograd.grad((h * h.detach().roll(1, 0)).sum(), params)
            out[name] = (h.detach(), grads, {k: v.clone() for k, v in net.state_dict().items()})
        (h0, g0, s0), (h1, g1, s1) = out["reference"], out["engine"]
        assert torch.allclose(h0, h1, atol=1e-5, rtol=1e-5)
        for a, b in zip(g0, g1):
            assert torch.allclose(a, b, atol=1e-5 * float(a.abs().max().clamp_min(1)), rtol=1e-4)
        for k in s0:
            assert torch.allclose(s0[k].float(), s1[k].float(), atol=1e-6), k


def test_shared_and_zeroed_views_are_projected_once_with_the_same_result(tmp_path, monkeypatch):
    masks = SharedMasks()
    monkeypatch.setattr(torch.nn.functional, "dropout", masks.module_dropout)
    monkeypatch.setattr(fastnet, "dropout_mask", masks.engine_mask)
    ds = make_features(tmp_path / "f", n=40)
    net = SuperNet(ds.node_specs, RunConfig.from_dict({"space": {"C": 8, "L": 4}}).space).train()
    v1 = [torch.randn(8, *n.shape) for n in ds.node_specs]
    v2 = [torch.randn(8, *n.shape) for n in ds.node_specs]
    mods = [n.modality for n in ds.node_specs]
    views = [v1, v2] + [[x if m == keep else None for x, m in zip(v2, mods)] for keep in ("image", "text")]
    stack = ViewStack.build(views)
    assert [r.shape[0] for r in stack.rows] == [16] * len(v1)  # two distinct blocks per node, not four
    full = stack.materialize()
    assert torch.equal(full[0][16:24], v2[0]) and not full[0][24:].any()  # image node: kept, then zeroed
    assert not full[-1][16:24].any() and torch.equal(full[-1][24:], v2[-1])
    shared = net.forward_views(stack)
    masks.k = 0
    plain = net.reference_forward(full)
    assert torch.allclose(shared, plain, atol=1e-5)


def test_fused_views_draw_and_compute_as_two_single_views():
    mods = ["image", "image", "text"]
    nodes = [torch.randn(12, 6, 4, 4).relu(), torch.randn(12, 5, 2, 2), torch.randn(12, 7)]
    for cfg in (AugmentConfig(), AugmentConfig(gaussian_noise=0.0), AugmentConfig(feature_mask=0.0, node_scale=0.0),
                AugmentConfig(modality_drop=0.5)):
        aug = FeatureAugment(cfg, mods)
        g = torch.Generator().manual_seed(7)
        ref = (aug.view(nodes, g), aug.view(nodes, g))
        after_ref = torch.rand(4, generator=g)
        g = torch.Generator().manual_seed(7)
        got = aug(nodes, g)
        assert torch.equal(torch.rand(4, generator=g), after_ref)  # the same number of draws
        for a, b in zip(ref, got):
            for x, y in zip(a, b):
                assert torch.allclose(x, y, atol=1e-5, rtol=1e-5)
