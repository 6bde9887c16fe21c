"""Training throughput and MFU of the tokenizer and the dynamics model (fwd + bwd + grad clip + AdamW).

Prints, per model and config, training frames/s and the model FLOP utilisation

    MFU = (model FLOPs of one fwd+bwd step x steps/s) / (measured matmul peak FLOP/s of this machine)

Model FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` over one fwd+bwd step (matmuls,
convolutions and attention; the optimizer and element-wise work count as zero, as usual for MFU), with the
dynamics' action-gain diagnostic off, as on every step the trainer does not log. torch's formula for
``convolution_backward`` ignores ``groups`` and overcounts the depthwise PEG convolutions' backward by a factor of
``d_model`` (it made the small tokenizer look 1.6x bigger); it is replaced here by the group-aware count
(each requested gradient costs one forward convolution). The peak is
measured in the same run, on the same thread count, before the first and after every model (the best of all is the
reference, which keeps the MFU conservative on a busy machine): large fp32 matmuls on CPU, bf16 on CUDA (training
uses bf16 autocast there).

    python benchmarks/train_throughput.py                 # small configs, CPU threads = torch default
    python benchmarks/train_throughput.py --paper         # also the paper configs
    python benchmarks/train_throughput.py --threads 2 --batch-size 4 --window 16
    python benchmarks/train_throughput.py --processes 2 --threads 1   # DDP (gloo), as `torchrun -m genie_gym.trainers`
    python benchmarks/train_throughput.py --threads 2 --repeats 5     # median and range of 5 runs per model

``--processes N`` runs N DDP processes on the CPU (gloo, as ``torchrun --nproc_per_node N -m genie_gym.trainers``),
each with ``--threads`` threads and ``--batch-size / N`` clips, and reports the frames/s of all of them together; the
MFU reference is then the matmul peak of ``N x threads`` threads in one process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from genie_gym.allocator import keep_freed_memory, keep_freed_memory_for_benchmark
from genie_gym.models.configs import get_config
from genie_gym.models.dynamics import Dynamics
from genie_gym.models.tokenizer import VideoTokenizer
from genie_gym.trainers.optim import build_optimizer, clip_gradients
from genie_gym.trainers.training_loop import DIAGNOSTICS_FLAG


def matmul_peak_flops(device: torch.device, size: int = 2048, repeats: int = 10) -> float:
    """Best FLOP/s of ``size x size`` matmuls (fp32 on CPU, bf16 on CUDA) on the current thread count."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if device.type == "cuda":
        size = max(size, 8192)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def conv_backward_flops(
    grad_out_shape,
    x_shape,
    w_shape,
    _bias,
    _stride,
    _padding,
    _dilation,
    transposed,
    _output_padding,
    _groups,
    output_mask,
    out_shape=None,
    **kwargs,
) -> int:
    """Group-aware FLOPs of ``aten.convolution_backward``: one forward convolution per requested gradient."""
    forward = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def count_step_flops(model, batch, autocast) -> int:
    """Model FLOPs of one fwd + bwd of ``model.compute_loss(batch)`` (see the module docstring)."""
    counter = FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: conv_backward_flops})
    with counter, autocast:
        loss, _ = model.compute_loss(batch)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(kind: str, config_name: str, batch: int, window: int, device: torch.device):
    """``(model, batch)`` for ``kind`` ``"tokenizer"`` or ``"dynamics"`` with synthetic data of the right shapes."""
    torch.manual_seed(0)
    config = get_config(kind, config_name)
    if kind == "tokenizer":
        model = VideoTokenizer(config)
        data = {"frames": torch.randint(0, 256, (batch, window, 64, 64, 3), dtype=torch.uint8)}
    else:
        codebook = F.normalize(torch.randn(config.num_codes, config.latent_dim), dim=-1)
        model = Dynamics(config, codebook=codebook)
        g = config.grid_size
        data = {
            "tokens": torch.randint(0, config.num_codes, (batch, window, g, g)),
            "actions": torch.randint(0, config.num_actions, (batch, window - 1)),
        }
    if hasattr(model, DIAGNOSTICS_FLAG):  # as on the trainer's steps that are not logged (nearly all of them)
        setattr(model, DIAGNOSTICS_FLAG, False)
    return model.to(device).train(), {k: v.to(device) for k, v in data.items()}


def train_step(model, optimizer, batch, autocast) -> None:
    """One fwd + bwd + clip + AdamW step, as in :func:`genie_gym.trainers.training_loop.train`."""
    optimizer.zero_grad(set_to_none=True)
    with autocast:
        loss, _ = model.compute_loss(batch)
    loss.backward()
    clip_gradients(model.parameters(), 10.0)
    optimizer.step()


def _result_row(kind: str, config_name: str, model, step_flops: float, seconds: float, args) -> dict:
    """One printed row: frames/s, FLOPs per frame and achieved FLOP/s of a step of ``seconds`` (all ranks)."""
    frames = args.batch_size * args.window
    return {
        "model": kind,
        "config": config_name,
        "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
        "frames_per_s": frames / seconds,
        "step_s": seconds,
        "gflop_per_frame": step_flops / frames / 1e9,
        "achieved_flops": step_flops / seconds,
    }


def measure(kind: str, config_name: str, args: argparse.Namespace, device: torch.device) -> dict:
    """Frames/s, FLOPs per frame and achieved FLOP/s of one model/config."""
    model, batch = build(kind, config_name, args.batch_size, args.window, device)
    optimizer = build_optimizer(model)
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    step_flops = count_step_flops(model, batch, autocast)
    seconds = seconds_per_step(model, optimizer, batch, autocast, device, args.warmup, args.steps)
    return _result_row(kind, config_name, model, step_flops, seconds, args)


def seconds_per_step(model, optimizer, batch, autocast, device: torch.device, warmup: int, steps: int) -> float:
    """Wall seconds of one :func:`train_step`, the mean of ``steps`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        train_step(model, optimizer, batch, autocast)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, optimizer, batch, autocast)
    _sync(device)
    return (time.perf_counter() - start) / steps


class _ComputeLoss(torch.nn.Module):
    """Routes ``forward`` to ``model.compute_loss`` so DDP's gradient hooks see the call (as the trainer does)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch):
        return self.model.compute_loss(batch)


def _ddp_worker(rank: int, world: int, port: int, kind: str, config_name: str, args, results) -> None:
    """One DDP rank: ``args.batch_size // world`` clips per step; rank 0 puts the seconds per step in ``results``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    keep_freed_memory()  # a spawned rank starts with the C library's defaults
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model, batch = build(kind, config_name, args.batch_size // world, args.window, torch.device("cpu"))
        ddp = DistributedDataParallel(_ComputeLoss(model), find_unused_parameters=True)
        optimizer = build_optimizer(model)

        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            loss, _ = ddp(batch)
            loss.backward()
            clip_gradients(model.parameters(), 10.0)
            optimizer.step()

        for _ in range(args.warmup):
            step()
        dist.barrier()
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        dist.barrier()
        if rank == 0:
            results.put((time.perf_counter() - start) / args.steps)
    finally:
        dist.destroy_process_group()


def measure_ddp(kind: str, config_name: str, args: argparse.Namespace) -> dict:
    """Like :func:`measure` for ``args.processes`` DDP processes on the CPU (frames/s of all ranks together)."""
    world = args.processes
    if args.batch_size % world:
        raise SystemExit(f"--batch-size {args.batch_size} must be divisible by --processes {world}")
    model, batch = build(kind, config_name, args.batch_size // world, args.window, torch.device("cpu"))
    step_flops = count_step_flops(model, batch, contextlib.nullcontext()) * world
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    mp.start_processes(
        _ddp_worker, args=(world, port, kind, config_name, args, results), nprocs=world, start_method="spawn"
    )
    return _result_row(kind, config_name, model, step_flops, results.get(), args)


def add_step_options(parser: argparse.ArgumentParser, steps: int, measured: str) -> None:
    """The options that say what one measured training step is and where it runs (``train_step_profile.py`` shares
    them): ``--device --threads --batch-size --window --steps --warmup --models``."""
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads (default: torch's)")
    parser.add_argument("--batch-size", type=int, default=4, help="clips per step (default 4)")
    parser.add_argument("--window", type=int, default=16, help="frames per clip (default 16)")
    parser.add_argument("--steps", type=int, default=steps, help=f"{measured} steps per model (default {steps})")
    parser.add_argument("--warmup", type=int, default=2, help=f"un{measured} steps first (default 2)")
    parser.add_argument("--models", nargs="+", default=["tokenizer", "dynamics"], choices=["tokenizer", "dynamics"])


def main() -> None:
    """Parse the arguments, measure the peak, then every model/config; print one row each."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_step_options(parser, steps=5, measured="timed")
    parser.add_argument("--paper", action="store_true", help="also the paper configs (always on CUDA)")
    parser.add_argument("--processes", type=int, default=1, help="DDP processes on the CPU (gloo; default 1: no DDP)")
    parser.add_argument("--configs", nargs="+", help="config names or JSON files (default: small, plus paper on CUDA)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="measure each model this many times (alternating models) and print the median with the "
                             "range: this VM's run-to-run noise is about +-15%% (default 1)")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                        help="autocast of the forward pass, as `genie train --precision` (auto: bf16 on CUDA only)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows (and the peak) to this JSON file")
    args = parser.parse_args()
    allocator = keep_freed_memory_for_benchmark()
    if args.processes > 1 and args.device != "cpu":
        raise SystemExit("--processes is for the CPU (gloo); on CUDA run the trainer under torchrun")
    torch.set_num_threads(args.threads * args.processes)  # the peak of all the cores the processes use
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    peaks = [matmul_peak_flops(device)]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or 'CPU'}"
    layout = f"{args.processes} DDP processes x {args.threads} threads" if args.processes > 1 else ""
    print(f"device: {where}; torch {torch.__version__}; threads {torch.get_num_threads()} {layout}".rstrip()
          + f"; {allocator}")
    print(f"batch {args.batch_size} x {args.window} frames; {args.steps} timed steps after {args.warmup} warm-up")
    configs = args.configs or ["small"] + (["paper"] if args.paper or device.type == "cuda" else [])
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be >= 1, got {args.repeats}")
    runs: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.repeats):
        for config_name in configs:
            for kind in args.models:
                if args.processes > 1:
                    row = measure_ddp(kind, config_name, args)
                else:
                    row = measure(kind, config_name, args, device)
                before = peaks[-1]
                peaks.append(matmul_peak_flops(device))  # the best peak seen is the (conservative) reference
                # the better of the two peaks measured just before and just after this run: the machine's speed
                # at the time (this VM's peak drifts +-15% within minutes)
                row["adjacent_mfu"] = row["achieved_flops"] / max(before, peaks[-1])
                runs.setdefault((kind, config_name), []).append(row)
    peak = max(peaks)
    rows = []
    for repeated in runs.values():  # the median run of each model (by achieved FLOP/s), with the range of all
        ordered = sorted(repeated, key=lambda row: row["achieved_flops"])
        adjacent = sorted(row["adjacent_mfu"] for row in repeated)
        rows.append({**ordered[(len(ordered) - 1) // 2], "repeats": len(ordered),
                     "mfu_range": [ordered[0]["achieved_flops"] / peak, ordered[-1]["achieved_flops"] / peak],
                     "adjacent_mfu_median": adjacent[(len(adjacent) - 1) // 2],
                     "adjacent_mfu_range": [adjacent[0], adjacent[-1]]})
    print(
        f"matmul peak ({'bf16' if device.type == 'cuda' else 'fp32'}): {peak / 1e9:.1f} GFLOP/s "
        f"(best of {len(peaks)} measurements: {', '.join(f'{p / 1e9:.1f}' for p in peaks)})"
    )
    if args.repeats > 1:
        print(f"median of {args.repeats} runs per model; MFU range: lowest-highest run")
    print("MFU: against the best peak of the run; adjacent: each run against the better of the peaks measured just "
          "before and after it (median)")
    print(f"{'model':<10} {'config':<6} {'params':>8} {'frames/s':>9} {'GFLOP/frame':>12} {'GFLOP/s':>9} {'MFU':>6}"
          + ("  MFU range  " if args.repeats > 1 else "") + "  adjacent" + ("  adjacent range" if args.repeats > 1
                                                                            else ""))
    for row in rows:
        low, high = row["mfu_range"]
        adjacent_low, adjacent_high = row["adjacent_mfu_range"]
        print(
            f"{row['model']:<10} {row['config']:<6} {row['params_M']:>7.1f}M {row['frames_per_s']:>9.1f} "
            f"{row['gflop_per_frame']:>12.2f} {row['achieved_flops'] / 1e9:>9.1f} {row['achieved_flops'] / peak:>6.1%}"
            + (f"  {low:.1%}-{high:.1%}" if args.repeats > 1 else "")
            + f"  {row['adjacent_mfu_median']:>8.1%}"
            + (f"  {adjacent_low:.1%}-{adjacent_high:.1%}" if args.repeats > 1 else "")
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"device": where, "peak_flops": peak, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
