"""``genie train tokenizer|lam|dynamics|genie-redux|upscaler``: the command line of the training loop.

Also reachable as ``python -m genie_gym.trainers <model> ...`` and, for DDP,
``torchrun --nproc_per_node N -m genie_gym.trainers <model> ...`` (gloo on CPU, nccl on CUDA; ``--batch-size`` stays
the global batch, split across the processes).

Typical pipeline::

    genie train tokenizer --config small --data DATA --out runs/tok --steps 20000
    genie train dynamics  --config small --data DATA --out runs/dyn --tokenizer runs/tok --steps 20000
    genie train lam       --config small --data DATA --out runs/lam --steps 20000
    genie train genie-redux --config small --data DATA --out runs/gr --tokenizer runs/tok --lam runs/lam
    genie train upscaler  --config small --data HIRES_DATA --out runs/up --batch-size 16 --lr 1e-3

``dynamics`` trains GenieRedux-G (ground-truth actions). ``genie-redux`` trains the GenieRedux dynamics with
``action_source="latent"``: every transition is labelled once by the trained LAM and those codes are the actions.
Both tokenize the store once with the tokenizer (cached under ``DATA/.tokens/<hash>/``, reused while the tokenizer
checkpoint is the same). Ctrl-C or SIGTERM writes a checkpoint and exits with status 130; rerun the same command with
``--resume`` to continue exactly where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genie_gym.options import (
    GIVEN_ATTRIBUTE,
    add_options,
    from_args,
    given_options,
    option,
    option_defaults,
    per_invocation_options,
)
from genie_gym.trainers.distributed import init_distributed, shutdown_distributed
from genie_gym.trainers.run_dir import RunDir
from genie_gym.trainers.tasks import TaskSettings, build_task
from genie_gym.trainers.training_loop import LoopSettings, check_precision, train

INTERRUPTED_EXIT = 130


@dataclass
class RunOptions:
    """Where the run goes and how this invocation runs it."""

    out: str = option(help="run directory (config, logs, images, checkpoints)")
    resume: bool = option(
        False, "continue from RUN_DIR's latest checkpoint; arguments not given are taken from RUN_DIR/args.json",
        per_invocation=True,
    )
    device: str | None = option(None, "default: cuda when available", choices=("cpu", "cuda"), per_invocation=True)
    threads: int | None = option(None, "torch CPU threads per process (default: torch's choice)", per_invocation=True)
    debug: bool = option(False, "show tracebacks instead of one-line errors", per_invocation=True)

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {self.threads}")


SETTINGS_CLASSES = (TaskSettings, RunOptions, LoopSettings)
"""Where every ``genie train`` option is declared, in the order of ``--help``."""


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` arguments (model and data, run directory, optimisation and logging) to ``parser``."""
    for settings_class, title in zip(SETTINGS_CLASSES, ("model and data", "run", "training"), strict=True):
        add_options(parser, settings_class, title)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Plug ``train`` into the ``genie`` command line (entry point ``genie_gym.commands``)."""
    parser = subparsers.add_parser("train",
                                   help="train a tokenizer, LAM, dynamics model or upscaler on an episode store",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_arguments(parser)
    parser.set_defaults(func=run_train)


def restore_run_arguments(args: argparse.Namespace) -> list[str]:
    """With ``--resume``, fill the arguments not given on the command line from the run's saved ``args.json``.

    So ``genie train tokenizer --resume --out RUN_DIR`` continues a run with the data, schedule, ``--init`` and
    ``--decoder-only`` it was started with. Arguments given on the command line win, also when their value is the
    default. Unless ``--config`` is given, the model config is read from the latest checkpoint, so a run started from
    a JSON config file that has since moved still resumes (and an ``--init`` directory that is gone is no longer
    needed).

    Returns the names of the restored arguments. Raises ``ValueError`` when the run was of another model.
    """
    run = RunDir(args.out)
    saved_path = run.root / "args.json"
    if not args.resume or not saved_path.is_file():
        return []
    saved: dict[str, Any] = json.loads(saved_path.read_text(encoding="utf-8")).get("args", {})
    if saved.get("model", args.model) != args.model:
        kind = saved["model"]
        raise ValueError(f"{args.out} is a {kind} run; resume it with `genie train {kind} --resume --out {args.out}`")
    given = given_options(args, *SETTINGS_CLASSES)
    run_options = set(option_defaults(*SETTINGS_CLASSES)) - per_invocation_options(*SETTINGS_CLASSES)
    restored = []
    for name, value in saved.items():
        if name in run_options and name not in given and value != getattr(args, name):
            setattr(args, name, value)
            restored.append(name)
    checkpoint = run.latest_checkpoint()
    if checkpoint is not None and "config" not in given:
        args.config = str(checkpoint / "config.json")  # the exact model config, whatever file it came from
        if args.init is not None and not Path(args.init).exists():
            args.init = None  # the weights come from the checkpoint anyway
    return restored


def run_train(args: argparse.Namespace) -> int:
    """Run one training command (single process, or one rank under ``torchrun``); returns the exit status."""
    restore_run_arguments(args)
    # Every input is checked here, as the settings are built, before anything heavy is loaded.
    run = from_args(RunOptions, args)
    task_settings = from_args(TaskSettings, args)
    settings = from_args(LoopSettings, args)
    run_dir = RunDir(run.out)
    run_dir.resume_point(run.resume)  # refuses to overwrite a run before its tokens are cached, not after
    if run.threads:
        torch.set_num_threads(run.threads)
    ctx = init_distributed(run.device)
    try:
        check_precision(settings.precision, ctx.device)
        task = build_task(task_settings, ctx, progress=settings.progress)
        command_args = {k: v for k, v in vars(args).items() if k not in ("func", GIVEN_ATTRIBUTE)}
        result = train(task, settings, run_dir, ctx, resume=run.resume, command_args=command_args)
    finally:
        shutdown_distributed()
    if ctx.is_main:
        where = result.checkpoint or "(no checkpoint)"
        if result.interrupted:
            print(f"interrupted at step {result.step}; checkpoint {where}. Add --resume to continue.", file=sys.stderr)
        else:
            print(f"step {result.step}/{settings.steps}: checkpoint {where}")
    return INTERRUPTED_EXIT if result.interrupted else 0
