"""RunConfig refuses what no worker can serve: unbounded sizes, non-numbers, NaN/inf, an all-zero
primitive set; the message names the field (never a Python TypeError text)."""

from __future__ import annotations

import json

import pytest

from ssnas_core.config import MAX_THREADS, ConfigError, RunConfig


@pytest.mark.parametrize("override, needle", [
    ({"num_threads": 100000}, "num_threads must be in [1, 1024]"),
    ({"num_threads": 0}, "num_threads"),
    ({"search": {"w_lr": "NaN"}}, "SearchConfig.w_lr must be a finite number, got 'NaN'"),
    ({"search": {"w_lr": float("nan")}}, "SearchConfig.w_lr must be a finite number"),
    ({"search": {"arch_lr": float("inf")}}, "SearchConfig.arch_lr must be a finite number"),
    ({"search": {"grad_clip": 1e300}}, "grad_clip"),
    ({"search": {"arch_betas": [0.5, "x"]}}, "arch_betas"),
    ({"search": {"max_batches_per_epoch": 0}}, "max_batches_per_epoch"),
    ({"search": {"matmul": "fp16"}}, "matmul must be one of bf16, fp32, got 'fp16'"),
    ({"search": {"w_weight_decay": -1}}, "weight decays"),
    ({"pretrain": {"lr": 5}}, "pretrain lr"),
    ({"finetune": {"patience": 10**9}}, "patience"),
    ({"ssl": {"proj_hidden": 10**6}}, "projection sizes"),
    ({"ssl": {"augment": {"feature_mask": "0.2"}}}, "AugmentConfig.feature_mask must be a finite number"),
    ({"space": {"L": 4096}}, "L must be at most 1024"),
    ({"space": {"C": 2.5}}, "SearchSpaceConfig.C must be an integer"),
    ({"space": {"primitives": ["zero"]}}, "at least one operation besides 'zero'"),
    ({"space": {"primitives": []}}, "at least one operation besides 'zero'"),
    ({"space": {"primitives": "sum"}}, "SearchSpaceConfig.primitives must be a list"),
    ({"space": 3}, "RunConfig.space must be a mapping"),
    ({"device": 3}, "RunConfig.device must be a string"),
    ({"seed": True}, "RunConfig.seed must be an integer"),
])
def test_out_of_range_or_wrong_kind_is_a_config_error(override, needle):
    with pytest.raises(ConfigError) as err:
        RunConfig.from_dict(override)
    assert needle in str(err.value)
    assert "not supported between" not in str(err.value)


def test_valid_configs_still_load():
    cfg = RunConfig.from_dict({"num_threads": MAX_THREADS, "search": {"w_lr": 1, "max_batches_per_epoch": None},
                               "space": {"primitives": ["zero", "sum"]}})
    assert cfg.search.w_lr == 1 and cfg.space.primitives == ("zero", "sum")
    assert RunConfig.from_dict(json.loads(json.dumps(RunConfig().to_dict()))) == RunConfig()


def test_mfas_sizes_are_bounded():
    from ssnas_core.baselines.mfas import MFASConfig

    for bad in ({"hidden": 10**6}, {"k": 10**4}, {"surrogate_steps": 10**7}, {"t0": float("nan")}):
        with pytest.raises(ValueError):
            MFASConfig(**bad)
