"""Process memory of the API: freed heap pages given back, long-lived objects kept out of the GC."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def _libc_malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def release_freed_memory() -> None:
    """Give the allocator's free pages back to the system (glibc ``malloc_trim``).

    The 1 MiB upload pieces and the validator's temporaries are freed, but glibc keeps freed
    blocks of its heaps (one per thread that allocated them) mapped: without this an upload
    leaves its pieces resident, and the validation that follows adds its own on top of them.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def gc_freeze() -> None:
    """Move every object alive now (modules, routes, models) out of the collector's reach.

    A full collection scans every tracked object; with FastAPI, SQLAlchemy and pydantic
    loaded that took about 200 ms here, a stall that every request in flight waited out
    (the p99 of 200 pollers). Called after start-up and after a model loads; objects frozen
    are still freed by reference counting, only cycles among them are never collected.
    """
    gc.collect()
    gc.freeze()


MADV_PAGEOUT = 21  # Linux 5.4+
GPU_LIBRARIES = ("/nvidia/", "libtorch_cuda", "libcusparseLt", "libnccl", "libcudnn", "libcublas", "libcuda")


def page_out_gpu_libraries() -> int:
    """Hand back the resident pages of the CUDA libraries a CUDA build of torch loads at import
    (cuBLAS, NVRTC, nvJitLink...: about 290 MB resident here) in a process that predicts on the CPU
    and never calls them. ``madvise(MADV_PAGEOUT)`` only reclaims what can be reclaimed (clean
    file pages; relocated pages stay, there is no swap to put them in), and a page used after
    all is read back from the page cache. Returns the number of mappings advised (0 off Linux)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        maps = open("/proc/self/maps").read().splitlines()
    except OSError:
        return 0
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    done = 0
    for line in maps:
        parts = line.split()
        if len(parts) < 6 or not any(k in parts[5] for k in GPU_LIBRARIES):
            continue
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        done += libc.madvise(lo, hi - lo, MADV_PAGEOUT) == 0
    return done
