"""Typed run configuration: frozen dataclasses, validated on construction.

Every parameter of a run lives here; the CLI reads them from JSON/YAML and the
service converts its pydantic schemas into them. Defaults follow METHOD.md
sections 3-5 (BM-NAS where it has a value, marked choices of ours otherwise).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

PRIMITIVES = ("zero", "sum", "scale_dot_attn", "linear_glu", "concat_fc")
SUMMARY_NODES = ("all", "vectors", "none")
MATMUL = ("bf16", "fp32")  # SearchConfig.matmul


class ConfigError(ValueError):
    """A configuration value is out of range or of the wrong kind."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


MAX_THREADS = 1024


def _check_batches(value: int | None) -> None:
    _check(value is None or 1 <= value <= 10**9, f"max_batches_per_epoch must be None or in [1, 1e9], got {value}")


@dataclass(frozen=True)
class SearchSpaceConfig:
    """Two-level BM-NAS search space (METHOD.md section 3)."""

    C: int = 192
    L: int = 16
    steps: int = 2
    multiplier: int = 2
    node_steps: int = 1
    node_multiplier: int = 1
    dropout: float = 0.1
    primitives: tuple[str, ...] = PRIMITIVES
    # (ours, issue 9) one extra input node per modality with two taps or more: every tap pooled,
    # concatenated and standardised on the train split (ssnas_core.data.summary). "all": every
    # such modality; "vectors": only modalities whose taps are all vectors (a pooled summary of
    # feature maps drops the spatial layout its maps keep); "none". true/false read as all/none.
    summary_nodes: bool | str = "all"

    def __post_init__(self) -> None:
        _check(1 <= self.C <= 4096, f"C must be in [1, 4096], got {self.C}")
        side = round(self.L**0.5)
        _check(self.L >= 1 and side * side == self.L, f"L must be a perfect square, got {self.L}")
        _check(1 <= self.steps <= 8, f"steps must be in [1, 8], got {self.steps}")
        _check(1 <= self.multiplier <= self.steps, "multiplier must be in [1, steps]")
        _check(1 <= self.node_steps <= 4, "node_steps must be in [1, 4]")
        _check(1 <= self.node_multiplier <= self.node_steps, "node_multiplier must be in [1, node_steps]")
        _check(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")
        summary = {True: "all", False: "none"}.get(self.summary_nodes, self.summary_nodes)
        _check(summary in SUMMARY_NODES, f"summary_nodes must be one of {list(SUMMARY_NODES)} "
               f"(or true/false for all/none), got {self.summary_nodes!r}")
        object.__setattr__(self, "summary_nodes", summary)
        object.__setattr__(self, "primitives", tuple(self.primitives))
        unknown = [p for p in self.primitives if p not in PRIMITIVES]
        _check(not unknown, f"unknown primitives {unknown}; known: {list(PRIMITIVES)}")
        _check(self.L <= 1024, f"L must be at most 1024, got {self.L}")
        _check(any(p != "zero" for p in self.primitives),
               f"primitives need at least one operation besides 'zero', got {list(self.primitives)}")


@dataclass(frozen=True)
class AugmentConfig:
    """Feature-level SimCLR views (METHOD.md section 5, ours). Each is a named component."""

    gaussian_noise: float = 0.1  # std of noise relative to each node's per-sample std
    feature_mask: float = 0.2  # dropout probability on input-node features
    node_scale: float = 0.2  # each node scaled by U(1 - s, 1 + s)
    modality_drop: float = 0.1  # probability of zeroing one whole modality in a view

    def __post_init__(self) -> None:
        for name in ("gaussian_noise", "feature_mask", "node_scale", "modality_drop"):
            v = getattr(self, name)
            _check(0.0 <= v < 1.0 or (name == "gaussian_noise" and 0 <= v <= 5), f"{name} out of range: {v}")

    def names(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) > 0]


SSL_OBJECTIVES = ("simclr", "cross_modal", "cross_views")


@dataclass(frozen=True)
class SSLConfig:
    """The contrastive objective of the search and the pretraining (METHOD.md section 5).

    ``objective`` (ours, see ``objectives.contrastive_loss``):
    - ``simclr``: NT-Xent between two views of the fused input (the paper's plain SimCLR);
    - ``cross_modal``: the plain term plus, for every modality m, NT-Xent between view 1 and
      view 2 restricted to m (the other modalities masked as ``modality_drop`` masks one),
      weighted by ``cross_weight``: (plain + w * sum_m NT(z1, z2|m)) / (1 + w * M);
    - ``cross_views``: views restricted to one modality each, NT-Xent between modalities.
    """

    temperature: float = 0.2
    proj_hidden: int = 512
    proj_dim: int = 128
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    objective: str = "cross_modal"
    cross_weight: float = 1.0

    def __post_init__(self) -> None:
        _check(0.01 <= self.temperature <= 10, "temperature must be in [0.01, 10]")
        _check(self.proj_hidden >= 1 and self.proj_dim >= 1, "projection sizes must be positive")
        _check(self.objective in SSL_OBJECTIVES, f"objective must be one of {list(SSL_OBJECTIVES)}, "
                                                 f"got {self.objective!r}")
        _check(0.0 <= self.cross_weight <= 100.0, f"cross_weight must be in [0, 100], got {self.cross_weight}")
        _check(self.proj_hidden <= 8192 and self.proj_dim <= 8192, "projection sizes must be at most 8192")


@dataclass(frozen=True)
class SearchConfig:
    """Bilevel first-order search (METHOD.md section 4, BM-NAS optimiser defaults).

    Schedules (METHOD.md section 4 allows both):
    - ``alternate`` (DARTS, our default): after every weight step one architecture step on a
      search-val batch drawn at random (with replacement across steps), so the number of
      architecture updates is the number of weight steps, whatever the size of search-val;
    - ``bmnas``: per epoch one pass over search-train for the weights, then one architecture
      step per search-val batch.
    ``arch_lr`` None takes BM-NAS's 3e-4 for the supervised search and 3e-3 for the
    self-supervised one: a search of a few epochs makes ~100 architecture steps, and Adam moves
    a logit by about lr per step, so at 3e-4 the weights end within noise of uniform (measured:
    margins ~0.001 at 3e-4, ~0.01-0.05 at 3e-3).
    ``noise_margin``: a derived choice whose top-two softmax margin is below it is reported as
    decided by noise (a warning in the search result).
    ``cover_modalities`` (ours, default on): when the strongest choices would leave a modality
    unread, the derivation re-points the one cell input that costs the least architecture weight
    to the strongest input of that modality (``search_space.cover``); the search result says so.
    The supervised BM-NAS baseline of the benchmark runs with it off, as published.
    ``matmul`` (ours, issue 14): the precision of the search's float32 matrix products on the CPU.
    ``bf16`` lets oneDNN round their inputs to bfloat16 and accumulate in float32 where the CPU
    has AMX or AVX512-BF16 (``torch.backends.mkldnn.matmul.fp32_precision``; elsewhere the
    products stay IEEE): 4-5x faster products, relative error ~2e-3 per product, search losses
    within seed noise of ``fp32`` (``bench/results/search_speed.json``). ``fp32``: IEEE products.
    Only the search: pretraining, finetuning and prediction keep IEEE products.
    """

    mode: str = "ssl"  # "ssl" (NT-Xent, no labels) or "supervised" (BCE on the labeled fraction)
    epochs: int = 30
    batch_size: int = 128
    w_lr: float = 1e-3
    w_lr_min: float = 1e-6
    w_weight_decay: float = 1e-4
    arch_lr: float | None = None  # None: 3e-4 (BM-NAS) for supervised, 3e-3 for ssl (ours; see lr_arch)
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    grad_clip: float = 5.0
    max_batches_per_epoch: int | None = None  # cap for quick runs; None = full pass
    schedule: str = "alternate"
    noise_margin: float = 0.01
    cover_modalities: bool = True  # derive a genotype that reads every modality (search_space.cover)
    matmul: str = "bf16"  # "bf16" (bfloat16 inputs, float32 accumulation, where the CPU has it) or "fp32"

    @property
    def lr_arch(self) -> float:
        return self.arch_lr if self.arch_lr is not None else (3e-3 if self.mode == "ssl" else 3e-4)

    def __post_init__(self) -> None:
        _check(self.mode in ("ssl", "supervised"), f"mode must be 'ssl' or 'supervised', got {self.mode!r}")
        _check(self.schedule in ("alternate", "bmnas"), f"schedule must be 'alternate' or 'bmnas', "
                                                         f"got {self.schedule!r}")
        _check(0.0 <= self.noise_margin < 1.0, "noise_margin must be in [0, 1)")
        _check(self.matmul in MATMUL, f"matmul must be one of {', '.join(MATMUL)}, got {self.matmul!r}")
        _check(1 <= self.epochs <= 1000, "epochs must be in [1, 1000]")
        _check(2 <= self.batch_size <= 8192, "batch_size must be in [2, 8192]")
        _check(0 < self.w_lr <= 1 and (self.arch_lr is None or 0 < self.arch_lr <= 1),
               "learning rates must be in (0, 1]")
        object.__setattr__(self, "arch_betas", tuple(self.arch_betas))
        _check(0 <= self.w_lr_min <= self.w_lr, "w_lr_min must be in [0, w_lr]")
        _check(0 <= self.w_weight_decay <= 1 and 0 <= self.arch_weight_decay <= 1,
               "weight decays must be in [0, 1]")
        _check(len(self.arch_betas) == 2 and all(0 <= b < 1 for b in self.arch_betas),
               "arch_betas must be two numbers in [0, 1)")
        _check(0 < self.grad_clip <= 1e6, "grad_clip must be in (0, 1e6]")
        _check_batches(self.max_batches_per_epoch)


@dataclass(frozen=True)
class PretrainConfig:
    """Contrastive pretraining of the derived network (METHOD.md section 1 step 4)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    max_batches_per_epoch: int | None = None

    def __post_init__(self) -> None:
        _check(0 <= self.epochs <= 1000, "pretrain epochs must be in [0, 1000]")
        _check(2 <= self.batch_size <= 8192, "batch_size must be in [2, 8192]")
        _check(0 < self.lr <= 1, "pretrain lr must be in (0, 1]")
        _check(0 <= self.weight_decay <= 1, "pretrain weight_decay must be in [0, 1]")
        _check_batches(self.max_batches_per_epoch)


@dataclass(frozen=True)
class FinetuneConfig:
    """Classifier finetuning on the labeled fraction r of train (METHOD.md section 6-7)."""

    label_fraction: float = 0.1
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 5  # early stopping on dev weighted F1
    threshold: float = 0.5  # the rule during training and early stopping
    min_dev_samples: int = 48  # dev subset of fraction r, at least this many
    # (ours) how a pretrained fusion network is adapted: "full" finetuning, a linear "probe" on
    # the frozen embedding, "lp_ft" (probe, then full finetuning from the probe's head), or
    # "auto": all three, the best on the labeled dev subset is kept. Fresh networks always run "full".
    probe: str = "auto"
    probe_lr: float = 1e-2
    # the decision threshold kept in the checkpoint, chosen on the labeled dev subset:
    # "fixed" (= threshold), "global" (one for every label) or "per_label"
    threshold_select: str = "global"
    # (ours) exponential moving average of the weights during full finetuning (and lp_ft's full
    # phase): dev scoring, early stopping and the kept network use the average. ``ema_epochs``:
    # the average's time constant in epochs of the labeled subset (decay 1 - 1 / (ema_epochs *
    # steps per epoch), so it scales with r; none at one step per epoch); ``ema``, where set, a
    # fixed decay per step instead. Both 0: off
    ema: float = 0.0
    ema_epochs: float = 1.0

    def __post_init__(self) -> None:
        _check(0.0 <= self.ema < 1.0, f"finetune ema must be in [0, 1), got {self.ema}")
        _check(0.0 <= self.ema_epochs <= 100.0, f"finetune ema_epochs must be in [0, 100], got {self.ema_epochs}")
        _check(self.probe in ("full", "probe", "lp_ft", "auto"), f"probe must be full, probe, lp_ft or auto, "
                                                                   f"got {self.probe!r}")
        _check(self.threshold_select in ("fixed", "global", "per_label"),
               f"threshold_select must be fixed, global or per_label, got {self.threshold_select!r}")
        _check(0 < self.probe_lr <= 1, "probe_lr must be in (0, 1]")
        _check(0 < self.label_fraction <= 1, "label_fraction must be in (0, 1]")
        _check(1 <= self.epochs <= 1000, "finetune epochs must be in [1, 1000]")
        _check(1 <= self.batch_size <= 8192, "batch_size must be in [1, 8192]")
        _check(0 < self.threshold < 1, "threshold must be in (0, 1)")
        _check(0 < self.lr <= 1, "finetune lr must be in (0, 1]")
        _check(0 <= self.weight_decay <= 1, "finetune weight_decay must be in [0, 1]")
        _check(1 <= self.patience <= 1000, "patience must be in [1, 1000]")
        _check(1 <= self.min_dev_samples <= 1_000_000, "min_dev_samples must be in [1, 1000000]")


@dataclass(frozen=True)
class RunConfig:
    """One full job: search -> derive -> pretrain -> finetune -> evaluate."""

    space: SearchSpaceConfig = field(default_factory=SearchSpaceConfig)
    ssl: SSLConfig = field(default_factory=SSLConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    amp: bool = False
    num_threads: int | None = None

    def __post_init__(self) -> None:
        _check(0 <= self.seed < 2**31, "seed must be in [0, 2^31)")
        _check(self.device == "auto" or self.device.split(":")[0] in ("cpu", "cuda", "mps"),
               f"device must be auto, cpu, cuda[:n] or mps, got {self.device!r}")
        # the worker also caps it at its own core count
        _check(self.num_threads is None or 1 <= self.num_threads <= MAX_THREADS,
               f"num_threads must be in [1, {MAX_THREADS}], got {self.num_threads}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "RunConfig":
        return from_dict(cls, d or {})


def from_dict(cls: type, d: dict[str, Any]) -> Any:
    """Build a (nested) config dataclass from a plain dict; unknown keys are an error."""
    if not isinstance(d, dict):
        raise ConfigError(f"{cls.__name__} expects a mapping, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    _check(not unknown, f"unknown {cls.__name__} keys: {unknown}")
    kwargs: dict[str, Any] = {}
    for name, value in d.items():
        default = fields[name].default_factory if fields[name].default_factory is not dataclasses.MISSING else None
        sub = default() if default is not None else None
        if dataclasses.is_dataclass(sub):
            _check(isinstance(value, (dict, type(sub))), f"{cls.__name__}.{name} must be a mapping, got {value!r}")
            value = from_dict(type(sub), value) if isinstance(value, dict) else value
        else:
            _check_kind(f"{cls.__name__}.{name}", fields[name].type, value)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # wrong kinds that the dataclass itself rejects
        raise ConfigError(str(exc)) from exc


_KINDS = {"int": "an integer", "float": "a finite number", "str": "a string", "bool": "true or false"}


def _kind_ok(kind: str, value: Any) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "str":
        return isinstance(value, str)
    return isinstance(value, bool)


def _check_kind(where: str, annotation: Any, value: Any) -> None:
    """A clean ConfigError when ``value`` does not fit a plain annotation (int, float, str, bool,
    X | None, tuple[X, ...]); floats must be finite (no NaN or infinity). Other annotations pass."""
    parts = [p.strip() for p in str(annotation).split("|")]
    if value is None and "None" in parts:
        return
    kinds = [p for p in parts if p in _KINDS]
    tuples = [p[6:-1] for p in parts if p.startswith("tuple[") and p.endswith("]")]
    if kinds:
        _check(any(_kind_ok(k, value) for k in kinds),
               f"{where} must be {' or '.join(_KINDS[k] for k in kinds)}, got {value!r}")
    elif tuples:
        inner = [p.strip() for p in tuples[0].split(",") if p.strip() != "..."]
        _check(isinstance(value, (list, tuple)), f"{where} must be a list, got {value!r}")
        _check(all(_kind_ok(inner[0], v) for v in value) if inner and inner[0] in _KINDS else True,
               f"{where}: every item must be {_KINDS.get(inner[0] if inner else '', 'valid')}, got {value!r}")
