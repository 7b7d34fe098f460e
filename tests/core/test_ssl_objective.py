"""The self-supervised objectives, the alternating schedule, LP-FT and the dev-chosen threshold."""

import numpy as np
import pytest
import torch
from factories import make_features

from ssnas_core.augment import FeatureAugment
from ssnas_core.config import AugmentConfig, RunConfig, SSLConfig
from ssnas_core.data.features import Manifest, NodeSpec, write_features
from ssnas_core.losses import nt_xent
from ssnas_core.metrics import select_threshold
from ssnas_core.objectives import contrastive_loss
from ssnas_core.pipeline import prepare_features, run_pipeline, search_stage, split_indices
from ssnas_core.search import _Search

MODS = ["a", "a", "b"]


class Linear(torch.nn.Module):
    """A deterministic stand-in fusion (no BatchNorm, so views do not interact)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.f = torch.nn.Linear(4 + 4 + 3, 5)

    def forward(self, nodes):
        return self.f(torch.cat([x.flatten(1) for x in nodes], 1))


def _views(objective, w=1.0):
    nodes = [torch.randn(6, 4), torch.randn(6, 2, 2), torch.randn(6, 3)]
    aug = FeatureAugment(AugmentConfig(modality_drop=0.0), MODS)
    g = torch.Generator().manual_seed(3)
    loss = contrastive_loss(Linear(), torch.nn.Identity(), aug, nodes, g, SSLConfig(objective=objective,
                                                                                     cross_weight=w))
    g = torch.Generator().manual_seed(3)
    v1, v2 = aug(nodes, g)
    return loss, v1, v2


def _only(v, keep):
    return [x if m == keep else torch.zeros_like(x) for x, m in zip(v, MODS)]


def test_cross_modal_is_the_mean_of_the_plain_and_the_restricted_terms():
    f = Linear()
    loss, v1, v2 = _views("cross_modal")
    z1, z2, za, zb = (f(v) for v in (v1, v2, _only(v2, "a"), _only(v2, "b")))
    expected = (nt_xent(z1, z2, 0.2) + nt_xent(z1, za, 0.2) + nt_xent(z1, zb, 0.2)) / 3
    assert torch.allclose(loss, expected, atol=1e-6)
    weighted, *_ = _views("cross_modal", w=0.5)
    assert torch.allclose(weighted, (nt_xent(z1, z2, 0.2) + 0.5 * (nt_xent(z1, za, 0.2) + nt_xent(z1, zb, 0.2))) / 2,
                          atol=1e-6)
    plain, *_ = _views("simclr")
    assert torch.allclose(_views("cross_modal", w=0.0)[0], plain, atol=1e-6)
    views, *_ = _views("cross_views")
    assert torch.allclose(views, nt_xent(f(_only(v1, "a")), f(_only(v2, "b")), 0.2), atol=1e-6)


def test_objective_is_validated_and_recorded(tmp_path):
    with pytest.raises(ValueError, match="objective"):
        RunConfig.from_dict({"ssl": {"objective": "byol"}})
    assert RunConfig().ssl.objective == "cross_modal" and RunConfig().search.schedule == "alternate"
    assert RunConfig().search.lr_arch == 3e-3
    assert RunConfig.from_dict({"search": {"mode": "supervised"}}).search.lr_arch == 3e-4  # BM-NAS kept


def test_alternating_schedule_makes_one_arch_step_per_weight_step_whatever_the_dev_size(tmp_path):
    ds = make_features(tmp_path / "f", n=240)
    steps = []
    for dev_size in (10, 48):
        cfg = RunConfig.from_dict({"space": {"C": 8, "L": 4}, "search": {"epochs": 1, "batch_size": 32}})
        idx = split_indices(ds, cfg)
        s = _Search(ds, cfg, torch.device("cpu"), idx["train"], idx["dev"][:dev_size])
        a0 = [p.detach().clone() for p in s.net.arch_parameters()]
        s.weight_pass(lambda e: None)
        assert any(not torch.equal(a, b) for a, b in zip(a0, s.net.arch_parameters()))
        steps.append(int(s.opt_a.state[s.net.arch_parameters()[0]]["step"]))
    assert steps[0] == steps[1] == len(s.batches(idx["train"], 0, "search_w"))


def test_search_logs_margins_pushes_and_modalities(tmp_path):
    ds = make_features(tmp_path / "f", n=240)
    cfg = RunConfig.from_dict({"space": {"C": 8, "L": 4}, "search": {"epochs": 2, "batch_size": 32},
                               "pretrain": {"epochs": 0}})
    genotype, res = search_stage(ds, cfg, tmp_path / "w")
    row = res["history"][-1]
    assert set(row) >= {"min_edge_margin", "min_op_margin", "arch_push_image", "arch_push_text", "margins"}
    assert len(row["margins"]["edge"]) == 2 * cfg.space.steps and 0 <= row["min_edge_margin"] <= 1
    assert res["modalities_read"] == genotype.modalities_read()
    assert isinstance(res["warnings"], list)


def high_rank_a_labels_in_b(path, n=600, seed=0):
    """Modality A: a per-sample latent u it shares with B plus high-rank Gaussian noise (every
    sample unique, no label); modality B: the labels and u, nearly clean. Instance discrimination
    is easiest on A; only B carries the labels."""
    rng = np.random.default_rng(seed)
    cls = rng.integers(4, size=n)
    y = np.eye(4, dtype=np.uint8)[cls]
    u = rng.normal(size=(n, 4)).astype(np.float32)
    nodes = (NodeSpec("a0", "A", (16, 2, 2)), NodeSpec("a1", "A", (32,)), NodeSpec("b0", "B", (8,)),
             NodeSpec("b1", "B", (12,)))
    arrays = {}
    for spec in nodes:
        d = int(np.prod(spec.shape))
        proj = rng.normal(size=(8, d)).astype(np.float32) / np.sqrt(8)
        if spec.modality == "A":
            x = np.concatenate([np.zeros((n, 4), np.float32), u], 1) @ proj + rng.normal(size=(n, d))
        else:
            x = np.concatenate([2 * y.astype(np.float32), u], 1) @ proj + 0.1 * rng.normal(size=(n, d))
        arrays[spec.name] = x.astype(np.float32).reshape(n, *spec.shape)
    split = np.zeros(n, np.uint8)
    split[int(.6 * n):int(.8 * n)], split[int(.8 * n):] = 1, 2
    man = Manifest(nodes=nodes, label_names=tuple(f"l{k}" for k in range(4)), task="multilabel", num_samples=n,
                   info={})
    return write_features(path, man, arrays, y, split, ids=[f"s{i}" for i in range(n)])


def test_default_objective_reads_the_label_modality_where_plain_simclr_does_not(tmp_path):
    """The objective alone (no modality cover in the derivation): its architecture weights.

    A claim about the method, so it is counted over 10 seeds rather than required of each: one
    seed's search can settle on A under either objective. With the random streams of issue 14
    (``ssnas_core.rng``) and the summary nodes (default) the cross-modal objective read B at 9 of
    seeds 0-9, plain SimCLR at 2; without summary nodes 9 and 5 (seeds 0-4 alone: 4 and 2); with
    torch's serial streams (ce2c531, no summary nodes) 3 of 3 and 1 of 3."""
    ds = high_rank_a_labels_in_b(tmp_path / "f")
    read = {}
    seeds = range(10)
    for objective in ("simclr", "cross_modal"):
        for seed in seeds:
            cfg = RunConfig.from_dict({"space": {"C": 16, "L": 4},
                                       "search": {"epochs": 8, "batch_size": 64, "cover_modalities": False},
                                       "ssl": {"objective": objective}, "seed": seed})
            genotype, res = search_stage(ds, cfg, tmp_path / f"{objective}{seed}")
            read[objective, seed] = genotype.modalities_read()
            if "B" not in read[objective, seed]:
                assert any("reads only" in w for w in res["warnings"])
    cross, plain = (sum("B" in read[objective, s] for s in seeds) for objective in ("cross_modal", "simclr"))
    # the cross-modal objective reads the label modality B at nearly every seed ...
    assert cross >= 8, read
    # ... plain SimCLR, drawn to the high-rank modality A, at clearly fewer (at this budget it picks B up at some)
    assert cross - plain >= 3, read


def test_threshold_is_chosen_on_dev():
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    probs = np.array([[0.35, 0.1], [0.4, 0.2], [0.1, 0.3], [0.05, 0.02]])  # nothing above 0.5
    t = select_threshold("multilabel", y, probs, "global", 0.5)
    assert 0.2 <= t < 0.3  # the largest band that keeps every positive, nearest 0.5 among equals
    per = select_threshold("multilabel", y, probs, "per_label", 0.5)
    assert len(per) == 2 and per[0] < 0.35 and per[1] < 0.3
    assert select_threshold("multilabel", y, probs, "fixed", 0.5) == 0.5
    assert select_threshold("multiclass", y, probs, "global", 0.5) is None


def test_linear_probe_then_finetune_chosen_on_dev_and_threshold_in_checkpoint(tmp_path):
    ds = make_features(tmp_path / "f", n=240)
    cfg = RunConfig.from_dict({"space": {"C": 8, "L": 4}, "search": {"epochs": 1, "batch_size": 32},
                               "pretrain": {"epochs": 1, "batch_size": 32},
                               "finetune": {"epochs": 4, "label_fraction": 0.5, "batch_size": 16,
                                            "min_dev_samples": 24}})
    res = run_pipeline(ds, cfg, tmp_path / "w")
    ft = res["finetune"]
    assert set(ft["modes"]) == {"full", "probe", "lp_ft"}
    assert ft["mode"] == max(ft["modes"], key=lambda m: ft["modes"][m])
    assert 0.05 <= ft["threshold"] <= 0.95
    assert "weighted_f1@sel" in res["metrics"]["test"]
    from ssnas_core.checkpoint import load_tensors
    _, meta = load_tensors(res["checkpoint"], "cpu")
    assert meta["threshold"] == ft["threshold"] and meta["finetune_mode"] == ft["mode"]
    assert meta["config"]["ssl"]["objective"] == "cross_modal"


def test_default_search_covers_every_modality_and_says_so(tmp_path):
    """With the default derivation, plain SimCLR's unimodal weights still give a fusion network,
    and the search result says the cover changed the argmax genotype."""
    ds = high_rank_a_labels_in_b(tmp_path / "f")
    covered = []
    for seed in range(3):
        cfg = RunConfig.from_dict({"space": {"C": 16, "L": 4}, "search": {"epochs": 8, "batch_size": 64},
                                   "ssl": {"objective": "simclr"}, "seed": seed})
        genotype, res = search_stage(ds, cfg, tmp_path / f"cover{seed}")
        assert genotype.modalities_read() == ["A", "B"]
        best = res["history"][res["best_epoch"]]
        assert best["covered"] == (best["modalities_read_argmax"] != ["A", "B"])
        assert best["covered"] == any("search.cover_modalities" in w for w in res["warnings"])
        covered.append(best["covered"])
    assert any(covered)  # the same weights as in the test above, where plain SimCLR reads A only


def test_finetune_ema_keeps_the_weight_average(tmp_path):
    """finetune.ema: the kept network is the running average, not the last weights. With a decay
    near 1 the average barely leaves the start, while plain finetuning moves away from it."""
    from ssnas_core.finetune import run_finetune
    from ssnas_core.model import FusionNet

    base = {"space": {"C": 8, "L": 4}, "search": {"epochs": 1, "batch_size": 32}, "seed": 2}
    ds = prepare_features(make_features(tmp_path / "f", n=160), RunConfig.from_dict(base))
    genotype, _ = search_stage(ds, RunConfig.from_dict(base), tmp_path / "s")
    idx = split_indices(ds, RunConfig.from_dict({**base, "finetune": {"label_fraction": 1.0}}))
    start = FusionNet(genotype)
    drift = {}
    for ema in (0.0, 0.999999):
        cfg = RunConfig.from_dict({**base, "finetune": {"epochs": 3, "batch_size": 16, "probe": "full",
                                                        "label_fraction": 1.0, "patience": 3, "ema": ema,
                                                        "ema_epochs": 0.0}})
        model, info = run_finetune(ds, start, cfg, torch.device("cpu"), labeled_idx=idx["labeled"],
                                   dev_idx=idx["dev_labeled"])
        drift[ema] = max(float((a - b).detach().abs().max()) for a, b in
                         zip(model.fusion.parameters(), start.parameters()))
        assert info["mode"] == "full" and len(info["history"]) >= 1
    # the average starts from the weights after the first Adam step (each weight moves <= ~lr = 1e-3)
    assert drift[0.999999] < 1.5e-3 and drift[0.0] > 5 * drift[0.999999]
    with pytest.raises(Exception, match="ema"):
        RunConfig.from_dict({"finetune": {"ema": 1.0}})


def test_finetune_ema_epochs_scales_the_decay_with_the_steps_per_epoch(tmp_path):
    """ema_epochs: a time constant in epochs, so a small labeled subset (one step per epoch) gets
    no averaging at all and a large one a decay close to 1."""
    from ssnas_core.finetune import _Trainer

    ds = make_features(tmp_path / "f", n=120)

    def decay(n_labeled: int, **ft) -> float:
        cfg = RunConfig.from_dict({"finetune": {"batch_size": 16, **ft}})
        return _Trainer(ds, cfg, torch.device("cpu"), np.arange(n_labeled), np.arange(8), None, 0, 1).ema_decay()

    assert decay(10, ema_epochs=1.0) == 0.0  # one (short) batch per epoch: the average is the last weights
    assert decay(160, ema_epochs=1.0) == pytest.approx(1 - 1 / 10)
    assert decay(160, ema_epochs=2.0) == pytest.approx(1 - 1 / 20)
    assert decay(160) == pytest.approx(1 - 1 / 10)  # the default: one epoch
    assert decay(160, ema=0.99) == 0.99  # a fixed decay, where set, instead
    assert decay(160, ema_epochs=0.0) == 0.0
