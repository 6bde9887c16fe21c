"""Where the time of one training step goes: torch.profiler over a few steps of the tokenizer / dynamics.

``train_throughput.py`` says how fast a step is (and its MFU); this says why. For each model/config it profiles
``--steps`` training steps (fwd + bwd + grad clip + AdamW, as the trainer; bf16 autocast on CUDA) after
``--warmup`` untimed ones and prints:

- per step: wall time without and with the profiler (it adds a few microseconds per operator call, so the
  profiled step is the slower one), the time the operators themselves took (CPU: their self time; CUDA: the kernels they
  launched, i.e. the GPU's busy time), hence how much of the step the device sat idle (on a GPU, a large idle share
  means the step is bound by the CPU launching kernels or waiting on a synchronisation, not by the GPU);
- the number of operator calls (CPU) or kernels (CUDA) per step;
- that time split by kind of operator: matmul, attention, convolution, normalisation, optimizer, copies and
  layout, and the rest (element-wise and reductions);
- the most expensive operators (``--top``).

    python -m benchmarks.train_step_profile --configs small --batch-size 4 --window 16
    python -m benchmarks.train_step_profile --device cuda --configs paper --batch-size 16 --window 16
    python -m benchmarks.train_step_profile --json OUT.json --trace DIR     # also a Chrome trace per model

It needs no data: the batches are random frames / token ids of the right shapes (as in ``train_throughput.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

if __package__ in (None, ""):  # run as a file: the package `benchmarks` it imports is not on the path
    raise SystemExit("run it from the repository root as a module: python -m benchmarks.train_step_profile ...")
from benchmarks.train_throughput import _sync, add_step_options, build, seconds_per_step, train_step
from genie_gym.allocator import keep_freed_memory_for_benchmark
from genie_gym.trainers.optim import build_optimizer

# kinds of operator, matched in this order against the operator's name (``aten::...``)
OPERATOR_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("attention", ("scaled_dot_product", "flash_attention", "efficient_attention", "cudnn_attention")),
    ("matmul", ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::linear",
                "aten::_addmm_activation")),
    ("convolution", ("conv",)),
    ("normalisation", ("layer_norm", "group_norm", "batch_norm")),
    ("optimizer", ("_foreach_", "adam")),
    ("copies and layout", ("aten::copy_", "aten::clone", "aten::contiguous", "aten::cat", "aten::stack",
                           "aten::_to_copy", "aten::constant_pad_nd", "aten::index", "aten::gather",
                           "aten::scatter", "aten::repeat", "aten::fill_", "aten::zero_")),
)
OTHER_KIND = "element-wise and other"


def operator_kind(name: str) -> str:
    """The kind (a key of the printed split) of the operator called ``name``, e.g. ``"aten::addmm" -> "matmul"``."""
    for kind, patterns in OPERATOR_KINDS:
        if any(pattern in name for pattern in patterns):
            return kind
    return OTHER_KIND


def summarise(prof: profile, steps: int, wall_s: float, on_device: bool, top: int) -> dict:
    """Per-step figures of a finished profile (see the module docstring); times in milliseconds per step.

    Operator time is taken on the CPU-side events only: their self CPU time, or on CUDA the device time of the
    kernels each launched itself (``self_device_time_total``), so nothing is counted twice.
    """
    averages = prof.key_averages()
    operators = [event for event in averages if event.device_type == DeviceType.CPU]

    def self_us(event) -> float:
        return float(event.self_device_time_total if on_device else event.self_cpu_time_total)

    busy_us = sum(self_us(event) for event in operators)
    by_kind: dict[str, float] = {kind: 0.0 for kind, _ in OPERATOR_KINDS}
    by_kind[OTHER_KIND] = 0.0
    for event in operators:
        by_kind[operator_kind(event.key)] += self_us(event)
    if on_device:
        calls = sum(event.count for event in averages if event.device_type != DeviceType.CPU)
    else:
        calls = sum(event.count for event in operators if event.key.startswith("aten::"))
    ranked = sorted(operators, key=self_us, reverse=True)[:top]
    wall_ms = wall_s * 1e3 / steps
    busy_ms = busy_us / 1e3 / steps
    return {
        "wall_ms_per_step": wall_ms,
        "busy_ms_per_step": busy_ms,
        "idle_share": max(0.0, 1.0 - busy_ms / wall_ms) if wall_ms > 0 else 0.0,
        "calls_per_step": calls / steps,
        "share_by_kind": {kind: (us / busy_us if busy_us else 0.0) for kind, us in by_kind.items()},
        "top_operators": [
            {"name": event.key, "kind": operator_kind(event.key), "ms_per_step": self_us(event) / 1e3 / steps,
             "calls_per_step": event.count / steps}
            for event in ranked
        ],
    }


def profile_model(kind: str, config_name: str, args: argparse.Namespace, device: torch.device) -> dict:
    """Profile ``args.steps`` training steps of one model/config; the :func:`summarise` figures plus its name."""
    model, batch = build(kind, config_name, args.batch_size, args.window, device)
    optimizer = build_optimizer(model)
    on_device = device.type == "cuda"
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if on_device else contextlib.nullcontext()
    unprofiled_ms = seconds_per_step(model, optimizer, batch, autocast, device, args.warmup, args.steps) * 1e3
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_device else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(args.steps):
            train_step(model, optimizer, batch, autocast)
        _sync(device)
        wall_s = time.perf_counter() - start
    if args.trace:
        Path(args.trace).mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(Path(args.trace) / f"{kind}_{Path(config_name).stem}.json"))
    summary = summarise(prof, args.steps, wall_s, on_device, args.top)
    # kernel times hardly change under the profiler, the CPU side does: the idle share is against the plain step
    summary["idle_share"] = max(0.0, 1.0 - summary["busy_ms_per_step"] / unprofiled_ms)
    params_m = sum(p.numel() for p in model.parameters()) / 1e6
    return {"model": kind, "config": config_name, "params_M": params_m, "device": device.type,
            "unprofiled_ms_per_step": unprofiled_ms, **summary}


def print_summary(row: dict) -> None:
    """The human-readable form of one :func:`profile_model` result."""
    unit = "kernels" if row["device"] == "cuda" else "operator calls"
    busy = "GPU busy (kernels)" if row["device"] == "cuda" else "operators' self CPU time"
    idle = "GPU idle" if row["device"] == "cuda" else "outside operators (Python, autograd)"
    print(f"\n{row['model']} {row['config']} ({row['params_M']:.1f}M): "
          f"wall {row['unprofiled_ms_per_step']:.1f} ms/step ({row['wall_ms_per_step']:.1f} profiled); "
          f"{busy} {row['busy_ms_per_step']:.1f} ms/step; {idle} {row['idle_share']:.0%}; "
          f"{row['calls_per_step']:.0f} {unit}/step")
    print("  " + "; ".join(f"{kind} {share:.0%}" for kind, share in row["share_by_kind"].items()))
    for op in row["top_operators"]:
        print(f"  {op['ms_per_step']:9.2f} ms  {op['calls_per_step']:7.1f} x  {op['kind']:<22} {op['name']}")


def main() -> None:
    """Parse the arguments and profile every model/config."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_step_options(parser, steps=3, measured="profiled")
    parser.add_argument("--configs", nargs="+", default=["small"], help="config names or JSON files (default small)")
    parser.add_argument("--top", type=int, default=12, help="operators listed per model (default 12)")
    parser.add_argument("--json", metavar="FILE", help="also write the results to this JSON file")
    parser.add_argument("--trace", metavar="DIR", help="also write a Chrome trace per model into this folder")
    args = parser.parse_args()
    if args.steps < 1:
        raise SystemExit(f"--steps must be >= 1, got {args.steps}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here (use --device cpu)")
    allocator = keep_freed_memory_for_benchmark()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {where}; torch {torch.__version__}; {allocator}; batch {args.batch_size} x {args.window} frames; "
          f"{args.steps} profiled steps after {args.warmup} warm-up")
    rows = []
    for config_name in args.configs:
        for kind in args.models:
            row = profile_model(kind, config_name, args, device)
            print_summary(row)
            rows.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps({"device": where, "rows": rows}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
