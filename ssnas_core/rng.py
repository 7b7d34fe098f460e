"""Random draws for the search's hot path, in parallel and independent of the thread count (issue 14).

torch's CPU generator is one serial Mersenne twister: the dropout masks and the view noise of a
search step (~38 M Bernoulli and ~34 M uniform or normal draws per weight + architecture step at
the default width) were drawn on one core whatever ``torch.get_num_threads()`` said. Here a draw
takes one seed from the caller's torch generator (so ``torch.manual_seed`` or a seeded view
generator still fixes every number, and a resumed run repeats them), then fills a tensor in
fixed chunks of rows, each from its own stream keyed by (seed, key..., chunk index, kind) and
drawn a few rows at a time (``row_groups``), in
``torch.get_num_threads()`` threads that run without the GIL. The numbers depend on the seed and
the shape only, never on the number of threads.

Laws: ``uniform`` U[0, 1) in float32 on the 2^-24 grid (the top 24 of 32 random bits of NumPy's
SFC64); ``normal`` N(0, 1) by Box-Muller on pairs of 23-bit uniforms (radius sqrt(-2 ln u),
u in (0, 1], so |z| <= 5.65; float32 log, sin and cos of NumPy, 1.6x faster than torch's
``normal_``); ``keep_mask``
1{u >= p} * scale, u that uniform (compared on the raw bits, the same numbers), so a
Bernoulli(1 - p) mask (p on the 2^-24 grid), scaled by 1 / (1 - p) by default as ``F.dropout``.
CPU only: callers on other devices draw with torch (see ``dropout_mask``).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np
import torch

CHUNK = 1 << 18  # elements per stream (rounded to whole rows of the first dimension)
GROUP = 1 << 16  # elements drawn at a time inside a chunk (rounded to whole rows)
UNIFORM, NORMAL = 0, 1  # stream kinds: the same seed and key give independent uniforms and normals

_pool: dict = {"pid": None, "threads": 0, "pool": None}


def seed_from(generator: torch.Generator | None = None) -> int:
    """One 62-bit seed drawn from ``generator`` (torch's default CPU generator if None)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator))


def numpy_stream(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence([int(k) for k in key])))


def _whole_rows(rows: int, row_numel: int, elements: int) -> list[tuple[int, int]]:
    """(start, stop) spans of whole rows, about ``elements`` elements each (at least one row)."""
    step = max(1, elements // max(1, row_numel))
    return [(r, min(rows, r + step)) for r in range(0, rows, step)]


def row_chunks(rows: int, row_numel: int) -> list[tuple[int, int]]:
    """The fixed chunks (start, stop) of a (rows, row_numel) draw: whole rows, about CHUNK elements."""
    return _whole_rows(rows, row_numel, CHUNK)


def row_groups(rows: int, row_numel: int) -> list[tuple[int, int]]:
    """Inside a chunk, the rows drawn at a time (about GROUP elements): the temporaries stay below
    64 KiB, which the allocator reuses (1 MiB ones were given back and page-faulted afresh)."""
    return _whole_rows(rows, row_numel, GROUP)


def random_bits(stream: np.random.Generator, n: int) -> np.ndarray:
    """n random uint32 from ``stream`` (an odd n wastes the last half-word)."""
    return stream.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]


def keep_flags(stream: np.random.Generator, n: int, p: float) -> np.ndarray:
    """1{u >= p} (bool, n) for the uniforms u that ``random_bits`` gives ``uniform``, on the raw bits."""
    threshold = math.ceil(p * 2**24) << 8  # u = (bits >> 8) 2^-24 >= p  <=>  bits >= threshold
    if threshold >= 2**32:
        return np.zeros(n, dtype=bool)
    return random_bits(stream, n) >= np.uint32(threshold)


def normal_into(out: np.ndarray, stream: np.random.Generator) -> None:
    """N(0, 1) into the contiguous float32 vector ``out``: Box-Muller, sqrt(-2 ln u1) times
    (cos, sin)(2 pi u2) for its first and second half."""
    n = out.size
    h = (n + 1) // 2
    dst = out if n % 2 == 0 else np.empty(2 * h, np.float32)
    bits = stream.bit_generator.random_raw(h).view(np.uint32)  # 2h words
    np.right_shift(bits, 9, out=bits)
    np.bitwise_or(bits, np.uint32(0x3F800000), out=bits)  # floats 1 + k 2^-23 in [1, 2)
    u = bits.view(np.float32)
    r, angle = u[:h], u[h:]
    np.subtract(np.float32(2), r, out=r)  # (0, 1]
    np.log(r, out=r)
    np.multiply(r, np.float32(-2), out=r)
    np.sqrt(r, out=r)
    np.multiply(angle, np.float32(2 * np.pi), out=angle)  # 2 pi [1, 2): a uniform angle
    np.sin(angle, out=dst[h:])
    np.cos(angle, out=dst[:h])
    np.multiply(dst[:h], r, out=dst[:h])
    np.multiply(dst[h:], r, out=dst[h:])
    if dst is not out:
        out[:] = dst[:n]


def parallel(fn: Callable[[object], None], items: Sequence) -> None:
    """``fn(item)`` for every item, in ``torch.get_num_threads()`` threads (inline at one)."""
    threads = min(torch.get_num_threads(), len(items))
    if threads <= 1:
        for item in items:
            fn(item)
        return
    want = torch.get_num_threads()
    if _pool["pid"] != os.getpid() or _pool["threads"] != want:  # new process (fork) or thread count
        _pool.update(pid=os.getpid(), threads=want, pool=ThreadPoolExecutor(want, thread_name_prefix="ssnas-rng"))
    for _ in _pool["pool"].map(fn, items):
        pass


def _rows(shape: Sequence[int]) -> tuple[int, int]:
    shape = tuple(shape)
    rows = shape[0] if shape else 1
    return rows, int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1


def _draw(shape: Sequence[int], seed: int, key: tuple[int, ...], kind: int, write) -> torch.Tensor:
    """A float32 tensor of ``shape`` filled chunk by chunk in parallel: ``write(dst, stream)``
    fills the flat row group ``dst`` from chunk i's stream (seed, *key, i, kind)."""
    rows, width = _rows(shape)
    out = torch.empty((rows, width), dtype=torch.float32)
    arr = out.numpy()

    def fill(chunk):
        i, (a, b) = chunk
        stream = numpy_stream(seed, *key, i, kind)
        for lo, hi in row_groups(b - a, width):
            write(arr[a + lo:a + hi].reshape(-1), stream)

    parallel(fill, list(enumerate(row_chunks(rows, width))))
    return out.view(tuple(shape))


def _write_uniform(dst: np.ndarray, stream) -> None:
    bits = random_bits(stream, dst.size)
    np.right_shift(bits, 8, out=bits)
    np.multiply(bits, np.float32(2**-24), out=dst, casting="unsafe")


def uniform(shape: Sequence[int], seed: int, *key: int) -> torch.Tensor:
    """U[0, 1) float32 of ``shape``, from the streams (seed, *key, chunk)."""
    return _draw(shape, seed, key, UNIFORM, _write_uniform)


def normal(shape: Sequence[int], seed: int, *key: int) -> torch.Tensor:
    """N(0, 1) float32 of ``shape``, from the streams (seed, *key, chunk)."""
    return _draw(shape, seed, key, NORMAL, normal_into)


def keep_mask(shape: Sequence[int], p: float, seed: int, *key: int, scale: float | None = None) -> torch.Tensor:
    """1{u >= p} * scale (scale 1 / (1 - p) by default) with u = ``uniform(shape, seed, *key)``."""
    value = np.float32(1.0 / (1.0 - p) if scale is None else scale)

    def write(dst: np.ndarray, stream) -> None:
        np.multiply(keep_flags(stream, dst.size, p), value, out=dst)

    return _draw(shape, seed, key, UNIFORM, write)


def dropout_mask(shape: Sequence[int], p: float, device: torch.device | str = "cpu",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """The scaled keep mask of dropout with probability p: on the CPU ``keep_mask`` seeded from
    ``generator`` (torch's default generator if None); elsewhere torch's own Bernoulli draw."""
    device = torch.device(device)
    if device.type == "cpu":
        return keep_mask(shape, p, seed_from(generator))
    return torch.empty(tuple(shape), device=device).bernoulli_(1 - p, generator=generator).div_(1 - p)
