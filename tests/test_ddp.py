"""DDP: two gloo processes, each on its half of the global batch, end a step with the single-process parameters."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file
from test_training_loop import ADAM_STEP_ATOL, make_tiny_task, quiet_settings

from genie_gym.trainers.distributed import init_distributed, shutdown_distributed
from genie_gym.trainers.run_dir import RunDir
from genie_gym.trainers.training_loop import train

torch.set_num_threads(1)
SETTINGS = dict(steps=2, batch_size=8, grad_accum=2, checkpoint_every=1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_worker(rank: int, world_size: int, port: int, run_root: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank)
    )
    ctx = init_distributed("cpu")
    try:
        task = make_tiny_task()
        train(task, quiet_settings(**SETTINGS), RunDir(Path(run_root) / f"rank{rank}" if rank else run_root), ctx)
        torch.save({k: v.detach() for k, v in task.model.state_dict().items()}, Path(run_root).parent / f"r{rank}.pt")
    finally:
        shutdown_distributed()


def test_two_process_ddp_step_equals_single_process_step(tmp_path: Path) -> None:
    single_run = RunDir(tmp_path / "single")
    train(make_tiny_task(), quiet_settings(**SETTINGS), single_run)

    ddp_root = tmp_path / "ddp" / "run"
    mp.start_processes(_ddp_worker, args=(2, _free_port(), str(ddp_root)), nprocs=2, join=True, start_method="spawn")

    for step in (1, 2):
        single = load_file(str(single_run.checkpoint_path(step) / "model.safetensors"))
        ddp = load_file(str(RunDir(ddp_root).checkpoint_path(step) / "model.safetensors"))
        assert single.keys() == ddp.keys()
        for name in single:
            # All-reduce sums in another order; the gradient itself is compared below.
            torch.testing.assert_close(ddp[name], single[name], rtol=0, atol=ADAM_STEP_ATOL,
                                       msg=f"{name} after step {step}")
    single_norms = [r["grad_norm"] for r in single_run.read_metrics()]
    assert [r["grad_norm"] for r in RunDir(ddp_root).read_metrics()] == pytest.approx(single_norms, rel=1e-5)
    rank0 = torch.load(tmp_path / "ddp" / "r0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "ddp" / "r1.pt", weights_only=True)
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # replicas stay identical
    assert not (ddp_root / "rank1").exists()  # only rank 0 writes the run directory
    assert [r["step"] for r in RunDir(ddp_root).read_metrics()] == [1, 2]
    assert RunDir(ddp_root).read_config()["training"]["world_size"] == 2


def _world_of_one_worker(rank: int, port: int, run_root: str) -> None:
    import torch.distributed as dist

    _ddp_worker(rank, 1, port, run_root)
    assert not dist.is_initialized()  # left again after training


def test_torchrun_world_of_one_runs_the_ddp_path_and_equals_the_plain_run(tmp_path: Path) -> None:
    """`torchrun --nproc_per_node 1` joins a process group of one (how one GPU checks nccl) and trains as without."""
    os.environ.update(MASTER_ADDR="127.0.0.1", RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_PORT=str(_free_port()))
    try:
        ctx = init_distributed("cpu")
        assert ctx.process_group and ctx.is_distributed and torch.distributed.is_initialized()
    finally:
        shutdown_distributed()
        for name in ("MASTER_ADDR", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
            os.environ.pop(name)
    assert not init_distributed("cpu").is_distributed  # no torchrun: no process group

    single_run = RunDir(tmp_path / "single")
    train(make_tiny_task(), quiet_settings(**SETTINGS), single_run)
    one_root = tmp_path / "one" / "run"
    mp.start_processes(_world_of_one_worker, args=(_free_port(), str(one_root)), nprocs=1, join=True,
                       start_method="spawn")
    single = load_file(str(single_run.checkpoint_path(2) / "model.safetensors"))
    one = load_file(str(RunDir(one_root).checkpoint_path(2) / "model.safetensors"))
    for name in single:
        torch.testing.assert_close(one[name], single[name], rtol=0, atol=ADAM_STEP_ATOL, msg=name)
