"""MFAS search settings: torch-free, so that the service validates a job's settings against the
same dataclass the search runs with (``ssnas_core.baselines.mfas`` re-exports it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# upper bounds of MFASConfig (the service's schema is generated from these)
MFAS_LIMITS = {"depth": 16, "k": 200, "iterations": 50, "epochs": 1000, "hidden": 8192, "t0": 1e6,
               "tf": 1e6, "s": 1e6, "surrogate_hidden": 8192, "surrogate_steps": 100_000}


@dataclass(frozen=True)
class MFASConfig:
    depth: int = 4  # L
    k: int = 15  # candidates per round (K), and beam width
    iterations: int = 3  # E
    epochs: int = 3  # training epochs per candidate
    hidden: int = 64
    t0: float = 10.0
    tf: float = 0.2
    s: float = 4.0
    surrogate_hidden: int = 100
    surrogate_steps: int = 200

    def __post_init__(self) -> None:
        if min(self.depth, self.k, self.iterations, self.epochs, self.hidden) < 1:
            raise ValueError(f"MFAS sizes must be positive: {asdict(self)}")
        for name, top in MFAS_LIMITS.items():
            value = getattr(self, name)
            if not 0 < value <= top:  # also refuses NaN
                raise ValueError(f"MFAS {name} must be in (0, {top}], got {value}")
