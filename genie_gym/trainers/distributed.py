"""Process-group setup for DDP under ``torchrun`` (gloo on CPU, nccl on CUDA) and small collective helpers.

A plain ``python -m genie_gym.trainers`` / ``genie train`` run is a world of one: every helper here is then a no-op,
so the training loop is written once for both cases.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

# Token caching before training can keep some ranks waiting at a barrier for a while.
PROCESS_GROUP_TIMEOUT = timedelta(hours=1)


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: ``rank`` of ``world_size`` and the ``device`` it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    process_group: bool = False

    @property
    def is_main(self) -> bool:
        """True on the one process that writes logs, images and checkpoints (rank 0)."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """True when more than one process trains together, or under ``torchrun`` (a process group of one: DDP's
        code path and its nccl/gloo all-reduce run, which is how one GPU checks the multi-GPU path)."""
        return self.world_size > 1 or self.process_group


def resolve_device(device: str | None) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``None`` (CUDA when available) as a ``torch.device``; a clear error without CUDA."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"--device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was requested but torch sees no CUDA device; use --device cpu")
    return torch.device(device)


def init_distributed(device: str | None = None) -> DistributedContext:
    """Join the process group when launched by ``torchrun`` (any ``WORLD_SIZE``); otherwise a world of one.

    Each rank uses ``cuda:LOCAL_RANK`` on CUDA (backend nccl) or the CPU (backend gloo).
    """
    base = resolve_device(device)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if "RANK" not in os.environ or "MASTER_ADDR" not in os.environ:
        return DistributedContext(device=base)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if base.type == "cuda":
        torch.cuda.set_device(local_rank)
        base = torch.device("cuda", local_rank)
    if not dist.is_initialized():
        backend = "nccl" if base.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=PROCESS_GROUP_TIMEOUT)
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, device=base, process_group=True)


def shutdown_distributed() -> None:
    """Leave the process group if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistributedContext) -> None:
    """Wait for every rank (no-op in a world of one)."""
    if ctx.is_distributed:
        dist.barrier()


def all_reduce_mean(values: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    """Mean of ``values`` (any shape, float) over the ranks; returns a new tensor."""
    if not ctx.is_distributed:
        return values.clone()
    reduced = values.detach().to(ctx.device, copy=True)  # nccl reduces CUDA tensors only
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return (reduced / ctx.world_size).to(values.device)


def any_rank(flag: bool, ctx: DistributedContext) -> bool:
    """True when ``flag`` is true on at least one rank (so all ranks can stop at the same step)."""
    if not ctx.is_distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)
