import json

import numpy as np
import pytest
from factories import make_features

from ssnas_core.baselines.runner import Budget, methods_for, run_method
from ssnas_core.pipeline import split_indices

TINY = {"run": {"space": {"C": 8, "L": 4}, "search": {"epochs": 1, "batch_size": 32},
                "pretrain": {"epochs": 1, "batch_size": 32},
                "finetune": {"epochs": 2, "batch_size": 16, "min_dev_samples": 24}},
        "supervised_batch": 16, "mfas": {"depth": 2, "k": 2, "iterations": 1, "epochs": 1, "hidden": 8},
        "mlp_hidden": 16}


def test_budget_round_trip_and_per_run_config():
    b = Budget.from_dict(TINY)
    assert Budget.from_dict(b.to_dict()) == b and b.digest() == Budget.from_dict(TINY).digest()
    cfg = b.config(0.05, 7, "supervised")
    got = (cfg.finetune.label_fraction, cfg.seed, cfg.search.mode, cfg.search.batch_size)
    assert got == (0.05, 7, "supervised", 16)
    with pytest.raises(ValueError):
        Budget.from_dict({**TINY, "mfas": {"depth": 0}})


def test_min_steps_scales_label_driven_epochs_by_r_only():
    b = Budget.from_dict({**TINY, "min_steps": 20})  # finetune: 2 epochs, batch 16
    assert b.epoch_factor(10) == 10 and b.epoch_factor(160) == 1 and b.epoch_factor(48) == 4
    cfg = b.config(0.05, 0, "supervised", n_labeled=10)
    assert (cfg.finetune.epochs, cfg.finetune.patience, cfg.search.epochs) == (20, 50, 10)
    short = b.config(0.05, 0, "supervised", n_labeled=10, epochs=1, patience=1)  # MFAS candidates
    assert (short.finetune.epochs, short.finetune.patience) == (10, 10)
    assert b.config(0.05, 0, "ssl", n_labeled=10).search.epochs == 1  # the label-free search is not scaled
    assert Budget.from_dict(TINY).config(0.05, 0, n_labeled=10).finetune.epochs == 2  # off by default


def test_every_method_runs_on_the_same_labeled_subset(tiny_features, tmp_path):
    b = Budget.from_dict(TINY)
    recs = {m: run_method(m, tiny_features, 0.3, 1, b, tmp_path) for m in methods_for(tiny_features)}
    assert set(recs) >= {"ssl", "bmnas", "mfas", "random", "late_fusion", "late_fusion_all", "unimodal_image",
                         "unimodal_text", "trivial_all", "trivial_topk"}
    expected = split_indices(tiny_features, b.config(0.3, 1))
    for m, rec in recs.items():
        assert rec["labeled_samples"] == len(expected["labeled"]), m
        assert rec["dev_samples"] == len(expected["dev_labeled"]), m
        assert {"weighted_f1@0.5", "weighted_f1@0.3", "micro_f1@0.5", "macro_f1@0.5"} <= set(rec["metrics"]["test"])
        assert rec["wall_time_s"] >= 0 and "genotype" in rec
    assert recs["trivial_all"]["metrics"]["test"]["weighted_f1@0.5"] > 0.3  # over-prediction pays
    assert recs["mfas"]["epochs"]["candidates"] >= 2
    assert recs["ssl_search_only"]["genotype"] == recs["ssl"]["genotype"]  # same search, no pretraining
    json.dumps(recs)  # every record is JSON


def test_ssl_stages_run_once_per_seed_and_serve_every_r(tiny_features, tmp_path):
    b = Budget.from_dict(TINY)
    a = run_method("ssl", tiny_features, 0.1, 0, b, tmp_path)
    result = tmp_path / "ssl_seed0" / "search_result.json"
    stamp = result.stat().st_mtime_ns
    c = run_method("ssl", tiny_features, 1.0, 0, b, tmp_path)
    assert result.stat().st_mtime_ns == stamp  # reused, not searched again
    assert a["genotype"] == c["genotype"] and c["labeled_samples"] > a["labeled_samples"]
    assert a["shared_wall_s"] == c["shared_wall_s"] > 0


def test_multiclass_gets_the_majority_predictor(tmp_path):
    ds = make_features(tmp_path / "mc", n=200, task="multiclass")
    methods = methods_for(ds)
    assert "trivial_majority" in methods and "trivial_topk" not in methods
    rec = run_method("trivial_majority", ds, 0.5, 0, Budget.from_dict(TINY), tmp_path)
    counts = np.bincount(ds.labels[ds.split == 2], minlength=4)
    assert rec["metrics"]["test"]["accuracy"] <= counts.max() / counts.sum() + 1e-9
    assert set(rec["metrics"]["test"]) == {"accuracy", "macro_f1", "weighted_f1"}


class _Stop(Exception):
    pass


def _recorder(events, stop_after=None):
    def callback(ev):
        events.append(ev)
        trained = [e for e in events if e.stage == "search" and e.end_of_epoch]
        if stop_after is not None and len(trained) >= stop_after:
            raise _Stop
    return callback


def test_mfas_resumes_from_its_score_cache_with_the_result_of_an_uninterrupted_run(tiny_features, tmp_path):
    from ssnas_core.baselines.runner import MFAS_SCORES, run_mfas

    b = Budget.from_dict({**TINY, "mfas": {"depth": 2, "k": 3, "iterations": 2, "epochs": 1, "hidden": 8,
                                           "surrogate_hidden": 16, "surrogate_steps": 20}})
    ref_events = []
    ref = run_mfas(tiny_features, 0.3, 1, b, tmp_path / "ref", callback=_recorder(ref_events))
    n = len(ref["search_history"])
    assert n > 4
    trained = [e for e in ref_events if e.stage == "search" and e.end_of_epoch]
    assert [(e.epoch, e.epochs) for e in trained] == [(i, 12) for i in range(n)]  # 12 = iterations*depth*k
    assert [e.metrics["dev_weighted_f1"] for e in trained] == [h["score"] for h in ref["search_history"]]
    inner = [e for e in ref_events if e.stage == "search" and not e.end_of_epoch]
    assert len(inner) == n and all(0 < e.progress <= 1 for e in inner)  # one per candidate epoch
    assert [e.epoch for e in ref_events if e.stage == "finetune"] == list(range(ref["epochs"]["finetune_ran"]))
    progress = [e.progress for e in ref_events if e.stage == "search"]
    assert progress == sorted(progress)

    wd, first = tmp_path / "run", []
    with pytest.raises(_Stop):
        run_mfas(tiny_features, 0.3, 1, b, wd, callback=_recorder(first, stop_after=3))
    assert not any(e.stage == "finetune" for e in first)
    assert len(json.loads((wd / MFAS_SCORES).read_text())["scores"]) == 3
    second = []
    rec = run_mfas(tiny_features, 0.3, 1, b, wd, callback=_recorder(second))
    assert rec["genotype"] == ref["genotype"] and rec["search_history"] == ref["search_history"]
    assert rec["metrics"] == ref["metrics"]
    search = [e for e in second if e.stage == "search"]
    replayed = [e for e in search if not e.end_of_epoch and e.step == 0]
    retrained = [e for e in search if e.end_of_epoch]
    assert len(replayed) == 3 and [e.epoch for e in retrained] == list(range(3, n))  # cached ones not retrained
    assert len(json.loads((wd / MFAS_SCORES).read_text())["scores"]) == n

    other = []  # another seed in the same folder trains its own candidates
    run_mfas(tiny_features, 0.3, 2, b, wd, callback=_recorder(other))
    assert not any(e.stage == "search" and e.step == 0 for e in other)
