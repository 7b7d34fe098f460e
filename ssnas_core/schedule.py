"""Learning-rate schedule and per-epoch seeding shared by the training loops."""

from __future__ import annotations

import math

import torch


def cosine_restart_lr(step: int, period: int, eta_max: float, eta_min: float, t_mult: int = 2) -> float:
    """SGDR (cosine annealing with warm restarts) as a pure function of the global batch step.

    The first cycle lasts ``period`` steps (T_0 = 1 epoch), each next one ``t_mult`` times longer.
    Stateless, so a resumed run gets exactly the rates an uninterrupted one would.
    """
    t, length = step, period
    while t >= length:
        t -= length
        length *= t_mult
    return eta_min + (eta_max - eta_min) * (1 + math.cos(math.pi * t / length)) / 2


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def epoch_seed(seed: int, stage: str, epoch: int) -> int:
    """A seed for (run seed, stage, epoch): data order, views and dropout of that epoch."""
    return (seed * 1_000_003 + sum(map(ord, stage)) * 10_007 + epoch) % (2**31)


def seeded_generator(seed: int, device: torch.device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed)
    return g
