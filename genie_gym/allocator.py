"""Keep freed memory in the process (glibc): large tensors then reuse it instead of faulting in fresh pages.

glibc's ``malloc`` serves every block over its mmap threshold (at most 32 MB) with a fresh ``mmap`` and returns it
to the OS on ``free``. A training step of the ``small`` models at batch 4 x 16 frames makes tensors just over that
(16,384 tokens x 512 MLP units x 4 bytes = 33.5 MB), so every step paid for ~200k page faults: 5-8 s of system time
per 8 steps on the 2-core development VM. :func:`keep_freed_memory` asks glibc to serve large blocks from the heap and
to keep what is freed (``mallopt(M_MMAP_MAX, 0)``, ``mallopt(M_TRIM_THRESHOLD, 2 GiB)``); what it buys in training
frames/s: docs/BENCHMARKS.md#the-2-core-zen-5-vm-from-2026-12-01. The price: the process keeps its peak heap
instead of handing freed memory back.

The ``genie`` command and ``python -m genie_gym.trainers`` call it at start; library users can call it once themselves.
Set
``GENIE_GYM_MALLOC=system`` to leave the C library's defaults alone. Elsewhere than glibc (macOS, musl) it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 2**31 - 1  # the largest value mallopt takes (an int): free memory above this goes back
OPT_OUT_VARIABLE = "GENIE_GYM_MALLOC"

_applied = False


def keep_freed_memory() -> bool:
    """Tune glibc's ``malloc`` for tensor workloads (see the module docstring); returns whether it is now in effect.

    Safe to call more than once and from any entry point; does nothing when ``GENIE_GYM_MALLOC=system`` or when the
    C library is not glibc.
    """
    global _applied
    if _applied:
        return True
    if os.environ.get(OPT_OUT_VARIABLE, "").strip().lower() == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        gnu_get_libc_version = libc.gnu_get_libc_version  # present in glibc only
    except (OSError, AttributeError):
        return False
    del gnu_get_libc_version
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    return _applied


def release_freed_memory() -> bool:
    """Hand the free pages of the heap back to the OS (glibc ``malloc_trim(0)``); returns whether it ran.

    With :func:`keep_freed_memory`, a long training run whose tensors change size every step (the masked tokens of
    MaskGIT training) fragments the heap and its resident size only grows (measured: a dynamics run at 9.6 GB after
    50 min on the 2-core VM). The trainer calls this at every checkpoint: the pages come back at the cost of a few
    page faults on the next step.
    """
    if not _applied:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


def keep_freed_memory_for_benchmark() -> str:
    """Apply :func:`keep_freed_memory` and describe the outcome for a benchmark's header line."""
    state = "heap kept" if keep_freed_memory() else "C library defaults"
    return f"malloc: {state} (genie_gym.allocator; {OPT_OUT_VARIABLE}=system to compare)"
