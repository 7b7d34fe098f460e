"""One GPU per running job when several workers share a host's GPUs.

Docker Compose gives every replica of a scaled service the same device request, so
``--scale worker=N`` cannot hand each replica its own GPU. Instead each worker sees all GPUs
and, when a job asks for plain ``cuda``/``auto``, takes the first GPU whose lock file (named by
the GPU's UUID, in a directory on the shared data volume) it can lock without waiting; the lock
lives as long as the job and is released by the kernel if the worker dies.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO, Sequence


class GpuLease:
    """A held lock on one GPU (``index`` among the visible devices)."""

    def __init__(self, index: int, handle: IO):
        self.index, self._handle = index, handle

    def release(self) -> None:
        if not self._handle.closed:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()


def lease_first_free(gpu_ids: Sequence[str], lock_dir: Path) -> GpuLease | None:
    """Lock the first GPU (by its id) no other worker holds; None if all are taken."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    for index, gpu_id in enumerate(gpu_ids):
        fh = open(lock_dir / f"{gpu_id}.lock", "a")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        return GpuLease(index, fh)
    return None


def visible_gpu_ids() -> list[str]:
    """UUIDs of the CUDA devices this process sees (initialises CUDA: call inside the task)."""
    import torch

    return [str(torch.cuda.get_device_properties(i).uuid) for i in range(torch.cuda.device_count())]
