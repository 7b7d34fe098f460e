"""MicroBatcher: concurrent callers share forward passes and each gets its own rows."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from api.services.batcher import MicroBatcher


def test_concurrent_calls_are_batched_and_split_back():
    sizes = []

    def fn(items):
        sizes.append(len(items))
        time.sleep(0.05)  # a slow forward pass lets the other callers queue up
        return np.array([[x, 2 * x] for x in items], dtype=float)

    b = MicroBatcher(fn, max_batch=64)
    results = {}

    def call(i):
        results[i] = b.submit([i, i + 100])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    b.close()
    for i in range(8):
        np.testing.assert_array_equal(results[i], [[i, 2 * i], [i + 100, 2 * (i + 100)]])
    assert sum(sizes) == 16 and len(sizes) < 8  # fewer passes than callers


def test_a_bad_request_fails_alone():
    def fn(items):
        if "bad" in items:
            raise ValueError("bad input")
        return np.array([[1.0]] * len(items))

    b = MicroBatcher(fn, max_batch=8)
    assert b.submit(["ok"]).shape == (1, 1)
    with pytest.raises(ValueError, match="bad input"):
        b.submit(["bad"])
    b.close()


def test_batches_stay_at_max_batch_and_wait_briefly_for_company():
    sizes = []
    gate = threading.Event()

    def fn(items):
        gate.wait(5)  # the first pass holds on until every caller has queued
        sizes.append(len(items))
        return np.array([[x] for x in items], dtype=float)

    b = MicroBatcher(fn, max_batch=4, max_wait_s=0.5)
    results = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, b.submit([i] * (1 + (i == 3) * 5))))
               for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join()
    b.close()
    assert sorted(sizes) != [] and sum(sizes) == 7 + 6
    assert all(n <= 4 for n in sizes if n != 6) and 6 in sizes  # the 6-sample request ran alone
    for i in range(8):
        np.testing.assert_array_equal(results[i][:, 0], [i] * (1 + (i == 3) * 5))
    # a lone caller is answered after at most the wait, with nobody to batch with
    b = MicroBatcher(lambda items: np.ones((len(items), 1)), max_batch=4, max_wait_s=0.05)
    assert b.submit([1]).shape == (1, 1)
    b.close()


def test_on_idle_runs_once_after_a_busy_spell():
    idle = []
    b = MicroBatcher(lambda items: np.ones((len(items), 1)), max_batch=4, on_idle=lambda: idle.append(1),
                     idle_s=0.05)
    time.sleep(0.2)
    assert idle == []  # never busy yet
    b.submit([1])
    b.submit([2])
    deadline = time.monotonic() + 5
    while not idle and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    b.close()
    assert idle == [1]
