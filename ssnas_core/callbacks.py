"""Progress reporting and cooperative stopping for long runs.

The training loops call ``callback(event)`` after every few batches and after every
epoch. A callback may raise (``StopRequested`` or anything else) to stop the run: the
loop propagates the exception; the state of the last finished epoch is already on disk,
so the run resumes from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


class StopRequested(Exception):
    """Raised by a callback to stop a run cooperatively (cancel, shutdown)."""


@dataclass(frozen=True)
class ProgressEvent:
    stage: str  # "search", "pretrain", "finetune", "evaluate", "features"
    epoch: int  # 0-based epoch within the stage (0 for stages without epochs)
    epochs: int
    step: int  # batches done in this epoch
    steps: int  # batches per epoch
    metrics: dict[str, float] = field(default_factory=dict)
    end_of_epoch: bool = False

    @property
    def progress(self) -> float:
        """Fraction of the stage done, in [0, 1]."""
        if self.epochs <= 0:
            return 1.0
        inner = self.step / self.steps if self.steps else 1.0
        return min(1.0, (self.epoch + inner) / self.epochs)


Callback = Callable[[ProgressEvent], None]


def no_callback(event: ProgressEvent) -> None:  # noqa: ARG001 - the null callback
    return None
