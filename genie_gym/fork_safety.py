"""torch in a process forked from one that had torch loaded: one CPU thread, or the child hangs.

torch's CPU thread pool (OpenMP; GNU libgomp in the PyPI wheels) does not survive ``fork``: in a child of a parent
that ran a parallel region, the first parallel op waits forever for pool threads that were not copied.
``gymnasium.vector.AsyncVectorEnv`` forks on Linux (Python's default start method before 3.14) right after building
one env in the parent to read its spaces, so ``gym.make_vec("GenieDream-SMB-v0", num_envs=2,
vectorization_mode="async")`` hung in its workers. The dream envs call :func:`use_one_thread_if_forked` before any
torch work, as PyTorch's own DataLoader workers do (``torch.set_num_threads(1)``): one thread per worker process, the
workers together use the cores. Processes started with ``spawn`` or ``forkserver`` are unaffected.
"""

from __future__ import annotations

import os
import sys

_forked_with_torch = False


def _after_fork_in_child() -> None:
    global _forked_with_torch
    _forked_with_torch = _forked_with_torch or "torch" in sys.modules


os.register_at_fork(after_in_child=_after_fork_in_child)


def forked_with_torch() -> bool:
    """Whether this process was forked (at any depth) from a process that had imported torch."""
    return _forked_with_torch


def use_one_thread_if_forked() -> bool:
    """Set torch to one CPU thread when this process was forked from one with torch loaded; returns whether it did.

    Call it before any torch work of an object that may be built in a forked worker (the dream envs do).
    """
    if not _forked_with_torch:
        return False
    import torch  # here: `import genie_gym` imports this module and does not load torch

    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    return True
