import numpy as np
import pytest
import torch
from factories import make_features

from ssnas_core.callbacks import StopRequested
from ssnas_core.checkpoint import load_tensors, save_tensors
from ssnas_core.config import RunConfig
from ssnas_core.pipeline import run_pipeline, split_indices
from ssnas_core.search import _Search, run_search

TINY = {"space": {"C": 8, "L": 4}, "search": {"epochs": 3, "batch_size": 32},
        "pretrain": {"epochs": 2, "batch_size": 32},
        "finetune": {"epochs": 15, "label_fraction": 0.5, "batch_size": 16, "min_dev_samples": 24}}


def test_one_bilevel_step_changes_weights_and_architecture(tiny_features):
    cfg = RunConfig.from_dict({**TINY, "search": {"epochs": 1, "batch_size": 32, "max_batches_per_epoch": 1,
                                                  "schedule": "bmnas"}})
    idx = split_indices(tiny_features, cfg)
    s = _Search(tiny_features, cfg, torch.device("cpu"), idx["train"], idx["dev"])
    w0 = [p.detach().clone() for p in s.net.weight_parameters()]
    a0 = [p.detach().clone() for p in s.net.arch_parameters()]
    s.weight_pass(lambda e: None)
    w1 = [p.detach().clone() for p in s.net.weight_parameters()]
    assert all(torch.equal(a, b) for a, b in zip(a0, s.net.arch_parameters())), "w step moved arch params"
    s.arch_pass(lambda e: None)
    assert any(not torch.equal(a, b) for a, b in zip(w0, w1))
    assert any(not torch.equal(a, b) for a, b in zip(a0, s.net.arch_parameters()))
    assert all(torch.equal(a, b) for a, b in zip(w1, s.net.weight_parameters())), "arch step moved weights"


def test_ssl_search_reads_no_labels(tiny_features, monkeypatch):
    cfg = RunConfig.from_dict({**TINY, "search": {"epochs": 1, "batch_size": 32}})
    idx = split_indices(tiny_features, cfg)
    poisoned = np.full_like(tiny_features.labels, 255)
    monkeypatch.setattr(tiny_features, "labels", poisoned)  # any label read would show up below
    s = _Search(tiny_features, cfg, torch.device("cpu"), idx["train"], idx["dev"])
    for _, labels in s.batches(idx["train"], 0, "search_w"):
        assert labels is None
    run_search(tiny_features, cfg, torch.device("cpu"), train_idx=idx["train"], val_idx=idx["dev"])


def test_resume_after_interrupt_gives_the_same_genotype(tiny_features, tmp_path):
    cfg = RunConfig.from_dict(TINY)
    idx = split_indices(tiny_features, cfg)
    kw = dict(train_idx=idx["train"], val_idx=idx["dev"])
    full = run_search(tiny_features, cfg, torch.device("cpu"), state_path=tmp_path / "a.safetensors", **kw)

    def stop_in_epoch_1(ev):
        if ev.epoch == 1 and not ev.end_of_epoch and ev.step >= 2:
            raise StopRequested()

    state = tmp_path / "b.safetensors"
    from ssnas_core import search as search_mod
    monkey_every = search_mod.REPORT_EVERY
    search_mod.REPORT_EVERY = 1
    try:
        run_search(tiny_features, cfg, torch.device("cpu"), state_path=state, callback=stop_in_epoch_1, **kw)
        raise AssertionError("the callback should have stopped the search")
    except StopRequested:
        pass
    finally:
        search_mod.REPORT_EVERY = monkey_every
    resumed = run_search(tiny_features, cfg, torch.device("cpu"), state_path=state, **kw)
    assert resumed.genotype == full.genotype
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]


def test_a_state_from_before_a_new_config_field_resumes_and_another_config_is_refused(tiny_features, tmp_path):
    """A job interrupted by an upgrade resumes: its state lacks the fields added since (here
    search.matmul), which take their defaults. A state of another configuration is refused."""
    cfg = RunConfig.from_dict(TINY)
    idx = split_indices(tiny_features, cfg)
    kw = dict(train_idx=idx["train"], val_idx=idx["dev"])
    full = run_search(tiny_features, cfg, torch.device("cpu"), **kw)
    one = RunConfig.from_dict({**TINY, "search": {**TINY["search"], "epochs": 1}})
    state = tmp_path / "s.safetensors"
    run_search(tiny_features, one, torch.device("cpu"), state_path=state, **kw)
    tensors, meta = load_tensors(state)
    meta["config"] = cfg.to_dict()  # the same run, stopped after its first epoch, written by an older version
    del meta["config"]["search"]["matmul"]
    save_tensors(state, tensors, meta)
    resumed = run_search(tiny_features, cfg, torch.device("cpu"), state_path=state, **kw)
    assert resumed.genotype == full.genotype
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]

    for config in ({**cfg.to_dict(), "search": {**cfg.to_dict()["search"], "w_lr": 0.5}},
                   {**cfg.to_dict(), "search": {**cfg.to_dict()["search"], "from_a_newer_version": 1}}):
        save_tensors(state, tensors, {**meta, "config": config})
        with pytest.raises(ValueError, match="different configuration"):
            run_search(tiny_features, cfg, torch.device("cpu"), state_path=state, **kw)


def test_ssl_search_then_finetune_beats_chance(tmp_path):
    ds = make_features(tmp_path / "f", n=400, num_labels=4, task="multiclass", noise=1.0)
    cfg = RunConfig.from_dict({**TINY, "search": {"epochs": 2, "batch_size": 32}})
    events = []
    res = run_pipeline(ds, cfg, tmp_path / "work", callback=events.append)
    assert res["metrics"]["test"]["accuracy"] > 0.5  # chance is 0.25
    assert {e.stage for e in events} >= {"search", "pretrain", "finetune", "evaluate"}
    assert all(0.0 <= e.progress <= 1.0 for e in events)


def test_supervised_search_runs_through_the_same_code(tiny_features, tmp_path):
    cfg = RunConfig.from_dict({**TINY, "search": {"epochs": 1, "batch_size": 16, "mode": "supervised"}})
    res = run_pipeline(tiny_features, cfg, tmp_path / "w")
    assert res["search"]["mode"] == "supervised"
    assert "dev_weighted_f1" in res["search"]["history"][0]
    assert res["metrics"]["test"]["weighted_f1@0.5"] > 0.3
