"""Coalesce concurrent /predict calls for one model into one forward pass.

One thread per loaded model takes whatever requests are waiting (up to ``max_batch`` samples),
runs them as one batch and hands each caller its rows. After the first request of a batch it
waits at most ``max_wait_s`` for more (a busy server batches what queued up during the last
pass without waiting; a lone request waits that long once). A request larger than
``max_batch`` runs alone, as one batch.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

_STOP = object()


class MicroBatcher:
    def __init__(self, fn: Callable[[list[Any]], np.ndarray], max_batch: int, name: str = "",
                 max_wait_s: float = 0.0, on_idle: Callable[[], None] | None = None, idle_s: float = 1.0):
        """on_idle: called once after each busy spell, when nothing came for ``idle_s`` (e.g. to
        give freed memory back to the system while nothing needs it)."""
        self.fn, self.max_batch, self.max_wait_s = fn, max_batch, max_wait_s
        self.on_idle, self.idle_s, self._busy = on_idle, idle_s, False
        self._q: queue.Queue = queue.Queue()
        self._carry: tuple[list[Any], Future] | None = None
        self._thread = threading.Thread(target=self._loop, name=f"predict-{name}", daemon=True)
        self._thread.start()

    def submit(self, items: list[Any]) -> np.ndarray:
        """Run ``fn(items)`` (possibly together with other callers' items); blocks for the rows."""
        fut: Future = Future()
        self._q.put((items, fut))
        return fut.result()

    def close(self) -> None:
        self._q.put(_STOP)

    def _take(self) -> list[tuple[list[Any], Future]] | None:
        first, self._carry = (self._carry, None) if self._carry is not None else (self._next(), None)
        if first is _STOP:
            return None
        batch, n = [first], len(first[0])
        deadline = time.monotonic() + self.max_wait_s
        while n < self.max_batch:
            try:
                left = deadline - time.monotonic()
                nxt = self._q.get(timeout=left) if left > 0 else self._q.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP:
                self._q.put(_STOP)
                break
            if n + len(nxt[0]) > self.max_batch:
                self._carry = nxt  # too many for this batch: it starts the next one
                break
            batch.append(nxt)
            n += len(nxt[0])
        return batch

    def _next(self) -> Any:
        if self._busy and self.on_idle is not None:
            try:
                return self._q.get(timeout=self.idle_s)
            except queue.Empty:
                self._busy = False
                self.on_idle()
        return self._q.get()

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            self._busy = True
            try:
                out = self.fn([x for items, _ in batch for x in items])
            except Exception:  # noqa: BLE001 - one bad request must not fail the others
                self._one_by_one(batch)
                continue
            start = 0
            for items, fut in batch:
                fut.set_result(out[start:start + len(items)])
                start += len(items)

    def _one_by_one(self, batch: list[tuple[list[Any], Future]]) -> None:
        for items, fut in batch:
            try:
                fut.set_result(self.fn(items))
            except Exception as exc:  # noqa: BLE001 - delivered to its caller
                fut.set_exception(exc)
